"""Jotform, Unbounce, Pardot, Salesforce and the shared-token JSON tools."""

import json
from urllib.parse import urlencode

import pytest

from handoff_intake.sources.base import PayloadError, SignatureError
from handoff_intake.sources.salesforce import ACKNOWLEDGEMENT
from services.intake.tests.sources.cases import BOUNDARY, CASES, bearer_json, in_url
from services.intake.tests.sources.support import NOW, SECRET, config, handle, payload

CASE = {case.kind: case for case in CASES}
SALESFORCE = config("salesforce", organization_id="00D5e000000AbCdEAK")


def form(kind: str, body: bytes, content_type: str = "application/x-www-form-urlencoded"):
    return handle(in_url(body, SECRET, NOW, content_type), config(kind, **CASE[kind].options))


def test_jotform_raw_request_answers_map_to_lead_fields() -> None:
    (lead,) = handle(CASE["jotform"].request(SECRET), config("jotform")).leads
    assert lead.fields == {
        "first_name": "Chen",
        "last_name": "Wei",
        "phone": "(415) 555-0142",
        "company": "Harbour Freight Co",
        "country": "United States",
    }
    assert lead.attributes["howDid"] == "Podcast"
    assert lead.attributes["form_title"] == "Request a quote"
    assert "slug" not in lead.attributes


def test_jotform_posted_form_encoded_is_read_the_same_way() -> None:
    body = urlencode(
        {"submissionID": "597", "formID": "24", "rawRequest": payload("jotform_raw_request.json")}
    ).encode()
    result = form("jotform", body)
    assert result.delivery_id == "597"
    assert result.leads[0].email == "chen.wei@harbourfreight.example"


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"submissionID": "1", "formID": "2"}, ["body", "rawRequest"]),
        ({"submissionID": "1", "rawRequest": "{not json"}, ["body", "rawRequest"]),
        ({"submissionID": "1", "rawRequest": "[1, 2]"}, ["body", "rawRequest"]),
        ({"rawRequest": "{}"}, ["body", "submissionID"]),
    ],
)
def test_a_jotform_post_without_a_usable_raw_request_is_pointed_at(
    fields: dict[str, str], loc: list[str]
) -> None:
    with pytest.raises(PayloadError) as refused:
        form("jotform", urlencode(fields).encode())
    assert refused.value.errors[0]["loc"] == loc


def test_a_multipart_body_without_its_boundary_is_a_payload_error() -> None:
    with pytest.raises(PayloadError):
        form("jotform", CASE["jotform"].body, "multipart/form-data")
    with pytest.raises(PayloadError):
        form("jotform", b"no parts here", f"multipart/form-data; boundary={BOUNDARY}")


def test_unbounce_keeps_the_visit_and_answers_as_attributes() -> None:
    (lead,) = handle(CASE["unbounce"].request(SECRET), config("unbounce")).leads
    assert lead.fields == {
        "first_name": "Noor",
        "last_name": "Haddad",
        "company": "Cedarworks",
        "campaign": "retargeting-nov",
    }
    assert lead.attributes["what_is_your_budget"] == "$10k-$50k"
    assert lead.attributes["ip_address"] == "203.0.113.7"
    assert lead.attributes["page_name"] == "Demo request"


def test_an_unbounce_redelivery_has_the_same_delivery_id() -> None:
    first = handle(CASE["unbounce"].request(SECRET), config("unbounce"))
    again = handle(CASE["unbounce"].request(SECRET), config("unbounce"))
    assert first.delivery_id == again.delivery_id


@pytest.mark.parametrize(
    "fields",
    [{"page_id": "1"}, {"page_id": "1", "data.json": "{oops"}, {"data.json": "[]"}],
)
def test_an_unbounce_post_without_usable_data_json_is_pointed_at(fields: dict[str, str]) -> None:
    with pytest.raises(PayloadError) as refused:
        form("unbounce", urlencode(fields).encode())
    assert refused.value.errors[0]["loc"] == ["body", "data.json"]


def test_a_pardot_form_handler_post_maps_its_field_names() -> None:
    (lead,) = handle(CASE["pardot"].request(SECRET), config("pardot")).leads
    assert lead.fields == {"first_name": "Grace", "last_name": "Hopper", "company": "COBOL Inc"}


