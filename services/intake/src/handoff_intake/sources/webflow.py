"""Webflow webhooks: `form_submission` events signed with `x-webflow-signature`.

Signature: hex HMAC-SHA256(secret, "<x-webflow-timestamp>:<raw body>"), the timestamp in epoch
milliseconds, refused when more than five minutes old
(developers.webflow.com/data/docs/working-with-webhooks). Payload: `triggerType` and `payload`
with the form `name`, `id` (the submission), `formId`, `siteId`, `submittedAt` and `data`
(field name -> value).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

import httpx

from handoff_intake.sources.base import AdapterResult, InboundRequest, SourceConfig
from handoff_intake.sources.payloads import (
    answers_from,
    as_text,
    fail,
    json_object,
    lead_from_answers,
    member,
)
from handoff_intake.sources.signing import check_freshness, parse_epoch, verify_hmac

TOLERANCE = timedelta(minutes=5)


class WebflowAdapter:
    """Webflow `form_submission` webhooks."""

    kind: ClassVar[str] = "webflow"

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        timestamp = request.header("x-webflow-timestamp")
        signed_at = parse_epoch(timestamp, "ms", "x-webflow-timestamp")
        verify_hmac(
            config,
            f"{timestamp}:".encode() + request.body,
            request.header("x-webflow-signature"),
            "hex",
            "x-webflow-signature",
        )
        check_freshness(signed_at, now, TOLERANCE)

        body = json_object(request)
        if body.get("triggerType") != "form_submission":
            raise fail(["triggerType"], "only form_submission events carry leads")
        submission = member(body, "payload", dict, [], "an object")
        data = member(submission, "data", dict, ["payload"], "an object")
        submission_id = as_text(submission.get("id"))
        lead = lead_from_answers(
            answers_from(data),
            config,
            attributes={
                "form_name": as_text(submission.get("name")),
                "form_id": as_text(submission.get("formId")),
                "site_id": as_text(submission.get("siteId")),
                "submission_id": submission_id,
                "submitted_at": as_text(submission.get("submittedAt")),
            },
        )
        return AdapterResult(delivery_id=submission_id, leads=[lead])
