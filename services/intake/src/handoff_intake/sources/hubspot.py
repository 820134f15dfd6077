"""HubSpot webhooks, verified with the v3 request signature.

Signature (developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests):
`X-HubSpot-Signature-v3` = base64(HMAC-SHA256(client secret, method + URI + raw body +
`X-HubSpot-Request-Timestamp`)), the timestamp in epoch milliseconds and refused when older than
five minutes; the URI is the full public URL with the characters HubSpot lists percent-decoded.

Two payload shapes carry contacts: the webhooks API's array of events (`contact.creation`,
`contact.propertyChange`; only ids, so the contact is read from the CRM API at option
`api_base_url` with option `access_token`), and a workflow "send a webhook" object with the
contact's `properties` inline.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from handoff_intake.sources.base import AdapterResult, InboundRequest, ParsedLead, SourceConfig
from handoff_intake.sources.fetching import fetch_json, required_option
from handoff_intake.sources.payloads import (
    Answer,
    as_text,
    expect,
    fail,
    json_body,
    lead_from_answers,
    member,
)
from handoff_intake.sources.signing import check_freshness, parse_epoch, verify_hmac

TOLERANCE = timedelta(minutes=5)
# HubSpot signs the URI with exactly these escapes decoded.
_DECODED_IN_URI = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "company",
    "jobtitle",
    "phone",
    "mobilephone",
    "country",
    "industry",
    "numemployees",
    "hs_analytics_source",
    "hs_analytics_source_data_1",
    "recent_conversion_event_name",
)
_PROPERTY_HINTS = {"mobilephone": "phone", "numemployees": "employee_count"}


class HubSpotAdapter:
    """HubSpot webhooks (contact events) and workflow webhooks (contact properties)."""

    kind: ClassVar[str] = "hubspot"

    async def handle(
        self, request: InboundRequest, config: SourceConfig, now: datetime, http: httpx.AsyncClient
    ) -> AdapterResult:
        timestamp = request.header("x-hubspot-request-timestamp")
        signed_at = parse_epoch(timestamp, "ms", "X-HubSpot-Request-Timestamp")
        message = (
            request.method.upper().encode()
            + signed_uri(request.url).encode()
            + request.body
            + str(timestamp).encode()
        )
        verify_hmac(
            config,
            message,
            request.header("x-hubspot-signature-v3"),
            "base64",
            "X-HubSpot-Signature-v3",
        )
        check_freshness(signed_at, now, TOLERANCE)

        body = json_body(request)
        if isinstance(body, dict):
            return AdapterResult(delivery_id=None, leads=[_workflow_contact(body, config)])
        events = expect(body, list, [], "a list of events or a contact object")
        leads = []
        for index, raw in enumerate(events):
            event = expect(raw, dict, [index], "an event object")
            event_id = as_text(member(event, "eventId", int, [index], "an integer"))
            subscription = member(event, "subscriptionType", str, [index], "a string")
            if not subscription.startswith("contact.") or "deletion" in subscription.lower():
                continue
            contact_id = as_text(member(event, "objectId", int, [index], "an integer"))
            contact = await _fetch_contact(http, config, str(contact_id))
            lead = _lead(contact.get("properties"), config, str(contact_id), [index])
            attributes = {**lead.attributes, "hubspot_event": subscription}
            leads.append(replace(lead, attributes=attributes, delivery_id=event_id))
        delivery_id = ",".join(
            sorted(str(event.get("eventId")) for event in events if isinstance(event, dict))
        )
        return AdapterResult(delivery_id=delivery_id or None, leads=leads)


def signed_uri(url: str) -> str:
    """The request URL as HubSpot signs it: the listed percent-escapes decoded."""
    for escape, character in _DECODED_IN_URI.items():
        url = url.replace(escape, character).replace(escape.lower(), character)
    return url


async def _fetch_contact(
    http: httpx.AsyncClient, config: SourceConfig, contact_id: str
) -> dict[str, Any]:
    base_url = str(config.options.get("api_base_url", "https://api.hubapi.com")).rstrip("/")
    token = required_option(config, "access_token")
    return await fetch_json(
        http,
        f"{base_url}/crm/v3/objects/contacts/{contact_id}",
        "HubSpot contact",
        params={"properties": ",".join(CONTACT_PROPERTIES)},
        headers={"Authorization": f"Bearer {token}"},
    )


def _workflow_contact(body: dict[str, Any], config: SourceConfig) -> ParsedLead:
    properties = member(body, "properties", dict, [], "an object")
    contact_id = as_text(body.get("objectId") or body.get("vid") or body.get("hs_object_id"))
    return _lead(properties, config, contact_id, [])


def _lead(
    properties: Any, config: SourceConfig, contact_id: str | None, loc: list[str | int]
) -> ParsedLead:
    if not isinstance(properties, dict):
        raise fail([*loc, "properties"], "expected an object")
    answers = []
    for name, raw in properties.items():
        # Workflow webhooks wrap each property as {"value": ...}; the CRM API gives it bare.
        value = raw.get("value") if isinstance(raw, dict) else raw
        if text := as_text(value):
            answers.append(Answer(name, text, lead_field=_PROPERTY_HINTS.get(name)))
    return lead_from_answers(
        answers, config, attributes={"hubspot_contact_id": contact_id}, external_id=contact_id
    )
