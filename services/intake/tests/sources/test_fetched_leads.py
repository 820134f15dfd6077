"""Facebook Lead Ads and LinkedIn Lead Sync: challenges, fetched fields, upstream failures."""

import json

import httpx
import pytest

from handoff_intake.sources.base import PayloadError, SignatureError, UpstreamError
from services.intake.tests.sources.cases import CASES, facebook, linkedin, linkedin_api
from services.intake.tests.sources.support import (
    NOW,
    SECRET,
    config,
    handle,
    hmac_hex,
    inbound,
    payload,
)

CASE = {case.kind: case for case in CASES}
FACEBOOK = config("facebook", verify_token="fb-verify", **CASE["facebook"].options)
LINKEDIN = config("linkedin", **CASE["linkedin"].options)


def test_facebook_subscription_challenge_is_echoed_as_text() -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": "fb-verify",
        "hub.challenge": "1158201444",
    }
    result = handle(inbound(method="GET", query=query), FACEBOOK)
    assert result.leads == []
    assert result.response is not None
    assert (result.response.status_code, result.response.body) == (200, b"1158201444")
    assert result.response.media_type == "text/plain"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "fb-verify", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "fb-verify"},
    ],
)
def test_a_bad_facebook_challenge_is_refused(query: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        handle(inbound(method="GET", query=query), FACEBOOK)


def test_facebook_fields_come_from_the_graph_lead() -> None:
    (lead,) = handle(
        CASE["facebook"].request(SECRET), FACEBOOK, transport=CASE["facebook"].transport
    ).leads
    assert lead.delivery_id == "2096457267389456"
    assert lead.fields == {
        "first_name": "Amara",
        "last_name": "Nwosu",
        "phone": "+2348031234567",
        "company": "Delta Energy",
        "job_title": "Procurement Manager",
    }
    assert lead.attributes["what_is_your_timeline?"] == "this_quarter"
    assert lead.attributes["form_id"] == "1032451234567890"


def test_each_leadgen_change_in_a_batch_is_its_own_lead() -> None:
    document = json.loads(CASE["facebook"].body)
    second = json.loads(json.dumps(document["entry"][0]))
    second["changes"][0]["value"]["leadgen_id"] = "2096457267389999"
    document["entry"].append(second)
    document["entry"][0]["changes"].append({"field": "feed", "value": {"item": "status"}})
    body = json.dumps(document).encode()

    def graph(request: httpx.Request) -> httpx.Response:
        lead = json.loads(payload("facebook_graph_lead.json"))
        lead["id"] = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json=lead)

    result = handle(facebook(body, SECRET, NOW), FACEBOOK, transport=graph)
    assert [lead.delivery_id for lead in result.leads] == ["2096457267389456", "2096457267389999"]
    assert result.delivery_id == "2096457267389456,2096457267389999"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(500, json={"error": {"message": "unknown"}}), UpstreamError),
        (httpx.Response(400, json={"error": {"code": 190}}), UpstreamError),
        (httpx.Response(200, text="<html>"), UpstreamError),
        (httpx.Response(404, json={"error": {"code": 100}}), PayloadError),
    ],
)
def test_graph_failures_are_retryable_unless_the_lead_does_not_exist(
    answer: httpx.Response, error: type[Exception]
) -> None:
    with pytest.raises(error):
        handle(CASE["facebook"].request(SECRET), FACEBOOK, transport=lambda request: answer)


def test_an_unreachable_graph_api_is_retryable() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(UpstreamError):
        handle(CASE["facebook"].request(SECRET), FACEBOOK, transport=unreachable)


def test_a_facebook_source_without_an_access_token_is_a_set_up_fault() -> None:
    with pytest.raises(UpstreamError, match="access_token"):
        handle(CASE["facebook"].request(SECRET), config("facebook", graph_base_url="http://g.stub"))


def test_a_leadgen_change_without_an_id_is_pointed_at() -> None:
    document = json.loads(CASE["facebook"].body)
    del document["entry"][0]["changes"][0]["value"]["leadgen_id"]
    body = json.dumps(document).encode()
    with pytest.raises(PayloadError) as refused:
        handle(facebook(body, SECRET, NOW), FACEBOOK)
    assert refused.value.errors[0]["loc"] == [
        "body",
        "entry",
        0,
        "changes",
        0,
        "value",
        "leadgen_id",
    ]


def test_linkedin_validation_challenge_is_answered_with_the_hmac_of_the_code() -> None:
    code = "f6e4a1a2-0b6f-4d6c-8b8b-3a8f3b0c2d1e"
    result = handle(inbound(method="GET", query={"challengeCode": code}), LINKEDIN)
    assert result.response is not None
    assert result.response.media_type == "application/json"
    assert json.loads(result.response.body) == {
        "challengeCode": code,
        "challengeResponse": hmac_hex(SECRET, code.encode()),
    }


def test_linkedin_answers_are_named_by_the_forms_predefined_fields() -> None:
    (lead,) = handle(CASE["linkedin"].request(SECRET), LINKEDIN, transport=linkedin_api).leads
    assert lead.external_id == "urn:li:person:X2a9cB3dEf"
    assert lead.fields == {
        "first_name": "Elena",
        "last_name": "Petrova",
        "company": "Orbital Robotics",
    }
    assert lead.attributes["interest"] == "2"
    assert lead.attributes["lead_type"] == "SPONSORED"


def test_a_deleted_linkedin_lead_is_acknowledged_without_a_lead() -> None:
    document = json.loads(CASE["linkedin"].body)
    document["leadAction"] = "DELETED"
    body = json.dumps(document).encode()
    result = handle(linkedin(body, SECRET, NOW), LINKEDIN)
    assert result.leads == []
    assert result.delivery_id == "8765432101"


def test_a_linkedin_notification_must_name_a_form_response_urn() -> None:
    document = json.loads(CASE["linkedin"].body)
    document["leadGenFormResponse"] = "urn:li:somethingElse:1"
    body = json.dumps(document).encode()
    with pytest.raises(PayloadError) as refused:
        handle(linkedin(body, SECRET, NOW), LINKEDIN)
    assert refused.value.errors[0]["loc"] == ["body", "leadGenFormResponse"]
