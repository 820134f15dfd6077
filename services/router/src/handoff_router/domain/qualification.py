"""Qualification: a declarative, versioned policy that grades fit, scores behaviour and explains.

A policy has fit rules (their points give a grade A to F), behaviour rules (points that decay
with the age of the signal), negative rules (points off, or a disqualification) and an MQL
definition combining grade, score and hand-raise. Every decision lists each rule that fired.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from handoff_router.domain.facts import KNOWN_FIELDS, EmailDomainLists, lead_facts
from handoff_shared.events import LeadSnapshot, Qualification, RuleHit

Grade = Literal["A", "B", "C", "D", "E", "F"]
FloorGrade = Literal["A", "B", "C", "D", "E"]
FLOOR_GRADES: tuple[FloorGrade, ...] = ("A", "B", "C", "D", "E")
GRADES: tuple[Grade, ...] = (*FLOOR_GRADES, "F")
OPERATORS = ("equals", "one_of", "at_least", "at_most", "contains_any", "present")


@dataclass(frozen=True)
class Signal:
    """Something the lead did, and when: a form filled in, a page visited, a webinar attended."""

    kind: str
    occurred_at: datetime


class Condition(BaseModel):
    """A test on one lead fact (or `attributes.NAME`); exactly one operator is given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    equals: str | int | None = None
    one_of: list[str] | None = None
    at_least: float | None = None
    at_most: float | None = None
    contains_any: list[str] | None = None
    present: bool | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        operators = [name for name in OPERATORS if getattr(self, name) is not None]
        if len(operators) != 1:
            raise ValueError(
                f"give exactly one operator for field {self.field!r} "
                f"(one of {', '.join(OPERATORS)}), got {operators or 'none'}"
            )
        if self.field not in KNOWN_FIELDS and not self.field.startswith("attributes."):
            raise ValueError(
                f"unknown lead field {self.field!r}; known: {sorted(KNOWN_FIELDS)} "
                "or attributes.NAME"
            )
        return self

    def holds_for(self, facts: Mapping[str, Any]) -> bool:
        value = facts.get(self.field)
        if self.present is not None:
            return (value not in (None, "")) == self.present
        if value is None:
            return False
        if self.equals is not None:
            return _fold(value) == self._folded_equals
        if self.one_of is not None:
            return _fold(value) in self._folded_options
        if self.at_least is not None or self.at_most is not None:
            number = _number(value)
            if number is None:
                return False
            if self.at_least is not None:
                return number >= self.at_least
            return self.at_most is not None and number <= self.at_most
        text = str(value).casefold()
        return any(word in text for word in self._folded_words)

    def describe(self) -> str:
        operator = next(name for name in OPERATORS if getattr(self, name) is not None)
        return f"{self.field} {operator.replace('_', ' ')} {getattr(self, operator)}"

    # Folded once per policy, not once per lead: a policy scores every lead of the stream.
    @cached_property
    def _folded_equals(self) -> object:
        return _fold(self.equals)

    @cached_property
    def _folded_options(self) -> frozenset[object]:
        return frozenset(_fold(option) for option in self.one_of or ())

    @cached_property
    def _folded_words(self) -> tuple[str, ...]:
        return tuple(word.casefold() for word in self.contains_any or ())


Conditions = Annotated[list[Condition], Field(min_length=1)]
RuleName = Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9_]+$")]


class FitRule(BaseModel):
    """Fit points when every condition holds (firmographics, demographics, email type)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: RuleName
    points: Annotated[int, Field(ge=0)]
    when: Conditions

    @cached_property
    def hit(self) -> RuleHit:
        """What the rule adds when it fires: the same every time."""
        return RuleHit(
            rule=self.name, points=self.points, detail=describe_all(self.when), kind="fit"
        )


class BehaviourRule(BaseModel):
    """Points per matching signal, halved every `half_life_days`; capped at `max_points`.

    A rule matches signals by kind (`signals`), or tests lead facts (`when`) as of the lead's
    arrival; a hand-raise rule marks an explicit request to talk to sales.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: RuleName
    points: Annotated[int, Field(gt=0)]
    signals: list[Annotated[str, Field(min_length=1)]] | None = None
    when: list[Condition] | None = None
    hand_raise: bool = False
    half_life_days: Annotated[float, Field(gt=0)] | None = None
    max_points: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _signals_or_conditions(self) -> BehaviourRule:
        if not self.signals and not self.when:
            raise ValueError(f"behaviour rule {self.name!r} needs `signals` or `when`")
        return self

    @cached_property
    def signal_kinds(self) -> frozenset[str]:
        return frozenset(kind.casefold() for kind in self.signals or ())

    @cached_property
    def matched(self) -> str:
        """What the rule looks for, in words."""
        return f"signal {'/'.join(self.signals)}" if self.signals else describe_all(self.when or [])


