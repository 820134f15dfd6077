"""Outbound notifications: Slack-compatible and signed JSON webhooks, retried, exactly once.

A notification is a row written in the same transaction as the decision it announces, keyed by
(notification id, channel), so a redelivered event never notifies twice. A dispatcher leases due
rows, sends them, and records every outcome; a failing channel only delays its own rows.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from handoff_shared.clock import Clock, SystemClock
from handoff_shared.db import (
    UtcDateTime,
    insert_at_commit,
    insert_ignoring_conflicts,
    mark_written,
    on_commit,
)
from handoff_shared.runtime import drain_forever

log = structlog.get_logger(__name__)

ChannelKind = Literal["slack", "webhook"]
NOTIFICATIONS_WRITTEN = "handoff.notifications_written"


class Channel(BaseModel):
    """Where notifications go: a Slack-compatible incoming webhook or a signed JSON webhook.

    Services read lists of these from settings, e.g. `[{"name", "kind", "url", "secret"}]`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kind: ChannelKind
    url: str = Field(pattern=r"^https?://")
    secret: str | None = Field(default=None, repr=False)


@dataclass(frozen=True)
class Message:
    """What to say: a title and text for people, fields for context, a payload for machines."""

    event_type: str
    title: str
    text: str
    fields: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)


def notifications_table(metadata: MetaData) -> Table:
    """The notifications table, declared in a service's own metadata."""
    return Table(
        "notifications",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("notification_id", String(64), nullable=False),
        Column("channel", String(100), nullable=False),
        Column("kind", String(16), nullable=False),
        Column("url", Text, nullable=False),
        Column("event_type", String(64), nullable=False),
        Column("body", JSON, nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("next_attempt_at", UtcDateTime, nullable=False),
        Column("last_error", Text),
        Column("created_at", UtcDateTime, nullable=False),
        Column("delivered_at", UtcDateTime),
        UniqueConstraint("notification_id", "channel", name="uq_notifications_id_channel"),
        Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
    )


def render(channel: Channel, message: Message) -> dict[str, Any]:
    """The JSON body a channel receives."""
    if channel.kind == "slack":
        context = "\n".join(f"*{name}:* {value}" for name, value in message.fields.items())
        return {
            "text": f"{message.title}\n{message.text}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": message.text[:3000]}},
                *(
                    [{"type": "section", "text": {"type": "mrkdwn", "text": context[:3000]}}]
                    if context
                    else []
                ),
            ],
        }
    return {"type": message.event_type, "title": message.title, "data": message.payload}


