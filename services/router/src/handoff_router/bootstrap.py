"""Router's composition root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from handoff_router.adapters import tables
from handoff_router.adapters.config_files import load_policy, load_roster
from handoff_router.handlers import RouterHandlers, sync_roster
from handoff_router.settings import RouterSettings
from handoff_shared import db
from handoff_shared.clock import Clock, clock_from_settings
from handoff_shared.inbox import Inbox
from handoff_shared.kafka import EventConsumer, KafkaPublisher
from handoff_shared.migrations import upgrade_to_head
from handoff_shared.outbox import Outbox, OutboxRelay
from handoff_shared.topics import LEAD_ACTIVITY, LEAD_INTAKE, LEAD_SLA

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Router:
    engine: AsyncEngine
    publisher: KafkaPublisher
    relay: OutboxRelay
    consumer: EventConsumer


def migrate(settings: RouterSettings) -> None:
    upgrade_to_head(settings.database_url, tables.SCHEMA, MIGRATIONS)


async def bootstrap(settings: RouterSettings, clock: Clock | None = None) -> Router:
    """Build the router and bring its reps table in line with the roster file."""
    clock = clock or clock_from_settings(settings.clock_file)
    policy = load_policy(settings.policy_file)
    engine = db.create_engine(settings.database_url, tables.SCHEMA)
    sessions = db.session_factory(engine)
    async with sessions.begin() as session:
        await sync_roster(session, load_roster(settings.roster_file))
    publisher = KafkaPublisher(
        settings.kafka_bootstrap_servers,
        client_id="router",
        send_timeout=settings.kafka_send_timeout_seconds,
    )
    handlers = RouterHandlers(Outbox(tables.outbox, clock), clock, policy)
    return Router(
        engine=engine,
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
            topics=[LEAD_INTAKE.name, LEAD_ACTIVITY.name, LEAD_SLA.name],
            handle=handlers.handle,
            sessions=sessions,
            inbox=Inbox(tables.inbox, clock),
            publisher=publisher,
            max_attempts=settings.consumer_max_attempts,
        ),
    )
