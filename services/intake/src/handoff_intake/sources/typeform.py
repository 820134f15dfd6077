"""Typeform webhooks: `form_response` events signed with `Typeform-Signature`.

Signature: `sha256=` + base64(HMAC-SHA256(secret, raw body)), no timestamp
(typeform.com/developers/webhooks/secure-your-webhooks). Payload: `event_id`, `event_type`,
`form_response` with `definition.fields` (id, ref, title, type), `answers` (typed: `text`,
`email`, `phone_number`, `choice`, ...) and `hidden` fields
(typeform.com/developers/webhooks/example-payload).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import httpx

from handoff_intake.sources.base import AdapterResult, InboundRequest, SourceConfig
from handoff_intake.sources.payloads import (
    Answer,
    as_text,
    expect,
    fail,
    json_object,
    lead_from_answers,
    member,
    optional,
)
from handoff_intake.sources.signing import verify_sha256_header

# Typed answers name their value after the type, except these.
_VALUE_KEYS = {"choice": "label", "choices": "labels"}
_TYPE_HINTS = {"email": "email", "phone_number": "phone"}


class TypeformAdapter:
    """Typeform `form_response` webhooks."""

    kind: ClassVar[str] = "typeform"

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        verify_sha256_header(config, request, "Typeform-Signature", "base64")
        body = json_object(request)
        event_id = member(body, "event_id", str, [], "a string")
        if body.get("event_type") != "form_response":
            raise fail(["event_type"], "only form_response events carry leads")
        response = member(body, "form_response", dict, [], "an object")
        loc: list[str | int] = ["form_response"]
        definition = optional(response, "definition", dict, loc, "an object", {})
        fields = optional(definition, "fields", list, [*loc, "definition"], "a list", [])
        titles = _field_titles(fields)
        answers = [
            _answer(answer, titles, [*loc, "answers", index])
            for index, answer in enumerate(member(response, "answers", list, loc, "a list"))
        ]
        hidden = optional(response, "hidden", dict, loc, "an object", {})
        answers += [
            Answer(name, text) for name, value in hidden.items() if (text := as_text(value))
        ]
        lead = lead_from_answers(
            [answer for answer in answers if answer is not None],
            config,
            attributes={
                "form_id": as_text(response.get("form_id")),
                "form_title": as_text(definition.get("title")),
                "response_token": as_text(response.get("token")),
                "submitted_at": as_text(response.get("submitted_at")),
            },
        )
        return AdapterResult(delivery_id=event_id, leads=[lead])


def _field_titles(fields: list[Any]) -> dict[str, str]:
    return {
        str(field["id"]): str(field.get("title") or field.get("ref") or field["id"])
        for field in fields
        if isinstance(field, dict) and field.get("id")
    }


def _answer(raw: Any, titles: dict[str, str], loc: list[str | int]) -> Answer | None:
    answer = expect(raw, dict, loc, "an answer object")
    answer_type = member(answer, "type", str, loc, "a string")
    field = member(answer, "field", dict, loc, "an object")
    field_id = str(field.get("id") or "")
    ref = str(field.get("ref") or "")
    value = answer.get(answer_type)
    if answer_type in _VALUE_KEYS and isinstance(value, dict):
        value = value.get(_VALUE_KEYS[answer_type]) or value.get("other")
    text = as_text(value)
    if text is None:
        return None
    return Answer(
        key=titles.get(field_id) or ref or field_id,
        value=text,
        lead_field=_TYPE_HINTS.get(answer_type),
        aliases=tuple(identifier for identifier in (ref, field_id) if identifier),
    )
