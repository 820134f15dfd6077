"""Reports for leadership from the SLA monitor's own records, over the assignments made in a
period: how each milestone ended per rep, team, manager or policy (`compliance`), and whether
leads touched sooner converted and were won more often (`speed-to-lead`).

    uv run handoff-sla-report compliance --since 2026-11-01 [--until 2026-12-01] [--by team]
    uv run handoff-sla-report speed-to-lead --since 2026-06-01 [--edges 1,4,24,48]

Both take `--json`. They read the database in `SLA_DATABASE_URL` and go by the monitor's clock
(`SLA_CLOCK_FILE` included) to tell open obligations on track from overdue.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, TypeVar

import typer
from sqlalchemy import ColumnElement, Exists, RowMapping, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_shared import db
from handoff_shared.clock import clock_from_settings
from handoff_sla.adapters.tables import SCHEMA, activities, obligations
from handoff_sla.domain.compliance import (
    ComplianceRow,
    ComplianceTally,
    ObligationRecord,
    outcome_of,
)
from handoff_sla.domain.speed_to_lead import (
    DEFAULT_EDGES,
    FirstTouch,
    SpeedBucket,
    bucket_labels,
    speed_to_lead,
)
from handoff_sla.settings import SlaSettings

STREAM_ROWS = 10_000
COMPLIANCE_COLUMNS = (
    ("group", 24),
    ("milestone", 12),
    ("obligations", 11),
    ("in time", 8),
    ("late", 6),
    ("missed", 8),
    ("overdue", 8),
    ("on track", 8),
    ("closed", 7),
    ("compliance", 10),
    ("median h", 8),
    ("p90 h", 7),
)
SPEED_COLUMNS = (
    ("first touch", 12),
    ("leads", 7),
    ("converted", 9),
    ("won", 6),
    ("conversion", 10),
    ("win rate", 8),
    ("", 16),
)
CONVERTING_KINDS = ("converted", "won")
# What an ObligationRecord is made of.
RECORD_COLUMNS = tuple(
    obligations.c[name]
    for name in (
        "milestone",
        "rep_id",
        "team",
        "manager",
        "policy",
        "state",
        "escalate_at",
        "within_target",
        "counted_seconds",
    )
)
T = TypeVar("T")

app = typer.Typer(add_completion=False, help=__doc__)

Since = Annotated[datetime, typer.Option(help="Assignments made from this time (UTC)")]
Until = Annotated[
    datetime | None, typer.Option(help="...until before this time (UTC; default: now)")
]
AsJson = Annotated[bool, typer.Option("--json", help="JSON rows for a dashboard")]


class Grouping(StrEnum):
    rep = "rep"
    team = "team"
    manager = "manager"
    policy = "policy"


def in_period(since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(obligations.c.assigned_at >= since, obligations.c.assigned_at < until)


async def tally_obligations(
    session: AsyncSession, since: datetime, until: datetime, tally: ComplianceTally
) -> None:
    """Feed `tally` every obligation of the assignments made in [since, until)."""
    result = await session.stream(
        select(*RECORD_COLUMNS)
        .where(in_period(since, until))
        .execution_options(yield_per=STREAM_ROWS)
    )
    async for row in result.mappings():
        tally.add(_record(row))


async def first_touches(
    session: AsyncSession, since: datetime, until: datetime, now: datetime
) -> list[FirstTouch]:
    """The decided first-touch milestones of the period, with whether each lead converted or
    was won after its assignment. Milestones still on track, or closed before their deadline,
    say nothing about speed and are left out."""

    def later(kinds: tuple[str, ...]) -> Exists:
        return exists().where(
            activities.c.lead_id == obligations.c.lead_id,
            activities.c.kind.in_(kinds),
            activities.c.occurred_at >= obligations.c.assigned_at,
        )

    result = await session.stream(
        select(
            *RECORD_COLUMNS,
            later(CONVERTING_KINDS).label("converted"),
            later(("won",)).label("won"),
        )
        .where(in_period(since, until), obligations.c.milestone == "first_touch")
        .execution_options(yield_per=STREAM_ROWS)
    )
    touches = []
    async for row in result.mappings():
        outcome = outcome_of(_record(row), now)
        converted, won = bool(row["converted"]), bool(row["won"])
        if outcome in ("in_time", "late"):
            touches.append(FirstTouch(row["counted_seconds"], converted, won))
        elif outcome in ("missed", "overdue"):
            touches.append(FirstTouch(None, converted, won))
    return touches


def _record(row: RowMapping) -> ObligationRecord:
    return ObligationRecord(
        milestone=row["milestone"],
        rep_id=row["rep_id"],
        team=row["team"],
        manager=row["manager"],
        policy=row["policy"],
        state=row["state"],
        due_at=row["escalate_at"],
        within_target=row["within_target"],
        counted_seconds=row["counted_seconds"],
    )


async def _read(settings: SlaSettings, read: Callable[[AsyncSession, datetime], Awaitable[T]]) -> T:
    """Run `read` with a session and the monitor's current time."""
    now = clock_from_settings(settings.clock_file).now()
    engine = db.create_engine(settings.database_url, SCHEMA)
    try:
        async with db.session_factory(engine)() as session:
            return await read(session, now)
    finally:
        await engine.dispose()


