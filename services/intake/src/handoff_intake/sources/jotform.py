"""Jotform webhooks: a multipart/form-data POST per submission.

Jotform posts `formID`, `submissionID`, `formTitle`, `pretty` and `rawRequest`, the answers as a
JSON string keyed `q<number>_<field name>` (name fields as {first, last}, phone fields as
{full} or {area, phone}, addresses with a `country`) (jotform.com/help/245). Jotform does not
sign webhooks, so the URL configured in Jotform carries the source's secret as a query
parameter (`?token=...`, or the name in option `token_param`), compared in constant time.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, ClassVar

import httpx

from handoff_intake.sources.base import AdapterResult, InboundRequest, SourceConfig
from handoff_intake.sources.payloads import (
    Answer,
    as_text,
    fail,
    form_or_multipart_body,
    lead_from_answers,
)
from handoff_intake.sources.signing import query_token, verify_token

_QUESTION_KEY = re.compile(r"q\d+_(?P<name>.+)")
_NAME_PARTS = {"first": "first_name", "last": "last_name"}


class JotformAdapter:
    """Jotform submission webhooks, authenticated by a token in the webhook URL."""

    kind: ClassVar[str] = "jotform"

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        verify_token(config, query_token(request, config), "webhook URL token")
        form = form_or_multipart_body(request)
        if "rawRequest" not in form:
            raise fail(["rawRequest"], "field required")
        try:
            raw = json.loads(form["rawRequest"])
        except json.JSONDecodeError:
            raise fail(["rawRequest"], "not valid JSON") from None
        if not isinstance(raw, dict):
            raise fail(["rawRequest"], "expected a JSON object")
        submission_id = form.get("submissionID") or as_text(raw.get("submissionID"))
        if not submission_id:
            raise fail(["submissionID"], "field required")
        answers = [
            answer
            for key, value in raw.items()
            if (match := _QUESTION_KEY.fullmatch(key))
            for answer in _answers(match["name"], key, value)
        ]
        lead = lead_from_answers(
            answers,
            config,
            attributes={
                "form_id": form.get("formID"),
                "form_title": form.get("formTitle"),
                "submission_id": submission_id,
            },
        )
        return AdapterResult(delivery_id=submission_id, leads=[lead])


def _answers(name: str, key: str, value: Any) -> list[Answer]:
    if isinstance(value, dict):
        if any(part in value for part in _NAME_PARTS):
            return [
                Answer(f"{name}.{part}", text, lead_field=lead_field, aliases=(f"{key}.{part}",))
                for part, lead_field in _NAME_PARTS.items()
                if (text := as_text(value.get(part)))
            ]
        if "full" in value or "phone" in value:
            number = as_text(value.get("full")) or as_text(
                f"{value.get('area') or ''}{value.get('phone') or ''}"
            )
            return [Answer(name, number, lead_field="phone", aliases=(key,))] if number else []
        parts = [
            Answer(f"{name}.{part}", text, aliases=(f"{key}.{part}",))
            for part, item in value.items()
            if (text := as_text(item))
        ]
        return [
            Answer(a.key, a.value, lead_field="country" if a.key.endswith(".country") else None)
            for a in parts
        ]
    text = as_text(value)
    return [Answer(name, text, aliases=(key,))] if text else []
