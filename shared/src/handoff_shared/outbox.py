"""Transactional outbox: events are rows written with the state change; a relay publishes them.

A 2xx or a committed offset therefore never depends on Kafka being up; Kafka being down only
delays events. Delivery is at least once (a crash between send and delete republishes the same
event ids), which consumers absorb through their inbox.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    any_,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_shared.clock import Clock
from handoff_shared.db import UtcDateTime, insert_at_commit, mark_written, on_commit
from handoff_shared.events import CloudEvent
from handoff_shared.kafka import KafkaPublisher, OutgoingRecord
from handoff_shared.metrics import EVENTS_PUBLISHED, OUTBOX_OLDEST_AGE, OUTBOX_PENDING
from handoff_shared.runtime import drain_forever, repeat_forever
from handoff_shared.topics import topic_for
from handoff_shared.tracing import child_traceparent, current_traceparent

OUTBOX_WRITTEN = "handoff.outbox_written"


def outbox_table(metadata: MetaData) -> Table:
    """The outbox table, declared in a service's own metadata (and so its own schema)."""
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("event_id", String(64), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("headers", JSON, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
    )


class Outbox:
    """Writes events into the caller's transaction; nothing leaves before the commit."""

    def __init__(self, table: Table, clock: Clock) -> None:
        self._table = table
        self._clock = clock

    async def add(self, session: AsyncSession, *events: CloudEvent) -> None:
        """Write the events now, inside the caller's transaction."""
        if events:
            mark_written(session, OUTBOX_WRITTEN)
            await session.execute(insert(self._table), [self._row(item) for item in events])

    def add_at_commit(self, session: AsyncSession, *events: CloudEvent) -> None:
        """Write the events with the transaction's other queued rows, just before its commit."""
        for item in events:
            mark_written(session, OUTBOX_WRITTEN)
            insert_at_commit(session, self._table, self._row(item))

    def _row(self, item: CloudEvent) -> dict[str, Any]:
        # The trace is taken now: by the commit, the current trace may be another event's.
        return {
            "event_id": item.id,
            "topic": topic_for(item),
            "key": item.subject,
            "payload": item.to_json(),
            "headers": {
                "traceparent": child_traceparent(current_traceparent.get()),
                "ce_type": item.type,
            },
            "created_at": self._clock.now(),
        }


class OutboxRelay:
    """Publishes committed outbox rows in order, promptly, then deletes them.

    Woken by every commit of the service's sessions, so an event usually leaves within
    milliseconds; a short idle poll catches rows written by other processes.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        publisher: KafkaPublisher,
        *,
        batch_size: int = 500,
        max_idle_seconds: float = 0.25,
    ) -> None:
        self._sessions = sessions
        self._table = table
        self._publisher = publisher
        self._batch_size = batch_size
        self._max_idle = max_idle_seconds
        self._wake = asyncio.Event()
        on_commit(sessions, OUTBOX_WRITTEN, self._wake.set)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled; Kafka or database outages are retried with backoff."""
        await drain_forever(
            self.publish_pending,
            self._wake,
            full_batch=self._batch_size,
            max_idle_seconds=self._max_idle,
            name="outbox-relay",
        )

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        table = self._table
        async with self._sessions() as session, session.begin():
            oldest = select(table.c.id).order_by(table.c.id).limit(self._batch_size)
            taken_ids: ColumnElement[bool] = table.c.id.in_(oldest.scalar_subquery())
            if session.get_bind().dialect.name == "postgresql":
                # The batch's ids are looked up through the primary key, always. Going by
                # statistics taken while the outbox was nearly empty (and kept in the prepared
                # statement's plan), the planner otherwise scanned the whole table for every
                # batch of a burst, at ten times the cost.
                taken_ids = table.c.id == any_(func.array(oldest.scalar_subquery()))
                _, locked = (
                    await session.execute(
                        select(
                            func.set_config("enable_seqscan", "off", True),
                            # One relay at a time per service schema keeps each lead's events in
                            # order across replicas; other services' relays in the same database
                            # go on.
                            func.pg_try_advisory_xact_lock(
                                func.hashtext(func.current_schema() + f".{table.name}")
                            ),
                        )
                    )
                ).one()
                if not locked:
                    return 0
            # Taken out and sent in one transaction: if the send fails, the rows come back.
            taken = await session.execute(
                delete(table)
                .where(taken_ids)
                .returning(table.c.id, table.c.topic, table.c.key, table.c.payload, table.c.headers)
            )
            rows = sorted(taken.all(), key=lambda row: row.id)
            if not rows:
                return 0
            await self._publisher.send_many(
                [
                    OutgoingRecord(
                        topic=row.topic,
                        key=row.key.encode(),
                        value=row.payload,
                        headers=_encode_headers(row.headers),
                    )
                    for row in rows
                ]
            )
        published = Counter((row.topic, row.headers.get("ce_type", "")) for row in rows)
        for (topic, event_type), count in published.items():
            EVENTS_PUBLISHED.labels(topic, event_type).inc(count)
        return len(rows)

    async def report_backlog_forever(self, clock: Clock, every_seconds: float = 5.0) -> None:
        """Keep the backlog gauges (how many events wait, and the oldest one's age) current."""
        table = self._table

        async def read_backlog() -> None:
            async with self._sessions() as session:
                waiting, oldest = (
                    await session.execute(select(func.count(), func.min(table.c.created_at)))
                ).one()
            OUTBOX_PENDING.set(waiting)
            age = 0.0 if oldest is None else (clock.now() - oldest).total_seconds()
            OUTBOX_OLDEST_AGE.set(max(age, 0.0))

        await repeat_forever(read_backlog, every_seconds=every_seconds, name="outbox-backlog")

    async def pending_count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(self._table)) or 0)


def _encode_headers(headers: Any) -> list[tuple[str, bytes]]:
    if isinstance(headers, str):  # some drivers hand JSON back as text
        headers = json.loads(headers)
    return [(name, str(value).encode()) for name, value in headers.items()]
