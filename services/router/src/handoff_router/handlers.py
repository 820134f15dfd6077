"""Router's use cases: qualify, assign or nurture, and take back rejected or recycled leads.

The consumer owns the transaction; nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_router.adapters.tables import assignments, decisions, reps, rotations
from handoff_router.domain.assignment import Rep, round_robin
from handoff_router.domain.qualification import Policy
from handoff_shared.clock import Clock
from handoff_shared.db import insert_ignoring_conflicts
from handoff_shared.events import (
    LeadActivityRecorded,
    LeadAssigned,
    LeadAssignedData,
    LeadEvent,
    LeadNurtured,
    LeadNurturedData,
    LeadReceived,
    LeadRecycled,
    LeadSnapshot,
    LeadUpdated,
    Qualification,
    RoutingDecision,
    deterministic_id,
)
from handoff_shared.outbox import Outbox

SOURCE = "urn:handoff:router"
ROUND_ROBIN_POOL = "all"


class RouterHandlers:
    """Decides what happens to each lead and records why."""

    def __init__(self, outbox: Outbox, clock: Clock, policy: Policy) -> None:
        self._outbox = outbox
        self._clock = clock
        self._policy = policy

    async def handle(self, session: AsyncSession, event: LeadEvent) -> None:
        match event:
            case LeadReceived(data=lead):
                await self._route(session, lead, requalifying=False)
            case LeadUpdated(data=update_data):
                await self._route(session, update_data.lead, requalifying=True)
            case LeadActivityRecorded(data=activity) if activity.kind == "rejected":
                await self._take_back(session, activity.lead_id, f"rejected: {activity.reason}")
            case LeadRecycled(data=step):
                await self._take_back(
                    session, step.lead_id, f"sla_recycled: {step.milestone} missed"
                )

    async def _route(
        self, session: AsyncSession, lead: LeadSnapshot, *, requalifying: bool
    ) -> None:
        if await self._open_assignment(session, lead.lead_id) is not None:
            return  # an updated lead that a rep already works stays with that rep
        previous = await session.scalar(
            select(decisions.c.outcome).where(decisions.c.lead_id == lead.lead_id)
        )
        if requalifying and previous is None:
            return  # the update overtook its lead.received; that event will route the lead
        qualification = self._policy.qualify(lead)
        now = self._clock.now()
        await self._record_decision(session, lead, qualification, previous is None)
        if qualification.is_mql:
            await self._assign(session, lead, qualification)
        elif previous != "nurture":
            await self._outbox.add(
                session,
                LeadNurtured.build(
                    source=SOURCE,
                    time=now,
                    event_id=deterministic_id(
                        "nurture", lead.lead_id, qualification.policy_version
                    ),
                    data=LeadNurturedData(
                        lead_id=lead.lead_id,
                        reason=f"score {qualification.score} below {qualification.threshold}",
                        decided_at=now,
                        qualification=qualification,
                    ),
                ),
            )

    async def _assign(
        self, session: AsyncSession, lead: LeadSnapshot, qualification: Qualification
    ) -> None:
        now = self._clock.now()
        roster = await self._active_roster(session)
        rejected_by = frozenset(
            (
                await session.scalars(
                    select(assignments.c.rep_id).where(
                        assignments.c.lead_id == lead.lead_id, assignments.c.status == "rejected"
                    )
                )
            ).all()
        )
        cursor = await self._lock_rotation(session, ROUND_ROBIN_POOL)
        pick = round_robin(roster, cursor, excluded=rejected_by)
        if pick is None:
            await self._nurture(session, lead.lead_id, "no eligible rep", qualification)
            return
        await session.execute(
            update(rotations)
            .where(rotations.c.pool == ROUND_ROBIN_POOL)
            .values(cursor=pick.next_cursor)
        )
        sequence = 1 + int(
            await session.scalar(
                select(func.count())
                .select_from(assignments)
                .where(assignments.c.lead_id == lead.lead_id)
            )
            or 0
        )
        assignment_id = uuid.UUID(deterministic_id("assignment", lead.lead_id, sequence))
        await session.execute(
            insert(assignments).values(
                assignment_id=assignment_id,
                lead_id=lead.lead_id,
                sequence=sequence,
                rep_id=pick.rep.rep_id,
                status="open",
                assigned_at=now,
            )
        )
        await self._outbox.add(
            session,
            LeadAssigned.build(
                source=SOURCE,
                time=now,
                event_id=str(assignment_id),
                data=LeadAssignedData(
                    assignment_id=assignment_id,
                    lead_id=lead.lead_id,
                    rep_id=pick.rep.rep_id,
                    rep_name=pick.rep.name,
                    manager=pick.rep.manager,
                    team=pick.rep.team,
                    assigned_at=now,
                    qualification=qualification,
                    routing=RoutingDecision(
                        rule=f"round_robin:{ROUND_ROBIN_POOL}",
                        team=pick.rep.team,
                        candidates=pick.candidates,
                    ),
                    lead=lead,
                ),
            ),
        )

    async def _take_back(self, session: AsyncSession, lead_id: uuid.UUID, reason: str) -> None:
        open_assignment = await self._open_assignment(session, lead_id)
        if open_assignment is None:
            return  # already taken back (a rejection and a recycle can both arrive)
        status = "rejected" if reason.startswith("rejected") else "recycled"
        await session.execute(
            update(assignments)
            .where(assignments.c.assignment_id == open_assignment)
            .values(status=status, closed_reason=reason[:500])
        )
        await self._nurture(session, lead_id, reason, None, key=str(open_assignment))

    async def _nurture(
        self,
        session: AsyncSession,
        lead_id: uuid.UUID,
        reason: str,
        qualification: Qualification | None,
        key: str = "",
    ) -> None:
        now = self._clock.now()
        await session.execute(
            update(decisions).where(decisions.c.lead_id == lead_id).values(outcome="nurture")
        )
        await self._outbox.add(
            session,
            LeadNurtured.build(
                source=SOURCE,
                time=now,
                event_id=deterministic_id("nurture", lead_id, reason, key),
                data=LeadNurturedData(
                    lead_id=lead_id, reason=reason, decided_at=now, qualification=qualification
                ),
            ),
        )

    async def _record_decision(
        self, session: AsyncSession, lead: LeadSnapshot, qualification: Qualification, first: bool
    ) -> None:
        values = {
            "lead": lead.model_dump(mode="json"),
            "qualification": qualification.model_dump(mode="json"),
            "outcome": "mql" if qualification.is_mql else "nurture",
            "decided_at": self._clock.now(),
        }
        if first:
            await session.execute(insert(decisions).values(lead_id=lead.lead_id, **values))
        else:
            await session.execute(
                update(decisions).where(decisions.c.lead_id == lead.lead_id).values(**values)
            )

    async def _open_assignment(self, session: AsyncSession, lead_id: uuid.UUID) -> uuid.UUID | None:
        return await session.scalar(
            select(assignments.c.assignment_id).where(
                assignments.c.lead_id == lead_id, assignments.c.status == "open"
            )
        )

    async def _active_roster(self, session: AsyncSession) -> list[Rep]:
        rows = await session.execute(select(reps).where(reps.c.active.is_(True)))
        return [Rep(row.rep_id, row.name, row.manager, row.team, row.active) for row in rows]

    async def _lock_rotation(self, session: AsyncSession, pool: str) -> int:
        # The row lock serialises rotations across router instances: no rep is skipped or doubled.
        await session.execute(
            insert_ignoring_conflicts(session, rotations).values(pool=pool, cursor=0)
        )
        return int(
            await session.scalar(
                select(rotations.c.cursor).where(rotations.c.pool == pool).with_for_update()
            )
            or 0
        )


async def sync_roster(session: AsyncSession, roster: Sequence[Rep]) -> None:
    """Make the reps table match the roster file: new reps added, changed ones updated."""
    existing = {row.rep_id for row in await session.execute(select(reps.c.rep_id))}
    for rep in roster:
        values = {"name": rep.name, "manager": rep.manager, "team": rep.team, "active": rep.active}
        if rep.rep_id in existing:
            await session.execute(update(reps).where(reps.c.rep_id == rep.rep_id).values(**values))
        else:
            await session.execute(insert(reps).values(rep_id=rep.rep_id, **values))
    listed = {rep.rep_id for rep in roster}
    await session.execute(update(reps).where(reps.c.rep_id.not_in(listed)).values(active=False))
