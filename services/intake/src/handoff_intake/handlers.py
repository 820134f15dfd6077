"""Intake's use cases. The caller owns the transaction; nothing here commits."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    and_,
    any_,
    bindparam,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_intake.adapters.tables import deliveries, leads, timeline
from handoff_intake.domain.leads import Submission, clean_changes, merge, new_lead
from handoff_shared.clock import Clock
from handoff_shared.db import insert_ignoring_conflicts
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

# unnest yields the keys in array order, so the locks are taken in the order given.
LOCK_IDENTITIES = text(
    "SELECT pg_advisory_xact_lock(key) FROM unnest(CAST(:keys AS bigint[])) AS key"
).bindparams(bindparam("keys", type_=postgresql.ARRAY(BigInteger)))


class LeadNotFound(LookupError):
    """No lead has that id."""


class AlreadyDelivered(Exception):
    """These (channel, delivery id) were stored before; the transaction must be rolled back."""

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__(keys)
        self.keys = set(keys)


@dataclass(frozen=True)
class StoredAnswer:
    """The answer given to a delivery, replayed verbatim to a redelivery."""

    status_code: int
    media_type: str
    body: bytes
    request_hash: str


@dataclass(frozen=True)
class Delivery:
    """A webhook delivery or REST call as received, kept for audit and replays."""

    channel: str
    delivery_id: str
    request_hash: str
    content_type: str
    body: bytes

    @property
    def key(self) -> tuple[str, str]:
        return (self.channel, self.delivery_id)


@dataclass(frozen=True)
class LeadQuery:
    """Search criteria; every given one must match."""

    email: str | None = None
    status: str | None = None
    source_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    after: tuple[datetime, uuid.UUID] | None = None
    limit: int = 50


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

    async def receive_leads(
        self, session: AsyncSession, submissions: list[Submission]
    ) -> list[ReceiveResult]:
        """Store each new lead, or merge each returning person into their recent lead.

        Any number of submissions costs the same few statements, so a group commit of many
        deliveries is little more work than one.
        """
        if not submissions:
            return []
        await self._lock_identities(session, submissions)
        now = self._clock.now()
        people = _People()
        for row in await self._recent_leads(session, submissions, now):
            people.add(row.id, LeadSnapshot.model_validate(row.snapshot), row.created_at)
            people.known_as(row.id, row.email, (row.source_id, row.external_id))
        created: dict[uuid.UUID, Submission] = {}
        changed_existing: set[uuid.UUID] = set()
        entries: list[_Entry] = []
        results: list[ReceiveResult] = []
        for submission in submissions:
            identity = (submission.source_id, submission.external_id)
            lead_id = people.find(submission.email, identity if submission.external_id else None)
            if lead_id is None:
                snapshot = new_lead(submission, uuid.uuid4(), now)
                people.add(snapshot.lead_id, snapshot, now)
                people.known_as(snapshot.lead_id, submission.email, identity)
                created[snapshot.lead_id] = submission
                received = LeadReceived.build(source=SOURCE, time=now, data=snapshot)
                detail = {"form_type": snapshot.form_type, "source_id": submission.source_id}
                entries.append(_Entry(received, "received", detail))
                results.append(ReceiveResult(snapshot.lead_id, "created"))
                continue
            merged, changed = merge(people.snapshots[lead_id], submission)
            if not changed:
                results.append(ReceiveResult(lead_id, "unchanged"))
                continue
            people.snapshots[lead_id] = merged
            if lead_id not in created:
                changed_existing.add(lead_id)
            entries.append(self._updated_entry(merged, changed, submission.source_id, now))
            results.append(ReceiveResult(lead_id, "updated"))
        if created:
            await session.execute(
                insert(leads),
                [
                    {
                        "id": lead_id,
                        "email": submission.email,
                        "status": "received",
                        "snapshot": people.snapshots[lead_id].model_dump(mode="json"),
                        "created_at": now,
                        "updated_at": now,
                        "source_id": submission.source_id,
                        "external_id": submission.external_id,
                    }
                    for lead_id, submission in created.items()
                ],
            )
        for lead_id in changed_existing:
            await self._store_snapshot(session, people.snapshots[lead_id], now)
        await self._record(session, entries)
        return results

    async def receive_lead(self, session: AsyncSession, submission: Submission) -> ReceiveResult:
        """Store a new lead, or merge a returning person into their recent lead."""
        (result,) = await self.receive_leads(session, [submission])
        return result

    async def _recent_leads(
        self, session: AsyncSession, submissions: list[Submission], now: datetime
    ) -> Sequence[Any]:
        emails = sorted({item.email for item in submissions})
        # PostgreSQL takes the emails as one array, so every batch size shares one prepared
        # statement; an IN list would be prepared anew for each number of emails.
        same_email = (
            leads.c.email == any_(literal(emails, postgresql.ARRAY(String)))
            if session.get_bind().dialect.name == "postgresql"
            else leads.c.email.in_(emails)
        )
        same_person: list[ColumnElement[bool]] = [same_email]
        same_person += [
            and_(leads.c.source_id == item.source_id, leads.c.external_id == item.external_id)
            for item in submissions
            if item.external_id is not None
        ]
        rows = await session.execute(
            select(
                leads.c.id,
                leads.c.snapshot,
                leads.c.email,
                leads.c.source_id,
                leads.c.external_id,
                leads.c.created_at,
            )
            .where(or_(*same_person), leads.c.created_at >= now - self._dedup_window)
            .order_by(leads.c.created_at)
        )
        return rows.all()

    def _updated_entry(
        self, merged: LeadSnapshot, changed: list[str], source_id: str | None, now: datetime
    ) -> _Entry:
        updated = LeadUpdated.build(
            source=SOURCE, time=now, data=LeadUpdatedData(lead=merged, changed_fields=changed)
        )
        return _Entry(updated, "updated", {"changed_fields": changed, "source_id": source_id})

    async def _store_snapshot(
        self, session: AsyncSession, snapshot: LeadSnapshot, now: datetime
    ) -> None:
        await session.execute(
            update(leads)
            .where(leads.c.id == snapshot.lead_id)
            .values(snapshot=snapshot.model_dump(mode="json"), updated_at=now)
        )

    async def _record(self, session: AsyncSession, entries: list[_Entry]) -> None:
        """Put events on their leads' timelines and in the outbox, each in one statement."""
        if not entries:
            return
        await session.execute(
            insert(timeline),
            [
                {
                    "lead_id": uuid.UUID(entry.event.subject),
                    "event_id": entry.event.id,
                    "kind": entry.kind,
                    "occurred_at": entry.occurred_at or entry.event.time,
                    "detail": entry.detail,
                }
                for entry in entries
            ],
        )
        await self._outbox.add(session, *(entry.event for entry in entries if entry.publish))

    async def update_lead(
        self,
        session: AsyncSession,
        lead_id: uuid.UUID,
        fields: Mapping[str, Any],
        attributes: Mapping[str, str],
    ) -> ReceiveResult:
        """Apply a CRM's corrections to a lead; raises LeadNotFound or InvalidLead."""
        stored = await session.scalar(
            select(leads.c.snapshot).where(leads.c.id == lead_id).with_for_update()
        )
        if stored is None:
            raise LeadNotFound(lead_id)
        existing = LeadSnapshot.model_validate(stored)
        # A local phone number is read in the country the lead is already known to be in.
        changes = clean_changes(fields, attributes, region=existing.country, strict=True)
        merged, changed = merge(existing, changes)
        if not changed:
            return ReceiveResult(lead_id, "unchanged")
        now = self._clock.now()
        await self._store_snapshot(session, merged, now)
        await self._record(session, [self._updated_entry(merged, changed, None, now)])
        return ReceiveResult(lead_id, "updated")

    async def _lock_identities(self, session: AsyncSession, submissions: list[Submission]) -> None:
        # Two submissions of one person at the same moment would both find no lead and both
        # insert one; a transaction-scoped lock per identity makes the second wait and merge.
        # SQLite needs none: it runs one writing transaction at a time.
        if session.get_bind().dialect.name != "postgresql":
            return
        identities = {f"email:{submission.email}" for submission in submissions} | {
            f"external:{submission.source_id}:{submission.external_id}"
            for submission in submissions
            if submission.external_id is not None
        }
        # Always in the same order, so two transactions never wait on each other's locks; one
        # array parameter keeps the statement the same (cached and prepared once) for any batch.
        await session.execute(LOCK_IDENTITIES, {"keys": sorted(map(_lock_key, identities))})

    async def record_deliveries(
        self, session: AsyncSession, stored: list[tuple[Delivery, StoredAnswer, list[str]]]
    ) -> None:
        """Keep deliveries and their answers; raises AlreadyDelivered naming any stored before."""
        if not stored:
            return
        received_at = self._clock.now()
        # One cached statement sent as executemany; RETURNING names the rows actually inserted.
        inserted = await session.execute(
            insert_ignoring_conflicts(session, deliveries).returning(
                deliveries.c.channel, deliveries.c.delivery_id
            ),
            [
                {
                    "channel": delivery.channel,
                    "delivery_id": delivery.delivery_id,
                    "request_hash": delivery.request_hash,
                    "content_type": delivery.content_type,
                    "body": delivery.body,
                    "received_at": received_at,
                    "status_code": answer.status_code,
                    "response_media_type": answer.media_type,
                    "response_body": answer.body,
                    "lead_ids": lead_ids,
                }
                for delivery, answer, lead_ids in stored
            ],
        )
        new = {(row.channel, row.delivery_id) for row in inserted}
        seen_before = [delivery.key for delivery, _, _ in stored if delivery.key not in new]
        if seen_before:
            raise AlreadyDelivered(seen_before)

    async def stored_answer(
        self, session: AsyncSession, channel: str, delivery_id: str
    ) -> StoredAnswer | None:
        """The answer given when this delivery was first stored, if it was."""
        row = (
            await session.execute(
                select(
                    deliveries.c.status_code,
                    deliveries.c.response_media_type,
                    deliveries.c.response_body,
                    deliveries.c.request_hash,
                ).where(deliveries.c.channel == channel, deliveries.c.delivery_id == delivery_id)
            )
        ).first()
        if row is None:
            return None
        return StoredAnswer(
            row.status_code, row.response_media_type, row.response_body, row.request_hash
        )

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
        detail = activity.model_dump(
            mode="json", exclude={"lead_id", "activity_id"}, exclude_none=True
        )
        entry = _Entry(recorded, f"activity.{report.kind}", detail, activity.occurred_at)
        await self._record(session, [entry])
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

    async def search_leads(self, session: AsyncSession, query: LeadQuery) -> list[dict[str, Any]]:
        """Leads matching `query`, newest first, at most `query.limit` of them."""
        conditions = []
        if query.email is not None:
            conditions.append(leads.c.email == query.email)
        if query.status is not None:
            conditions.append(leads.c.status == query.status)
        if query.source_id is not None:
            conditions.append(leads.c.source_id == query.source_id)
        if query.created_from is not None:
            conditions.append(leads.c.created_at >= query.created_from)
        if query.created_to is not None:
            conditions.append(leads.c.created_at < query.created_to)
        if query.after is not None:
            conditions.append(tuple_(leads.c.created_at, leads.c.id) < tuple_(*query.after))
        rows = await session.execute(
            select(
                leads.c.id,
                leads.c.email,
                leads.c.status,
                leads.c.source_id,
                leads.c.snapshot,
                leads.c.created_at,
                leads.c.updated_at,
            )
            .where(*conditions)
            .order_by(leads.c.created_at.desc(), leads.c.id.desc())
            .limit(query.limit)
        )
        return [row._asdict() for row in rows]

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
        # Decided elsewhere and already published there: on the timeline, not in the outbox.
        entry = _Entry(event, event.type.removeprefix("lead."), detail, publish=False)
        await self._record(session, [entry])


