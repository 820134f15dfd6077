"""SLA rules with no I/O: when a follow-up obligation escalates and when it is recycled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from handoff_shared.events import FOLLOW_UP_KINDS


@dataclass(frozen=True)
class SlaPolicy:
    """A first-touch window: escalate to the manager, then take the lead back."""

    name: str
    escalate_after: timedelta
    recycle_after: timedelta

    def __post_init__(self) -> None:
        if not timedelta(0) < self.escalate_after < self.recycle_after:
            raise ValueError("an SLA policy needs 0 < escalate_after < recycle_after")

    def escalate_at(self, assigned_at: datetime) -> datetime:
        return assigned_at + self.escalate_after

    def recycle_at(self, assigned_at: datetime) -> datetime:
        return assigned_at + self.recycle_after


def counts_as_follow_up(kind: str) -> bool:
    return kind in FOLLOW_UP_KINDS
