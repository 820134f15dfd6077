"""Policies as data and the ladder's decisions, without infrastructure."""

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from handoff_sla.adapters.calendars import holidays_for, load_policy_book
from handoff_sla.domain.business_hours import CalendarHours
from handoff_sla.domain.counting import CountingRule
from handoff_sla.domain.ladder import (
    DueTimer,
    ObligationView,
    OpenMilestone,
    fire_due_timers,
    measure,
    milestones_reached,
)
from handoff_sla.domain.policies import parse_policy_book, plan_milestones

H = timedelta(hours=1)
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def book(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "version": "t1",
        "default_policy": "mql",
        "policies": [
            {
                "name": "mql",
                "clock": "calendar",
                "milestones": [
                    {
                        "milestone": "first_touch",
                        "target_hours": 48,
                        "warn_before_hours": 8,
                        "recycle_after_hours": 72,
                        "met_by": ["contacted"],
                    }
                ],
            }
        ],
    }
    document.update(overrides)
    return document


def test_the_shipped_book_keeps_ordinary_mqls_on_48_and_72_calendar_hours() -> None:
    shipped = load_policy_book(None)
    mql = shipped.select(None, "emea")
    assert mql.name == "mql" and mql.clock == "calendar"
    planned = plan_milestones(mql, CalendarHours(), MONDAY)
    (first_touch,) = planned
    assert first_touch.due_at == MONDAY + 48 * H
    assert first_touch.recycle_at == MONDAY + 72 * H
    assert first_touch.warn_at == MONDAY + 40 * H
    assert [timer.step for timer in first_touch.timers] == ["warn", "escalate", "recycle"]


def test_a_high_priority_hand_raise_gets_business_hour_accept_and_touch_windows() -> None:
    shipped = load_policy_book(None)
    hot = shipped.select("high", None)
    assert hot.name == "hot-hand-raise" and hot.clock == "business"
    rule = CountingRule(
        "business", "America/New_York", "US", frozenset({1, 2, 3, 4, 5}), time(9), time(17)
    )
    friday_4pm = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    accept, touch = plan_milestones(hot, rule.timekeeping(holidays_for), friday_4pm)
    assert accept.rule.milestone == "accept"
    assert accept.warn_at == datetime(2026, 11, 20, 21, 45, tzinfo=UTC)
    assert accept.due_at == datetime(2026, 11, 20, 22, 0, tzinfo=UTC)  # 17:00 Friday
    assert touch.due_at == datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # Monday 12:00 EST
    assert touch.recycle_at == datetime(2026, 11, 23, 21, 0, tzinfo=UTC)  # Monday 16:00 EST
    assert "contacted" in accept.rule.met_by and "accepted" not in touch.rule.met_by


def test_selectors_match_priority_and_team() -> None:
    document = book()
    document["policies"].insert(
        0,
        {
            "name": "enterprise",
            "when": {"teams": ["enterprise"]},
            "clock": "calendar",
            "milestones": [{"milestone": "first_touch", "target_hours": 24, "met_by": ["won"]}],
        },
    )
    policies = parse_policy_book(document)
    assert policies.select(None, "enterprise").name == "enterprise"
    assert policies.select("high", "smb").name == "mql"
    assert policies.label(policies.select(None, None)) == "mql@t1"