class Notifier:
    """Queues notifications inside the caller's transaction."""

    def __init__(self, table: Table, clock: Clock) -> None:
        self._table = table
        self._clock = clock

    async def enqueue(
        self, session: AsyncSession, *, notification_id: str, channel: Channel, message: Message
    ) -> None:
        """Queue one notification; a second call with the same id and channel does nothing."""
        mark_written(session, NOTIFICATIONS_WRITTEN)
        await session.execute(
            insert_ignoring_conflicts(session, self._table).values(
                **self._row(notification_id, channel, message)
            )
        )

    def enqueue_at_commit(
        self, session: AsyncSession, *, notification_id: str, channel: Channel, message: Message
    ) -> None:
        """`enqueue`, written with the transaction's other queued rows just before its commit."""
        mark_written(session, NOTIFICATIONS_WRITTEN)
        row = self._row(notification_id, channel, message)
        insert_at_commit(session, self._table, row, ignore_conflicts=True)

    def _row(self, notification_id: str, channel: Channel, message: Message) -> dict[str, Any]:
        now = self._clock.now()
        return {
            "notification_id": notification_id,
            "channel": channel.name,
            "kind": channel.kind,
            "url": channel.url,
            "event_type": message.event_type,
            "body": render(channel, message),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, then give up (the row stays, marked failed)."""

    max_attempts: int = 8
    first_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=30)

    def delay_after(self, attempts: int) -> timedelta:
        base: timedelta = min(self.first_delay * 2 ** (attempts - 1), self.max_delay)
        return base * random.uniform(0.8, 1.2)


class NotificationDispatcher:
    """Sends due notifications and records each outcome."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        http: httpx.AsyncClient,
        clock: Clock,
        secrets: dict[str, str],
        *,
        retry: RetryPolicy | None = None,
        batch_size: int = 100,
        lease: timedelta = timedelta(seconds=60),
        max_idle_seconds: float = 1.0,
        wall_clock: Clock | None = None,
    ) -> None:
        self._sessions = sessions
        self._table = table
        self._http = http
        self._clock = clock
        self._secrets = secrets
        self._retry = retry or RetryPolicy()
        self._batch_size = batch_size
        self._lease = lease
        self._max_idle = max_idle_seconds
        # Receivers check signature timestamps against their own clocks, so signing uses wall
        # time even when the service runs on an accelerated clock.
        self._wall_clock = wall_clock or SystemClock()
        self._wake = asyncio.Event()
        on_commit(sessions, NOTIFICATIONS_WRITTEN, self._wake.set)

    async def run(self) -> None:
        """Dispatch until cancelled."""
        await drain_forever(
            self.dispatch_due,
            self._wake,
            full_batch=self._batch_size,
            max_idle_seconds=self._max_idle,
            name="notification-dispatcher",
        )

    async def dispatch_due(self) -> int:
        """Send one batch of due notifications; returns how many were attempted."""
        leased = await self._lease_due()
        if leased:
            outcomes = await asyncio.gather(*(self._send(row) for row in leased))
            async with self._sessions.begin() as session:
                for row, error in zip(leased, outcomes, strict=True):
                    await self._record(session, row, error)
        return len(leased)

    async def _lease_due(self) -> list[Any]:
        # Pushing next_attempt_at forward is the lease: another dispatcher skips these rows,
        # and if this one dies mid-send they come due again (receivers dedupe on webhook-id).
        now = self._clock.now()
        table = self._table
        async with self._sessions.begin() as session:
            due = (
                select(table.c.id)
                .where(table.c.status == "pending", table.c.next_attempt_at <= now)
                .order_by(table.c.next_attempt_at)
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            result = await session.execute(
                update(table)
                .where(table.c.id.in_(due))
                .values(next_attempt_at=now + self._lease)
                .returning(
                    table.c.id,
                    table.c.notification_id,
                    table.c.channel,
                    table.c.kind,
                    table.c.url,
                    table.c.body,
                    table.c.attempts,
                )
            )
            return list(result.all())

    async def _send(self, row: Any) -> str | None:
        """Deliver one notification; the error text, or None on success."""
        body = json.dumps(row.body, separators=(",", ":"))
        headers = {"content-type": "application/json"}
        secret = self._secrets.get(row.channel)
        if row.kind == "webhook" and secret:
            timestamp = self._wall_clock.now()
            headers |= {
                "webhook-id": row.notification_id,
                "webhook-timestamp": str(int(timestamp.timestamp())),
                "webhook-signature": Webhook(secret).sign(row.notification_id, timestamp, body),
            }
        try:
            response = await self._http.post(row.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"
        if response.is_success:
            return None
        return f"HTTP {response.status_code}: {response.text[:200]}"

    async def _record(self, session: AsyncSession, row: Any, error: str | None) -> None:
        now = self._clock.now()
        attempts = row.attempts + 1
        if error is None:
            values: dict[str, Any] = {
                "status": "delivered",
                "delivered_at": now,
                "last_error": None,
            }
        elif attempts >= self._retry.max_attempts:
            values = {"status": "failed", "last_error": error}
            log.error("notification_gave_up", channel=row.channel, attempts=attempts, error=error)
        else:
            values = {
                "next_attempt_at": now + self._retry.delay_after(attempts),
                "last_error": error,
            }
            log.warning("notification_retry", channel=row.channel, attempts=attempts, error=error)
        await session.execute(
            update(self._table)
            .where(self._table.c.id == row.id)
            .values(attempts=attempts, **values)
        )
