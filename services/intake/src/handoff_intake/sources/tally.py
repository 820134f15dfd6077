"""Tally webhooks: `FORM_RESPONSE` events signed with `Tally-Signature`.

Signature: base64(HMAC-SHA256(signing secret, raw body)), no timestamp
(tally.so/help/webhooks). Payload: `eventId`, `eventType`, `data` with `responseId`,
`respondentId`, `formId`, `formName` and `fields` of `key`, `label`, `type`, `value` (choice
fields hold option ids, resolved through the field's `options`).
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
from handoff_intake.sources.signing import verify_hmac

_TYPE_HINTS = {"INPUT_EMAIL": "email", "INPUT_PHONE_NUMBER": "phone"}


class TallyAdapter:
    """Tally `FORM_RESPONSE` webhooks."""

    kind: ClassVar[str] = "tally"

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        verify_hmac(
            config, request.body, request.header("tally-signature"), "base64", "Tally-Signature"
        )
        body = json_object(request)
        event_id = member(body, "eventId", str, [], "a string")
        if body.get("eventType") != "FORM_RESPONSE":
            raise fail(["eventType"], "only FORM_RESPONSE events carry leads")
        data = member(body, "data", dict, [], "an object")
        fields = member(data, "fields", list, ["data"], "a list")
        answers = [
            answer
            for index, raw in enumerate(fields)
            if (answer := _answer(raw, ["data", "fields", index])) is not None
        ]
        lead = lead_from_answers(
            answers,
            config,
            attributes={
                "form_id": as_text(data.get("formId")),
                "form_name": as_text(data.get("formName")),
                "response_id": as_text(data.get("responseId")),
                "respondent_id": as_text(data.get("respondentId")),
                "submitted_at": as_text(data.get("createdAt")),
            },
        )
        return AdapterResult(delivery_id=event_id, leads=[lead])


def _answer(raw: Any, loc: list[str | int]) -> Answer | None:
    field = expect(raw, dict, loc, "a field object")
    key = member(field, "key", str, loc, "a string")
    value = field.get("value")
    options = {
        option["id"]: option.get("text")
        for option in optional(field, "options", list, loc, "a list", [])
        if isinstance(option, dict) and isinstance(option.get("id"), str)
    }
    if options and isinstance(value, list):
        value = [options.get(item, item) if isinstance(item, str) else item for item in value]
    text = as_text(value)
    if text is None:
        return None
    return Answer(
        key=as_text(field.get("label")) or key,
        value=text,
        lead_field=_TYPE_HINTS.get(str(field.get("type"))),
        aliases=(key,),
    )