class NegativeRule(BaseModel):
    """Points off (or a disqualification) when every condition holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: RuleName
    points: Annotated[int, Field(le=0)]
    when: Conditions
    disqualify: bool = False

    @cached_property
    def hit(self) -> RuleHit:
        """What the rule takes off when it fires: the same every time."""
        return RuleHit(
            rule=self.name, points=self.points, detail=describe_all(self.when), kind="negative"
        )


class FitSection(BaseModel):
    """Fit rules and the least fit points for grades A to E (below E is F)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grades: dict[FloorGrade, int]
    rules: Annotated[list[FitRule], Field(min_length=1)]

    @model_validator(mode="after")
    def _grades_descend(self) -> FitSection:
        missing = [grade for grade in FLOOR_GRADES if grade not in self.grades]
        if missing:
            raise ValueError(f"grades needs a minimum for every grade A to E; missing {missing}")
        floors = [self.grades[grade] for grade in FLOOR_GRADES]
        if any(higher <= lower for higher, lower in itertools.pairwise(floors)):
            raise ValueError(f"grade minimums must fall strictly from A to E, got {floors}")
        return self

    def grade(self, points: int) -> Grade:
        return next((grade for grade in FLOOR_GRADES if points >= self.grades[grade]), "F")


class BehaviourSection(BaseModel):
    """Behaviour rules and the default half-life of their points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    half_life_days: Annotated[float, Field(gt=0)] = 30.0
    rules: Annotated[list[BehaviourRule], Field(min_length=1)]


class MqlDefinition(BaseModel):
    """When a lead is sales-ready: grade and score both high enough, or a hot fast-track."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_grade: Grade
    min_score: int
    fast_track_grades: list[Grade] = Field(
        default_factory=lambda: list[Grade](["A"]),
        description="A hand-raise from an account of one of these grades qualifies at once",
    )


