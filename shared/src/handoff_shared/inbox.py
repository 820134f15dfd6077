"""Consumer inbox: the ids of processed events, stored in the same transaction as their effects."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_shared.clock import Clock
from handoff_shared.db import UtcDateTime, insert_ignoring_conflicts


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

    async def claim_many(self, session: AsyncSession, events: list[tuple[str, str]]) -> set[str]:
        """The ids among `events` (id, type) seen for the first time, claimed in one statement."""
        now = self._clock.now()
        # Rows as parameters, not in the statement: one cached statement for any batch size.
        claimed = await session.scalars(
            insert_ignoring_conflicts(session, self._table).returning(self._table.c.event_id),
            [
                {"event_id": event_id, "event_type": event_type, "processed_at": now}
                for event_id, event_type in dict(events).items()
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
