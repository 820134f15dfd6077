"""Typeform, Tally, Calendly, Webflow and HubSpot: signature details and payload mapping."""

import json
from datetime import timedelta

import pytest

from handoff_intake.sources.base import PayloadError, SignatureError
from handoff_intake.sources.hubspot import signed_uri
from services.intake.tests.sources.cases import (
    CASES,
    HUBSPOT_URL,
    calendly,
    hubspot,
    hubspot_api,
    typeform,
    webflow,
)
from services.intake.tests.sources.support import NOW, SECRET, config, handle, hmac_b64, payload

CASE = {case.kind: case for case in CASES}


def source(kind: str):
    return config(kind, **CASE[kind].options)


@pytest.mark.parametrize(
    ("kind", "age"),
    [
        ("calendly", timedelta(minutes=4)),
        ("calendly", -timedelta(minutes=4)),
        ("webflow", timedelta(minutes=6)),
        ("hubspot", timedelta(minutes=6)),
    ],
)
def test_a_signature_outside_the_schemes_tolerance_is_refused(kind: str, age: timedelta) -> None:
    case = CASE[kind]
    stale = case.request(SECRET, now=NOW - age)
    with pytest.raises(SignatureError, match="tolerance"):
        handle(stale, source(kind), transport=case.transport)


@pytest.mark.parametrize("kind", ["calendly", "webflow", "hubspot"])
def test_a_signature_just_inside_the_tolerance_is_accepted(kind: str) -> None:
    case = CASE[kind]
    recent = case.request(SECRET, now=NOW - timedelta(minutes=2, seconds=59))
    assert handle(recent, source(kind), transport=case.transport).leads[0].email == case.email


def test_a_garbled_calendly_signature_header_is_refused() -> None:
    request = calendly(CASE["calendly"].body, SECRET, NOW)
    for header in ["v1=abc", "t=notanumber,v1=abc", "garbage"]:
        garbled = type(request)(
            request.method, request.url, {"Calendly-Webhook-Signature": header}, {}, request.body
        )
        with pytest.raises(SignatureError):
            handle(garbled, source("calendly"))


def test_typeform_requires_the_sha256_prefix() -> None:
    body = CASE["typeform"].body
    request = typeform(body, SECRET, NOW)
    bare = type(request)(
        "POST", request.url, {"Typeform-Signature": hmac_b64(SECRET, body)}, {}, body
    )
    with pytest.raises(SignatureError):
        handle(bare, source("typeform"))


def test_typeform_answers_map_by_type_and_title_and_hidden_fields_are_kept() -> None:
    (lead,) = handle(CASE["typeform"].request(SECRET), source("typeform")).leads
    assert lead.fields == {
        "first_name": "Maren",
        "last_name": "Okafor",
        "company": "Northwind Traders",
        "phone": "+4915123456789",
        "employee_count": "201-500",
        "campaign": "q4-platform-launch",
    }
    assert lead.attributes["utm_source"] == "linkedin"
    assert lead.attributes["form_title"] == "Talk to sales"


def test_a_field_map_naming_a_typeform_field_id_wins_over_label_guessing() -> None:
    source_config = config("typeform", field_map={"industry": "k6TP9oiGRg0P"})
    (lead,) = handle(CASE["typeform"].request(SECRET), source_config).leads
    assert lead.fields["industry"] == "Northwind Traders"
    assert "company" not in lead.fields


def test_typeform_events_other_than_form_response_are_payload_errors() -> None:
    document = json.loads(CASE["typeform"].body)
    document["event_type"] = "form_partial_response"
    body = json.dumps(document).encode()
    with pytest.raises(PayloadError) as refused:
        handle(typeform(body, SECRET, NOW), source("typeform"))
    assert refused.value.errors[0]["loc"] == ["body", "event_type"]


def test_typeform_answers_without_a_field_are_pointed_at() -> None:
    document = json.loads(CASE["typeform"].body)
    del document["form_response"]["answers"][2]["field"]
    body = json.dumps(document).encode()
    with pytest.raises(PayloadError) as refused:
        handle(typeform(body, SECRET, NOW), source("typeform"))
    assert refused.value.errors[0]["loc"] == ["body", "form_response", "answers", 2, "field"]


