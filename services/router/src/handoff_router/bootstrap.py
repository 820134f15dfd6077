"""Router's composition root."""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from handoff_router import admin
from handoff_router.adapters import tables
from handoff_router.adapters.config_files import email_domain_lists, load_roster
from handoff_router.adapters.config_store import ConfigStore
from handoff_router.handlers import Channels, RouterHandlers
from handoff_router.settings import RouterSettings
from handoff_shared import db
from handoff_shared.clock import Clock, clock_from_settings
from handoff_shared.kafka import EventConsumer, KafkaPublisher
from handoff_shared.migrations import upgrade_to_head
from handoff_shared.notify import NotificationDispatcher, Notifier
from handoff_shared.outbox import Outbox, OutboxRelay
from handoff_shared.topics import LEAD_ACTIVITY, LEAD_INTAKE, LEAD_SLA
from handoff_shared.wiring import Messaging, build_messaging

MIGRATIONS = Path(__file__).parent / "migrations"
SEED_LOCK_KEY = zlib.crc32(b"router:seed")
log = structlog.get_logger(__name__)


@dataclass
class Router:
    """Everything a running router holds."""

    settings: RouterSettings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    config: ConfigStore
    handlers: RouterHandlers
    publisher: KafkaPublisher
    relay: OutboxRelay
    consumer: EventConsumer
    messaging: Messaging
    dispatcher: NotificationDispatcher
    http: httpx.AsyncClient

    async def retry_queue_forever(self) -> None:
        """Offer parked leads to reps again, every `queue_retry_seconds`."""
        while True:
            await asyncio.sleep(self.settings.queue_retry_seconds)
            try:
                async with self.sessions.begin() as session:
                    assigned = await self.handlers.retry_queued(session)
                if assigned:
                    log.info("queued_leads_assigned", count=assigned)
            except Exception:
                log.exception("queue_retry_failed")

    async def close(self) -> None:
        await self.publisher.stop()
        await self.http.aclose()
        await self.engine.dispose()


def migrate(settings: RouterSettings) -> None:
    upgrade_to_head(settings.database_url, tables.SCHEMA, MIGRATIONS)


async def bootstrap(settings: RouterSettings, clock: Clock | None = None) -> Router:
    """Build the router; seed its policy and roster from files where the database has none."""
    clock = clock or clock_from_settings(settings.clock_file)
    engine = db.create_engine(settings.database_url, tables.SCHEMA)
    sessions = db.session_factory(engine)
    async with sessions.begin() as session:
        if db.is_postgres(settings.database_url):
            # Instances starting together would race to insert the same seed rows.
            await session.execute(select(func.pg_advisory_xact_lock(SEED_LOCK_KEY)))
        await admin.seed_policy(session, settings.policy_file.read_text(encoding="utf-8"), clock)
        await admin.seed_roster(session, load_roster(settings.roster_file))
    config = ConfigStore(sessions, refresh_seconds=settings.config_refresh_seconds)
    all_channels = [
        *settings.notify_channels,
        *settings.nurture_channels,
        *settings.alert_channels,
    ]
    handlers = RouterHandlers(
        Outbox(tables.outbox, clock),
        clock,
        config,
        email_domain_lists(),
        Notifier(tables.notifications, clock),
        Channels(
            assignment=settings.notify_channels,
            nurture=settings.nurture_channels,
            alert=settings.alert_channels,
        ),
    )
    http = httpx.AsyncClient(timeout=10)
    messaging = build_messaging(
        settings,
        service="router",
        group_id=settings.consumer_group,
        sessions=sessions,
        outbox_table=tables.outbox,
        inbox_table=tables.inbox,
        clock=clock,
        consumes=[LEAD_INTAKE, LEAD_ACTIVITY, LEAD_SLA],
        handle=handlers.handle,
        prepare=handlers.prepare,
    )
    return Router(
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=sessions,
        config=config,
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
            {c.name: c.secret for c in all_channels if c.secret},
        ),
        http=http,
    )
