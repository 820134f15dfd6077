"""Backtest a candidate policy against the active one, over a CSV of past leads or the router's
own stored leads: `python -m handoff_router.backtest --csv Leads.csv --policy candidate.yaml`.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from handoff_router.adapters import tables
from handoff_router.adapters.config_files import email_domain_lists, load_policy, load_roster
from handoff_router.domain.backtest import (
    POST_CONTACT_FIELDS,
    PastLead,
    PolicyResult,
    disagreements,
    run_backtest,
)
from handoff_router.domain.facts import LEAD_FIELDS
from handoff_router.domain.qualification import Signal
from handoff_router.settings import DATA
from handoff_shared import db
from handoff_shared.events import LeadSnapshot

CSV_NAMESPACE = uuid.UUID("8d3c2b1e-0b7a-4f7e-9c55-6a1f0d2e4b90")
IMPORT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
TRUTHY = {"1", "yes", "true", "y", "won", "converted"}

app = typer.Typer(add_completion=False, help=__doc__)


def column_key(header: str) -> str:
    """`Lead Source` -> `lead_source`: how a CSV column is named in a policy."""
    return re.sub(r"[^a-z0-9]+", "_", header.casefold()).strip("_")


def read_csv_leads(
    path: Path, *, outcome_column: str, blanks: Sequence[str] = ("",)
) -> Iterator[PastLead]:
    """Past leads from a CSV: lead fields by column name, every other column an attribute.

    A column named like a lead field (`Country`, `Lead Source`, `Job Title`...) fills it; the
    rest become `attributes.<snake_case name>`. Values in `blanks` count as not answered. Without
    an email column, each lead gets a placeholder address (so email rules cannot fire).
    """
    blank = {value.casefold() for value in blanks} | {""}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):
            fields: dict[str, Any] = {}
            attributes: dict[str, str] = {}
            outcome: bool | None = None
            for header, raw in row.items():
                if not header:
                    continue  # a trailing comma's nameless column
                value = (raw or "").strip()
                if header == outcome_column:
                    outcome = value.casefold() in TRUTHY if value else None
                    continue
                if value.casefold() in blank:
                    continue
                key = column_key(header)
                if key in LEAD_FIELDS:
                    fields[key] = value
                else:
                    attributes[key] = value
            fields["employee_count"] = _int_or_none(fields.get("employee_count"))
            received_at = _time_or(attributes.get("received_at"), IMPORT_TIME)
            lead = LeadSnapshot(
                lead_id=uuid.uuid5(CSV_NAMESPACE, f"{path.name}/{number}"),
                email=fields.pop("email", f"lead-{number}@backtest.invalid"),
                received_at=received_at,
                attributes=attributes,
                **fields,
            )
            signals = [Signal(lead.form_type, received_at)] if lead.form_type else []
            yield PastLead(lead=lead, signals=signals, converted=outcome)


async def read_stored_leads(database_url: str) -> list[PastLead]:
    """The router's own past leads: as decided, with their signals, first rep and outcome."""
    engine = db.create_engine(database_url, tables.SCHEMA)
    try:
        async with db.session_factory(engine)() as session:
            signals: dict[uuid.UUID, list[Signal]] = {}
            for row in await session.execute(select(tables.signals)):
                signals.setdefault(row.lead_id, []).append(Signal(row.kind, row.occurred_at))
            first_rep = {
                row.lead_id: row.rep_id
                for row in await session.execute(
                    select(tables.assignments.c.lead_id, tables.assignments.c.rep_id).where(
                        tables.assignments.c.sequence == 1
                    )
                )
            }
            rows = await session.execute(select(tables.decisions))
            return [
                PastLead(
                    lead=LeadSnapshot.model_validate(row.lead),
                    signals=signals.get(row.lead_id, []),
                    converted=row.converted,
                    rep_id=first_rep.get(row.lead_id),
                )
                for row in rows
            ]
    finally:
        await engine.dispose()


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(float(value)) if value else None
    except ValueError:
        return None