def test_tally_choice_ids_become_their_option_text() -> None:
    (lead,) = handle(CASE["tally"].request(SECRET), source("tally")).leads
    assert lead.attributes["Team size"] == "11-50"
    assert lead.fields["phone"] == "+31612345678"
    assert lead.fields["campaign"] == "spring-webinar"
    assert lead.attributes["respondent_id"] == "dwQKYm"


def test_calendly_splits_the_name_and_keeps_answers_and_tracking() -> None:
    (lead,) = handle(CASE["calendly"].request(SECRET), source("calendly")).leads
    assert lead.fields == {
        "first_name": "Sofía",
        "last_name": "Reyes García",
        "company": "Lumen Health",
        "job_title": "Head of Operations",
        "phone": "+34 612 34 56 78",
        "campaign": "emea-demo",
    }
    assert lead.attributes["utm_source"] == "google"
    assert lead.attributes["What would you like to discuss?"].startswith("We want")


def test_a_calendly_cancellation_is_acknowledged_without_a_lead() -> None:
    document = json.loads(CASE["calendly"].body)
    document["event"] = "invitee.canceled"
    body = json.dumps(document).encode()
    result = handle(calendly(body, SECRET, NOW), source("calendly"))
    assert result.leads == []
    assert result.delivery_id.startswith("invitee.canceled:")


def test_webflow_signs_timestamp_colon_body() -> None:
    body = CASE["webflow"].body
    request = webflow(body, SECRET, NOW)
    other_time = dict(
        request.headers, **{"x-webflow-timestamp": str(int(NOW.timestamp() * 1000) + 1)}
    )
    with pytest.raises(SignatureError):
        handle(type(request)("POST", request.url, other_time, {}, body), source("webflow"))


def test_webflow_form_data_maps_labels_and_numbers() -> None:
    (lead,) = handle(CASE["webflow"].request(SECRET), source("webflow")).leads
    assert lead.fields["phone"] == "15550000000"
    assert lead.fields["company"] == "Heart of Gold Ltd"
    assert lead.attributes["form_name"] == "Contact Us"


def test_hubspot_signs_the_uri_with_the_listed_escapes_decoded() -> None:
    assert (
        signed_uri("https://x.example/h?a=b%3Ac%2Fd&e=%20f%3f")
        == "https://x.example/h?a=b:c/d&e=%20f?"
    )


def test_hubspot_signature_covers_method_and_url() -> None:
    request = CASE["hubspot"].request(SECRET)
    for method, url in [("PUT", request.url), ("POST", HUBSPOT_URL.replace("62515", "62516"))]:
        moved = type(request)(method, url, request.headers, request.query, request.body)
        with pytest.raises(SignatureError):
            handle(moved, source("hubspot"), transport=hubspot_api)


def test_hubspot_contact_events_fetch_the_contact_and_skip_other_objects() -> None:
    result = handle(CASE["hubspot"].request(SECRET), source("hubspot"), transport=hubspot_api)
    (lead,) = result.leads
    assert lead.delivery_id == "1868421537"
    assert lead.external_id == "51"
    assert lead.fields["job_title"] == "VP Engineering"
    assert lead.fields["employee_count"] == "500"
    assert lead.attributes["hubspot_event"] == "contact.creation"


def test_a_hubspot_workflow_webhook_carries_the_contact_inline() -> None:
    body = payload("hubspot_workflow_contact.json")
    result = handle(hubspot(body, SECRET, NOW), source("hubspot"))
    (lead,) = result.leads
    assert lead.email == "liam.walsh@brightforge.example"
    assert lead.fields["phone"] == "+353 87 123 4567"
    assert lead.external_id == "7301"


def test_a_hubspot_event_without_an_object_id_is_pointed_at() -> None:
    events = json.loads(CASE["hubspot"].body)
    del events[0]["objectId"]
    body = json.dumps(events).encode()
    with pytest.raises(PayloadError) as refused:
        handle(hubspot(body, SECRET, NOW), source("hubspot"), transport=hubspot_api)
    assert refused.value.errors[0]["loc"] == ["body", 0, "objectId"]
