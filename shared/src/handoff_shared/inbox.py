"""Consumer inbox: the ids of processed events, stored in the same transaction as their effects."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

import structlog
from sqlalchemy import ARRAY, Column, MetaData, String, Table, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handoff_shared.clock import Clock
from handoff_shared.db import UtcDateTime, insert_ignoring_conflicts

log = structlog.get_logger(__name__)


def inbox_table(metadata: MetaData) -> Table:
    """The inbox table, declared in a service's own metadata."""
    return Table(
        "inbox",
        metadata,
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(64), nullable=False),
        Column("processed_at", UtcDateTime, nullable=False),
    )


class Inbox:
    """Claims an event id once; a redelivered event finds its id taken and is skipped."""

    def __init__(self, table: Table, clock: Clock) -> None:
        self._table = table
        self._clock = clock
        arrays = select(
            func.unnest(bindparam("ids", type_=ARRAY(String))),
            func.unnest(bindparam("types", type_=ARRAY(String))),
            bindparam("at", type_=UtcDateTime),
        )
        self._claim_arrays = (
            postgresql.insert(table)
            .from_select(["event_id", "event_type", "processed_at"], arrays)
            .on_conflict_do_nothing()
            .returning(table.c.event_id)
        )

    async def claim_many(self, session: AsyncSession, events: list[tuple[str, str]]) -> set[str]:
        """The ids among `events` (id, type) seen for the first time, claimed in one statement."""
        now = self._clock.now()
        unique = dict(events)
        if session.get_bind().dialect.name == "postgresql":
            # The ids travel as two arrays: one small statement for any batch size.
            claimed = await session.scalars(
                self._claim_arrays, {"ids": list(unique), "types": list(unique.values()), "at": now}
            )
        else:
            claimed = await session.scalars(
                insert_ignoring_conflicts(session, self._table).returning(self._table.c.event_id),
                [
                    {"event_id": event_id, "event_type": event_type, "processed_at": now}
                    for event_id, event_type in unique.items()
                ],
            )
        return set(claimed)

    async def claim(self, session: AsyncSession, event_id: str, event_type: str) -> bool:
        """True the first time this id is seen in a committed transaction."""
        claimed = await session.scalar(
            insert_ignoring_conflicts(session, self._table)
            .values(event_id=event_id, event_type=event_type, processed_at=self._clock.now())
            .returning(self._table.c.event_id)
        )
        return claimed is not None

    async def forget_older_than(
        self, session: AsyncSession, retention: timedelta, *, limit: int = 10_000
    ) -> int:
        """Drop up to `limit` ids processed more than `retention` ago; returns how many.

        Redelivery only reaches back as far as the broker keeps events, so ids older than
        that can never match again; without this the table grows by one row per event forever.
        """
        table = self._table
        oldest = (
            select(table.c.event_id)
            .where(table.c.processed_at < self._clock.now() - retention)
            .limit(limit)
        )
        result = await session.execute(
            delete(table).where(table.c.event_id.in_(oldest.scalar_subquery()))
        )
        return cast(CursorResult[Any], result).rowcount

    async def prune_forever(
        self,
        sessions: async_sessionmaker[AsyncSession],
        retention: timedelta,
        *,
        every_seconds: float = 3600,
    ) -> None:
        """Forget old ids every `every_seconds`, in bounded deletes, until cancelled."""
        while True:
            try:
                removed = limit = 10_000
                while removed == limit:
                    async with sessions.begin() as session:
                        removed = await self.forget_older_than(session, retention, limit=limit)
                    if removed:
                        log.info("inbox_pruned", removed=removed)
            except Exception:
                log.exception("inbox_pruning_failed")
            await asyncio.sleep(every_seconds)
