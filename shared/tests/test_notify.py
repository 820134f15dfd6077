"""Notifications on real PostgreSQL: exactly once per id and channel, retried, signed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from handoff_shared.clock import ManualClock
from handoff_shared.notify import (
    Channel,
    Message,
    NotificationDispatcher,
    Notifier,
    RetryPolicy,
    notifications_table,
    render,
)
from tests.harness import schema_with_tables

metadata = MetaData()
NOTIFICATIONS = notifications_table(metadata)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SLACK = Channel(name="rep-slack", kind="slack", url="http://hooks.test/slack")
CRM = Channel(name="crm", kind="webhook", url="http://crm.test/owner", secret=SECRET)
MESSAGE = Message(
    event_type="lead.assigned",
    title="New lead for you: Ada Lovelace",
    text="Demo request from a 250-person company",
    fields={"Score": "85", "Policy": "v3"},
    payload={"lead_id": "L1", "rep_id": "R1"},
)


def test_slack_messages_carry_the_reasons_and_webhooks_the_payload() -> None:
    slack = render(SLACK, MESSAGE)
    assert slack["text"].startswith("New lead for you: Ada Lovelace")
    assert "*Score:* 85" in json.dumps(slack["blocks"])
    assert render(CRM, MESSAGE) == {
        "type": "lead.assigned",
        "title": MESSAGE.title,
        "data": {"lead_id": "L1", "rep_id": "R1"},
    }


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(first_delay=timedelta(seconds=2), max_delay=timedelta(seconds=60))
    assert timedelta(seconds=1.6) <= policy.delay_after(1) <= timedelta(seconds=2.4)
    assert timedelta(seconds=12.8) <= policy.delay_after(4) <= timedelta(seconds=19.2)
    assert policy.delay_after(20) <= timedelta(seconds=72)


@pytest.fixture
async def sessions(postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with schema_with_tables(postgres_url, metadata, "notify") as sessions:
        yield sessions


@pytest.mark.integration
async def test_each_notification_is_sent_once_per_channel_and_failures_retry_alone(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 9, tzinfo=UTC))
    received: list[httpx.Request] = []
    slack_failures_left = 2

    def endpoint(request: httpx.Request) -> httpx.Response:
        nonlocal slack_failures_left
        received.append(request)
        if request.url.host == "hooks.test" and slack_failures_left:
            slack_failures_left -= 1
            return httpx.Response(503, text="slack is down")
        return httpx.Response(200)

    notifier = Notifier(NOTIFICATIONS, clock)
    for _ in range(2):  # the same event delivered twice
        async with sessions.begin() as session:
            for channel in (SLACK, CRM):
                await notifier.enqueue(
                    session, notification_id="evt-1", channel=channel, message=MESSAGE
                )

    async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as http:
        dispatcher = NotificationDispatcher(
            sessions,
            NOTIFICATIONS,
            http,
            clock,
            {CRM.name: SECRET},
            retry=RetryPolicy(max_attempts=5, first_delay=timedelta(seconds=10)),
        )
        assert await dispatcher.dispatch_due() == 2
        assert await dispatcher.dispatch_due() == 0, "the failed Slack post is not due yet"
        clock.advance(timedelta(seconds=13))
        assert await dispatcher.dispatch_due() == 1
        clock.advance(timedelta(seconds=30))
        assert await dispatcher.dispatch_due() == 1
        clock.advance(timedelta(hours=1))
        assert await dispatcher.dispatch_due() == 0

    crm_posts = [r for r in received if r.url.host == "crm.test"]
    assert len(crm_posts) == 1
    headers = {k: v for k, v in crm_posts[0].headers.items() if k.startswith("webhook-")}
    verified = Webhook(SECRET).verify(crm_posts[0].content, headers)
    assert verified["data"] == {"lead_id": "L1", "rep_id": "R1"}
    assert len([r for r in received if r.url.host == "hooks.test"]) == 3

    async with sessions() as session:
        rows = (
            await session.execute(select(NOTIFICATIONS).order_by(NOTIFICATIONS.c.channel))
        ).all()
    assert [(r.channel, r.status, r.attempts) for r in rows] == [
        ("crm", "delivered", 1),
        ("rep-slack", "delivered", 3),
    ]


@pytest.mark.integration
async def test_a_channel_that_never_answers_is_given_up_and_recorded(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 9, tzinfo=UTC))
    async with sessions.begin() as session:
        await Notifier(NOTIFICATIONS, clock).enqueue(
            session, notification_id="evt-2", channel=SLACK, message=MESSAGE
        )

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        dispatcher = NotificationDispatcher(
            sessions, NOTIFICATIONS, http, clock, {}, retry=RetryPolicy(max_attempts=3)
        )
        for _ in range(3):
            assert await dispatcher.dispatch_due() == 1
            clock.advance(timedelta(hours=1))
        assert await dispatcher.dispatch_due() == 0
    async with sessions() as session:
        row = (await session.execute(select(NOTIFICATIONS))).one()
    assert (row.status, row.attempts) == ("failed", 3)
    assert "connection refused" in row.last_error