def render_compliance(rows: list[ComplianceRow]) -> str:
    """A fixed-width table, one line per group and milestone."""
    lines = []
    for row in rows:
        figures = row.as_dict()
        cells = [row.group[:24], row.milestone, str(row.obligations)]
        cells += [str(count) for count in row.outcomes.values()]
        cells.append(_share(row.compliance))
        for key in ("median_hours_to_meet", "p90_hours_to_meet"):
            hours = figures[key]
            cells.append("-" if hours is None else f"{hours:.1f}")
        lines.append(cells)
    return _table(COMPLIANCE_COLUMNS, lines)


def render_speed(buckets: list[SpeedBucket]) -> str:
    lines = [
        [
            bucket.label,
            str(bucket.leads),
            str(bucket.converted),
            str(bucket.won),
            _share(bucket.conversion_rate),
            _share(bucket.win_rate),
            "few leads" if bucket.few and bucket.leads else "",
        ]
        for bucket in buckets
    ]
    return _table(SPEED_COLUMNS, lines)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _table(columns: tuple[tuple[str, int], ...], rows: list[list[str]]) -> str:
    widths = [width for _, width in columns]
    return "\n".join(
        "  ".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True)).rstrip()
        for cells in [[name for name, _ in columns], *rows]
    )


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@app.command()
def compliance(
    since: Since,
    until: Until = None,
    by: Annotated[Grouping, typer.Option(help="Figures per rep, team, manager or policy")] = (
        Grouping.rep
    ),
    as_json: AsJson = False,
) -> None:
    """Per milestone: met in time, met late, missed, overdue, on track and closed, the share met
    in time among those decided, and the counted hours it took to meet them."""

    async def read(session: AsyncSession, now: datetime) -> list[ComplianceRow]:
        tally = ComplianceTally(by.value, now)
        await tally_obligations(session, _utc(since) or now, _utc(until) or now, tally)
        return tally.rows()

    rows = asyncio.run(_read(SlaSettings(), read))
    if as_json:
        typer.echo(json.dumps([row.as_dict() for row in rows], indent=2))
    else:
        typer.echo(render_compliance(rows))


@app.command("speed-to-lead")
def speed(
    since: Since,
    until: Until = None,
    edges: Annotated[
        str, typer.Option(help="Bucket edges in counted hours to the first touch")
    ] = ",".join(f"{edge:g}" for edge in DEFAULT_EDGES),
    as_json: AsJson = False,
) -> None:
    """Leads by how long their first touch took (in the hours the SLA policy counts), with the
    share that converted (`converted` or `won` reported after the assignment) and was won.
    This is correlation, not proof: faster reps may be better reps, and hotter leads are
    touched sooner."""
    try:
        bucket_edges = [float(edge) for edge in edges.split(",")]
        bucket_labels(bucket_edges)
    except ValueError as error:
        raise typer.BadParameter(f"{edges!r}: {error}") from error

    async def read(session: AsyncSession, now: datetime) -> list[FirstTouch]:
        return await first_touches(session, _utc(since) or now, _utc(until) or now, now)

    buckets = speed_to_lead(asyncio.run(_read(SlaSettings(), read)), bucket_edges)
    if as_json:
        typer.echo(json.dumps([bucket.as_dict() for bucket in buckets], indent=2))
    else:
        typer.echo(render_speed(buckets))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
