"""One valid, signed delivery per source kind, in the tool's documented format."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from handoff_intake.sources.base import InboundRequest
from handoff_intake.sources.hubspot import signed_uri
from services.intake.tests.sources.support import (
    NOW,
    hmac_b64,
    hmac_hex,
    inbound,
    payload,
)

URL = "https://intake.example.com/webhooks/src"
Transport = Callable[[httpx.Request], httpx.Response]


@dataclass(frozen=True)
class Case:
    """A tool, a body it sends, how it authenticates, and who the lead is."""

    kind: str
    body: bytes
    authenticate: Callable[[bytes, str, datetime], InboundRequest]
    email: str
    first_name: str
    last_name: str
    delivery_id: str | None
    signed: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    transport: Transport | None = None

    def request(self, secret: str, body: bytes | None = None, now: datetime = NOW):
        """The delivery authenticated with `secret`, optionally carrying another body."""
        signed_request = self.authenticate(self.body, secret, now)
        if body is None:
            return signed_request
        return InboundRequest(
            method=signed_request.method,
            url=signed_request.url,
            headers=signed_request.headers,
            query=signed_request.query,
            body=body,
        )


def epoch_ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def typeform(body: bytes, secret: str, now: datetime) -> InboundRequest:
    return inbound(body, {"Typeform-Signature": f"sha256={hmac_b64(secret, body)}"})


def tally(body: bytes, secret: str, now: datetime) -> InboundRequest:
    return inbound(body, {"Tally-Signature": hmac_b64(secret, body)})


def calendly(body: bytes, secret: str, now: datetime) -> InboundRequest:
    t = str(int(now.timestamp()))
    v1 = hmac_hex(secret, f"{t}.".encode() + body)
    return inbound(body, {"Calendly-Webhook-Signature": f"t={t},v1={v1}"})


def webflow(body: bytes, secret: str, now: datetime) -> InboundRequest:
    timestamp = epoch_ms(now)
    return inbound(
        body,
        {
            "x-webflow-timestamp": timestamp,
            "x-webflow-signature": hmac_hex(secret, f"{timestamp}:".encode() + body),
        },
    )


HUBSPOT_URL = "https://intake.example.com/webhooks/hubspot-main?portal=62515&note=a%3Ab"


def hubspot(body: bytes, secret: str, now: datetime) -> InboundRequest:
    timestamp = epoch_ms(now)
    message = b"POST" + signed_uri(HUBSPOT_URL).encode() + body + timestamp.encode()
    return inbound(
        body,
        {
            "Content-Type": "application/json",
            "X-HubSpot-Signature-v3": hmac_b64(secret, message),
            "X-HubSpot-Request-Timestamp": timestamp,
        },
        url=HUBSPOT_URL,
    )


def in_url(body: bytes, secret: str, now: datetime, content_type: str) -> InboundRequest:
    return inbound(body, {"Content-Type": content_type}, {"token": secret})


def bearer_json(body: bytes, secret: str, now: datetime) -> InboundRequest:
    return inbound(body, {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"})


def facebook(body: bytes, secret: str, now: datetime) -> InboundRequest:
    return inbound(body, {"X-Hub-Signature-256": f"sha256={hmac_hex(secret, body)}"})


def linkedin(body: bytes, secret: str, now: datetime) -> InboundRequest:
    return inbound(body, {"X-LI-Signature": hmac_hex(secret, b"hmacsha256=" + body)})


BOUNDARY = "------------------------d74496d66958873e"


def jotform_body() -> bytes:
    raw_request = payload("jotform_raw_request.json").decode()
    parts = {
        "action": "",
        "webhookURL": "https://intake.example.com/webhooks/jotform-demo?token=...",
        "username": "acme_marketing",
        "formID": "241234567890123",
        "type": "WEB",
        "formTitle": "Request a quote",
        "submissionID": "5974123456789012345",
        "ip": "203.0.113.50",
        "pretty": "Name:Chen Wei, E-mail:chen.wei@harbourfreight.example",
        "rawRequest": raw_request,
    }
    lines = []
    for name, value in parts.items():
        lines += [f"--{BOUNDARY}", f'Content-Disposition: form-data; name="{name}"', "", value]
    lines += [f"--{BOUNDARY}--", ""]
    return "\r\n".join(lines).encode()


def unbounce_body() -> bytes:
    data_json = payload("unbounce_data.json").decode()
    return urlencode(
        {
            "page_id": "a5d2f6a2-3b7c-11e6-9a5c-22000b2a0b8b",
            "page_name": "Demo request",
            "page_url": "https://get.cedarworks.example/demo",
            "variant": "a",
            "data.json": data_json,
            "data.xml": "<?xml version='1.0' encoding='UTF-8'?><form_data>...</form_data>",
        }
    ).encode()


def json_route(routes: dict[str, str]) -> Transport:
    """A stub API answering each path with a recorded document, 404 for anything else."""

    def answer(request: httpx.Request) -> httpx.Response:
        name = routes.get(request.url.path)
        if name is None:
            return httpx.Response(404, json={"error": "not found"})
        return httpx.Response(200, json=json.loads(payload(name)))

    return answer


def graph(request: httpx.Request) -> httpx.Response:
    assert request.url.params["access_token"] == "graph-token"
    return json_route({"/v21.0/2096457267389456": "facebook_graph_lead.json"})(request)


def linkedin_api(request: httpx.Request) -> httpx.Response:
    assert request.headers["Authorization"] == "Bearer li-token"
    return json_route(
        {
            "/rest/leadFormResponses/d1b8b3a2-5c5f-4a4e-9d6e-0f1e2d3c4b5a-5": (
                "linkedin_lead_form_response.json"
            ),
            "/rest/leadForms/6677889": "linkedin_lead_form.json",
        }
    )(request)


def hubspot_api(request: httpx.Request) -> httpx.Response:
    assert request.headers["Authorization"] == "Bearer hs-token"
    return json_route({"/crm/v3/objects/contacts/51": "hubspot_crm_contact.json"})(request)


CASES = [
    Case(
        "typeform",
        payload("typeform_form_response.json"),
        typeform,
        "maren.okafor@northwind.example",
        "Maren",
        "Okafor",
        "01HZX3J8Q7N4T2W9K5B6C1D0EF",
    ),
    Case(
        "tally",
        payload("tally_form_response.json"),
        tally,
        "idris@bakker-logistics.example",
        "Idris",
        "Bakker",
        "a4cb511e-d513-4fa5-baee-b815d718dfd1",
    ),
    Case(
        "calendly",
        payload("calendly_invitee_created.json"),
        calendly,
        "sofia.reyes@lumen-health.example",
        "Sofía",
        "Reyes García",
        "invitee.created:https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAAAAAAAAAAAAAA",
    ),
    Case(
        "webflow",
        payload("webflow_form_submission.json"),
        webflow,
        "zaphod@heartofgold.example",
        "Zaphod",
        "Beeblebrox",
        "6321ca84df3949bfc6752327",
    ),
    Case(
        "hubspot",
        payload("hubspot_contact_events.json"),
        hubspot,
        "priya.natarajan@quanta.example",
        "Priya",
        "Natarajan",
        "1868421537,1868421538",
        options={"access_token": "hs-token", "api_base_url": "http://hubspot.stub"},
        transport=hubspot_api,
    ),
    Case(
        "jotform",
        jotform_body(),
        lambda body, secret, now: in_url(
            body, secret, now, f"multipart/form-data; boundary={BOUNDARY}"
        ),
        "chen.wei@harbourfreight.example",
        "Chen",
        "Wei",
        "5974123456789012345",
        signed=False,
    ),
    Case(
        "unbounce",
        unbounce_body(),
        lambda body, secret, now: in_url(body, secret, now, "application/x-www-form-urlencoded"),
        "noor.haddad@cedarworks.example",
        "Noor",
        "Haddad",
        "data.json:sha256:" + hashlib.sha256(payload("unbounce_data.json")).hexdigest(),
        signed=False,
    ),
    Case(
        "pardot",
        b"email=grace.hopper%40cobol.example&first_name=Grace&last_name=Hopper&company=COBOL+Inc",
        lambda body, secret, now: in_url(body, secret, now, "application/x-www-form-urlencoded"),
        "grace.hopper@cobol.example",
        "Grace",
        "Hopper",
        None,
        signed=False,
    ),
    Case(
        "salesforce",
        payload("salesforce_outbound_message.xml"),
        lambda body, secret, now: in_url(body, secret, now, "text/xml; charset=utf-8"),
        "astrid.lund@fjord.example",
        "Astrid",
        "Lund",
        "04l5e00000A1b2cAAB,04l5e00000A1b2dAAB",
        signed=False,
        options={"organization_id": "00D5e000000AbCd"},
    ),
    Case(
        "facebook",
        payload("facebook_leadgen.json"),
        facebook,
        "amara.nwosu@delta-energy.example",
        "Amara",
        "Nwosu",
        "2096457267389456",
        options={"access_token": "graph-token", "graph_base_url": "http://graph.stub"},
        transport=graph,
    ),
    Case(
        "linkedin",
        payload("linkedin_lead_notification.json"),
        linkedin,
        "elena.petrova@orbital.example",
        "Elena",
        "Petrova",
        "8765432101",
        options={"access_token": "li-token", "api_base_url": "http://linkedin.stub/rest"},
        transport=linkedin_api,
    ),
    Case(
        "gravityforms",
        payload("gravityforms_entry.json"),
        bearer_json,
        "kofi.mensah@adinkra.example",
        "Kofi",
        "Mensah",
        "1042",
        signed=False,
        options={"field_map": {"first_name": "1.3", "last_name": "1.6", "company": "3"}},
    ),
    Case(
        "zapier",
        json.dumps(
            {"email": "ada@analytical.example", "First Name": "Ada", "Last Name": "Lovelace"}
        ).encode(),
        bearer_json,
        "ada@analytical.example",
        "Ada",
        "Lovelace",
        None,
        signed=False,
    ),
    Case(
        "make",
        json.dumps(
            {"id": "mk-77", "contact": {"email": "alan@bletchley.example", "name": "Alan Turing"}}
        ).encode(),
        bearer_json,
        "alan@bletchley.example",
        "Alan",
        "Turing",
        "mk-77",
        signed=False,
        options={"field_map": {"email": "contact.email", "name": "contact.name"}},
    ),
    Case(
        "googleforms",
        payload("googleforms_response.json"),
        bearer_json,
        "hana.sato@kirin-labs.example",
        "Hana",
        "Sato",
        "ACYDBNj7vq0Q",
        signed=False,
    ),
    Case(
        "generic",
        json.dumps(
            {"event": "e-1", "person": {"mail": "lin@example.org", "name": "Lin Yu"}}
        ).encode(),
        bearer_json,
        "lin@example.org",
        "Lin",
        "Yu",
        "e-1",
        signed=False,
        options={
            "field_map": {"email": "person.mail", "name": "person.name"},
            "delivery_id_path": "event",
        },
    ),
]
