from datetime import UTC, datetime, timedelta

import pytest

from handoff_sla.domain.sla import SlaPolicy, counts_as_follow_up


def test_deadlines_are_counted_from_the_assignment() -> None:
    policy = SlaPolicy("p", timedelta(hours=48), timedelta(hours=72))
    assigned = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    assert policy.escalate_at(assigned) == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    assert policy.recycle_at(assigned) == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


def test_a_policy_must_escalate_before_it_recycles() -> None:
    with pytest.raises(ValueError):
        SlaPolicy("p", timedelta(hours=72), timedelta(hours=48))


def test_only_real_follow_up_counts() -> None:
    assert counts_as_follow_up("contacted")
    assert counts_as_follow_up("meeting_booked")
    assert not counts_as_follow_up("accepted")
    assert not counts_as_follow_up("rejected")
