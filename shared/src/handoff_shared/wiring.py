"""The messaging every service is built from: a publisher, its outbox relay, and a consumer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_shared.clock import Clock
from handoff_shared.inbox import Inbox
from handoff_shared.kafka import BatchPreparer, EventConsumer, EventHandler, KafkaPublisher
from handoff_shared.outbox import OutboxRelay
from handoff_shared.settings import ServiceSettings
from handoff_shared.topics import Topic


@dataclass(frozen=True)
class Messaging:
    """A service's Kafka side: what it publishes (through its outbox) and what it consumes."""

    publisher: KafkaPublisher
    relay: OutboxRelay
    consumer: EventConsumer
    inbox: Inbox
    sessions: async_sessionmaker[AsyncSession]
    inbox_retention: timedelta
    clock: Clock

    async def prune_inbox_forever(self) -> None:
        await self.inbox.prune_forever(self.sessions, self.inbox_retention)

    async def report_backlog_forever(self) -> None:
        await self.relay.report_backlog_forever(self.clock)


def build_messaging(
    settings: ServiceSettings,
    *,
    service: str,
    group_id: str,
    sessions: async_sessionmaker[AsyncSession],
    outbox_table: Table,
    inbox_table: Table,
    clock: Clock,
    consumes: Sequence[Topic],
    handle: EventHandler,
    prepare: BatchPreparer | None = None,
) -> Messaging:
    """Wire a service's publisher, relay and consumer from its settings."""
    inbox = Inbox(inbox_table, clock)
    publisher = KafkaPublisher(
        settings.kafka_bootstrap_servers,
        client_id=service,
        send_timeout=settings.kafka_send_timeout_seconds,
    )
    return Messaging(
        publisher=publisher,
        relay=OutboxRelay(
            sessions,
            outbox_table,
            publisher,
            batch_size=settings.outbox_batch_size,
            max_idle_seconds=settings.outbox_max_idle_seconds,
        ),
        consumer=EventConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=group_id,
            topics=[topic.name for topic in consumes],
            handle=handle,
            sessions=sessions,
            inbox=inbox,
            publisher=publisher,
            max_attempts=settings.consumer_max_attempts,
            prepare=prepare,
        ),
        inbox=inbox,
        sessions=sessions,
        inbox_retention=timedelta(days=settings.inbox_retention_days),
        clock=clock,
    )
