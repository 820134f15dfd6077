"""Kafka down delays events but never fails or loses a webhook; a long backlog sheds load."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from handoff_intake.adapters.tables import leads, outbox

from .conftest import RunningIntake, add_source, delivery, new_email, signed

pytestmark = pytest.mark.integration

UNREACHABLE_BROKER = "127.0.0.1:1"


async def test_with_kafka_down_a_webhook_is_202_stored_and_its_event_kept(
    running_intake: RunningIntake,
) -> None:
    async with running_intake(kafka_bootstrap_servers=UNREACHABLE_BROKER) as (client, runtime):
        source_id = await add_source(client)
        email = new_email()
        body, headers = signed(delivery(email, first="Ann"))
        response = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
        assert response.status_code == 202, response.text
        lead_id = response.json()["leads"][0]["lead_id"]
        async with runtime.sessions() as session:
            assert await session.scalar(select(leads.c.email).where(leads.c.id == lead_id)) == email
            kept = await session.scalar(
                select(func.count()).where(outbox.c.key == lead_id, outbox.c.topic == "lead.intake")
            )
        assert kept == 1


async def test_past_the_backlog_bound_webhooks_get_503_with_retry_after(
    running_intake: RunningIntake,
) -> None:
    async with running_intake(
        kafka_bootstrap_servers=UNREACHABLE_BROKER,
        outbox_backlog_limit=0,
        backlog_refresh_seconds=0.05,
    ) as (client, _):
        source_id = await add_source(client)
        deadline = time.monotonic() + 10
        while True:
            body, headers = signed(delivery(new_email()))
            response = await client.post(f"/webhooks/{source_id}", content=body, headers=headers)
            if response.status_code == 503 or time.monotonic() > deadline:
                break
            assert response.status_code == 202
            await asyncio.sleep(0.05)
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1
