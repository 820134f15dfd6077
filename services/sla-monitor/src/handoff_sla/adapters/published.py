"""Closing the outbox's crash window at start-up.

The relay deletes rows only after Kafka acknowledged them, so a kill between the two leaves rows
that are already on the topic, and a plain restart would publish those ladder steps a second
time. Before the relay starts, the tail of each topic is read back and every outbox row whose
event id is already there is deleted, so each step appears on the topic once.
"""

from __future__ import annotations

import asyncio
import json

import structlog
from aiokafka import AIOKafkaConsumer
from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_shared.kafka import topic_partitions

log = structlog.get_logger(__name__)


async def forget_already_published(
    sessions: async_sessionmaker[AsyncSession],
    outbox: Table,
    bootstrap_servers: str,
    *,
    tail: int,
    timeout: float = 30.0,
) -> int:
    """Delete outbox rows found among the last `tail` records of their topics' partitions."""
    async with sessions() as session:
        pending = (await session.execute(select(outbox.c.event_id, outbox.c.topic))).all()
    if not pending:
        return 0
    topics = sorted({row.topic for row in pending})
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
    # lands as its timeout fires, and a stop during start-up would then be lost.
    async with asyncio.timeout(timeout):
        seen = await _tail_event_ids(bootstrap_servers, topics, tail)
    already = [row.event_id for row in pending if row.event_id in seen]
    if already:
        async with sessions.begin() as session:
            await session.execute(delete(outbox).where(outbox.c.event_id.in_(already)))
        log.info("outbox_already_published_forgotten", count=len(already))
    return len(already)


async def _tail_event_ids(bootstrap_servers: str, topics: list[str], tail: int) -> set[str]:
    partitions = [
        partition
        for topic in topics
        for partition in await topic_partitions(bootstrap_servers, topic)
    ]
    if not partitions:
        return set()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        remaining = {}
        for partition in partitions:
            begin = max(starts[partition], ends[partition] - tail)
            if begin < ends[partition]:
                consumer.seek(partition, begin)
                remaining[partition] = ends[partition]
        ids: set[str] = set()
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for partition, records in batches.items():
                for record in records:
                    ids.add(_event_id(record.value))
                    if record.offset + 1 >= remaining.get(partition, 0):
                        remaining.pop(partition, None)
        return ids
    finally:
        await consumer.stop()


def _event_id(value: bytes | None) -> str:
    try:
        return str(json.loads(value or b"{}").get("id", ""))
    except (ValueError, AttributeError):
        return ""
