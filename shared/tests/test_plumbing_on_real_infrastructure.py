"""Outbox, relay, inbox and consumer against the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_devstack.kafka import create_topics
from handoff_shared import db
from handoff_shared.clock import ManualClock, SystemClock
from handoff_shared.events import LeadEvent, LeadReceived, LeadSnapshot
from handoff_shared.inbox import Inbox, inbox_table
from handoff_shared.kafka import EventConsumer, KafkaPublisher, OutgoingRecord
from handoff_shared.outbox import Outbox, OutboxRelay, outbox_table
from handoff_shared.tracing import current_traceparent
from tests.harness import TopicReader, of_lead, schema_with_tables

pytestmark = pytest.mark.integration

metadata = MetaData()
OUTBOX = outbox_table(metadata)
INBOX = inbox_table(metadata)
# What a handler changes, in the handler's transaction: the effects a redelivery must not repeat.
EFFECTS = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(64), nullable=False),
)
CLOCK = SystemClock()


@pytest.fixture
async def sessions(postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with schema_with_tables(postgres_url, metadata, "plumbing") as sessions:
        yield sessions


def received(lead_id: uuid.UUID | None = None) -> LeadReceived:
    now = datetime.now(UTC)
    lead = LeadSnapshot(lead_id=lead_id or uuid.uuid4(), email="a@example.com", received_at=now)
    return LeadReceived.build(source="urn:test", time=now, data=lead)


async def test_relay_publishes_committed_events_in_order_and_never_rolled_back_ones(
    kafka_bootstrap: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    lead_id = uuid.uuid4()
    outbox = Outbox(OUTBOX, CLOCK)
    committed = [received(lead_id) for _ in range(20)]
    async with sessions.begin() as session:
        await outbox.add(session, *committed)
    with pytest.raises(RuntimeError):
        async with sessions.begin() as session:
            await outbox.add(session, received(lead_id))
            raise RuntimeError("the state change failed")

    counted = {"topic": "lead.intake", "type": "lead.received"}
    published_before = REGISTRY.get_sample_value("handoff_events_published_total", counted) or 0
    publisher = KafkaPublisher(kafka_bootstrap, client_id="test", send_timeout=10)
    relay = OutboxRelay(sessions, OUTBOX, publisher, batch_size=7)
    try:
        assert await relay.publish_pending() == 7
        assert await relay.publish_pending() == 7
        assert await relay.publish_pending() == 6
        assert await relay.publish_pending() == 0
    finally:
        await publisher.stop()

    async with TopicReader(kafka_bootstrap, "lead.intake") as reader:
        events = await reader.wait_for(
            lambda seen: len(of_lead(seen, str(lead_id))) >= 20, timeout=30, what="our 20 events"
        )
    assert [event["id"] for event in of_lead(events, str(lead_id))] == [e.id for e in committed]
    assert await relay.pending_count() == 0
    published = REGISTRY.get_sample_value("handoff_events_published_total", counted)
    assert published == published_before + 20


async def test_events_wait_in_the_outbox_while_kafka_is_unreachable(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    async with sessions.begin() as session:
        await Outbox(OUTBOX, clock).add(session, received())
    unreachable = KafkaPublisher("127.0.0.1:1", client_id="test", send_timeout=2)
    relay = OutboxRelay(sessions, OUTBOX, unreachable)
    with pytest.raises(Exception, match="Unable to bootstrap"):
        await relay.publish_pending()
    assert await relay.pending_count() == 1

    # Ops see it wait: one event, 90 seconds old.
    clock.set(clock.now() + timedelta(seconds=90))
    reporting = asyncio.create_task(relay.report_backlog_forever(clock, every_seconds=0.05))
    try:
        async with asyncio.timeout(10):
            while REGISTRY.get_sample_value("handoff_outbox_oldest_event_age_seconds") != 90:
                await asyncio.sleep(0.02)
    finally:
        reporting.cancel()
    assert REGISTRY.get_sample_value("handoff_outbox_pending_events") == 1


async def test_consumer_is_idempotent_and_dead_letters_what_it_cannot_process(
    kafka_bootstrap: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    topic, group = f"test.events.{uuid.uuid4().hex[:6]}", f"test-{uuid.uuid4().hex[:6]}"
    await create_topics(kafka_bootstrap, {topic: 1, f"deadletter.{group}": 1})
    good, poison = received(), received()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for payload in (good.to_json(), b"{not an event", good.to_json(), poison.to_json()):
            await producer.send_and_wait(topic, payload, key=b"k")
    finally:
        await producer.stop()

    async def handle(session: AsyncSession, event: LeadEvent) -> None:
        await session.execute(insert(EFFECTS).values(event_id=event.id))
        if event.id == poison.id:
            raise ValueError("this lead breaks the handler")

    publisher = KafkaPublisher(kafka_bootstrap, client_id="test", send_timeout=10)
    consumer = EventConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        topics=[topic],
        handle=handle,
        sessions=sessions,
        inbox=Inbox(INBOX, CLOCK),
        publisher=publisher,
        max_attempts=2,
    )
    task = asyncio.create_task(consumer.run())
    try:
        async with TopicReader(kafka_bootstrap, f"deadletter.{group}") as reader:
            dead = await reader.wait_for(
                lambda seen: len(seen) >= 2, timeout=30, what="2 dead letters"
            )
        async with asyncio.timeout(30):
            while consumer.processed < 2:
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await publisher.stop()

    async with sessions() as session:
        effects = (await session.scalars(select(EFFECTS.c.event_id))).all()
    assert effects == [good.id], "the redelivered event took effect twice, or the poison did"
    errors = sorted(letter["_headers"]["dlq.error"][:30] for letter in dead)
    assert errors[0].startswith("ValueError('this lead breaks")
    assert errors[1].startswith("undecodable event")
    assert {letter["_value"] for letter in dead} == {b"{not an event", poison.to_json()}
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(INBOX)) == 1
    consumed = {
        outcome: REGISTRY.get_sample_value(
            "handoff_events_consumed_total", {"topic": topic, "outcome": outcome}
        )
        for outcome in ("processed", "duplicate", "dead_lettered")
    }
    assert consumed == {"processed": 1, "duplicate": 1, "dead_lettered": 2}


async def test_rows_queued_for_the_commit_keep_their_own_trace_and_vanish_on_rollback(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    outbox = Outbox(OUTBOX, CLOCK)
    first, second, dropped = received(), received(), received()
    traces = {first.id: f"00-{'a' * 32}-{'1' * 16}-01", second.id: f"00-{'b' * 32}-{'2' * 16}-01"}
    async with sessions.begin() as session:
        for event in (first, second):
            current_traceparent.set(traces[event.id])
            outbox.add_at_commit(session, event)
        current_traceparent.set(None)
    with pytest.raises(RuntimeError):
        async with sessions.begin() as session:
            outbox.add_at_commit(session, dropped)
            raise RuntimeError("the state change failed")
    async with sessions.begin() as session:  # a later transaction must not inherit `dropped`
        await session.execute(insert(EFFECTS).values(event_id="unrelated"))

    async with sessions() as session:
        rows = (await session.execute(select(OUTBOX.c.event_id, OUTBOX.c.headers))).all()
    assert {row.event_id for row in rows} == {first.id, second.id}
    for row in rows:
        assert row.headers["traceparent"].split("-")[1] == traces[row.event_id].split("-")[1]


async def test_inbox_claims_each_event_id_once_across_and_within_batches(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    inbox = Inbox(INBOX, CLOCK)
    async with sessions.begin() as session:
        assert await inbox.claim_many(session, [("a", "t"), ("b", "t")]) == {"a", "b"}
    async with sessions.begin() as session:
        assert await inbox.claim_many(session, [("b", "t"), ("c", "t"), ("c", "t")]) == {"c"}


async def test_many_queued_rows_are_copied_with_their_column_types(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    copies: list[int] = []
    copy = db._copy

    async def counted(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
        copies.append(len(rows))
        await copy(session, table, rows)

    monkeypatch.setattr(db, "_copy", counted)
    events = [received() for _ in range(db.COPY_FROM_ROWS + 10)]
    async with sessions.begin() as session:
        Outbox(OUTBOX, CLOCK).add_at_commit(session, *events)
        await db.flush_inserts(session)
    async with sessions() as session:
        rows = (await session.execute(select(OUTBOX).order_by(OUTBOX.c.id))).all()
    assert copies == [len(events)]
    assert [row.payload for row in rows] == [event.to_json() for event in events]
    assert {row.headers["ce_type"] for row in rows} == {"lead.received"}
    assert all(row.created_at.tzinfo is not None for row in rows)


async def test_the_inbox_forgets_ids_older_than_its_retention_in_bounded_deletes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(datetime(2026, 11, 1, tzinfo=UTC))
    inbox = Inbox(INBOX, clock)
    async with sessions.begin() as session:
        await inbox.claim_many(session, [(f"old-{n}", "t") for n in range(5)])
    clock.advance(timedelta(days=31))
    async with sessions.begin() as session:
        await inbox.claim_many(session, [("recent", "t")])
    async with sessions.begin() as session:
        assert await inbox.forget_older_than(session, timedelta(days=30), limit=3) == 3
        assert await inbox.forget_older_than(session, timedelta(days=30), limit=3) == 2
        assert await inbox.forget_older_than(session, timedelta(days=30), limit=3) == 0
    async with sessions() as session:
        assert (await session.scalars(select(INBOX.c.event_id))).all() == ["recent"]


async def test_the_publisher_keeps_each_keys_order_and_the_java_clients_partitions(
    kafka_bootstrap: str,
) -> None:
    topic = f"test.partitions.{uuid.uuid4().hex[:6]}"
    await create_topics(kafka_bootstrap, {topic: 6})
    keys = [f"lead-{n}" for n in range(12)]
    # 4 KB records, 40 per key: more than one batch per partition (a batch holds 256 KB).
    records = [
        OutgoingRecord(topic, key.encode(), json.dumps({"n": n, "pad": "x" * 4000}).encode(), [])
        for n in range(40)
        for key in keys
    ]
    publisher = KafkaPublisher(kafka_bootstrap, client_id="test", send_timeout=10)
    try:
        await publisher.send_many(records)
    finally:
        await publisher.stop()
    async with TopicReader(kafka_bootstrap, topic) as reader:
        seen = await reader.wait_for(lambda got: len(got) >= len(records), 30, "every record")
    for key in keys:
        mine = [event for event in seen if event["_key"] == key]
        assert [event["n"] for event in mine] == list(range(40))
        # Where the Java client (and any other Kafka producer) would put this key.
        assert {event["_partition"] for event in mine} == {(murmur2(key.encode()) & 0x7FFFFFFF) % 6}
