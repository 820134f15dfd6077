"""Outbox rows already on the topic (a kill between send and delete) are not published again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_shared import db
from handoff_shared.clock import SystemClock
from handoff_shared.events import LeadReceived, LeadSnapshot
from handoff_shared.kafka import KafkaPublisher, OutgoingRecord
from handoff_shared.migrations import upgrade_to_head
from handoff_shared.outbox import Outbox
from handoff_sla.adapters import tables
from handoff_sla.adapters.published import forget_already_published
from handoff_sla.bootstrap import MIGRATIONS

pytestmark = pytest.mark.integration


@pytest.fixture
async def sessions(postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    schema = f"sla_it_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(upgrade_to_head, postgres_url, schema, MIGRATIONS)
    engine = db.create_engine(postgres_url, schema)
    yield db.session_factory(engine)
    await engine.dispose()


def received() -> LeadReceived:
    now = datetime.now(UTC)
    lead = LeadSnapshot(lead_id=uuid.uuid4(), email="a@example.com", received_at=now)
    return LeadReceived.build(source="urn:test", time=now, data=lead)


async def test_rows_already_on_the_topic_are_forgotten_and_the_others_kept(
    kafka_bootstrap: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sent, unsent = [received() for _ in range(3)], [received() for _ in range(2)]
    async with sessions.begin() as session:
        await Outbox(tables.outbox, SystemClock()).add(session, *sent, *unsent)
    publisher = KafkaPublisher(kafka_bootstrap, client_id="test", send_timeout=10)
    try:
        await publisher.send_many(
            [
                OutgoingRecord("lead.intake", e.subject.encode(), e.to_json(), headers=[])
                for e in sent
            ]
        )
    finally:
        await publisher.stop()

    forgotten = await forget_already_published(sessions, tables.outbox, kafka_bootstrap, tail=500)

    async with sessions() as session:
        left = set(await session.scalars(select(tables.outbox.c.event_id)))
    assert forgotten == 3
    assert left == {e.id for e in unsent}
