import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from handoff_router.adapters.config_files import load_policy, load_roster
from handoff_router.domain.qualification import Policy
from handoff_router.settings import RouterSettings
from handoff_shared.events import LeadSnapshot

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def lead(**fields: object) -> LeadSnapshot:
    return LeadSnapshot(lead_id=uuid.uuid4(), email="x@acme.io", received_at=NOW, **fields)


@pytest.fixture
def policy() -> Policy:
    return load_policy(RouterSettings().policy_file)


def test_a_demo_request_from_a_mid_market_director_qualifies_with_its_reasons(
    policy: Policy,
) -> None:
    result = policy.qualify(
        lead(form_type="demo_request", employee_count=250, job_title="Director of Sales")
    )
    assert result.is_mql
    assert result.score == 85
    assert [hit.rule for hit in result.rules_fired] == [
        "hand_raise",
        "mid_market_or_larger",
        "senior_title",
    ]
    assert result.policy_version == policy.version


def test_a_student_downloading_content_goes_to_nurture(policy: Policy) -> None:
    result = policy.qualify(lead(form_type="content_download", job_title="Student"))
    assert not result.is_mql
    assert result.score == -30
    assert {hit.rule for hit in result.rules_fired} == {"content_download", "student_or_job_seeker"}


def test_matching_ignores_case_and_missing_fields_do_not_match(policy: Policy) -> None:
    assert policy.qualify(lead(form_type="Demo_Request")).is_mql
    assert policy.qualify(lead()).score == 0


def test_policies_with_errors_are_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="unknown lead field 'budget'"):
        Policy.model_validate(
            {
                "version": "v",
                "threshold": 1,
                "rules": [
                    {"name": "r", "points": 1, "when": [{"field": "budget", "present": True}]}
                ],
            }
        )
    with pytest.raises(ValidationError, match="exactly one operator"):
        Policy.model_validate(
            {
                "version": "v",
                "threshold": 1,
                "rules": [
                    {
                        "name": "r",
                        "points": 1,
                        "when": [{"field": "country", "equals": "DE", "present": True}],
                    }
                ],
            }
        )
    with pytest.raises(ValidationError, match="repeated"):
        rule = {"name": "r", "points": 1, "when": [{"field": "country", "present": True}]}
        Policy.model_validate({"version": "v", "threshold": 1, "rules": [rule, rule]})


def test_rosters_load_from_yaml_and_from_a_sales_teams_csv(tmp_path: Path) -> None:
    default = load_roster(RouterSettings().roster_file)
    assert len(default) == 12
    assert len({rep.rep_id for rep in default}) == 12
    csv_file = tmp_path / "teams.csv"
    csv_file.write_text(
        "sales_agent,manager,regional_office\r\nAnna Snelling,Dustin Brinkmann,Central\r\n"
    )
    (rep,) = load_roster(csv_file)
    assert (rep.rep_id, rep.manager, rep.team) == ("anna-snelling", "Dustin Brinkmann", "Central")
