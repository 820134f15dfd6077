"""Qualification: a declarative, versioned points policy that explains every decision."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from handoff_shared.events import LeadSnapshot, Qualification, RuleHit

LEAD_FIELDS = frozenset(LeadSnapshot.model_fields) - {"lead_id", "received_at", "attributes"}


class Condition(BaseModel):
    """A test on one lead field (or `attributes.NAME`); exactly one operator is given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    equals: str | int | None = None
    one_of: list[str] | None = None
    at_least: int | None = None
    at_most: int | None = None
    contains_any: list[str] | None = None
    present: bool | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        operators = [
            name
            for name in ("equals", "one_of", "at_least", "at_most", "contains_any", "present")
            if getattr(self, name) is not None
        ]
        if len(operators) != 1:
            raise ValueError(f"give exactly one operator for field {self.field!r}, got {operators}")
        if self.field not in LEAD_FIELDS and not self.field.startswith("attributes."):
            raise ValueError(f"unknown lead field {self.field!r}; known: {sorted(LEAD_FIELDS)}")
        return self

    def holds_for(self, lead: LeadSnapshot) -> bool:
        value = _field_value(lead, self.field)
        if self.present is not None:
            return (value not in (None, "")) == self.present
        if value is None:
            return False
        if self.equals is not None:
            return _fold(value) == _fold(self.equals)
        if self.one_of is not None:
            return _fold(value) in {_fold(option) for option in self.one_of}
        if self.at_least is not None:
            return isinstance(value, int) and value >= self.at_least
        if self.at_most is not None:
            return isinstance(value, int) and value <= self.at_most
        text = str(value).casefold()
        return any(word.casefold() in text for word in self.contains_any or ())


class Rule(BaseModel):
    """Points given when every condition holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1)]
    points: int
    when: Annotated[list[Condition], Field(min_length=1)]

    def describe(self) -> str:
        return " and ".join(_describe(condition) for condition in self.when)


class Policy(BaseModel):
    """A qualification policy: rules, and the score that makes a lead sales-ready (MQL)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, Field(min_length=1)]
    threshold: int
    rules: Annotated[list[Rule], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_rule_names(self) -> Policy:
        names = [rule.name for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {duplicates}")
        return self

    def qualify(self, lead: LeadSnapshot) -> Qualification:
        hits = [
            RuleHit(rule=rule.name, points=rule.points, detail=rule.describe())
            for rule in self.rules
            if all(condition.holds_for(lead) for condition in rule.when)
        ]
        score = sum(hit.points for hit in hits)
        return Qualification(
            policy_version=self.version,
            score=score,
            threshold=self.threshold,
            is_mql=score >= self.threshold,
            rules_fired=hits,
        )


def _field_value(lead: LeadSnapshot, field: str) -> Any:
    if field.startswith("attributes."):
        return lead.attributes.get(field.removeprefix("attributes."))
    return getattr(lead, field)


def _fold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


def _describe(condition: Condition) -> str:
    for operator in ("equals", "one_of", "at_least", "at_most", "contains_any", "present"):
        operand = getattr(condition, operator)
        if operand is not None:
            return f"{condition.field} {operator.replace('_', ' ')} {operand}"
    raise AssertionError("a validated condition has an operator")
