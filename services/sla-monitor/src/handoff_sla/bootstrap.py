"""SLA monitor's composition root."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from handoff_shared import db
from handoff_shared.clock import Clock, clock_from_settings
from handoff_shared.kafka import EventConsumer, KafkaPublisher
from handoff_shared.migrations import upgrade_to_head
from handoff_shared.notify import NotificationDispatcher, Notifier
from handoff_shared.outbox import Outbox, OutboxRelay
from handoff_shared.runtime import repeat_forever
from handoff_shared.topics import LEAD_ACTIVITY, LEAD_ROUTING
from handoff_shared.wiring import Messaging, build_messaging
from handoff_sla.adapters import tables
from handoff_sla.adapters.calendars import load_policy_book
from handoff_sla.announce import Announcer
from handoff_sla.handlers import SlaHandlers
from handoff_sla.metrics import OLDEST_OVERDUE, TIMERS_OVERDUE
from handoff_sla.settings import SlaSettings

MIGRATIONS = Path(__file__).parent / "migrations"
# The shortest nap between sweeps, so instances contending for the same due rows do not spin.
MIN_SWEEP_NAP_SECONDS = 0.02
log = structlog.get_logger(__name__)


@dataclass
class SlaMonitor:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    handlers: SlaHandlers
    publisher: KafkaPublisher
    relay: OutboxRelay
    consumer: EventConsumer
    messaging: Messaging
    dispatcher: NotificationDispatcher
    http: httpx.AsyncClient
    sweep_interval: float
    sweep_batch_size: int
    sweep_workers: int

    async def sweep_once(self) -> int:
        """One sweep in its own transaction; returns how many timers it took."""
        async with self.sessions.begin() as session:
            return await self.handlers.fire_due(session)

    async def sweep_forever(self) -> None:
        """Run the sweep workers: while one writes and commits its batch, the next claims."""
        async with asyncio.TaskGroup() as workers:
            for _ in range(self.sweep_workers):
                workers.create_task(self._sweep_worker())

    async def _sweep_worker(self) -> None:
        """Fire due ladder steps: at once again after a full batch (catch-up after downtime),
        else nap until the next timer is due, at most the sweep interval."""
        while True:
            try:
                taken = await self.sweep_once()
                if taken >= self.sweep_batch_size:
                    continue
                async with self.sessions() as session:
                    next_due = await self.handlers.next_due_in(session)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweep_failed")
                next_due = None
            nap = self.sweep_interval
            if next_due is not None:
                nap = min(nap, max(next_due.total_seconds(), MIN_SWEEP_NAP_SECONDS))
            await asyncio.sleep(nap)

    async def report_overdue_forever(self, every_seconds: float = 5.0) -> None:
        """Keep the overdue-timer gauges current."""

        async def read_overdue() -> None:
            async with self.sessions() as session:
                count, lateness = await self.handlers.overdue(session)
            TIMERS_OVERDUE.set(count)
            OLDEST_OVERDUE.set(lateness.total_seconds())

        await repeat_forever(read_overdue, every_seconds=every_seconds, name="overdue-timers")

    async def close(self) -> None:
        await self.publisher.stop()
        await self.http.aclose()
        await self.engine.dispose()


def migrate(settings: SlaSettings) -> None:
    upgrade_to_head(settings.database_url, tables.SCHEMA, MIGRATIONS)


def bootstrap(settings: SlaSettings, clock: Clock | None = None) -> SlaMonitor:
    clock = clock or clock_from_settings(settings.clock_file)
    policies = load_policy_book(settings.policy_file)
    engine = db.create_engine(settings.database_url, tables.SCHEMA)
    sessions = db.session_factory(engine)
    channels = settings.notify_channels
    announcer = Announcer(Notifier(tables.notifications, clock), channels)
    handlers = SlaHandlers(
        Outbox(tables.outbox, clock), clock, policies, settings.sweep_batch_size, announcer
    )
    http = httpx.AsyncClient(timeout=10)
    messaging = build_messaging(
        settings,
        service="sla-monitor",
        group_id=settings.consumer_group,
        sessions=sessions,
        outbox_table=tables.outbox,
        inbox_table=tables.inbox,
        clock=clock,
        consumes=[LEAD_ROUTING, LEAD_ACTIVITY],
        handle=handlers.handle,
    )
    return SlaMonitor(
        engine=engine,
        sessions=sessions,
        handlers=handlers,
        publisher=messaging.publisher,
        relay=messaging.relay,
        consumer=messaging.consumer,
        messaging=messaging,
        dispatcher=NotificationDispatcher(
            sessions,
            tables.notifications,
            http,
            clock,
            {c.name: c.secret for c in channels if c.secret},
        ),
        http=http,
        sweep_interval=settings.sweep_interval_seconds,
        sweep_batch_size=settings.sweep_batch_size,
        # SQLite has no row locks to skip: two sweepers would read and fire the same timers.
        sweep_workers=settings.sweep_workers if db.is_postgres(settings.database_url) else 1,
    )