def _time_or(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render(active: PolicyResult, candidate: PolicyResult, split: dict[str, int]) -> str:
    """The report as text: overall figures side by side, then per team and per rep."""
    lines = []
    for result in (active, candidate):
        if result.leaked_fields:
            lines.append(
                f"WARNING: policy {result.version} uses {', '.join(result.leaked_fields)}, filled "
                "in by sales AFTER contact; its figures predict the outcome from the outcome "
                "(cheating) and say nothing about how it would qualify new leads."
            )
    header = f"{'':28}{'active ' + active.version:>30}{'candidate ' + candidate.version:>34}"
    lines += [header, "-" * len(header)]
    a, c = active.overall, candidate.overall
    rows = [
        ("leads with an outcome", a.leads, c.leads),
        ("MQL", a.mql, c.mql),
        (
            "MQL rate",
            _percent(a.mql / a.leads if a.leads else None),
            _percent(c.mql / c.leads if c.leads else None),
        ),
        ("conversion of MQL", _percent(a.mql_conversion), _percent(c.mql_conversion)),
        ("conversion of non-MQL", _percent(a.other_conversion), _percent(c.other_conversion)),
        ("conversions caught (recall)", _percent(a.recall), _percent(c.recall)),
        ("grades", _grades(active), _grades(candidate)),
    ]
    lines += [f"{name:28}{left!s:>30}{right!s:>34}" for name, left, right in rows]
    lines.append(
        f"disagreements: {split['only_active_mql']} MQL only under the active policy, "
        f"{split['only_candidate_mql']} only under the candidate, {split['both_mql']} under both"
    )
    for title, left, right in (
        ("per team", active.per_team, candidate.per_team),
        ("per rep", active.per_rep, candidate.per_rep),
    ):
        if not left and not right:
            continue
        lines.append(f"{title} (MQL / conversion of MQL, active -> candidate):")
        for name in sorted(set(left) | set(right)):
            before, after = left.get(name), right.get(name)
            lines.append(
                f"  {name:24} {before.mql if before else 0:>6} / "
                f"{_percent(before.mql_conversion if before else None):>6}  ->  "
                f"{after.mql if after else 0:>6} / "
                f"{_percent(after.mql_conversion if after else None):>6}"
            )
    return "\n".join(lines)


def _grades(result: PolicyResult) -> str:
    return " ".join(f"{grade}:{count}" for grade, count in sorted(result.grades.items()))


@app.command()
def main(
    policy: Annotated[Path, typer.Option(help="The candidate policy file")],
    active: Annotated[
        Path, typer.Option(help="The policy to compare with (default: the shipped one)")
    ] = DATA / "default_policy.yaml",
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Past leads with outcomes, one per row")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Backtest the router's stored leads instead")
    ] = None,
    roster: Annotated[
        Path, typer.Option(help="Roster whose routing rules give the team per lead")
    ] = DATA / "default_roster.yaml",
    outcome_column: Annotated[str, typer.Option(help="CSV column: 1/yes = converted")] = (
        "Converted"
    ),
    blank: Annotated[
        list[str] | None, typer.Option(help="A CSV value meaning 'not answered' (repeatable)")
    ] = None,
    forbid: Annotated[
        list[str] | None,
        typer.Option(help="Another field filled in after contact (e.g. attributes.status)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text")] = False,
) -> None:
    """Compare a candidate policy with the active one on past leads."""
    if (csv_file is None) == (database_url is None):
        raise typer.BadParameter("give exactly one of --csv or --database-url")
    candidate_policy, active_policy = load_policy(policy), load_policy(active)
    if csv_file is not None:
        leads = list(
            read_csv_leads(csv_file, outcome_column=outcome_column, blanks=blank or ["Select"])
        )
    else:
        leads = asyncio.run(read_stored_leads(str(database_url)))
    lists = email_domain_lists()
    rules = load_roster(roster).routing_rules
    forbidden = POST_CONTACT_FIELDS | {f.casefold() for f in forbid or ()}
    results = [
        run_backtest(p, leads, email_lists=lists, routing_rules=rules, forbidden_fields=forbidden)
        for p in (active_policy, candidate_policy)
    ]
    split = disagreements(*results)
    if as_json:
        typer.echo(
            json.dumps(
                {"active": results[0].as_dict(), "candidate": results[1].as_dict(), **split},
                indent=2,
            )
        )
    else:
        typer.echo(render(results[0], results[1], split))


if __name__ == "__main__":
    app()
