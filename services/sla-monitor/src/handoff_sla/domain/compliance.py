"""SLA compliance for leadership, with no I/O: how each milestone's obligations ended, per rep,
team or manager, and how long follow-up took in the time the policy counts."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeAlias

Outcome: TypeAlias = Literal["in_time", "late", "missed", "overdue", "on_track", "closed"]
OUTCOMES: tuple[Outcome, ...] = ("in_time", "late", "missed", "overdue", "on_track", "closed")
GroupBy: TypeAlias = Literal["rep", "team", "manager", "policy"]
# Outcomes that decide the milestone: met (in time or late), missed (the deadline passed, then the
# lead was recycled or taken away), or overdue (missed and still waiting). On-track obligations
# have no verdict yet; closed ones (reassigned or rejected before their deadline) never will.
DECIDED: tuple[Outcome, ...] = ("in_time", "late", "missed", "overdue")
EVERYONE = "(all)"
UNKNOWN = "(unknown)"


@dataclass(frozen=True)
class ObligationRecord:
    """What the report needs of one milestone obligation."""

    milestone: str
    rep_id: str
    team: str | None
    manager: str | None
    policy: str
    state: str
    due_at: datetime
    within_target: bool | None
    counted_seconds: float | None


def outcome_of(record: ObligationRecord, now: datetime) -> Outcome:
    """How the obligation stands at `now`."""
    if record.state == "met":
        return "in_time" if record.within_target else "late"
    if record.state == "escalated" or (record.state == "open" and record.due_at <= now):
        return "overdue"
    if record.state == "open":
        return "on_track"
    # Escalation marks a milestone missed (not within target); a recycle or a reassignment may
    # close it after that, which does not undo the miss.
    if record.state == "recycled" or record.within_target is False:
        return "missed"
    return "closed"


@dataclass
class ComplianceRow:
    """One group's figures for one milestone."""

    group: str
    milestone: str
    outcomes: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    counted_to_meet: list[float] = field(default_factory=list, repr=False)

    @property
    def obligations(self) -> int:
        return sum(self.outcomes.values())

    @property
    def decided(self) -> int:
        return sum(self.outcomes[outcome] for outcome in DECIDED)

    @property
    def compliance(self) -> float | None:
        """Share of decided milestones met within target; None before any is decided."""
        return self.outcomes["in_time"] / self.decided if self.decided else None

    def hours_to_meet(self, quantile: float) -> float | None:
        """Counted (business or calendar) hours from assignment to the meeting activity."""
        if not self.counted_to_meet:
            return None
        if len(self.counted_to_meet) == 1:
            return self.counted_to_meet[0] / 3600
        cuts = statistics.quantiles(self.counted_to_meet, n=100, method="inclusive")
        return cuts[round(quantile * 100) - 1] / 3600

    def as_dict(self) -> dict[str, object]:
        return {
            "group": self.group,
            "milestone": self.milestone,
            "obligations": self.obligations,
            **{str(outcome): count for outcome, count in self.outcomes.items()},
            "compliance": self.compliance,
            "median_hours_to_meet": self.hours_to_meet(0.5),
            "p90_hours_to_meet": self.hours_to_meet(0.9),
        }


class ComplianceTally:
    """Adds obligations up one at a time, so a report over a long period streams its rows."""

    def __init__(self, by: GroupBy, now: datetime) -> None:
        self._by = by
        self._now = now
        self._rows: dict[tuple[str, str], ComplianceRow] = {}

    def add(self, record: ObligationRecord) -> None:
        group = (record.rep_id if self._by == "rep" else getattr(record, self._by)) or UNKNOWN
        outcome = outcome_of(record, self._now)
        for key in ((EVERYONE, record.milestone), (group, record.milestone)):
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = ComplianceRow(*key)
            row.outcomes[outcome] += 1
            if record.state == "met" and record.counted_seconds is not None:
                row.counted_to_meet.append(record.counted_seconds)

    def rows(self) -> list[ComplianceRow]:
        """Figures per group and milestone: everyone first, then each group by name."""
        return sorted(
            self._rows.values(), key=lambda row: (row.group != EVERYONE, row.group, row.milestone)
        )
