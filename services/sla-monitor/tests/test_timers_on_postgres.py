"""Obligations and durable timers on the real PostgreSQL, migrated with the real migrations."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_shared import db
from handoff_shared.clock import ManualClock
from handoff_shared.events import (
    ActivityKind,
    LeadActivityData,
    LeadActivityRecorded,
    LeadAssigned,
    LeadAssignedData,
    LeadSnapshot,
    Qualification,
    RoutingDecision,
    WorkingHours,
    decode_event,
    deterministic_id,
)
from handoff_shared.notify import Channel, Notifier
from handoff_shared.outbox import Outbox
from handoff_sla.adapters import tables
from handoff_sla.adapters.calendars import load_policy_book
from handoff_sla.announce import Announcer
from handoff_sla.bootstrap import MIGRATIONS
from handoff_sla.handlers import SlaHandlers

pytestmark = pytest.mark.integration

H = timedelta(hours=1)
START = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # Friday 16:00 in New York
CHANNEL = Channel(name="ops", kind="slack", url="http://127.0.0.1:9/hook")


def migrate(url: str, schema: str, revision: str = "head") -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    config.attributes["schema"] = schema
    command.upgrade(config, revision)


@pytest.fixture
async def sessions(postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    schema = f"sla_it_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(migrate, postgres_url, schema)
    engine = db.create_engine(postgres_url, schema)
    yield db.session_factory(engine)
    await engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def monitor(clock: ManualClock, batch_size: int = 1000) -> SlaHandlers:
    return SlaHandlers(
        Outbox(tables.outbox, clock),
        clock,
        load_policy_book(None),
        batch_size,
        Announcer(Notifier(tables.notifications, clock), [CHANNEL]),
    )


def assigned(
    lead_id: uuid.UUID | None = None, at: datetime = START, rep: str = "rep-a", **extra: Any
) -> LeadAssigned:
    lead_id = lead_id or uuid.uuid4()
    data = LeadAssignedData(
        assignment_id=uuid.uuid4(),
        lead_id=lead_id,
        rep_id=rep,
        rep_name=rep.title(),
        manager="manager-m",
        team="emea",
        assigned_at=at,
        qualification=Qualification(
            policy_version="p1", score=80, threshold=50, is_mql=True, rules_fired=[]
        ),
        routing=RoutingDecision(rule="round_robin", team="emea", candidates=[rep]),
        lead=LeadSnapshot(lead_id=lead_id, email="a@example.com", received_at=at),
        **extra,
    )
    return LeadAssigned.build(source="urn:test", time=at, data=data)


def activity(
    lead_id: uuid.UUID, kind: ActivityKind, at: datetime, rep: str | None = None
) -> LeadActivityRecorded:
    data = LeadActivityData(
        activity_id=uuid.uuid4(),
        lead_id=lead_id,
        kind=kind,
        occurred_at=at,
        rep_id=rep,
    )
    return LeadActivityRecorded.build(source="urn:test", time=at, data=data)


async def handle(sessions: async_sessionmaker[AsyncSession], sla: SlaHandlers, event: Any) -> None:
    async with sessions.begin() as session:
        await sla.handle(session, event)


async def sweep(sessions: async_sessionmaker[AsyncSession], sla: SlaHandlers) -> int:
    total = 0
    while True:
        async with sessions.begin() as session:
            taken = await sla.fire_due(session)
        total += taken
        if not taken:
            return total


async def published(sessions: async_sessionmaker[AsyncSession]) -> list[Any]:
    async with sessions() as session:
        payloads = await session.scalars(select(tables.outbox.c.payload).order_by("id"))
        return [decode_event(payload) for payload in payloads]


async def obligations_of(
    sessions: async_sessionmaker[AsyncSession], lead_id: uuid.UUID
) -> dict[str, Any]:
    async with sessions() as session:
        rows = await session.execute(
            select(tables.obligations)
            .where(tables.obligations.c.lead_id == lead_id)
            .order_by(tables.obligations.c.assigned_at)
        )
        return {f"{row.milestone}@{row.rep_id}": row for row in rows}


async def test_hot_lead_in_new_york_walks_its_business_hour_ladder(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    sla = monitor(clock)
    lead = uuid.uuid4()
    event = assigned(
        lead,
        priority="high",
        rep_time_zone="America/New_York",
        rep_country="US",
        rep_working_hours=WorkingHours(days=[0, 1, 2, 3, 4], start=time(9), end=time(17)),
    )
    await handle(sessions, sla, event)
    await handle(sessions, sla, event)  # redelivered without the inbox: still one obligation

    rows = await obligations_of(sessions, lead)
    assert set(rows) == {"accept@rep-a", "first_touch@rep-a"}
    assert rows["accept@rep-a"].escalate_at == START + H  # 17:00 Friday
    assert rows["first_touch@rep-a"].escalate_at == datetime(2026, 11, 23, 17, 0, tzinfo=UTC)

    clock.set(START + 50 * timedelta(minutes=1))
    assert await sweep(sessions, sla) == 1  # the accept warning, 15 minutes before 17:00
    clock.set(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))  # Monday 09:00, long after Friday 17:00
    await sweep(sessions, sla)
    await handle(sessions, sla, activity(lead, "contacted", clock.now()))
    clock.advance(10 * 24 * H)
    await sweep(sessions, sla)

    events = await published(sessions)
    assert [(e.type, e.data.milestone) for e in events[:2]] == [
        ("lead.sla.warned", "accept"),
        ("lead.sla.escalated", "accept"),
    ]
    met = {e.data.milestone: e.data for e in events[2:] if e.type == "lead.sla.met"}
    assert len(events) == 4 and set(met) == {"accept", "first_touch"}
    late_accept, touch = met["accept"], met["first_touch"]
    assert not late_accept.within_target
    assert touch.within_target and touch.clock == "business"
    assert touch.counted_seconds == (1 * H).total_seconds()  # Friday 16-17
    assert touch.paused_seconds == (64 * H).total_seconds()  # Friday 17:00 to Monday 09:00
    rows = await obligations_of(sessions, lead)
    assert rows["accept@rep-a"].within_target is False
    assert rows["first_touch@rep-a"].state == "met"
    async with sessions() as session:
        notified = await session.scalar(select(func.count()).select_from(tables.notifications))
    assert notified == 2  # the warning and the escalation, once each


async def test_concurrent_sweepers_fire_every_step_exactly_once(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    leads = [uuid.uuid4() for _ in range(300)]
    sla = monitor(clock)
    for index, lead in enumerate(leads):
        await handle(sessions, sla, assigned(lead, at=START + index * timedelta(seconds=1)))

    sweepers = [monitor(clock, batch_size=17) for _ in range(4)]
    clock.set(START + 41 * H)
    fired_warnings = await asyncio.gather(*(sweep(sessions, s) for s in sweepers))
    assert sum(fired_warnings) == 300
    clock.set(START + 80 * H)
    await asyncio.gather(*(sweep(sessions, s) for s in sweepers))

    events = await published(sessions)
    assert len({e.id for e in events}) == len(events)
    assert all(
        e.id == deterministic_id("sla", e.data.obligation_id, e.type.rsplit(".", 1)[1])
        for e in events
    )
    per_step = Counter((e.data.obligation_id, e.type) for e in events)
    assert set(per_step.values()) == {1}
    assert Counter(e.type for e in events) == {
        "lead.sla.warned": 300,
        "lead.sla.escalated": 300,
        "lead.sla.recycled": 300,
    }
    for lead in leads:
        assert [e.type for e in events if e.data.lead_id == lead] == [
            "lead.sla.warned",
            "lead.sla.escalated",
            "lead.sla.recycled",
        ]
    async with sessions() as session:
        left = await session.scalar(select(func.count()).select_from(tables.timers))
    assert left == 0, "a fired or skipped timer is deleted with its step"


async def test_overlapping_sweeps_of_one_monitor_keep_each_leads_ladder_in_order(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    sla = monitor(clock, batch_size=7)
    leads = [uuid.uuid4() for _ in range(60)]
    for index, lead in enumerate(leads):
        await handle(sessions, sla, assigned(lead, at=START + index * timedelta(minutes=1)))
    clock.set(START + 200 * H)  # every step overdue: escalations and recycles in the same sweep

    taken = await asyncio.gather(*(sweep(sessions, sla) for _ in range(4)))

    assert sum(taken) == 180
    events = await published(sessions)
    assert len({e.id for e in events}) == len(events) == 120
    for lead in leads:
        assert [e.type for e in events if e.data.lead_id == lead] == [
            "lead.sla.escalated",
            "lead.sla.recycled",
        ]


async def test_after_downtime_overdue_steps_fire_at_once_in_due_order(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    sla = monitor(clock, batch_size=5)
    for hours_later in (7, 3, 11, 0, 5):
        await handle(sessions, sla, assigned(at=START + hours_later * H))
    clock.set(START + 200 * H)
    assert await sweep(sessions, sla) == 15  # three steps each, warnings taken and skipped

    events = await published(sessions)
    assert [e.type for e in events] == ["lead.sla.escalated"] * 5 + ["lead.sla.recycled"] * 5
    assert [e.data.due_at for e in events] == sorted(e.data.due_at for e in events)
    assert all(e.data.fired_at == START + 200 * H for e in events)


async def test_reassignment_rejection_and_activity_after_a_recycle(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    sla = monitor(clock)
    lead = uuid.uuid4()
    await handle(sessions, sla, assigned(lead, rep="rep-a"))
    await handle(sessions, sla, activity(lead, "rejected", START + H, rep="rep-a"))
    await handle(sessions, sla, assigned(lead, at=START + 2 * H, rep="rep-b"))
    # rep-a's late call does not count for rep-b's obligation.
    await handle(sessions, sla, activity(lead, "contacted", START + 3 * H, rep="rep-a"))
    clock.set(START + 100 * H)
    await sweep(sessions, sla)
    await handle(sessions, sla, activity(lead, "contacted", START + 101 * H, rep="rep-b"))
    # An older assignment arriving late is ignored.
    await handle(sessions, sla, assigned(lead, at=START - H, rep="rep-c"))

    rows = await obligations_of(sessions, lead)
    assert set(rows) == {"first_touch@rep-a", "first_touch@rep-b"}
    assert rows["first_touch@rep-a"].state == "closed"
    assert rows["first_touch@rep-a"].closed_reason.startswith("rejected")
    assert rows["first_touch@rep-b"].state == "recycled"
    events = await published(sessions)
    assert [(e.type, e.data.rep_id) for e in events] == [
        ("lead.sla.escalated", "rep-b"),
        ("lead.sla.recycled", "rep-b"),
    ]
    assert events[1].data.recycle_to == "nurture"


async def test_activity_seen_before_its_assignment_still_meets_the_milestone(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    sla = monitor(clock)
    lead = uuid.uuid4()
    touch = activity(lead, "meeting_booked", START + H)
    await handle(sessions, sla, touch)
    await handle(sessions, sla, touch)
    await handle(sessions, sla, assigned(lead))
    clock.set(START + 100 * H)
    assert await sweep(sessions, sla) == 3  # all three timers taken, none fired
    events = await published(sessions)
    assert [(e.type, e.data.within_target) for e in events] == [("lead.sla.met", True)]
    assert events[0].data.elapsed_seconds == H.total_seconds()


async def test_open_obligations_of_the_first_schema_keep_their_timers(postgres_url: str) -> None:
    schema = f"sla_it_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(migrate, postgres_url, schema, "0001")
    engine = db.create_engine(postgres_url, schema)
    obligation = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO obligations (obligation_id, assignment_id, lead_id, rep_id, manager,"
                " milestone, policy, state, assigned_at, escalate_at, recycle_at) VALUES"
                " (:id, :id, :id, 'rep-a', 'm', 'first_touch', 'first-touch-48h-72h', 'escalated',"
                " :at, :esc, :rec)"
            ),
            {"id": obligation, "at": START, "esc": START + 48 * H, "rec": START + 72 * H},
        )
    await asyncio.to_thread(migrate, postgres_url, schema)
    async with engine.connect() as connection:
        timers = (await connection.execute(text("SELECT step, due_at, event_id FROM timers"))).all()
        clock_kind = await connection.scalar(text("SELECT clock FROM obligations"))
    await engine.dispose()
    assert [(t.step, t.due_at) for t in timers] == [("recycle", START + 72 * H)]
    assert timers[0].event_id == deterministic_id("sla", obligation, "recycled")
    assert clock_kind == "calendar"


async def test_the_timer_history_of_earlier_versions_is_dropped_and_pending_timers_kept(
    postgres_url: str,
) -> None:
    schema = f"sla_it_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(migrate, postgres_url, schema, "0003")
    engine = db.create_engine(postgres_url, schema)
    obligation = uuid.uuid4()
    async with engine.begin() as connection:
        for step, state in (("warn", "skipped"), ("escalate", "fired"), ("recycle", "pending")):
            await connection.execute(
                text(
                    "INSERT INTO timers (timer_id, obligation_id, step, due_at, state, event_id)"
                    " VALUES (:timer, :obligation, :step, :due, :state, :event)"
                ),
                {
                    "timer": uuid.uuid4(),
                    "obligation": obligation,
                    "step": step,
                    "due": START,
                    "state": state,
                    "event": step,
                },
            )
    await asyncio.to_thread(migrate, postgres_url, schema)
    async with engine.connect() as connection:
        steps = (await connection.scalars(text("SELECT step FROM timers"))).all()
        options = await connection.scalar(
            text("SELECT reloptions FROM pg_class WHERE oid = 'obligations'::regclass")
        )
    await engine.dispose()
    assert steps == ["recycle"]
    assert options == ["fillfactor=50"]


async def test_a_second_instance_never_fires_a_later_step_while_an_earlier_one_is_claimed(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    first, second = monitor(clock), monitor(clock)  # two processes: no shared claiming lock
    lead_id = uuid.uuid4()
    await handle(sessions, first, assigned(lead_id))
    clock.set(START + 200 * H)  # warning, escalation and recycle all overdue

    async with sessions.begin() as claiming:
        assert await first.fire_due(claiming) == 1  # the warning, skipped as late
        async with sessions.begin() as meanwhile:
            taken = await asyncio.wait_for(second.fire_due(meanwhile), timeout=10)
        assert taken == 0, "a later step was taken while an earlier one was still uncommitted"
    assert await sweep(sessions, second) == 2

    events = [e for e in await published(sessions) if e.subject == str(lead_id)]
    assert [e.type for e in events] == ["lead.sla.escalated", "lead.sla.recycled"]


async def test_overdue_steps_are_counted_with_the_lateness_of_the_oldest(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    sla = monitor(clock)
    await handle(sessions, sla, assigned(uuid.uuid4()))
    async with sessions() as session:
        first, second, *_ = sorted((await session.scalars(select(tables.timers.c.due_at))).all())
    assert second > first + timedelta(minutes=30)
    clock.set(first + timedelta(minutes=30))  # only the first step is due
    async with sessions() as session:
        assert await sla.overdue(session) == (1, timedelta(minutes=30))
    assert await sweep(sessions, sla) == 1
    async with sessions() as session:
        assert await sla.overdue(session) == (0, timedelta(0))