def _lock_key(identity: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(identity.encode(), digest_size=8).digest(), "big", signed=True
    )


@dataclass(frozen=True)
class _Entry:
    """An event for a lead's timeline and, unless decided elsewhere, the outbox."""

    event: CloudEvent
    kind: str
    detail: dict[str, Any]
    occurred_at: datetime | None = None
    publish: bool = True


class _People:
    """Leads found so far in one transaction, by email and by (source, external id)."""

    def __init__(self) -> None:
        self.snapshots: dict[uuid.UUID, LeadSnapshot] = {}
        self._created_at: dict[uuid.UUID, datetime] = {}
        self._by_email: dict[str, uuid.UUID] = {}
        self._by_external: dict[tuple[str | None, str | None], uuid.UUID] = {}

    def add(self, lead_id: uuid.UUID, snapshot: LeadSnapshot, created_at: datetime) -> None:
        self.snapshots[lead_id] = snapshot
        self._created_at[lead_id] = created_at

    def known_as(
        self, lead_id: uuid.UUID, email: str, external: tuple[str | None, str | None]
    ) -> None:
        """Later calls win, so adding leads oldest first leaves each identity's newest lead."""
        self._by_email[email] = lead_id
        if external[1] is not None:
            self._by_external[external] = lead_id

    def find(self, email: str, external: tuple[str | None, str | None] | None) -> uuid.UUID | None:
        """The newest lead with this email or external id."""
        candidates = [self._by_email.get(email)]
        if external is not None:
            candidates.append(self._by_external.get(external))
        found = [lead_id for lead_id in candidates if lead_id is not None]
        return max(found, key=self._created_at.__getitem__) if found else None
