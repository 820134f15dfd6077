"""Intake's use cases. The caller owns the transaction; nothing here commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_intake.adapters.tables import leads, timeline
from handoff_intake.domain.leads import Submission, merge, new_lead, normalise_email
from handoff_shared.clock import Clock
from handoff_shared.events import (
    ActivityKind,
    CloudEvent,
    LeadActivityData,
    LeadActivityRecorded,
    LeadAssigned,
    LeadEvent,
    LeadNurtured,
    LeadReceived,
    LeadRecycled,
    LeadSnapshot,
    LeadUpdated,
    LeadUpdatedData,
    SlaEscalated,
    SlaMet,
)
from handoff_shared.outbox import Outbox

SOURCE = "urn:handoff:intake"


class LeadNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ReceiveResult:
    lead_id: uuid.UUID
    outcome: Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class ActivityReport:
    kind: ActivityKind
    occurred_at: datetime | None
    rep_id: str | None
    reason: str | None
    channel: str | None
    amount: Decimal | None


class IntakeHandlers:
    """Receives leads and activity, and keeps each lead's timeline."""

    def __init__(self, outbox: Outbox, clock: Clock, dedup_window: timedelta) -> None:
        self._outbox = outbox
        self._clock = clock
        self._dedup_window = dedup_window

    async def receive_lead(self, session: AsyncSession, submission: Submission) -> ReceiveResult:
        """Store a new lead, or merge a returning person into their recent lead."""
        now = self._clock.now()
        existing = (
            await session.execute(
                select(leads.c.id, leads.c.snapshot)
                .where(
                    leads.c.email == normalise_email(submission.email),
                    leads.c.created_at >= now - self._dedup_window,
                )
                .order_by(leads.c.created_at.desc())
                .limit(1)
            )
        ).first()
        if existing is None:
            snapshot = new_lead(submission, uuid.uuid4(), now)
            await session.execute(
                insert(leads).values(
                    id=snapshot.lead_id,
                    email=snapshot.email,
                    status="received",
                    snapshot=snapshot.model_dump(mode="json"),
                    created_at=now,
                    updated_at=now,
                )
            )
            received = LeadReceived.build(source=SOURCE, time=now, data=snapshot)
            await self._append(session, received, "received", {"form_type": snapshot.form_type})
            await self._outbox.add(session, received)
            return ReceiveResult(snapshot.lead_id, "created")

        merged, changed = merge(LeadSnapshot.model_validate(existing.snapshot), submission)
        if not changed:
            return ReceiveResult(existing.id, "unchanged")
        await session.execute(
            update(leads)
            .where(leads.c.id == existing.id)
            .values(snapshot=merged.model_dump(mode="json"), updated_at=now)
        )
        updated = LeadUpdated.build(
            source=SOURCE, time=now, data=LeadUpdatedData(lead=merged, changed_fields=changed)
        )
        await self._append(session, updated, "updated", {"changed_fields": changed})
        await self._outbox.add(session, updated)
        return ReceiveResult(existing.id, "updated")

    async def record_activity(
        self, session: AsyncSession, lead_id: uuid.UUID, report: ActivityReport
    ) -> uuid.UUID:
        """Record what a rep did and publish it; raises LeadNotFound."""
        if await session.scalar(select(leads.c.id).where(leads.c.id == lead_id)) is None:
            raise LeadNotFound(lead_id)
        now = self._clock.now()
        activity = LeadActivityData(
            activity_id=uuid.uuid4(),
            lead_id=lead_id,
            kind=report.kind,
            occurred_at=report.occurred_at or now,
            rep_id=report.rep_id,
            reason=report.reason,
            channel=report.channel,
            amount=report.amount,
        )
        recorded = LeadActivityRecorded.build(source=SOURCE, time=now, data=activity)
        await self._append(
            session,
            recorded,
            f"activity.{report.kind}",
            activity.model_dump(mode="json", exclude={"lead_id", "activity_id"}, exclude_none=True),
            occurred_at=activity.occurred_at,
        )
        await self._outbox.add(session, recorded)
        return activity.activity_id

    async def get_lead(self, session: AsyncSession, lead_id: uuid.UUID) -> dict[str, Any]:
        """The lead with its timeline, oldest entry first; raises LeadNotFound."""
        lead = (await session.execute(select(leads).where(leads.c.id == lead_id))).first()
        if lead is None:
            raise LeadNotFound(lead_id)
        entries = await session.execute(
            select(timeline.c.kind, timeline.c.occurred_at, timeline.c.event_id, timeline.c.detail)
            .where(timeline.c.lead_id == lead_id)
            .order_by(timeline.c.occurred_at, timeline.c.id)
        )
        return {
            "lead": lead.snapshot,
            "status": lead.status,
            "created_at": lead.created_at,
            "updated_at": lead.updated_at,
            "timeline": [entry._asdict() for entry in entries],
        }

    async def apply_downstream_event(self, session: AsyncSession, event: LeadEvent) -> None:
        """Put what the router and SLA monitor decided on the lead's timeline and status."""
        status: str | None
        detail: dict[str, Any]
        match event:
            case LeadAssigned(data=data):
                status, detail = (
                    "assigned",
                    {
                        "rep_id": data.rep_id,
                        "rep_name": data.rep_name,
                        "team": data.team,
                        "score": data.qualification.score,
                        "policy_version": data.qualification.policy_version,
                        "rules_fired": [hit.rule for hit in data.qualification.rules_fired],
                    },
                )
            case LeadNurtured(data=data):
                status, detail = "nurture", {"reason": data.reason}
            case SlaEscalated(data=data):
                status, detail = None, {"milestone": data.milestone, "manager": data.manager}
            case LeadRecycled(data=data):
                status, detail = "recycled", {"milestone": data.milestone, "rep_id": data.rep_id}
            case SlaMet(data=data):
                status, detail = (
                    None,
                    {"milestone": data.milestone, "elapsed_seconds": data.elapsed_seconds},
                )
            case _:
                return
        lead_id = uuid.UUID(event.subject)
        if status is not None:
            await session.execute(
                update(leads)
                .where(leads.c.id == lead_id)
                .values(status=status, updated_at=event.time)
            )
        await self._append(session, event, event.type.removeprefix("lead."), detail)

    async def _append(
        self,
        session: AsyncSession,
        event: CloudEvent,
        kind: str,
        detail: dict[str, Any],
        occurred_at: datetime | None = None,
    ) -> None:
        await session.execute(
            insert(timeline).values(
                lead_id=uuid.UUID(event.subject),
                event_id=event.id,
                kind=kind,
                occurred_at=occurred_at or event.time,
                detail=detail,
            )
        )
