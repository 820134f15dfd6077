import uuid
from datetime import UTC, datetime

from handoff_intake.domain.leads import Submission, merge, new_lead

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def test_a_new_lead_is_normalised_and_keeps_its_company_domain() -> None:
    lead = new_lead(
        Submission(
            " Ann@Example.COM ", {"first_name": "Ann", "company": None}, {"utm_source": "ads"}
        ),
        uuid.uuid4(),
        NOW,
    )
    assert lead.email == "ann@example.com"
    assert lead.company_domain == "example.com"
    assert lead.first_name == "Ann"
    assert lead.attributes == {"utm_source": "ads"}


def test_a_returning_person_fills_in_fields_without_losing_what_was_known() -> None:
    first = new_lead(
        Submission("ann@example.com", {"first_name": "Ann", "country": "DE"}, {}), uuid.uuid4(), NOW
    )
    merged, changed = merge(
        first, Submission("ann@example.com", {"job_title": "CTO", "country": None}, {"k": "v"})
    )
    assert merged.lead_id == first.lead_id
    assert (merged.first_name, merged.country, merged.job_title) == ("Ann", "DE", "CTO")
    assert changed == ["job_title", "attributes"]
    assert merge(merged, Submission("ann@example.com", {"job_title": "CTO"}, {}))[1] == []
