"""`make run` keeps the SLA monitor's state in SQLite: a ladder walks there as on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from handoff_shared import db
from handoff_shared.clock import ManualClock, write_clock_offset
from handoff_shared.events import (
    ActivityKind,
    LeadActivityData,
    LeadActivityRecorded,
    LeadAssigned,
    LeadAssignedData,
    LeadSnapshot,
    Qualification,
    RoutingDecision,
    decode_event,
    deterministic_id,
)
from handoff_shared.outbox import Outbox
from handoff_sla.adapters import tables
from handoff_sla.adapters.calendars import load_policy_book
from handoff_sla.bootstrap import MIGRATIONS, bootstrap, migrate
from handoff_sla.handlers import SlaHandlers
from handoff_sla.report import app as report_app
from handoff_sla.settings import SlaSettings

FRIDAY_4PM = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
MONDAY_9AM = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def hot_assignment(
    lead_id: uuid.UUID, rep: str = "rep-a", team: str = "emea", at: datetime = FRIDAY_4PM
) -> LeadAssigned:
    data = LeadAssignedData(
        assignment_id=uuid.uuid4(),
        lead_id=lead_id,
        rep_id=rep,
        rep_name=rep,
        manager="manager-m",
        team=team,
        assigned_at=at,
        qualification=Qualification(
            policy_version="p1", score=90, threshold=50, is_mql=True, rules_fired=[]
        ),
        routing=RoutingDecision(rule="round_robin", team="emea", candidates=["rep-a"]),
        lead=LeadSnapshot(lead_id=lead_id, email="a@example.com", received_at=FRIDAY_4PM),
        priority="high",
    )
    return LeadAssigned.build(source="urn:test", time=at, data=data)


@dataclass
class SlaOnSqlite:
    """The SLA handlers over a migrated SQLite file, on a manual clock from Friday 16:00."""

    database_url: str
    sessions: async_sessionmaker[AsyncSession]
    clock: ManualClock
    sla: SlaHandlers

    async def handle(self, *events: Any) -> None:
        for event in events:
            async with self.sessions.begin() as session:
                await self.sla.handle(session, event)

    async def sweep_all(self) -> None:
        """Sweep until nothing due is left."""
        while True:
            async with self.sessions.begin() as session:
                if not await self.sla.fire_due(session):
                    return


@pytest.fixture
async def on_sqlite(tmp_path: Path) -> AsyncIterator[SlaOnSqlite]:
    settings = SlaSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'sla.db'}")
    await asyncio.to_thread(migrate, settings)
    engine = db.create_engine(settings.database_url, tables.SCHEMA)
    clock = ManualClock(FRIDAY_4PM)
    sla = SlaHandlers(Outbox(tables.outbox, clock), clock, load_policy_book(None), batch_size=10)
    try:
        yield SlaOnSqlite(settings.database_url, db.session_factory(engine), clock, sla)
    finally:
        await engine.dispose()


async def test_a_business_hour_ladder_walks_on_sqlite(on_sqlite: SlaOnSqlite) -> None:
    leads = [uuid.uuid4() for _ in range(3)]
    await on_sqlite.handle(*(hot_assignment(lead) for lead in leads))
    # Monday 14:00: both escalations overdue (the warnings skipped as late); 18:00: recycle.
    for now in (MONDAY_9AM + 5 * H, MONDAY_9AM + 9 * H):
        on_sqlite.clock.set(now)
        await on_sqlite.sweep_all()
    async with on_sqlite.sessions() as session:
        payloads = await session.scalars(select(tables.outbox.c.payload).order_by("id"))
        events = [decode_event(payload) for payload in payloads]
        obligations = {
            (row.lead_id, row.milestone): row
            for row in await session.execute(select(tables.obligations))
        }

    for lead in leads:
        steps = [(e.type, e.data.milestone) for e in events if e.subject == str(lead)]
        assert steps == [
            ("lead.sla.escalated", "accept"),
            ("lead.sla.escalated", "first_touch"),
            ("lead.sla.recycled", "first_touch"),
        ]
        accept, touch = obligations[(lead, "accept")], obligations[(lead, "first_touch")]
        assert (accept.counted_seconds, accept.paused_seconds) == (H.seconds, 0)
        assert (accept.state, accept.closed_reason) == ("closed", "recycled")
        # Missed on Monday at 12:00: an hour on Friday and three on Monday counted, 64 paused.
        assert (touch.counted_seconds, touch.paused_seconds) == (4 * H.seconds, 64 * H.seconds)
        assert (touch.state, touch.closed_reason) == ("recycled", "recycled: first_touch missed")
        assert accept.within_target is False and touch.within_target is False
    assert all(
        e.id == deterministic_id("sla", e.data.obligation_id, e.type.rsplit(".", 1)[1])
        for e in events
    )


async def test_the_running_sweeper_fires_each_step_once_on_sqlite(tmp_path: Path) -> None:
    # SQLite has no row locks to skip, so overlapping sweepers would read the same due timers
    # and fire them twice; on SQLite the monitor sweeps with one worker.
    settings = SlaSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'sla.db'}", sweep_workers=2
    )
    await asyncio.to_thread(migrate, settings)
    clock = ManualClock(FRIDAY_4PM)
    monitor = bootstrap(settings, clock)
    try:
        for _ in range(100):
            async with monitor.sessions.begin() as session:
                await monitor.handlers.handle(session, hot_assignment(uuid.uuid4()))
        clock.set(MONDAY_9AM + 9 * H)  # every step of every ladder is due
        sweeping = asyncio.create_task(monitor.sweep_forever())
        try:
            async with asyncio.timeout(30):
                while True:
                    async with monitor.sessions() as session:
                        pending = await session.scalar(
                            select(func.count()).select_from(tables.timers)
                        )
                    if pending == 0:
                        break
                    await asyncio.sleep(0.05)
        finally:
            sweeping.cancel()
            await asyncio.gather(sweeping, return_exceptions=True)
        async with monitor.sessions() as session:
            ids = (await session.scalars(select(tables.outbox.c.event_id))).all()
    finally:
        await monitor.close()
    assert len(ids) == 100 * 3 and len(set(ids)) == len(ids)


HISTORY_AND_PENDING = (("warn", "skipped"), ("escalate", "fired"), ("recycle", "pending"))


def test_a_make_run_database_of_the_previous_version_keeps_only_its_pending_timers(
    tmp_path: Path,
) -> None:
    database = tmp_path / "sla.db"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = f"sqlite+aiosqlite:///{database}"
    config.attributes["schema"] = tables.SCHEMA
    command.upgrade(config, "0003")
    with sqlite3.connect(database) as connection:
        connection.executemany(
            "INSERT INTO timers (timer_id, obligation_id, step, due_at, state, event_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (uuid.uuid4().hex, "o1", step, "2026-11-23 09:00:00.000000", state, step)
                for step, state in HISTORY_AND_PENDING
            ],
        )
    command.upgrade(config, "head")
    with sqlite3.connect(database) as connection:
        left = connection.execute("SELECT step, event_id FROM timers").fetchall()
        columns = [row[1] for row in connection.execute("PRAGMA table_info(timers)")]
    assert left == [("recycle", "recycle")]
    assert "state" not in columns and "fired_at" not in columns


def activity(lead_id: uuid.UUID, kind: ActivityKind, at: datetime) -> LeadActivityRecorded:
    data = LeadActivityData(activity_id=uuid.uuid4(), lead_id=lead_id, kind=kind, occurred_at=at)
    return LeadActivityRecorded.build(source="urn:test", time=at, data=data)


async def test_the_compliance_report_tells_met_missed_and_on_track_per_rep_and_team(
    on_sqlite: SlaOnSqlite, tmp_path: Path
) -> None:
    prompt, silent, slow, fresh = (uuid.uuid4() for _ in range(4))
    await on_sqlite.handle(
        hot_assignment(prompt),
        hot_assignment(silent),
        hot_assignment(slow, rep="rep-b", team="amer"),
        activity(prompt, "accepted", FRIDAY_4PM + H / 2),  # half an hour: in time
        activity(prompt, "contacted", MONDAY_9AM + H),  # two business hours: in time
        activity(slow, "contacted", MONDAY_9AM + 4 * H),  # five business hours: late
        activity(prompt, "won", MONDAY_9AM + 6 * H),
        activity(slow, "converted", MONDAY_9AM + 6 * H),
        hot_assignment(fresh, rep="rep-b", team="amer", at=MONDAY_9AM + 8.5 * H),
    )
    on_sqlite.clock.set(MONDAY_9AM + 9 * H)  # the silent lead's ladder has run to its recycle
    await on_sqlite.sweep_all()
    clock_file = tmp_path / "clock"
    write_clock_offset(clock_file, MONDAY_9AM + 10 * H - datetime.now(UTC))
    env = {"SLA_DATABASE_URL": on_sqlite.database_url, "SLA_CLOCK_FILE": str(clock_file)}

    def report(*options: str, command: str = "compliance") -> list[dict[str, Any]]:
        result = CliRunner().invoke(
            report_app, [command, "--since", "2026-11-20", "--json", *options], env=env
        )
        assert result.exit_code == 0, result.output
        rows: list[dict[str, Any]] = json.loads(result.output)
        return rows

    by_rep = {(row["group"], row["milestone"]): row for row in await asyncio.to_thread(report)}
    outcomes = ("in_time", "late", "missed", "overdue", "on_track", "closed")
    assert {key: tuple(row[name] for name in outcomes) for key, row in by_rep.items()} == {
        ("(all)", "accept"): (1, 1, 1, 0, 1, 0),
        ("(all)", "first_touch"): (1, 1, 1, 0, 1, 0),
        ("rep-a", "accept"): (1, 0, 1, 0, 0, 0),
        ("rep-a", "first_touch"): (1, 0, 1, 0, 0, 0),
        ("rep-b", "accept"): (0, 1, 0, 0, 1, 0),
        ("rep-b", "first_touch"): (0, 1, 0, 0, 1, 0),
    }
    assert by_rep[("rep-a", "accept")]["compliance"] == 0.5
    assert by_rep[("(all)", "accept")]["median_hours_to_meet"] == 2.75  # half an hour and five
    by_team = await asyncio.to_thread(report, "--by", "team")
    assert [(row["group"], row["milestone"]) for row in by_team][2:] == [
        ("amer", "accept"),
        ("amer", "first_touch"),
        ("emea", "accept"),
        ("emea", "first_touch"),
    ]
    before_monday = await asyncio.to_thread(report, "--until", "2026-11-23")
    assert [row["obligations"] for row in before_monday][:2] == [3, 3]  # without the fresh lead

    # The fresh lead's first touch is still on track: it says nothing about speed yet.
    speed = await asyncio.to_thread(report, command="speed-to-lead")
    assert [(b["bucket"], b["leads"], b["converted"], b["won"]) for b in speed] == [
        ("< 1 h", 0, 0, 0),
        ("1-4 h", 1, 1, 1),
        ("4-24 h", 1, 1, 0),
        ("24-48 h", 0, 0, 0),
        ("48 h or more", 0, 0, 0),
        ("not touched", 1, 0, 0),
    ]
