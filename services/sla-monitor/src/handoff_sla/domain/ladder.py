"""The SLA ladder with no I/O: what each due timer does to its obligation, and how a milestone
is measured when it is met or missed."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TypeAlias

from handoff_sla.domain.business_hours import ZERO, Timekeeping
from handoff_sla.domain.policies import STEP_ORDER, Step

ObligationState: TypeAlias = Literal["open", "escalated", "met", "closed", "recycled"]
OPEN_STATES: frozenset[str] = frozenset({"open", "escalated"})


@dataclass(frozen=True)
class DueTimer:
    """A pending ladder step whose time has come."""

    timer_id: uuid.UUID
    obligation_id: uuid.UUID
    step: Step
    due_at: datetime


@dataclass(frozen=True)
class ObligationView:
    """What the sweep needs to know about an obligation."""

    obligation_id: uuid.UUID
    assignment_id: uuid.UUID
    state: str
    due_at: datetime


@dataclass
class SweepOutcome:
    """Which timers fired (one event each), which were skipped, and the new obligation states."""

    fired: list[DueTimer] = field(default_factory=list)
    skipped: list[DueTimer] = field(default_factory=list)
    new_states: dict[uuid.UUID, tuple[ObligationState, str | None]] = field(default_factory=dict)


def fire_due_timers(
    timers: Iterable[DueTimer], obligations: Mapping[uuid.UUID, ObligationView], now: datetime
) -> SweepOutcome:
    """Walk due timers in due order; a step fires only if its obligation still waits for it.

    A warning whose deadline has already passed (the monitor was down, or the clock jumped) is
    skipped: the escalation due at the same sweep says more. A recycle closes the other
    milestones of the same assignment, since the rep no longer has the lead.
    """
    outcome = SweepOutcome()
    state = {key: view.state for key, view in obligations.items()}
    by_assignment: dict[uuid.UUID, list[uuid.UUID]] = {}
    for view in obligations.values():
        by_assignment.setdefault(view.assignment_id, []).append(view.obligation_id)

    def move(obligation_id: uuid.UUID, to: ObligationState, reason: str | None = None) -> None:
        state[obligation_id] = to
        outcome.new_states[obligation_id] = (to, reason)

    for timer in sorted(timers, key=lambda t: (t.due_at, STEP_ORDER[t.step], t.timer_id)):
        obligation = obligations.get(timer.obligation_id)
        current = state.get(timer.obligation_id)
        if obligation is None or current is None:
            outcome.skipped.append(timer)
        elif timer.step == "warn" and current == "open" and now < obligation.due_at:
            outcome.fired.append(timer)
        elif timer.step == "escalate" and current == "open":
            move(timer.obligation_id, "escalated")
            outcome.fired.append(timer)
        elif timer.step == "recycle" and current in OPEN_STATES:
            move(timer.obligation_id, "recycled")
            for sibling in by_assignment[obligation.assignment_id]:
                if sibling != timer.obligation_id and state[sibling] in OPEN_STATES:
                    move(sibling, "closed", "recycled")
            outcome.fired.append(timer)
        else:
            outcome.skipped.append(timer)
    return outcome


@dataclass(frozen=True)
class MilestoneMeasure:
    """A milestone's result: in time or not, the counted time, and the time the clock stood."""

    within_target: bool
    counted: timedelta
    paused: timedelta


def measure(
    timekeeping: Timekeeping, assigned_at: datetime, due_at: datetime, at: datetime
) -> MilestoneMeasure:
    """Measure a milestone reached (or missed) at `at`."""
    counted = timekeeping.elapsed(assigned_at, at)
    wall = max(at - assigned_at, ZERO)
    return MilestoneMeasure(within_target=at <= due_at, counted=counted, paused=wall - counted)


@dataclass(frozen=True)
class OpenMilestone:
    """An obligation that an activity might meet."""

    obligation_id: uuid.UUID
    rep_id: str
    state: str
    assigned_at: datetime
    met_by: frozenset[str]


def milestones_reached(
    milestones: Sequence[OpenMilestone], kind: str, occurred_at: datetime, rep_id: str | None
) -> list[OpenMilestone]:
    """The open milestones an activity settles: a rejection ends them all, anything else meets
    those that count it as follow-up.

    Only activity at or after the assignment counts, and only from the assigned rep when the
    CRM says who did it (the previous owner's call does not meet the new owner's obligation).
    """
    return [
        milestone
        for milestone in milestones
        if milestone.state in OPEN_STATES
        and (kind == "rejected" or kind in milestone.met_by)
        and milestone.assigned_at <= occurred_at
        and (rep_id is None or rep_id == milestone.rep_id)
    ]
