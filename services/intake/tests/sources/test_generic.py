import json

import pytest

from handoff_intake.sources.base import PayloadError, SignatureError
from services.intake.tests.sources.support import (
    OLD_SECRET,
    SECRET,
    config,
    handle,
    hmac_hex,
    inbound,
)

BODY = json.dumps(
    {
        "id": "evt_81",
        "contact": {"mail": "Ann.Lee@Example.com", "given": "Ann", "family": "Lee", "id": 42},
        "org": {"name": "Acme GmbH", "size": 250},
        "utm_campaign": "q4-launch",
        "notes": "call after 3pm",
    }
).encode()
FIELD_MAP = {
    "email": "contact.mail",
    "first_name": "contact.given",
    "last_name": "contact.family",
    "company": "org.name",
    "employee_count": "org.size",
}


def source(**options: object):
    return config(
        "generic",
        field_map=FIELD_MAP,
        delivery_id_path="id",
        external_id_path="contact.id",
        **options,
    )


def test_the_field_map_decides_where_each_lead_field_comes_from() -> None:
    result = handle(
        inbound(BODY, {"Content-Type": "application/json", "X-Handoff-Token": SECRET}), source()
    )
    (lead,) = result.leads
    assert result.delivery_id == "evt_81"
    assert lead.email == "Ann.Lee@Example.com"
    assert lead.fields == {
        "first_name": "Ann",
        "last_name": "Lee",
        "company": "Acme GmbH",
        "employee_count": "250",
        "campaign": "q4-launch",
    }
    assert lead.external_id == "42"
    assert lead.attributes == {
        "id": "evt_81",
        "contact.id": "42",
        "utm_campaign": "q4-launch",
        "notes": "call after 3pm",
    }


def test_a_form_encoded_body_is_mapped_by_field_name() -> None:
    body = b"work_email=bo%40example.org&fname=Bo&lname=Berg&interest=pricing"
    result = handle(
        inbound(body, {"Content-Type": "application/x-www-form-urlencoded"}, {"token": SECRET}),
        config("generic", field_map={"email": "work_email"}),
    )
    (lead,) = result.leads
    assert lead.email == "bo@example.org"
    assert lead.fields == {"first_name": "Bo", "last_name": "Berg"}
    assert lead.attributes == {"interest": "pricing"}
    assert result.delivery_id is None


def two_secrets(**options: object):
    return config(
        "generic", (SECRET, OLD_SECRET), field_map=FIELD_MAP, delivery_id_path="id", **options
    )


def test_either_active_secret_is_accepted_during_rotation() -> None:
    for secret in (SECRET, OLD_SECRET):
        result = handle(inbound(BODY, {"X-Handoff-Token": secret}), two_secrets())
        assert result.leads[0].email == "Ann.Lee@Example.com"


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Handoff-Token": "guess"}, {"Authorization": "Bearer "}, {"Authorization": SECRET}],
)
def test_a_missing_or_wrong_token_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        handle(inbound(BODY, headers), source())


def test_a_source_without_secrets_refuses_everything() -> None:
    with pytest.raises(SignatureError):
        handle(inbound(BODY, {"X-Handoff-Token": ""}), config("generic", secrets=()))


HMAC_OPTIONS = {"signature_header": "X-Signature", "signature_prefix": "sha256="}


def test_an_hmac_signature_over_the_raw_body_authenticates() -> None:
    for secret in (SECRET, OLD_SECRET):
        headers = {"X-Signature": f"sha256={hmac_hex(secret, BODY)}"}
        result = handle(inbound(BODY, headers), two_secrets(**HMAC_OPTIONS))
        assert result.leads[0].fields["company"] == "Acme GmbH"


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        (BODY, f"sha256={hmac_hex('wrong-secret', BODY)}"),
        (BODY.replace(b"Acme", b"Evil"), f"sha256={hmac_hex(SECRET, BODY)}"),
        (BODY, hmac_hex(SECRET, BODY)),
        (BODY, None),
    ],
    ids=["wrong-secret", "tampered-body", "missing-prefix", "missing-header"],
)
def test_a_bad_hmac_signature_is_refused(body: bytes, signature: str | None) -> None:
    headers = {} if signature is None else {"X-Signature": signature}
    with pytest.raises(SignatureError):
        handle(inbound(body, headers), two_secrets(**HMAC_OPTIONS))


def test_a_token_is_not_accepted_when_a_signature_is_configured() -> None:
    with pytest.raises(SignatureError):
        handle(inbound(BODY, {"X-Handoff-Token": SECRET}), source(**HMAC_OPTIONS))


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b'"just a string"'])
def test_a_body_that_is_not_json_says_so(body: bytes) -> None:
    with pytest.raises(PayloadError) as refused:
        handle(inbound(body, {"X-Handoff-Token": SECRET}), source())
    assert refused.value.errors[0]["loc"] == ["body"]
