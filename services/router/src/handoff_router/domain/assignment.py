"""Choosing a rep: routing rules pick a team, then smooth weighted round robin inside it.

Eligibility (active, not away, in working hours, under capacity, did not reject this lead) and
the rotation arithmetic are pure; the caller loads and stores the rotation state under a lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from handoff_router.domain.qualification import Condition, all_hold
from handoff_shared.events import WorkingHours


@dataclass(frozen=True)
class Rep:
    """A sales rep as the router sees one."""

    rep_id: str
    name: str
    manager: str | None
    team: str
    active: bool = True
    weight: int = 1
    capacity: int = 25
    time_zone: str = "UTC"
    working_hours: WorkingHours | None = None
    away: bool = False
    away_until: datetime | None = None
    country: str | None = None
    email: str | None = None
    slack_url: str | None = None


@dataclass(slots=True)
class Seat:
    """A rep with the state assignment needs: open unaccepted leads and rotation credit.

    Mutable: a transaction holding the team's lock updates its seats as it assigns.
    """

    rep: Rep
    open_leads: int = 0
    current_weight: int = 0
    last_assigned_at: datetime | None = None


@dataclass(frozen=True)
class Pick:
    """The chosen rep, the rotation credit to store for every seat, and why."""

    rep: Rep
    current_weights: dict[str, int]
    candidates: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    pool_weight: int = 0  # the eligible reps' weights together


class RoutingRule(BaseModel):
    """Leads matching every condition (none: every lead) go to `team`; the first match wins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
    team: Annotated[str, Field(min_length=1, max_length=100)]
    when: list[Condition] = Field(default_factory=list)

    def matches(self, facts: Mapping[str, Any]) -> bool:
        return all_hold(self.when, facts)


def choose_team(rules: Sequence[RoutingRule], facts: Mapping[str, Any]) -> RoutingRule | None:
    """The first routing rule the lead matches, in order."""
    return next((rule for rule in rules if rule.matches(facts)), None)


def in_working_hours(rep: Rep, now: datetime) -> bool:
    """Whether `now` falls in the rep's working hours, in the rep's time zone."""
    hours = rep.working_hours
    if hours is None:
        return True
    local = now.astimezone(ZoneInfo(rep.time_zone))
    if local.weekday() not in hours.days:
        return False
    if hours.start <= hours.end:
        return hours.start <= local.time() < hours.end
    return local.time() >= hours.start or local.time() < hours.end  # a night shift


def unavailable_because(
    seat: Seat, now: datetime, excluded: frozenset[str] = frozenset()
) -> str | None:
    """Why this rep cannot take the lead now, or None if they can."""
    rep = seat.rep
    if not rep.active:
        return "inactive"
    if rep.rep_id in excluded:
        return "already had this lead"
    if rep.away and (rep.away_until is None or now < rep.away_until):
        return "away" if rep.away_until is None else f"away until {rep.away_until.isoformat()}"
    if rep.weight <= 0:
        return "weight 0"
    if seat.open_leads >= rep.capacity:
        return f"at capacity ({seat.open_leads}/{rep.capacity} open)"
    if not in_working_hours(rep, now):
        return "outside working hours"
    return None


def weighted_round_robin(
    seats: Sequence[Seat], now: datetime, lead_key: str, excluded: frozenset[str] = frozenset()
) -> Pick | None:
    """Smooth weighted round robin (nginx's) over the eligible seats; None if nobody is eligible.

    Each eligible rep earns its weight in credit, the richest is chosen and pays the total back,
    so over any window each rep's share follows its weight without bursts. Ties go to the rep
    who waited longest, then to a hash of lead and rep, never to whoever was created first.
    """
    skipped: dict[str, str] = {}
    weights: dict[str, int] = {}  # each eligible rep's credit after earning its weight
    tied: list[Seat] = []  # the richest so far
    pool_weight = 0
    for seat in seats:
        reason = unavailable_because(seat, now, excluded)
        if reason is not None:
            skipped[seat.rep.rep_id] = reason
            continue
        credit = weights[seat.rep.rep_id] = seat.current_weight + seat.rep.weight
        pool_weight += seat.rep.weight
        richest = weights[tied[0].rep.rep_id] if tied else None
        if richest is None or credit > richest:
            tied = [seat]
        elif credit == richest:
            tied.append(seat)
    if not tied:
        return None
    chosen = tied[0] if len(tied) == 1 else max(tied, key=lambda seat: _tie_break(seat, lead_key))
    weights[chosen.rep.rep_id] -= pool_weight
    return Pick(
        rep=chosen.rep,
        current_weights=weights,
        candidates=sorted(weights),
        skipped=skipped,
        pool_weight=pool_weight,
    )


def _tie_break(seat: Seat, lead_key: str) -> tuple[float, str]:
    waited = -seat.last_assigned_at.timestamp() if seat.last_assigned_at else float("inf")
    return waited, hashlib.sha256(f"{lead_key}/{seat.rep.rep_id}".encode()).hexdigest()
