"""SLA policies as data: which policy applies to an assignment, and the ladder it sets up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from handoff_shared.events import ActivityKind, Milestone
from handoff_sla.domain.business_hours import Timekeeping

ClockKind: TypeAlias = Literal["business", "calendar"]
RecycleTo: TypeAlias = Literal["nurture", "reassign"]
Step: TypeAlias = Literal["warn", "escalate", "recycle"]
STEP_ORDER: dict[str, int] = {"warn": 0, "escalate": 1, "recycle": 2}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WorkingPattern(_Strict):
    """Where and when a rep works, when the assignment does not say."""

    time_zone: str = "UTC"
    country: str | None = Field(
        default=None, description="ISO 3166 code for holidays, optionally with a subdivision: US-CA"
    )
    working_days: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    opens: time = time(9, 0)
    closes: time = time(17, 0)


class MilestoneRule(_Strict):
    """One milestone: met by some activities within a target, with its ladder of steps."""

    milestone: Milestone
    target_hours: PositiveFloat
    warn_before_hours: PositiveFloat | None = None
    recycle_after_hours: PositiveFloat | None = Field(
        default=None, description="Counted from the assignment, like the target"
    )
    met_by: frozenset[ActivityKind]

    @model_validator(mode="after")
    def _ladder_in_order(self) -> MilestoneRule:
        if self.warn_before_hours is not None and self.warn_before_hours >= self.target_hours:
            raise ValueError(f"{self.milestone}: the warning must come after the assignment")
        if self.recycle_after_hours is not None and self.recycle_after_hours <= self.target_hours:
            raise ValueError(f"{self.milestone}: recycle_after_hours must exceed target_hours")
        if not self.met_by:
            raise ValueError(f"{self.milestone}: met_by needs at least one activity")
        return self

    @property
    def target(self) -> timedelta:
        return timedelta(hours=self.target_hours)

    def ladder(self) -> list[tuple[Step, timedelta]]:
        """Each step and how much counted time after the assignment it comes due."""
        steps: list[tuple[Step, timedelta]] = []
        if self.warn_before_hours is not None:
            steps.append(("warn", timedelta(hours=self.target_hours - self.warn_before_hours)))
        steps.append(("escalate", self.target))
        if self.recycle_after_hours is not None:
            steps.append(("recycle", timedelta(hours=self.recycle_after_hours)))
        return steps


class Selector(_Strict):
    """Which assignments a policy is for; an empty list matches anything."""

    priorities: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()

    def matches(self, priority: str | None, team: str | None) -> bool:
        return (not self.priorities or priority in self.priorities) and (
            not self.teams or team in self.teams
        )


class SlaPolicy(_Strict):
    """A named SLA: how time is counted, the milestones, and where a recycled lead goes."""

    name: str = Field(min_length=1, max_length=60)
    when: Selector = Selector()
    clock: ClockKind
    recycle_to: RecycleTo = "nurture"
    milestones: tuple[MilestoneRule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_rule_per_milestone(self) -> SlaPolicy:
        names = [rule.milestone for rule in self.milestones]
        if len(names) != len(set(names)):
            raise ValueError(f"policy {self.name}: a milestone appears twice")
        return self


class PolicyBook(_Strict):
    """Every SLA policy, tried in order; the default applies when none matches."""

    version: str = Field(min_length=1, max_length=30)
    default_policy: str
    working_pattern: WorkingPattern = WorkingPattern()
    policies: tuple[SlaPolicy, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _default_exists(self) -> PolicyBook:
        names = [policy.name for policy in self.policies]
        if len(names) != len(set(names)):
            raise ValueError("policy names must be unique")
        if self.default_policy not in names:
            raise ValueError(f"default_policy {self.default_policy!r} is not defined")
        return self

    def select(self, priority: str | None, team: str | None) -> SlaPolicy:
        """The first policy whose selector matches, else the default."""
        for policy in self.policies:
            if policy.name != self.default_policy and policy.when.matches(priority, team):
                return policy
        return next(policy for policy in self.policies if policy.name == self.default_policy)

    def label(self, policy: SlaPolicy) -> str:
        """How a policy is named in events: its name and the book's version."""
        return f"{policy.name}@{self.version}"


def parse_policy_book(document: Mapping[str, Any]) -> PolicyBook:
    """Validate a policy document (already parsed from YAML); raises pydantic.ValidationError."""
    return PolicyBook.model_validate(document)


@dataclass(frozen=True)
class PlannedTimer:
    """One ladder step of one milestone, due at an instant."""

    step: Step
    due_at: datetime


@dataclass(frozen=True)
class PlannedMilestone:
    """A milestone obligation with its deadlines, as opened at assignment time."""

    rule: MilestoneRule
    due_at: datetime
    warn_at: datetime | None
    recycle_at: datetime | None
    timers: tuple[PlannedTimer, ...]


def plan_milestones(
    policy: SlaPolicy, timekeeping: Timekeeping, assigned_at: datetime
) -> list[PlannedMilestone]:
    """The obligations and timers an assignment opens under `policy`."""
    planned = []
    for rule in policy.milestones:
        timers = tuple(
            PlannedTimer(step, timekeeping.add(assigned_at, offset))
            for step, offset in rule.ladder()
        )
        due = {timer.step: timer.due_at for timer in timers}
        planned.append(
            PlannedMilestone(
                rule=rule,
                due_at=due["escalate"],
                warn_at=due.get("warn"),
                recycle_at=due.get("recycle"),
                timers=timers,
            )
        )
    return planned
