"""`make run` keeps the SLA monitor's state in SQLite: a ladder walks there as on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select

from handoff_shared import db
from handoff_shared.clock import ManualClock
from handoff_shared.events import (
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
from handoff_sla.settings import SlaSettings

FRIDAY_4PM = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
MONDAY_9AM = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def hot_assignment(lead_id: uuid.UUID) -> LeadAssigned:
    data = LeadAssignedData(
        assignment_id=uuid.uuid4(),
        lead_id=lead_id,
        rep_id="rep-a",
        rep_name="Rep A",
        manager="manager-m",
        team="emea",
        assigned_at=FRIDAY_4PM,
        qualification=Qualification(
            policy_version="p1", score=90, threshold=50, is_mql=True, rules_fired=[]
        ),
        routing=RoutingDecision(rule="round_robin", team="emea", candidates=["rep-a"]),
        lead=LeadSnapshot(lead_id=lead_id, email="a@example.com", received_at=FRIDAY_4PM),
        priority="high",
    )
    return LeadAssigned.build(source="urn:test", time=FRIDAY_4PM, data=data)


async def test_a_business_hour_ladder_walks_on_sqlite(tmp_path: Path) -> None:
    settings = SlaSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'sla.db'}")
    await asyncio.to_thread(migrate, settings)
    engine = db.create_engine(settings.database_url, tables.SCHEMA)
    sessions = db.session_factory(engine)
    clock = ManualClock(FRIDAY_4PM)
    sla = SlaHandlers(Outbox(tables.outbox, clock), clock, load_policy_book(None), batch_size=10)
    leads = [uuid.uuid4() for _ in range(3)]
    try:
        for lead in leads:
            async with sessions.begin() as session:
                await sla.handle(session, hot_assignment(lead))
        # Monday 14:00: both escalations overdue (the warnings skipped as late); 18:00: recycle.
        for now in (MONDAY_9AM + 5 * H, MONDAY_9AM + 9 * H):
            clock.set(now)
            while True:
                async with sessions.begin() as session:
                    if not await sla.fire_due(session):
                        break
        async with sessions() as session:
            payloads = await session.scalars(select(tables.outbox.c.payload).order_by("id"))
            events = [decode_event(payload) for payload in payloads]
            obligations = {
                (row.lead_id, row.milestone): row
                for row in await session.execute(select(tables.obligations))
            }
    finally:
        await engine.dispose()

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
