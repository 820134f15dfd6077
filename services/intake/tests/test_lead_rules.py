import uuid
from datetime import UTC, datetime

import pytest

from handoff_intake.domain.leads import (
    Changes,
    InvalidLead,
    SourceDefaults,
    clean_changes,
    merge,
    new_lead,
    prepare_submission,
)

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def test_a_new_lead_is_normalised_and_keeps_its_company_domain() -> None:
    submission = prepare_submission(
        " Ann@Example.COM ", {"first_name": " Ann ", "company": None}, {"utm_source": "ads"}
    )
    lead = new_lead(submission, uuid.uuid4(), NOW)
    assert lead.email == "ann@example.com"
    assert lead.company_domain == "example.com"
    assert lead.first_name == "Ann"
    assert lead.attributes == {"utm_source": "ads", "email_kind": "business"}


def test_a_free_mail_address_has_no_company_domain_and_says_so() -> None:
    submission = prepare_submission("bob@gmail.com", {}, {})
    assert "company_domain" not in submission.fields
    assert submission.attributes["email_kind"] == "free"


def test_a_throwaway_address_is_flagged_disposable() -> None:
    assert prepare_submission("x@mailinator.com", {}, {}).attributes["email_kind"] == "disposable"


def test_source_defaults_fill_campaign_lead_source_and_phone_region() -> None:
    defaults = SourceDefaults(region="DE", campaign="spring", lead_source="typeform")
    submission = prepare_submission(
        "a@b.de", {"phone": "030 1234567"}, {}, defaults=defaults, source_id="tf"
    )
    assert submission.fields["phone"] == "+49301234567"
    assert submission.fields["campaign"] == "spring"
    assert submission.fields["lead_source"] == "typeform"
    assert submission.source_id == "tf"


def test_utm_campaign_is_the_campaign_when_none_is_given_and_utm_is_kept() -> None:
    submission = prepare_submission(
        "a@b.com", {"UTM_Campaign": "q3-launch", "utm_medium": "cpc"}, {}
    )
    assert submission.fields["campaign"] == "q3-launch"
    assert submission.attributes["utm_campaign"] == "q3-launch"
    assert submission.attributes["utm_medium"] == "cpc"


def test_a_lead_without_a_valid_email_is_refused_with_where_and_why() -> None:
    with pytest.raises(InvalidLead) as missing:
        prepare_submission(None, {"first_name": "Ann"}, {})
    assert missing.value.problems[0].loc == ("email",)
    with pytest.raises(InvalidLead) as malformed:
        prepare_submission("ann@", {}, {})
    assert malformed.value.problems[0].loc == ("email",)


def test_lenient_mode_keeps_an_unusable_phone_as_a_raw_attribute() -> None:
    submission = prepare_submission("a@b.com", {"phone": "call me", "country": "Atlantis"}, {})
    assert "phone" not in submission.fields and "country" not in submission.fields
    assert submission.attributes["phone_raw"] == "call me"
    assert submission.attributes["country_raw"] == "Atlantis"


def test_strict_mode_refuses_an_unusable_phone_with_its_field() -> None:
    with pytest.raises(InvalidLead) as refused:
        clean_changes({"phone": "12"}, {}, region=None, strict=True)
    assert refused.value.problems[0].loc == ("phone",)


def test_a_local_phone_number_is_read_in_the_leads_own_country() -> None:
    changes = clean_changes(
        {"phone": "(415) 555-2671", "country": "USA"}, {}, region="DE", strict=True
    )
    assert changes.fields == {"phone": "+14155552671", "country": "US"}


def test_a_returning_person_fills_in_fields_without_losing_what_was_known() -> None:
    first = new_lead(
        prepare_submission("ann@example.com", {"first_name": "Ann", "country": "DE"}, {}),
        uuid.uuid4(),
        NOW,
    )
    merged, changed = merge(first, Changes({"job_title": "CTO"}, {"k": "v"}))
    assert merged.lead_id == first.lead_id
    assert (merged.first_name, merged.country, merged.job_title) == ("Ann", "DE", "CTO")
    assert changed == ["job_title", "attributes"]
    assert merge(merged, Changes({"job_title": "CTO"}, {}))[1] == []
