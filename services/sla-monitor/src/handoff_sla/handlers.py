"""SLA monitor's use cases: open obligations, close them on follow-up, fire due ladder steps.

The caller owns the transaction; nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import ColumnElement, Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_shared.clock import Clock
from handoff_shared.db import insert_ignoring_conflicts
from handoff_shared.events import (
    FOLLOW_UP_KINDS,
    LeadActivityData,
    LeadActivityRecorded,
    LeadAssigned,
    LeadAssignedData,
    LeadEvent,
    LeadRecycled,
    SlaEscalated,
    SlaMet,
    SlaMetData,
    SlaStepData,
    deterministic_id,
)
from handoff_shared.outbox import Outbox
from handoff_sla.adapters.tables import activities, obligations
from handoff_sla.domain.sla import SlaPolicy, counts_as_follow_up

SOURCE = "urn:handoff:sla-monitor"
OPEN_STATES = ("open", "escalated")


class SlaHandlers:
    """Keeps one first-touch obligation per assignment and walks its ladder."""

    def __init__(self, outbox: Outbox, clock: Clock, policy: SlaPolicy, batch_size: int) -> None:
        self._outbox = outbox
        self._clock = clock
        self._policy = policy
        self._batch_size = batch_size

    async def handle(self, session: AsyncSession, event: LeadEvent) -> None:
        match event:
            case LeadAssigned(data=assignment):
                await self._open_obligation(session, assignment)
            case LeadActivityRecorded(data=activity):
                await self._record_activity(session, activity)

    async def _open_obligation(self, session: AsyncSession, assignment: LeadAssignedData) -> None:
        # A new assignment supersedes the lead's earlier obligation (reassignment).
        await session.execute(
            update(obligations)
            .where(
                obligations.c.lead_id == assignment.lead_id, obligations.c.state.in_(OPEN_STATES)
            )
            .values(state="closed", closed_reason="reassigned")
        )
        obligation_id = uuid.UUID(
            deterministic_id("obligation", assignment.assignment_id, "first_touch")
        )
        await session.execute(
            insert_ignoring_conflicts(session, obligations).values(
                obligation_id=obligation_id,
                assignment_id=assignment.assignment_id,
                lead_id=assignment.lead_id,
                rep_id=assignment.rep_id,
                manager=assignment.manager,
                milestone="first_touch",
                policy=self._policy.name,
                state="open",
                assigned_at=assignment.assigned_at,
                escalate_at=self._policy.escalate_at(assignment.assigned_at),
                recycle_at=self._policy.recycle_at(assignment.assigned_at),
            )
        )
        # Activity can overtake the assignment across topics; a touch already seen counts.
        earlier_touch = await session.scalar(
            select(activities.c.occurred_at)
            .where(
                activities.c.lead_id == assignment.lead_id,
                activities.c.kind.in_(sorted(FOLLOW_UP_KINDS)),
                activities.c.occurred_at >= assignment.assigned_at,
            )
            .order_by(activities.c.occurred_at)
            .limit(1)
        )
        if earlier_touch is not None:
            await self._mark_met(session, assignment.lead_id, earlier_touch)

    async def _record_activity(self, session: AsyncSession, activity: LeadActivityData) -> None:
        await session.execute(
            insert_ignoring_conflicts(session, activities).values(
                activity_id=activity.activity_id,
                lead_id=activity.lead_id,
                kind=activity.kind,
                occurred_at=activity.occurred_at,
            )
        )
        if counts_as_follow_up(activity.kind):
            await self._mark_met(session, activity.lead_id, activity.occurred_at)
        elif activity.kind == "rejected":
            await session.execute(
                update(obligations)
                .where(
                    obligations.c.lead_id == activity.lead_id, obligations.c.state.in_(OPEN_STATES)
                )
                .values(state="closed", closed_reason=f"rejected: {activity.reason}"[:500])
            )

    async def _mark_met(
        self, session: AsyncSession, lead_id: uuid.UUID, touched_at: datetime
    ) -> None:
        met = (
            await session.execute(
                update(obligations)
                .where(
                    obligations.c.lead_id == lead_id,
                    obligations.c.state.in_(OPEN_STATES),
                    obligations.c.assigned_at <= touched_at,
                )
                .values(state="met", met_at=touched_at)
                .returning(*obligations.c)
            )
        ).all()
        await self._outbox.add(
            session,
            *(
                SlaMet.build(
                    source=SOURCE,
                    time=self._clock.now(),
                    event_id=deterministic_id("sla", row.obligation_id, "met"),
                    data=SlaMetData(
                        obligation_id=row.obligation_id,
                        lead_id=row.lead_id,
                        assignment_id=row.assignment_id,
                        rep_id=row.rep_id,
                        milestone=row.milestone,
                        policy=row.policy,
                        assigned_at=row.assigned_at,
                        met_at=touched_at,
                        elapsed_seconds=(touched_at - row.assigned_at).total_seconds(),
                    ),
                )
                for row in met
            ),
        )

    async def fire_due(self, session: AsyncSession) -> int:
        """Escalate and recycle what is due now; each step fires once, whoever runs the sweep."""
        now = self._clock.now()
        escalated = await self._advance(
            session, ("open",), "escalated", obligations.c.escalate_at, now
        )
        recycled = await self._advance(
            session, OPEN_STATES, "recycled", obligations.c.recycle_at, now
        )
        await self._outbox.add(
            session,
            *(
                SlaEscalated.build(**self._step(row, "escalated", row.escalate_at, now))
                for row in escalated
            ),
            *(
                LeadRecycled.build(**self._step(row, "recycled", row.recycle_at, now))
                for row in recycled
            ),
        )
        return len(escalated) + len(recycled)

    async def _advance(
        self,
        session: AsyncSession,
        from_states: Sequence[str],
        to_state: str,
        due_column: ColumnElement[datetime],
        now: datetime,
    ) -> Sequence[Row[Any]]:
        # The guarded UPDATE is the exactly-once point: a row already advanced by another
        # instance no longer matches; SKIP LOCKED keeps instances from queueing on each other.
        due = (
            select(obligations.c.obligation_id)
            .where(obligations.c.state.in_(from_states), due_column <= now)
            .order_by(due_column)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = await session.execute(
            update(obligations)
            .where(obligations.c.obligation_id.in_(due), obligations.c.state.in_(from_states))
            .values(state=to_state)
            .returning(*obligations.c)
        )
        return sorted(result.all(), key=attrgetter(due_column.name))

    def _step(self, row: Row[Any], step: str, due_at: datetime, now: datetime) -> dict[str, Any]:
        return {
            "source": SOURCE,
            "time": now,
            "event_id": deterministic_id("sla", row.obligation_id, step),
            "data": SlaStepData(
                obligation_id=row.obligation_id,
                lead_id=row.lead_id,
                assignment_id=row.assignment_id,
                rep_id=row.rep_id,
                manager=row.manager,
                milestone=row.milestone,
                policy=row.policy,
                assigned_at=row.assigned_at,
                due_at=due_at,
                fired_at=now,
            ),
        }
