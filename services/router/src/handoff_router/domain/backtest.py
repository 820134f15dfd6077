"""Backtest: how a policy would have decided past leads, and whether its MQLs converted more."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from handoff_router.domain.assignment import RoutingRule, choose_team
from handoff_router.domain.facts import EmailDomainLists, lead_facts
from handoff_router.domain.qualification import Policy, Signal
from handoff_shared.events import LeadSnapshot

# Filled in by sales after contact: a policy testing them predicts the outcome from the outcome.
POST_CONTACT_FIELDS = frozenset({"attributes.tags", "attributes.lead_quality"})


@dataclass(frozen=True)
class PastLead:
    """A lead as it arrived, what it did, and how it ended (None: not known)."""

    lead: LeadSnapshot
    signals: Sequence[Signal] = ()
    converted: bool | None = None
    rep_id: str | None = None


@dataclass
class Tally:
    """Leads and conversions, split MQL versus not."""

    mql: int = 0
    mql_converted: int = 0
    other: int = 0
    other_converted: int = 0

    def add(self, is_mql: bool, converted: bool) -> None:
        if is_mql:
            self.mql += 1
            self.mql_converted += converted
        else:
            self.other += 1
            self.other_converted += converted

    @property
    def leads(self) -> int:
        return self.mql + self.other

    @property
    def mql_conversion(self) -> float | None:
        return self.mql_converted / self.mql if self.mql else None

    @property
    def other_conversion(self) -> float | None:
        return self.other_converted / self.other if self.other else None

    @property
    def recall(self) -> float | None:
        """Share of all conversions that the policy had marked MQL."""
        converted = self.mql_converted + self.other_converted
        return self.mql_converted / converted if converted else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "leads": self.leads,
            "mql": self.mql,
            "mql_converted": self.mql_converted,
            "non_mql": self.other,
            "non_mql_converted": self.other_converted,
            "mql_conversion": self.mql_conversion,
            "non_mql_conversion": self.other_conversion,
            "recall": self.recall,
        }


@dataclass
class PolicyResult:
    """One policy's decisions over the past leads."""

    version: str
    overall: Tally = field(default_factory=Tally)
    per_team: dict[str, Tally] = field(default_factory=dict)
    per_rep: dict[str, Tally] = field(default_factory=dict)
    grades: Counter[str] = field(default_factory=Counter)
    leaked_fields: list[str] = field(default_factory=list)
    mql_leads: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "overall": self.overall.as_dict(),
            "per_team": {team: tally.as_dict() for team, tally in sorted(self.per_team.items())},
            "per_rep": {rep: tally.as_dict() for rep, tally in sorted(self.per_rep.items())},
            "grades": dict(sorted(self.grades.items())),
            "post_contact_fields_used": self.leaked_fields,
        }


def post_contact_fields_used(
    policy: Policy, forbidden: Iterable[str] = POST_CONTACT_FIELDS
) -> list[str]:
    """Fields the policy tests that are only known after sales contacted the lead."""
    folded = {name.casefold() for name in forbidden}
    return sorted(name for name in policy.fields_used() if name.casefold() in folded)


def run_backtest(
    policy: Policy,
    leads: Iterable[PastLead],
    *,
    email_lists: EmailDomainLists,
    routing_rules: Sequence[RoutingRule] = (),
    forbidden_fields: Iterable[str] = POST_CONTACT_FIELDS,
) -> PolicyResult:
    """Score every past lead as of its arrival; tally MQLs and conversions overall, per team
    (by the routing rules) and per rep (the rep who had it, where known)."""
    result = PolicyResult(
        version=policy.version, leaked_fields=post_contact_fields_used(policy, forbidden_fields)
    )
    for past in leads:
        decision = policy.qualify(
            past.lead,
            signals=past.signals,
            now=past.lead.received_at,
            email_lists=email_lists,
        )
        result.grades[decision.grade or "?"] += 1
        if decision.is_mql:
            result.mql_leads.add(str(past.lead.lead_id))
        if past.converted is None:
            continue
        result.overall.add(decision.is_mql, past.converted)
        if routing_rules:
            rule = choose_team(routing_rules, lead_facts(past.lead, email_lists))
            team = rule.team if rule else "(no rule)"
            result.per_team.setdefault(team, Tally()).add(decision.is_mql, past.converted)
        if past.rep_id:
            result.per_rep.setdefault(past.rep_id, Tally()).add(decision.is_mql, past.converted)
    return result


def disagreements(active: PolicyResult, candidate: PolicyResult) -> dict[str, int]:
    """How many leads only one of the two policies marks MQL."""
    return {
        "only_active_mql": len(active.mql_leads - candidate.mql_leads),
        "only_candidate_mql": len(candidate.mql_leads - active.mql_leads),
        "both_mql": len(active.mql_leads & candidate.mql_leads),
    }