def test_a_token_in_a_header_does_not_replace_the_url_token_for_url_token_tools() -> None:
    request = CASE["pardot"].request(SECRET)
    moved = type(request)("POST", request.url, {"X-Handoff-Token": SECRET}, {}, request.body)
    with pytest.raises(SignatureError):
        handle(moved, config("pardot"))


def test_salesforce_notifications_become_leads_and_are_acknowledged() -> None:
    result = handle(CASE["salesforce"].request(SECRET), SALESFORCE)
    assert [lead.delivery_id for lead in result.leads] == [
        "04l5e00000A1b2cAAB",
        "04l5e00000A1b2dAAB",
    ]
    first, second = result.leads
    assert first.external_id == "00Q5e00000Mn0PqEAJ"
    assert first.fields == {
        "first_name": "Astrid",
        "last_name": "Lund",
        "company": "Fjord Analytics",
        "job_title": "Data Lead",
        "employee_count": "120",
        "lead_source": "Web",
    }
    assert (second.email, second.fields["first_name"]) == ("tomas.novak@kestrel.example", "Tomáš")
    assert result.response is not None
    assert result.response.status_code == 200
    assert result.response.media_type == "text/xml"
    assert result.response.body == ACKNOWLEDGEMENT
    assert b"<Ack>true</Ack>" in ACKNOWLEDGEMENT


@pytest.mark.parametrize("organization_id", ["00D5e000000ZzZz", ""])
def test_a_salesforce_message_from_another_organisation_is_refused(organization_id: str) -> None:
    with pytest.raises(SignatureError):
        handle(
            CASE["salesforce"].request(SECRET),
            config("salesforce", organization_id=organization_id),
        )


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>&xxe;</OrganizationId>
</notifications></soapenv:Body></soapenv:Envelope>"""
LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>"""


@pytest.mark.parametrize(
    "body",
    [
        XXE,
        LAUGHS,
        b"<notxml",
        b"<a/>",
        payload("salesforce_outbound_message.xml").replace(b"<Id>04l5e00000A1b2cAAB</Id>", b""),
    ],
    ids=["xxe", "entity-expansion", "broken", "not-soap", "notification-without-id"],
)
def test_hostile_or_malformed_salesforce_xml_is_a_payload_error(body: bytes) -> None:
    with pytest.raises(PayloadError):
        handle(in_url(body, SECRET, NOW, "text/xml"), SALESFORCE)


def test_gravity_forms_fields_are_named_by_the_field_map_and_the_email_found_by_shape() -> None:
    (lead,) = handle(
        CASE["gravityforms"].request(SECRET), config("gravityforms", **CASE["gravityforms"].options)
    ).leads
    assert lead.fields == {"first_name": "Kofi", "last_name": "Mensah", "company": "Adinkra Studio"}
    assert lead.attributes["5"] == "Need a quote for 40 seats"


def test_google_forms_answers_are_read_from_the_answers_object() -> None:
    result = handle(CASE["googleforms"].request(SECRET), config("googleforms"))
    (lead,) = result.leads
    assert lead.fields["company"] == "Kirin Labs"
    assert lead.attributes["Which product?"] == "Routing, SLA alerts"
    assert lead.attributes["formId"] == "1FAIpQLSf3kG9x"


def test_a_token_may_also_come_in_the_query_string_for_token_json_tools() -> None:
    body = CASE["zapier"].body
    result = handle(in_url(body, SECRET, NOW, "application/json"), config("zapier"))
    assert result.leads[0].email == "ada@analytical.example"


@pytest.mark.parametrize("body", [b"[]", b"null", b"{"])
def test_token_json_tools_need_a_json_object(body: bytes) -> None:
    with pytest.raises(PayloadError):
        handle(bearer_json(body, SECRET, NOW), config("make"))


def test_a_missing_email_is_left_for_intake_to_refuse() -> None:
    body = json.dumps({"First Name": "Nobody"}).encode()
    (lead,) = handle(bearer_json(body, SECRET, NOW), config("zapier")).leads
    assert lead.email is None
    assert lead.fields == {"first_name": "Nobody"}
