"""Intake's composition root: adapters are built here and handed in, never made at import."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from handoff_intake.adapters import tables
from handoff_intake.adapters.api_keys import KeyStore
from handoff_intake.adapters.guards import BacklogGauge, SourceRateLimiter
from handoff_intake.adapters.secret_box import SecretBox
from handoff_intake.adapters.source_catalog import SourceCatalog, load_sources_file
from handoff_intake.entrypoints.delivery_writer import DeliveryWriter
from handoff_intake.handlers import IntakeHandlers
from handoff_intake.settings import IntakeSettings
from handoff_shared import db
from handoff_shared.clock import Clock, clock_from_settings
from handoff_shared.migrations import upgrade_to_head
from handoff_shared.outbox import Outbox
from handoff_shared.topics import LEAD_ROUTING, LEAD_SLA
from handoff_shared.wiring import Messaging, build_messaging

MIGRATIONS = Path(__file__).parent / "migrations"
log = structlog.get_logger(__name__)


@dataclass
class Intake:
    """Everything the HTTP app and its background tasks need."""

    settings: IntakeSettings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    handlers: IntakeHandlers
    messaging: Messaging
    catalog: SourceCatalog
    keys: KeyStore
    rate_limiter: SourceRateLimiter
    backlog: BacklogGauge
    http: httpx.AsyncClient
    writer: DeliveryWriter

    async def load_sources_file(self) -> None:
        """Write the sources the settings' YAML file lists into the database (file wins)."""
        if self.settings.sources_file is None:
            return
        definitions = load_sources_file(self.settings.sources_file)
        async with self.sessions.begin() as session:
            for definition in definitions:
                await self.catalog.put(session, definition)
        await self.catalog.reload()

    async def seal_source_secrets(self) -> None:
        """Seal with the newest key what is stored in plain text or with an older key.

        Raises SecretsLocked now, at start-up, rather than on every webhook, when a stored
        secret was sealed with a key that is not configured.
        """
        if self.settings.secrets_keys:
            async with self.sessions.begin() as session:
                resealed = await self.catalog.reseal_all(session)
            if resealed:
                log.info("source_secrets_resealed", sources=resealed)
        elif self.settings.environment != "development":
            log.warning("source_secrets_in_plain_text", fix="set INTAKE_SECRETS_KEYS")
        await self.catalog.reload()

    async def close(self) -> None:
        await self.http.aclose()
        await self.messaging.publisher.stop()
        await self.engine.dispose()


def migrate(settings: IntakeSettings) -> None:
    upgrade_to_head(settings.database_url, tables.SCHEMA, MIGRATIONS)


def bootstrap(settings: IntakeSettings, clock: Clock | None = None) -> Intake:
    clock = clock or clock_from_settings(settings.clock_file)
    engine = db.create_engine(
        settings.database_url, tables.SCHEMA, pool_size=settings.database_pool_size
    )
    sessions = db.session_factory(engine)
    handlers = IntakeHandlers(
        Outbox(tables.outbox, clock), clock, timedelta(days=settings.dedup_window_days)
    )
    messaging = build_messaging(
        settings,
        service="intake",
        group_id=settings.consumer_group,
        sessions=sessions,
        outbox_table=tables.outbox,
        inbox_table=tables.inbox,
        clock=clock,
        consumes=[LEAD_ROUTING, LEAD_SLA],
        handle=handlers.apply_downstream_event,
    )
    return Intake(
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=sessions,
        handlers=handlers,
        messaging=messaging,
        catalog=SourceCatalog(
            sessions,
            clock,
            settings.catalog_refresh_seconds,
            SecretBox([key.get_secret_value() for key in settings.secrets_keys]),
        ),
        keys=KeyStore(sessions, settings.api_keys, clock, settings.catalog_refresh_seconds),
        rate_limiter=SourceRateLimiter(settings.source_rate_limit),
        backlog=BacklogGauge(messaging.relay.pending_count, settings.backlog_refresh_seconds),
        http=httpx.AsyncClient(timeout=settings.upstream_timeout_seconds),
        writer=DeliveryWriter(
            sessions,
            handlers,
            max_batch=settings.write_batch_max,
            concurrency=settings.write_concurrency,
        ),
    )
