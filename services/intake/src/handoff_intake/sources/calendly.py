"""Calendly webhooks: `invitee.created` events signed with `Calendly-Webhook-Signature`.

Signature: `t=<unix seconds>,v1=<hex HMAC-SHA256(signing key, "<t>.<raw body>")>`; Calendly's
guidance rejects timestamps older than three minutes
(developer.calendly.com/api-docs/overview/webhooks/webhook-signatures). Payload: `event`,
`payload` with the invitee's `email`, `name`, `first_name`, `last_name`, `uri`,
`questions_and_answers` and `tracking` (utm_*).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

import httpx

from handoff_intake.sources.base import AdapterResult, InboundRequest, SignatureError, SourceConfig
from handoff_intake.sources.payloads import (
    Answer,
    as_text,
    json_object,
    lead_from_answers,
    member,
    optional,
)
from handoff_intake.sources.signing import check_freshness, parse_epoch, verify_hmac

TOLERANCE = timedelta(minutes=3)
_IDENTITY = {"email": "email", "first_name": "first_name", "last_name": "last_name", "name": "name"}


class CalendlyAdapter:
    """Calendly `invitee.created` webhooks; other events are acknowledged without a lead."""

    kind: ClassVar[str] = "calendly"

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        header = request.header("calendly-webhook-signature")
        parts = dict(
            part.strip().split("=", 1) for part in (header or "").split(",") if "=" in part
        )
        if header and not ("t" in parts and "v1" in parts):
            raise SignatureError("Calendly-Webhook-Signature needs t= and v1=")
        signed_at = parse_epoch(parts.get("t"), "s", "Calendly-Webhook-Signature timestamp")
        verify_hmac(
            config,
            parts["t"].encode() + b"." + request.body,
            parts.get("v1"),
            "hex",
            "Calendly-Webhook-Signature",
        )
        check_freshness(signed_at, now, TOLERANCE)

        body = json_object(request)
        event = member(body, "event", str, [], "a string")
        invitee = member(body, "payload", dict, [], "an object")
        uri = member(invitee, "uri", str, ["payload"], "a string")
        if event != "invitee.created":
            return AdapterResult(delivery_id=f"{event}:{uri}", leads=[])

        answers = [
            Answer(name, text, lead_field=lead_field)
            for name, lead_field in _IDENTITY.items()
            if (text := as_text(invitee.get(name)))
        ]
        if text := as_text(invitee.get("text_reminder_number")):
            answers.append(Answer("text_reminder_number", text, lead_field="phone"))
        questions = optional(invitee, "questions_and_answers", list, ["payload"], "a list", [])
        for item in questions:
            question = as_text(item.get("question")) if isinstance(item, dict) else None
            if question and (text := as_text(item.get("answer"))):
                answers.append(Answer(question, text))
        tracking = invitee.get("tracking") if isinstance(invitee.get("tracking"), dict) else {}
        scheduled = invitee.get("scheduled_event")
        scheduled = scheduled if isinstance(scheduled, dict) else {}
        lead = lead_from_answers(
            answers,
            config,
            attributes={
                **{key: as_text(value) for key, value in (tracking or {}).items()},
                "invitee_uri": uri,
                "event_name": as_text(scheduled.get("name")),
                "event_start_time": as_text(scheduled.get("start_time")),
                "timezone": as_text(invitee.get("timezone")),
            },
        )
        return AdapterResult(delivery_id=f"{event}:{uri}", leads=[lead])
