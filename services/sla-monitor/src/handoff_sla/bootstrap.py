"""SLA monitor's composition root."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from handoff_shared import db
from handoff_shared.clock import Clock, clock_from_settings
from handoff_shared.inbox import Inbox
from handoff_shared.kafka import EventConsumer, KafkaPublisher
from handoff_shared.migrations import upgrade_to_head
from handoff_shared.outbox import Outbox, OutboxRelay
from handoff_shared.topics import LEAD_ACTIVITY, LEAD_ROUTING
from handoff_sla.adapters import tables
from handoff_sla.domain.sla import SlaPolicy
from handoff_sla.handlers import SlaHandlers
from handoff_sla.settings import SlaSettings

MIGRATIONS = Path(__file__).parent / "migrations"
log = structlog.get_logger(__name__)


@dataclass
class SlaMonitor:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    handlers: SlaHandlers
    publisher: KafkaPublisher
    relay: OutboxRelay
    consumer: EventConsumer
    sweep_interval: float

    async def sweep_forever(self) -> None:
        """Fire due ladder steps; loops at once while a sweep finds a full batch (catch-up)."""
        while True:
            try:
                async with self.sessions.begin() as session:
                    fired = await self.handlers.fire_due(session)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweep_failed")
                fired = 0
            if not fired:
                await asyncio.sleep(self.sweep_interval)


def migrate(settings: SlaSettings) -> None:
    upgrade_to_head(settings.database_url, tables.SCHEMA, MIGRATIONS)


def bootstrap(settings: SlaSettings, clock: Clock | None = None) -> SlaMonitor:
    clock = clock or clock_from_settings(settings.clock_file)
    policy = SlaPolicy(
        name=f"first-touch-{settings.escalate_after_hours:g}h-{settings.recycle_after_hours:g}h",
        escalate_after=timedelta(hours=settings.escalate_after_hours),
        recycle_after=timedelta(hours=settings.recycle_after_hours),
    )
    engine = db.create_engine(settings.database_url, tables.SCHEMA)
    sessions = db.session_factory(engine)
    publisher = KafkaPublisher(
        settings.kafka_bootstrap_servers,
        client_id="sla-monitor",
        send_timeout=settings.kafka_send_timeout_seconds,
    )
    handlers = SlaHandlers(Outbox(tables.outbox, clock), clock, policy, settings.sweep_batch_size)
    return SlaMonitor(
        engine=engine,
        sessions=sessions,
        handlers=handlers,
        publisher=publisher,
        relay=OutboxRelay(
            sessions,
            tables.outbox,
            publisher,
            batch_size=settings.outbox_batch_size,
            max_idle_seconds=settings.outbox_max_idle_seconds,
        ),
        consumer=EventConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.consumer_group,
            topics=[LEAD_ROUTING.name, LEAD_ACTIVITY.name],
            handle=handlers.handle,
            sessions=sessions,
            inbox=Inbox(tables.inbox, clock),
            publisher=publisher,
            max_attempts=settings.consumer_max_attempts,
        ),
        sweep_interval=settings.sweep_interval_seconds,
    )
