"""SLA compliance and speed-to-lead figures, with no infrastructure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handoff_sla.domain.compliance import (
    EVERYONE,
    UNKNOWN,
    ComplianceTally,
    ObligationRecord,
    outcome_of,
)
from handoff_sla.domain.speed_to_lead import FirstTouch, speed_to_lead

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def record(
    state: str,
    *,
    rep: str = "rep-a",
    team: str | None = "emea",
    milestone: str = "first_touch",
    due_at: datetime = NOW - H,
    within_target: bool | None = None,
    counted_hours: float | None = None,
) -> ObligationRecord:
    return ObligationRecord(
        milestone=milestone,
        rep_id=rep,
        team=team,
        manager="manager-m",
        policy="mql-48h-72h",
        state=state,
        due_at=due_at,
        within_target=within_target,
        counted_seconds=None if counted_hours is None else counted_hours * 3600,
    )


@pytest.mark.parametrize(
    ("obligation", "outcome"),
    [
        (record("met", within_target=True), "in_time"),
        (record("met", within_target=False), "late"),
        (record("recycled", within_target=False), "missed"),
        # Escalated, then closed when the other milestone's recycle took the lead back.
        (record("closed", within_target=False), "missed"),
        (record("escalated", within_target=False), "overdue"),
        # Due, but the sweep has not escalated it yet.
        (record("open", due_at=NOW - H), "overdue"),
        (record("open", due_at=NOW + H), "on_track"),
        # Rejected or reassigned before its deadline.
        (record("closed"), "closed"),
    ],
)
def test_each_obligation_has_one_outcome(obligation: ObligationRecord, outcome: str) -> None:
    assert outcome_of(obligation, NOW) == outcome


def test_compliance_counts_only_decided_milestones_per_rep_and_overall() -> None:
    tally = ComplianceTally("rep", NOW)
    for obligation in (
        record("met", within_target=True, counted_hours=2),
        record("met", within_target=True, counted_hours=4),
        record("met", within_target=False, counted_hours=30),
        record("recycled", within_target=False),
        record("escalated", rep="rep-b", within_target=False),
        record("open", rep="rep-b", due_at=NOW + H),
        record("closed", rep="rep-b"),
    ):
        tally.add(obligation)
    everyone, rep_a, rep_b = tally.rows()

    assert (everyone.group, rep_a.group, rep_b.group) == (EVERYONE, "rep-a", "rep-b")
    assert everyone.obligations == 7 and everyone.decided == 5
    assert everyone.compliance == pytest.approx(2 / 5)
    assert rep_a.outcomes == {
        "in_time": 2,
        "late": 1,
        "missed": 1,
        "overdue": 0,
        "on_track": 0,
        "closed": 0,
    }
    assert rep_a.compliance == pytest.approx(2 / 4)
    assert (rep_b.decided, rep_b.compliance) == (1, 0)
    assert rep_a.hours_to_meet(0.5) == pytest.approx(4)
    assert rep_b.hours_to_meet(0.5) is None


def test_nothing_decided_yet_has_no_compliance_rate() -> None:
    tally = ComplianceTally("rep", NOW)
    tally.add(record("open", due_at=NOW + H))
    (everyone, rep) = tally.rows()
    assert everyone.compliance is None and rep.compliance is None
    assert rep.as_dict()["on_track"] == 1


def test_milestones_are_reported_apart_and_teams_without_a_name_as_unknown() -> None:
    tally = ComplianceTally("team", NOW)
    tally.add(record("met", milestone="accept", within_target=True, counted_hours=0.5))
    tally.add(record("met", milestone="first_touch", within_target=False, counted_hours=9))
    tally.add(record("met", milestone="accept", team=None, within_target=True, counted_hours=1))
    rows = [(row.group, row.milestone, row.obligations, row.compliance) for row in tally.rows()]
    assert rows == [
        (EVERYONE, "accept", 2, 1.0),
        (EVERYONE, "first_touch", 1, 0.0),
        (UNKNOWN, "accept", 1, 1.0),
        ("emea", "accept", 1, 1.0),
        ("emea", "first_touch", 1, 0.0),
    ]


def test_hours_to_meet_are_quantiles_of_the_counted_time() -> None:
    tally = ComplianceTally("rep", NOW)
    for hours in range(1, 11):  # 1 to 10 counted hours
        tally.add(record("met", within_target=True, counted_hours=hours))
    (everyone, _) = tally.rows()
    assert everyone.hours_to_meet(0.5) == pytest.approx(5.5)
    assert everyone.hours_to_meet(0.9) == pytest.approx(9.1)


def test_first_touches_are_bucketed_by_counted_hours_with_their_conversions_and_wins() -> None:
    touches = [
        FirstTouch(0.5 * 3600, converted=True, won=True),
        FirstTouch(1 * 3600, converted=True, won=False),  # an edge belongs to the bucket above
        FirstTouch(30 * 3600, converted=False, won=False),
        FirstTouch(None, converted=True, won=False),
        FirstTouch(None, converted=False, won=False),
    ]
    buckets = {bucket.label: bucket for bucket in speed_to_lead(touches, edges=(1, 24))}
    assert list(buckets) == ["< 1 h", "1-24 h", "24 h or more", "not touched"]
    assert (buckets["< 1 h"].leads, buckets["< 1 h"].win_rate) == (1, 1.0)
    assert (buckets["1-24 h"].converted, buckets["1-24 h"].won) == (1, 0)
    assert buckets["24 h or more"].conversion_rate == 0
    assert (buckets["not touched"].leads, buckets["not touched"].conversion_rate) == (2, 0.5)
    assert all(bucket.few for bucket in buckets.values())


def test_an_empty_bucket_has_no_rates_and_bad_edges_are_refused() -> None:
    (first, *_) = speed_to_lead([], edges=(2,))
    assert (first.leads, first.conversion_rate, first.win_rate) == (0, None, None)
    for edges in ((), (4, 1), (0, 4), (1, 1)):
        with pytest.raises(ValueError, match="increasing"):
            speed_to_lead([], edges=edges)
