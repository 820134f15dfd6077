"""Facebook (Meta) Lead Ads: the webhook names leadgen ids; the fields come from the Graph API.

Subscription check: a GET with `hub.mode=subscribe`, `hub.verify_token` (option `verify_token`)
and `hub.challenge`, answered with the challenge as text/plain. Deliveries: a POST signed
`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>` whose
`entry[].changes[]` with `field` `leadgen` carry `value.leadgen_id`; each lead is read with
`GET {graph_base_url}/{graph_version}/{leadgen_id}?access_token=...`, answering `field_data`
as `name`/`values` pairs (developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving,
developers.facebook.com/docs/graph-api/webhooks/getting-started).
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

import httpx

from handoff_intake.sources.base import (
    AdapterResult,
    InboundRequest,
    ParsedLead,
    PlainResponse,
    SignatureError,
    SourceConfig,
)
from handoff_intake.sources.fetching import fetch_json, required_option
from handoff_intake.sources.payloads import (
    Answer,
    as_text,
    expect,
    fail,
    json_object,
    lead_from_answers,
    member,
)
from handoff_intake.sources.signing import verify_sha256_header


class FacebookLeadAdsAdapter:
    """Meta Lead Ads leadgen webhooks."""

    kind: ClassVar[str] = "facebook"

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        if request.method.upper() == "GET":
            return _answer_challenge(request, config)
        verify_sha256_header(config, request, "X-Hub-Signature-256", "hex")
        body = json_object(request)
        leads = []
        for entry_index, entry in enumerate(member(body, "entry", list, [], "a list")):
            loc: list[str | int] = ["entry", entry_index]
            changes = member(expect(entry, dict, loc, "an object"), "changes", list, loc, "a list")
            for change_index, change in enumerate(changes):
                change_loc = [*loc, "changes", change_index]
                if expect(change, dict, change_loc, "an object").get("field") != "leadgen":
                    continue
                value = member(change, "value", dict, change_loc, "an object")
                leadgen_id = as_text(value.get("leadgen_id"))
                if not leadgen_id:
                    raise fail([*change_loc, "value", "leadgen_id"], "field required")
                leads.append(await _lead(http, config, leadgen_id, value))
        delivery_id = ",".join(sorted(lead.delivery_id or "" for lead in leads)) or None
        return AdapterResult(delivery_id=delivery_id, leads=leads)


def _answer_challenge(request: InboundRequest, config: SourceConfig) -> AdapterResult:
    expected = str(config.options.get("verify_token") or "")
    presented = request.query.get("hub.verify_token") or ""
    if request.query.get("hub.mode") != "subscribe" or "hub.challenge" not in request.query:
        raise SignatureError("not a subscription verification request")
    if not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise SignatureError("hub.verify_token does not match")
    challenge = request.query["hub.challenge"].encode()
    return AdapterResult(
        delivery_id=None, leads=[], response=PlainResponse(200, challenge, "text/plain")
    )


async def _lead(
    http: httpx.AsyncClient, config: SourceConfig, leadgen_id: str, change: dict[str, Any]
) -> ParsedLead:
    base_url = str(config.options.get("graph_base_url", "https://graph.facebook.com")).rstrip("/")
    version = str(config.options.get("graph_version", "v21.0"))
    lead_document = await fetch_json(
        http,
        f"{base_url}/{version}/{leadgen_id}",
        "Graph API lead",
        params={"access_token": required_option(config, "access_token")},
    )
    answers = [
        Answer(name, text)
        for item in lead_document.get("field_data") or []
        if isinstance(item, dict)
        and (name := as_text(item.get("name")))
        and (text := as_text(item.get("values")))
    ]
    lead = lead_from_answers(
        answers,
        config,
        attributes={
            "leadgen_id": leadgen_id,
            "form_id": as_text(change.get("form_id")),
            "page_id": as_text(change.get("page_id")),
            "ad_id": as_text(change.get("ad_id")),
            "adgroup_id": as_text(change.get("adgroup_id")),
            "campaign_id": as_text(lead_document.get("campaign_id")),
            "created_time": as_text(lead_document.get("created_time")),
        },
    )
    return replace(lead, delivery_id=leadgen_id)