@pytest.mark.parametrize(
    "broken",
    [
        {"default_policy": "missing"},
        {"version": ""},
        {
            "policies": [
                {
                    "name": "mql",
                    "clock": "calendar",
                    "milestones": [
                        {
                            "milestone": "first_touch",
                            "target_hours": 48,
                            "recycle_after_hours": 24,
                            "met_by": ["contacted"],
                        }
                    ],
                }
            ]
        },
        {
            "policies": [
                {
                    "name": "mql",
                    "clock": "sometimes",
                    "milestones": [
                        {"milestone": "first_touch", "target_hours": 1, "met_by": ["contacted"]}
                    ],
                }
            ]
        },
        {
            "policies": [
                {
                    "name": "mql",
                    "clock": "calendar",
                    "milestones": [
                        {"milestone": "first_touch", "target_hours": 1, "met_by": ["waved"]}
                    ],
                }
            ]
        },
    ],
)
def test_a_broken_policy_book_is_refused(broken: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_policy_book(book(**broken))


def ids(count: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(count)]


def test_steps_fire_in_due_order_and_a_stale_warning_is_skipped() -> None:
    obligation, assignment = ids(2)
    due = MONDAY + 48 * H
    view = {obligation: ObligationView(obligation, assignment, "open", due)}
    warn = DueTimer(uuid.uuid4(), obligation, "warn", MONDAY + 40 * H)
    escalate = DueTimer(uuid.uuid4(), obligation, "escalate", due)
    recycle = DueTimer(uuid.uuid4(), obligation, "recycle", MONDAY + 72 * H)

    on_time = fire_due_timers([warn], view, MONDAY + 41 * H)
    assert on_time.fired == [warn] and not on_time.new_states

    caught_up = fire_due_timers([recycle, escalate, warn], view, MONDAY + 80 * H)
    assert caught_up.fired == [escalate, recycle]
    assert caught_up.skipped == [warn]
    assert caught_up.new_states == {obligation: ("recycled", None)}


def test_a_recycle_closes_the_other_milestones_and_nothing_fires_twice() -> None:
    accept, touch, assignment = ids(3)
    views = {
        accept: ObligationView(accept, assignment, "open", MONDAY + H),
        touch: ObligationView(touch, assignment, "escalated", MONDAY + 4 * H),
    }
    recycle = DueTimer(uuid.uuid4(), touch, "recycle", MONDAY + 8 * H)
    late_accept = DueTimer(uuid.uuid4(), accept, "escalate", MONDAY + 9 * H)
    outcome = fire_due_timers([late_accept, recycle], views, MONDAY + 10 * H)
    assert outcome.fired == [recycle]
    assert outcome.skipped == [late_accept]
    assert outcome.new_states == {touch: ("recycled", None), accept: ("closed", "recycled")}


def test_steps_of_settled_obligations_are_skipped() -> None:
    met, closed, assignment = ids(3)
    views = {
        met: ObligationView(met, assignment, "met", MONDAY + H),
        closed: ObligationView(closed, uuid.uuid4(), "closed", MONDAY + H),
    }
    timers = [
        DueTimer(uuid.uuid4(), met, "escalate", MONDAY + H),
        DueTimer(uuid.uuid4(), closed, "recycle", MONDAY + 2 * H),
        DueTimer(uuid.uuid4(), uuid.uuid4(), "escalate", MONDAY),
    ]
    outcome = fire_due_timers(timers, views, MONDAY + 3 * H)
    assert not outcome.fired and len(outcome.skipped) == 3 and not outcome.new_states


def test_a_milestone_is_measured_in_counted_time_with_the_pause() -> None:
    rule = CountingRule("business", "UTC", None, frozenset({1, 2, 3, 4, 5}), time(9), time(17))
    friday_4pm = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    monday_10am = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    result = measure(rule.timekeeping(holidays_for), friday_4pm, friday_4pm + 4 * H, monday_10am)
    assert result.counted == 2 * H
    assert result.paused == 64 * H
    assert not result.within_target


def test_only_counting_activity_from_the_assigned_rep_after_assignment_meets_a_milestone() -> None:
    obligation = uuid.uuid4()
    milestones = [OpenMilestone(obligation, "rep-a", "open", MONDAY, frozenset({"contacted"}))]
    assert milestones_reached(milestones, "contacted", MONDAY + H, None) == milestones
    assert milestones_reached(milestones, "contacted", MONDAY + H, "rep-a") == milestones
    assert milestones_reached(milestones, "contacted", MONDAY + H, "rep-b") == []
    assert milestones_reached(milestones, "contacted", MONDAY - H, None) == []
    assert milestones_reached(milestones, "accepted", MONDAY + H, None) == []
    assert milestones_reached(milestones, "rejected", MONDAY + H, None) == milestones
    recycled = [OpenMilestone(obligation, "rep-a", "recycled", MONDAY, frozenset({"contacted"}))]
    assert milestones_reached(recycled, "contacted", MONDAY + H, None) == []
