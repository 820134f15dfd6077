"""Properties every source adapter has, checked on one real-format delivery per tool."""

import pytest

from handoff_intake.sources.base import PayloadError, SignatureError
from handoff_intake.sources.payloads import LEAD_FIELDS
from handoff_intake.sources.registry import known_kinds
from services.intake.tests.sources.cases import CASES, Case
from services.intake.tests.sources.support import NOW, OLD_SECRET, SECRET, config, handle

SIGNED = [case for case in CASES if case.signed]


def by_kind(cases: list[Case]) -> dict[str, list[Case]]:
    return {"argvalues": cases, "ids": [case.kind for case in cases]}


def source(case: Case, secrets: tuple[str, ...] = (SECRET,)):
    return config(case.kind, secrets, **case.options)


def test_every_registered_kind_has_a_real_format_case() -> None:
    assert sorted(case.kind for case in CASES) == known_kinds()


@pytest.mark.parametrize("case", **by_kind(CASES))
def test_a_valid_delivery_becomes_a_lead_with_the_right_email_and_name(case: Case) -> None:
    result = handle(case.request(SECRET), source(case), transport=case.transport)
    lead = result.leads[0]
    assert lead.email == case.email
    assert lead.fields["first_name"] == case.first_name
    assert lead.fields["last_name"] == case.last_name
    assert result.delivery_id == case.delivery_id
    assert set(lead.fields) <= set(LEAD_FIELDS)
    assert all(isinstance(value, str) for value in lead.attributes.values())


@pytest.mark.parametrize("case", **by_kind(CASES))
def test_the_previous_secret_is_accepted_during_rotation(case: Case) -> None:
    result = handle(
        case.request(OLD_SECRET), source(case, (SECRET, OLD_SECRET)), transport=case.transport
    )
    assert result.leads[0].email == case.email


@pytest.mark.parametrize("case", **by_kind(CASES))
def test_a_wrong_secret_is_refused(case: Case) -> None:
    with pytest.raises(SignatureError):
        handle(case.request("not-the-secret"), source(case), transport=case.transport)


@pytest.mark.parametrize("case", **by_kind(CASES))
def test_a_retired_secret_is_refused(case: Case) -> None:
    with pytest.raises(SignatureError):
        handle(case.request(OLD_SECRET), source(case), transport=case.transport)


@pytest.mark.parametrize("case", **by_kind(SIGNED))
def test_a_tampered_body_is_refused(case: Case) -> None:
    # Adapters that fetch the lead carry only ids in the body; any changed byte must fail.
    tampered = case.body.replace(case.email.encode(), b"mallory@evil.example")
    if tampered == case.body:
        tampered = case.body.replace(b"1", b"2", 1)
    assert tampered != case.body
    with pytest.raises(SignatureError):
        handle(case.request(SECRET, body=tampered), source(case), transport=case.transport)


@pytest.mark.parametrize("case", **by_kind(CASES))
def test_a_request_without_credentials_is_refused(case: Case) -> None:
    bare = case.request(SECRET)
    stripped = type(bare)(
        method=bare.method,
        url=bare.url,
        headers={
            name: value
            for name, value in bare.headers.items()
            if name.lower() in {"content-type", "x-hubspot-request-timestamp"}
        },
        query={},
        body=bare.body,
    )
    with pytest.raises(SignatureError):
        handle(stripped, source(case), transport=case.transport)


@pytest.mark.parametrize("case", **by_kind(CASES))
def test_a_source_with_no_secrets_refuses_even_an_empty_credential(case: Case) -> None:
    with pytest.raises(SignatureError):
        handle(case.request(""), source(case, ()), transport=case.transport)


@pytest.mark.parametrize("case", **by_kind([c for c in CASES if c.kind != "salesforce"]))
def test_an_authentic_body_that_is_not_the_tools_format_is_a_payload_error(case: Case) -> None:
    garbage = b"<html>definitely not a webhook</html>"
    with pytest.raises(PayloadError) as refused:
        handle(case.authenticate(garbage, SECRET, NOW), source(case))
    assert refused.value.errors[0]["loc"][0] == "body"
    assert refused.value.errors[0]["msg"]