class Rerouting(BaseModel):
    """What happens to a lead a rep rejects or lets lapse."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_rejection: Literal["reassign", "nurture"] = "reassign"
    on_recycle: Literal["reassign", "nurture"] = "nurture"
    nurture_rejection_reasons: list[str] = Field(
        default_factory=list,
        description="A rejection whose reason contains one of these goes straight to nurture",
    )
    max_assignments: Annotated[int, Field(ge=1)] = 3

    def after_rejection(self, reason: str | None, assignments_so_far: int) -> str:
        """`reassign` or `nurture` for a rejected lead."""
        text = (reason or "").casefold()
        if any(word.casefold() in text for word in self.nurture_rejection_reasons):
            return "nurture"
        return self._unless_exhausted(self.on_rejection, assignments_so_far)

    def after_recycle(self, assignments_so_far: int) -> str:
        """`reassign` or `nurture` for a lead whose SLA lapsed."""
        return self._unless_exhausted(self.on_recycle, assignments_so_far)

    def _unless_exhausted(self, action: str, assignments_so_far: int) -> str:
        return "nurture" if assignments_so_far >= self.max_assignments else action


class Policy(BaseModel):
    """A versioned qualification policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, Field(min_length=1, max_length=100)]
    description: str = ""
    fit: FitSection
    behaviour: BehaviourSection
    negative: list[NegativeRule] = Field(default_factory=list)
    mql: MqlDefinition
    rerouting: Rerouting = Field(default_factory=Rerouting)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> Policy:
        names = self.rule_names()
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique across sections; repeated: {duplicates}")
        return self

    def rule_names(self) -> list[str]:
        return [
            *(rule.name for rule in self.fit.rules),
            *(rule.name for rule in self.behaviour.rules),
            *(rule.name for rule in self.negative),
        ]

    def fields_used(self) -> set[str]:
        """Every lead field any rule tests (to spot fields a policy must not use)."""
        conditions = [
            *(c for rule in self.fit.rules for c in rule.when),
            *(c for rule in self.behaviour.rules for c in rule.when or ()),
            *(c for rule in self.negative for c in rule.when),
        ]
        return {condition.field for condition in conditions}

    def qualify(
        self,
        lead: LeadSnapshot,
        *,
        signals: Sequence[Signal],
        now: datetime,
        email_lists: EmailDomainLists,
        facts: Mapping[str, Any] | None = None,
    ) -> Qualification:
        """Grade, score and decide; `signals` are what the lead did, `now` ages them.

        `facts` are the lead's facts (`lead_facts`) when the caller has them already.
        """
        facts = facts if facts is not None else lead_facts(lead, email_lists)
        fit_hits = [rule.hit for rule in self.fit.rules if all_hold(rule.when, facts)]
        behaviour_hits = [
            hit
            for rule in self.behaviour.rules
            if (hit := self._behaviour_hit(rule, facts, lead, signals, now)) is not None
        ]
        negative_hits = [(rule, rule.hit) for rule in self.negative if all_hold(rule.when, facts)]
        fit_points = sum(hit.points for hit in fit_hits)
        grade = self.fit.grade(fit_points)
        score = sum(hit.points for hit in behaviour_hits) + sum(h.points for _, h in negative_hits)
        hand_raise = any(
            rule.hand_raise and hit.rule == rule.name
            for rule in self.behaviour.rules
            for hit in behaviour_hits
        )
        disqualified = [rule.name for rule, _ in negative_hits if rule.disqualify]
        is_mql, reasons = self._decide(grade, score, hand_raise, disqualified)
        return Qualification(
            policy_version=self.version,
            score=score,
            threshold=self.mql.min_score,
            is_mql=is_mql,
            rules_fired=[*fit_hits, *behaviour_hits, *(hit for _, hit in negative_hits)],
            grade=grade,
            fit_points=fit_points,
            hand_raise=hand_raise,
            reasons=reasons,
        )

    def _behaviour_hit(
        self,
        rule: BehaviourRule,
        facts: Mapping[str, Any],
        lead: LeadSnapshot,
        signals: Sequence[Signal],
        now: datetime,
    ) -> RuleHit | None:
        if rule.when and not all_hold(rule.when, facts):
            return None
        if rule.signals:
            kinds = rule.signal_kinds
            moments = [s.occurred_at for s in signals if s.kind.casefold() in kinds]
        else:
            moments = [lead.received_at]
        if not moments:
            return None
        half_life = rule.half_life_days or self.behaviour.half_life_days
        raw = sum(rule.points * _decay(now - moment, half_life) for moment in moments)
        points = round(min(raw, rule.max_points) if rule.max_points else raw)
        if points == 0:
            return None
        newest = max(moments)
        age_days = max((now - newest).total_seconds(), 0) / 86400
        detail = (
            f"{rule.matched}: {len(moments)}x {rule.points} pts, newest {age_days:.1f} days old, "
            f"half-life {half_life:g} days"
        )
        return RuleHit(rule=rule.name, points=points, detail=detail, kind="behaviour")

    def _decide(
        self, grade: str, score: int, hand_raise: bool, disqualified: list[str]
    ) -> tuple[bool, list[str]]:
        if disqualified:
            return False, [f"disqualified by {', '.join(disqualified)}"]
        if hand_raise and grade in self.mql.fast_track_grades:
            return True, [f"hand-raise from a grade {grade} account: fast track"]
        grade_ok = GRADES.index(grade) <= GRADES.index(self.mql.min_grade)
        score_ok = score >= self.mql.min_score
        reasons = [
            f"grade {grade} {'meets' if grade_ok else 'below'} {self.mql.min_grade}",
            f"score {score} {'meets' if score_ok else 'below'} {self.mql.min_score}",
        ]
        return grade_ok and score_ok, reasons


def _decay(age: timedelta, half_life_days: float) -> float:
    days = max(age.total_seconds(), 0.0) / 86400
    return math.pow(0.5, days / half_life_days)


def all_hold(conditions: Sequence[Condition], facts: Mapping[str, Any]) -> bool:
    """Whether every condition holds for the lead's facts."""
    return all(condition.holds_for(facts) for condition in conditions)


def describe_all(conditions: Sequence[Condition]) -> str:
    """The conditions in words."""
    return " and ".join(condition.describe() for condition in conditions)


def _fold(value: object) -> object:
    return value.strip().casefold() if isinstance(value, str) else value


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None
