"""SLA compliance for leadership, from the monitor's own records: how each milestone of the
assignments made in a period ended, per rep, team, manager or policy.

    uv run handoff-sla-report --since 2026-11-01 [--until 2026-12-01] [--by team] [--json]

Reads the database in `SLA_DATABASE_URL` and tells open obligations on track from overdue by the
monitor's clock (`SLA_CLOCK_FILE` included).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_shared import db
from handoff_shared.clock import clock_from_settings
from handoff_sla.adapters.tables import SCHEMA, obligations
from handoff_sla.domain.compliance import ComplianceRow, ComplianceTally, ObligationRecord
from handoff_sla.settings import SlaSettings

STREAM_ROWS = 10_000
COLUMNS = (
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

app = typer.Typer(add_completion=False, help=__doc__)


class Grouping(StrEnum):
    rep = "rep"
    team = "team"
    manager = "manager"
    policy = "policy"


async def tally_period(
    session: AsyncSession, since: datetime, until: datetime, tally: ComplianceTally
) -> None:
    """Feed `tally` every obligation of the assignments made in [since, until)."""
    result = await session.stream(
        select(
            obligations.c.milestone,
            obligations.c.rep_id,
            obligations.c.team,
            obligations.c.manager,
            obligations.c.policy,
            obligations.c.state,
            obligations.c.escalate_at,
            obligations.c.within_target,
            obligations.c.counted_seconds,
        )
        .where(obligations.c.assigned_at >= since, obligations.c.assigned_at < until)
        .execution_options(yield_per=STREAM_ROWS)
    )
    async for row in result:
        tally.add(
            ObligationRecord(
                milestone=row.milestone,
                rep_id=row.rep_id,
                team=row.team,
                manager=row.manager,
                policy=row.policy,
                state=row.state,
                due_at=row.escalate_at,
                within_target=row.within_target,
                counted_seconds=row.counted_seconds,
            )
        )


async def compliance_report(
    settings: SlaSettings, since: datetime, until: datetime | None, by: Grouping
) -> list[ComplianceRow]:
    now = clock_from_settings(settings.clock_file).now()
    tally = ComplianceTally(by.value, now)
    engine = db.create_engine(settings.database_url, SCHEMA)
    try:
        async with db.session_factory(engine)() as session:
            await tally_period(session, since, until or now, tally)
    finally:
        await engine.dispose()
    return tally.rows()


def render(rows: list[ComplianceRow]) -> str:
    """A fixed-width table, one line per group and milestone."""
    lines = [_line([name for name, _ in COLUMNS])]
    for row in rows:
        figures = row.as_dict()
        cells = [row.group[:24], row.milestone, str(row.obligations)]
        cells += [str(count) for count in row.outcomes.values()]
        compliance = figures["compliance"]
        cells.append("-" if compliance is None else f"{compliance:.0%}")
        for key in ("median_hours_to_meet", "p90_hours_to_meet"):
            hours = figures[key]
            cells.append("-" if hours is None else f"{hours:.1f}")
        lines.append(_line(cells))
    return "\n".join(lines)


def _line(cells: list[str]) -> str:
    return "  ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True))


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@app.command()
def report(
    since: Annotated[datetime, typer.Option(help="Assignments made from this time (UTC)")],
    until: Annotated[
        datetime | None, typer.Option(help="...until before this time (UTC; default: now)")
    ] = None,
    by: Annotated[Grouping, typer.Option(help="Figures per rep, team, manager or policy")] = (
        Grouping.rep
    ),
    as_json: Annotated[bool, typer.Option("--json", help="JSON rows for a dashboard")] = False,
) -> None:
    """Met in time, met late, missed, overdue, on track and closed, with the share met in time
    among those decided and the counted hours it took to meet them."""
    end = None if until is None else _utc(until)
    rows = asyncio.run(compliance_report(SlaSettings(), _utc(since), end, by))
    if as_json:
        typer.echo(json.dumps([row.as_dict() for row in rows], indent=2))
    else:
        typer.echo(render(rows))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
