"""Unbounce form-submission webhooks.

Unbounce posts application/x-www-form-urlencoded with `page_id`, `page_name`, `page_url`,
`variant` and the submission twice: `data.json` (field name -> list of values) and `data.xml`
(documentation.unbounce.com/hc/en-us/articles/203510044-Using-a-Webhook). Unbounce does not sign
webhooks (its documented mitigation is an IP allow-list), so the webhook URL carries the source's
secret as `?token=...` (or a custom header `X-Handoff-Token`), compared in constant time.

A submission has no id of its own; the digest of `data.json` stands in for one, so a redelivered
submission is recognised.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, ClassVar

import httpx

from handoff_intake.sources.base import AdapterResult, InboundRequest, SourceConfig
from handoff_intake.sources.payloads import (
    answers_from,
    as_text,
    fail,
    form_body,
    json_object,
    lead_from_answers,
)
from handoff_intake.sources.signing import shared_token, verify_token

# Unbounce adds these to every submission; they describe the visit, not the person.
_VISIT_FIELDS = ("ip_address", "page_uuid", "variant", "time_submitted", "date_submitted")


class UnbounceAdapter:
    """Unbounce landing-page form webhooks, authenticated by a token in the URL."""

    kind: ClassVar[str] = "unbounce"

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        verify_token(config, shared_token(request, str(config.options.get("token_param", "token"))))
        content_type = (request.header("content-type") or "").lower()
        form: dict[str, str] = {}
        if content_type.startswith("application/json"):
            data: Any = json_object(request)
            raw_json = request.body.decode()
        else:
            form = form_body(request)
            if "data.json" not in form:
                raise fail(["data.json"], "field required")
            raw_json = form["data.json"]
            try:
                data = json.loads(raw_json)
            except json.JSONDecodeError:
                raise fail(["data.json"], "not valid JSON") from None
            if not isinstance(data, dict):
                raise fail(["data.json"], "expected a JSON object")
        visit = {name: data.pop(name) for name in _VISIT_FIELDS if name in data}
        lead = lead_from_answers(
            answers_from(data),
            config,
            attributes={
                "page_id": form.get("page_id"),
                "page_name": form.get("page_name"),
                "page_url": form.get("page_url"),
                **{name: as_text(value) for name, value in visit.items()},
            },
        )
        digest = hashlib.sha256(raw_json.encode()).hexdigest()
        return AdapterResult(delivery_id=f"data.json:sha256:{digest}", leads=[lead])
