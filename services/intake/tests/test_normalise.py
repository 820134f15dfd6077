import pytest

from handoff_intake.domain.normalise import (
    InvalidEmail,
    normalise_email,
    normalise_phone,
    parse_employee_count,
    storable,
    unstorable_path,
)
from handoff_shared.contact import country_code, email_kind


@pytest.mark.parametrize(
    ("raw", "address", "domain"),
    [
        ("  Ann.Lee@Example.COM\t", "ann.lee@example.com", "example.com"),
        ("jo@BÜCHER.example", "jo@bücher.example", "bücher.example"),
        ("jo@xn--bcher-kva.example", "jo@bücher.example", "bücher.example"),
    ],
)
def test_emails_are_trimmed_case_folded_and_idna_normalised(
    raw: str, address: str, domain: str
) -> None:
    email = normalise_email(raw)
    assert (email.address, email.domain) == (address, domain)


@pytest.mark.parametrize("raw", ["", "ann", "ann@", "@example.com", "a b@example.com", "a@b@c.com"])
def test_malformed_emails_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidEmail, match=r".+"):
        normalise_email(raw)


def test_company_domain_is_only_given_for_business_addresses() -> None:
    assert normalise_email("a@acme.io").company_domain == "acme.io"
    assert normalise_email("a@GMail.com").company_domain is None
    assert normalise_email("a@yopmail.com").kind == "disposable"


def test_email_kind_prefers_disposable_over_free() -> None:
    assert email_kind("mailinator.com") == "disposable"
    assert email_kind("outlook.com") == "free"
    assert email_kind("handoff.example") == "business"


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+44 20 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("(415) 555-2671", "us", "+14155552671"),
        ("0049 30 1234567", "DE", "+49301234567"),
    ],
)
def test_phone_numbers_become_e164(raw: str, region: str | None, e164: str) -> None:
    assert normalise_phone(raw, region) == e164


@pytest.mark.parametrize(("raw", "region"), [("020 7946 0958", None), ("12", "US"), ("abc", "DE")])
def test_unusable_phone_numbers_are_none(raw: str, region: str | None) -> None:
    assert normalise_phone(raw, region) is None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("DE", "DE"),
        ("deu", "DE"),
        ("Germany", "DE"),
        ("united kingdom", "GB"),
        ("UK", "GB"),
        ("USA", "US"),
        ("United States", "US"),
        ("Viet Nam", "VN"),
        ("Bolivia", "BO"),
    ],
)
def test_countries_become_iso_alpha_2(raw: str, code: str) -> None:
    assert country_code(raw) == code


@pytest.mark.parametrize("raw", ["", "Atlantis", "ZZ"])
def test_unknown_countries_are_none(raw: str) -> None:
    assert country_code(raw) is None


@pytest.mark.parametrize(
    ("raw", "count"), [(250, 250), ("1,000", 1000), ("50-200", 50), ("1000+", 1000), ("n/a", None)]
)
def test_employee_counts_are_read_from_what_forms_send(raw: object, count: int | None) -> None:
    assert parse_employee_count(raw) == count


def test_text_a_database_cannot_hold_is_cleaned_or_located() -> None:
    assert storable("An\x00n \udb5e") == "Ann ?"
    assert unstorable_path({"a": ["ok", {"b": "x\x00"}]}) == "a.1.b"
    assert unstorable_path({"fine": ["text", 1, None]}) is None
