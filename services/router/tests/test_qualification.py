import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from handoff_router.adapters.config_files import (
    PolicyError,
    email_domain_lists,
    load_policy,
    load_roster,
    parse_policy,
)
from handoff_router.domain.facts import department, employee_band, region, seniority
from handoff_router.domain.qualification import Policy, Signal
from handoff_router.settings import RouterSettings
from handoff_shared.events import LeadSnapshot, Qualification

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
LISTS = email_domain_lists()
FIXTURES = Path(__file__).parent / "fixtures"


def lead(email: str = "x@acme.io", **fields: object) -> LeadSnapshot:
    return LeadSnapshot(lead_id=uuid.uuid4(), email=email, received_at=NOW, **fields)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(RouterSettings().policy_file)


def qualify(
    policy: Policy, snapshot: LeadSnapshot, *signals: tuple[str, timedelta]
) -> Qualification:
    return policy.qualify(
        snapshot,
        signals=[Signal(kind, NOW - age) for kind, age in signals],
        now=NOW,
        email_lists=LISTS,
    )


def test_a_demo_request_from_an_ideal_fit_account_is_fast_tracked_with_every_reason(
    policy: Policy,
) -> None:
    result = qualify(
        policy,
        lead(employee_count=250, job_title="Director of Sales", country="DE"),
        ("demo_request", timedelta(0)),
    )
    assert result.is_mql
    assert result.grade == "A" and result.fit_points == 70 and result.hand_raise
    assert [(hit.rule, hit.points, hit.kind) for hit in result.rules_fired] == [
        ("mid_market_or_larger", 20, "fit"),
        ("core_region", 10, "fit"),
        ("senior_title", 20, "fit"),
        ("buying_department", 10, "fit"),
        ("business_email", 10, "fit"),
        ("hand_raise", 50, "behaviour"),
    ]
    assert result.reasons == ["hand-raise from a grade A account: fast track"]
    assert result.policy_version == policy.version


def test_behaviour_points_halve_every_half_life(policy: Policy) -> None:
    fresh = qualify(policy, lead(), ("pricing_page_visit", timedelta(0)))
    week_old = qualify(policy, lead(), ("pricing_page_visit", timedelta(days=7)))
    two_weeks = qualify(policy, lead(), ("pricing_page_visit", timedelta(days=14)))
    assert [r.score for r in (fresh, week_old, two_weeks)] == [15, 8, 4]
    assert "half-life 7 days" in week_old.rules_fired[-1].detail


def test_repeated_signals_add_up_to_the_cap(policy: Policy) -> None:
    result = qualify(policy, lead(), *[("content_download", timedelta(0))] * 5)
    (hit,) = [h for h in result.rules_fired if h.rule == "content_download"]
    assert hit.points == 30 and hit.detail.startswith(
        "signal content_download/whitepaper/ebook: 5x"
    )


def test_a_good_fit_without_enough_behaviour_is_not_yet_sales_ready(policy: Policy) -> None:
    result = qualify(
        policy,
        lead(employee_count=300, job_title="VP Marketing", country="US"),
        ("content_download", timedelta(days=1)),
    )
    assert result.grade == "A" and not result.is_mql
    assert result.reasons == ["grade A meets C", "score 10 below 40"]


def test_a_hand_raise_from_a_weak_fit_needs_the_score_and_grade(policy: Policy) -> None:
    weak = qualify(policy, lead(job_title="Engineer"), ("contact_sales", timedelta(0)))
    assert weak.grade == "E" and not weak.is_mql
    assert "grade E below C" in weak.reasons


def test_negative_rules_take_points_off_or_disqualify(policy: Policy) -> None:
    student = qualify(policy, lead(job_title="Student"), ("webinar", timedelta(0)))
    assert {h.rule: h.points for h in student.rules_fired if h.kind == "negative"} == {
        "student": -40
    }
    assert student.score == -25 and not student.is_mql
    free = qualify(policy, lead(email="someone@gmail.com"), ("demo_request", timedelta(0)))
    assert "free_email" in {h.rule for h in free.rules_fired}
    throwaway = qualify(
        policy,
        lead(email="x@mailinator.com", employee_count=900, job_title="CEO"),
        ("demo_request", timedelta(0)),
    )
    assert not throwaway.is_mql
    assert throwaway.reasons == ["disqualified by disposable_email"]
    rival = qualify(policy, lead(email="spy@rivalhandoff.example"), ("demo_request", timedelta(0)))
    assert rival.reasons == ["disqualified by competitor"]


def test_derived_facts() -> None:
    assert [seniority(t) for t in ("Chief Revenue Officer", "SVP Sales", "Head of Ops")] == [
        "c_level",
        "vp",
        "director",
    ]
    assert [seniority(t) for t in ("Sales Manager", "Marketing Intern", "Engineer", None)] == [
        "manager",
        "student",
        "individual",
        None,
    ]
    assert department("Director, Demand Gen") == "marketing"
    assert department("Senior Software Engineer") == "engineering"
    assert [employee_band(n) for n in (1, 50, 51, 1000, 1001, 99_999, None)] == [
        "1-10",
        "11-50",
        "51-200",
        "201-1000",
        "1001-5000",
        "5001+",
        None,
    ]
    assert [region(c) for c in ("US", "Germany", "sg", "Brazil", "Atlantis", None)] == [
        "NA",
        "EMEA",
        "APAC",
        "LATAM",
        None,
        None,
    ]


def test_matching_ignores_case_and_missing_fields_do_not_match(policy: Policy) -> None:
    assert qualify(policy, lead(industry=" SaaS ")).rules_fired[0].rule == "target_industry"
    bare = qualify(policy, lead(email="x@gmail.com"))
    assert bare.rules_fired[0].rule == "free_email" and bare.grade == "F"


def test_policies_with_errors_are_refused_with_messages_that_point_at_the_error() -> None:
    text = (FIXTURES / "broken_policy.yaml").read_text()
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "broken.yaml")
    errors = caught.value.errors
    assert (
        "broken.yaml line 7: fit.rules[0].when[0]: Value error, unknown lead field 'budget'"
        in errors[0]
    )
    assert any(
        e.startswith("broken.yaml line 10: fit.rules[1].when[0]: Value error, give exactly one")
        for e in errors
    )
    assert any(e.startswith("broken.yaml line 15: behaviour.rules[0].points:") for e in errors)
    assert any("mql.min_grade" in e and "line 19" in e for e in errors)
    with pytest.raises(PolicyError, match=r"x line 3 column 1: not valid YAML"):
        parse_policy("version: v\nfit: [unclosed\n", "x")
    with pytest.raises(PolicyError, match="grade minimums must fall strictly"):
        document = load_policy(RouterSettings().policy_file).model_dump()
        document["fit"]["grades"]["B"] = 90
        parse_policy(_yaml(document))
    with pytest.raises(PolicyError, match="repeated: \\['hand_raise'\\]"):
        document = load_policy(RouterSettings().policy_file).model_dump()
        document["negative"][0]["name"] = "hand_raise"
        parse_policy(_yaml(document))


def _yaml(document: object) -> str:
    return yaml.safe_dump(document)


def test_rerouting_rules(policy: Policy) -> None:
    rules = policy.rerouting
    assert rules.after_rejection("wrong territory", 1) == "reassign"
    assert rules.after_rejection("Not interested at all", 1) == "nurture"
    assert rules.after_rejection("wrong territory", 3) == "nurture"
    assert rules.after_recycle(1) == "nurture"


def test_the_default_roster_loads_and_a_sales_teams_csv_too(tmp_path: Path) -> None:
    roster = load_roster(RouterSettings().roster_file)
    assert len(roster.reps) == 12
    assert len({spec.to_rep().rep_id for spec in roster.reps}) == 12
    assert [rule.name for rule in roster.routing_rules][-1] == "everyone_else"
    csv_file = tmp_path / "teams.csv"
    csv_file.write_text(
        "sales_agent,manager,regional_office\r\nAnna Snelling,Dustin Brinkmann,Central\r\n"
    )
    (spec,) = load_roster(csv_file).reps
    rep = spec.to_rep()
    assert (rep.rep_id, rep.manager, rep.team) == ("anna-snelling", "Dustin Brinkmann", "Central")
