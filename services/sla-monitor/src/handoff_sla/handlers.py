"""SLA monitor's use cases: open milestone obligations on assignment, meet or close them on
activity, and fire the ladder's due timers.

The caller owns the transaction; nothing here commits. Every path that changes obligations
locks them first, all at once and in obligation-id order, so the consumer and any number of
sweepers never deadlock; the sweep's timer rows are claimed with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from sqlalchemy import (
    ColumnElement,
    Row,
    RowMapping,
    Table,
    any_,
    bindparam,
    column,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_shared.clock import Clock
from handoff_shared.db import flush_inserts, insert_ignoring_conflicts
from handoff_shared.events import (
    CloudEvent,
    LeadActivityData,
    LeadActivityRecorded,
    LeadAssigned,
    LeadAssignedData,
    LeadEvent,
    LeadRecycled,
    SlaEscalated,
    SlaMet,
    SlaMetData,
    SlaWarned,
    deterministic_id,
)
from handoff_shared.outbox import Outbox
from handoff_sla.adapters.calendars import has_holiday_calendar, holidays_for
from handoff_sla.adapters.tables import activities, obligations, timers
from handoff_sla.announce import Announcer
from handoff_sla.domain.counting import CountingRule
from handoff_sla.domain.ladder import (
    OPEN_STATES,
    DueTimer,
    ObligationView,
    OpenMilestone,
    fire_due_timers,
    measure,
    milestones_reached,
)
from handoff_sla.domain.policies import PolicyBook, SlaPolicy, plan_milestones

SOURCE = "urn:handoff:sla-monitor"
STEP_EVENTS: dict[str, tuple[type[CloudEvent], str]] = {
    "warn": (SlaWarned, "warned"),
    "escalate": (SlaEscalated, "escalated"),
    "recycle": (LeadRecycled, "recycled"),
}
# The obligation's columns a step event repeats under the same names.
STEP_EVENT_COLUMNS = (
    "obligation_id",
    "lead_id",
    "assignment_id",
    "rep_id",
    "manager",
    "milestone",
    "policy",
    "assigned_at",
    "clock",
    "time_zone",
    "target_seconds",
)
# Only what the ladder and its events read: a burst fetches thousands of these rows per batch.
SWEPT_COLUMNS = tuple(
    obligations.c[name] for name in (*STEP_EVENT_COLUMNS, "state", "escalate_at", "recycle_to")
)
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SweepClaim:
    """A batch of due timers locked by one sweep, with their event ids and their assignments'
    obligations."""

    now: datetime
    timers: list[DueTimer]
    event_ids: dict[uuid.UUID, str]
    obligations: dict[uuid.UUID, RowMapping]


def step_event_id(obligation_id: uuid.UUID, step: str) -> str:
    """The id of the event a ladder step publishes: the same whoever fires it, however often."""
    return deterministic_id("sla", obligation_id, STEP_EVENTS[step][1])


class SlaHandlers:
    """Keeps the milestone obligations of each assignment and walks their ladders."""

    def __init__(
        self,
        outbox: Outbox,
        clock: Clock,
        policies: PolicyBook,
        batch_size: int,
        announcer: Announcer | None = None,
    ) -> None:
        self._outbox = outbox
        self._clock = clock
        self._policies = policies
        self._batch_size = batch_size
        self._announcer = announcer
        self._claiming = asyncio.Lock()

    async def handle(self, session: AsyncSession, event: LeadEvent) -> None:
        match event:
            case LeadAssigned(data=assignment):
                await self._open_obligations(session, assignment)
            case LeadActivityRecorded(data=activity):
                await self._record_activity(session, activity)

    async def _open_obligations(self, session: AsyncSession, assignment: LeadAssignedData) -> None:
        lead_rows = await self._lock_lead(session, assignment.lead_id)
        if any(row.assignment_id == assignment.assignment_id for row in lead_rows):
            return
        if any(row.assigned_at > assignment.assigned_at for row in lead_rows):
            log.warning("stale_assignment_ignored", assignment_id=str(assignment.assignment_id))
            return
        now = self._clock.now()
        # A new assignment supersedes the lead's earlier obligations (reassignment).
        superseded = [row.obligation_id for row in lead_rows if row.state in OPEN_STATES]
        if superseded:
            await session.execute(
                update(obligations)
                .where(obligations.c.obligation_id.in_(superseded))
                .values(state="closed", closed_reason="reassigned", closed_at=now)
            )
        policy = self._policies.select(assignment.priority, assignment.team)
        rule = self._counting_rule(policy, assignment)
        planned = plan_milestones(policy, rule.timekeeping(holidays_for), assignment.assigned_at)
        obligation_rows, timer_rows = [], []
        for milestone in planned:
            obligation_id = uuid.UUID(
                deterministic_id("obligation", assignment.assignment_id, milestone.rule.milestone)
            )
            obligation_rows.append(
                {
                    "obligation_id": obligation_id,
                    "assignment_id": assignment.assignment_id,
                    "lead_id": assignment.lead_id,
                    "rep_id": assignment.rep_id,
                    "manager": assignment.manager,
                    "team": assignment.team,
                    "milestone": milestone.rule.milestone,
                    "policy": self._policies.label(policy),
                    "state": "open",
                    "assigned_at": assignment.assigned_at,
                    "escalate_at": milestone.due_at,
                    "recycle_at": milestone.recycle_at,
                    "warn_at": milestone.warn_at,
                    "clock": rule.clock,
                    "time_zone": rule.time_zone,
                    "holiday_country": rule.country,
                    "working_days": "".join(str(day) for day in sorted(rule.working_days)),
                    "opens": rule.opens,
                    "closes": rule.closes,
                    "target_seconds": milestone.rule.target.total_seconds(),
                    "met_by": sorted(milestone.rule.met_by),
                    "recycle_to": policy.recycle_to,
                }
            )
            timer_rows += [
                {
                    "timer_id": uuid.UUID(deterministic_id("timer", obligation_id, timer.step)),
                    "obligation_id": obligation_id,
                    "step": timer.step,
                    "due_at": timer.due_at,
                    "event_id": step_event_id(obligation_id, timer.step),
                }
                for timer in milestone.timers
            ]
        await session.execute(insert(obligations), obligation_rows)
        await session.execute(insert(timers), timer_rows)
        # Activity can overtake the assignment across topics; what was already seen counts.
        earlier = (
            await session.execute(
                select(activities)
                .where(
                    activities.c.lead_id == assignment.lead_id,
                    activities.c.occurred_at >= assignment.assigned_at,
                )
                .order_by(activities.c.occurred_at)
            )
        ).all()
        for activity in earlier:
            await self._apply_activity(
                session,
                await self._lock_lead(session, assignment.lead_id),
                activity.lead_id,
                activity.kind,
                activity.occurred_at,
                activity.rep_id,
                reason=None,
            )

    def _counting_rule(self, policy: SlaPolicy, assignment: LeadAssignedData) -> CountingRule:
        """The policy's clock with the rep's zone, week and holidays, or the book's defaults."""
        pattern = self._policies.working_pattern
        time_zone = pattern.time_zone
        if assignment.rep_time_zone:
            if _zone_exists(assignment.rep_time_zone):
                time_zone = assignment.rep_time_zone
            else:
                log.warning("unknown_rep_time_zone", zone=assignment.rep_time_zone)
        country = pattern.country
        if assignment.rep_country:
            if has_holiday_calendar(assignment.rep_country):
                country = assignment.rep_country.upper()
            else:
                log.warning("unknown_holiday_calendar", country=assignment.rep_country)
        days, opens, closes = pattern.working_days, pattern.opens, pattern.closes
        hours = assignment.rep_working_hours
        if hours is not None and hours.days and hours.start < hours.end:
            # The event numbers days from Monday = 0; the policy uses ISO weekdays.
            days = frozenset(day + 1 for day in hours.days)
            opens, closes = hours.start, hours.end
        return CountingRule(policy.clock, time_zone, country, days, opens, closes)

    async def _record_activity(self, session: AsyncSession, activity: LeadActivityData) -> None:
        inserted = await session.scalar(
            insert_ignoring_conflicts(session, activities)
            .values(
                activity_id=activity.activity_id,
                lead_id=activity.lead_id,
                kind=activity.kind,
                occurred_at=activity.occurred_at,
                rep_id=activity.rep_id,
            )
            .returning(activities.c.activity_id)
        )
        if inserted is None:
            return  # the same activity reported twice
        await self._apply_activity(
            session,
            await self._lock_lead(session, activity.lead_id),
            activity.lead_id,
            activity.kind,
            activity.occurred_at,
            activity.rep_id,
            reason=activity.reason,
        )

    async def _apply_activity(
        self,
        session: AsyncSession,
        lead_rows: Sequence[Row[Any]],
        lead_id: uuid.UUID,
        kind: str,
        occurred_at: datetime,
        rep_id: str | None,
        *,
        reason: str | None,
    ) -> None:
        """Meet the milestones an activity satisfies, or close them all on a rejection."""
        candidates = [
            OpenMilestone(
                obligation_id=row.obligation_id,
                rep_id=row.rep_id,
                state=row.state,
                assigned_at=row.assigned_at,
                met_by=frozenset(row.met_by),
            )
            for row in lead_rows
        ]
        reached = {
            m.obligation_id for m in milestones_reached(candidates, kind, occurred_at, rep_id)
        }
        if not reached:
            return
        if kind == "rejected":
            # The router takes the lead back on the same activity; here the obligation just ends.
            await session.execute(
                update(obligations)
                .where(obligations.c.obligation_id.in_(reached))
                .values(
                    state="closed",
                    closed_reason=f"rejected: {reason or 'no reason given'}"[:500],
                    closed_at=self._clock.now(),
                )
            )
            return
        met_events = []
        for row in lead_rows:
            if row.obligation_id not in reached:
                continue
            result = measure(
                _counting_rule_of(row).timekeeping(holidays_for),
                row.assigned_at,
                row.escalate_at,
                occurred_at,
            )
            await session.execute(
                update(obligations)
                .where(obligations.c.obligation_id == row.obligation_id)
                .values(
                    state="met",
                    met_at=occurred_at,
                    # A milestone first missed (escalated) keeps its verdict; it is now just late.
                    within_target=result.within_target and row.state == "open",
                    counted_seconds=result.counted.total_seconds(),
                    paused_seconds=result.paused.total_seconds(),
                )
            )
            met_events.append(
                SlaMet.build(
                    source=SOURCE,
                    time=self._clock.now(),
                    event_id=deterministic_id("sla", row.obligation_id, "met"),
                    data=SlaMetData(
                        obligation_id=row.obligation_id,
                        lead_id=lead_id,
                        assignment_id=row.assignment_id,
                        rep_id=row.rep_id,
                        milestone=row.milestone,
                        policy=row.policy,
                        assigned_at=row.assigned_at,
                        met_at=occurred_at,
                        elapsed_seconds=(occurred_at - row.assigned_at).total_seconds(),
                        within_target=result.within_target and row.state == "open",
                        due_at=row.escalate_at,
                        target_seconds=row.target_seconds,
                        counted_seconds=result.counted.total_seconds(),
                        paused_seconds=result.paused.total_seconds(),
                        clock=row.clock,
                    ),
                )
            )
        await self._outbox.add(session, *met_events)

    async def _lock_lead(self, session: AsyncSession, lead_id: uuid.UUID) -> Sequence[Row[Any]]:
        return (
            await session.execute(
                select(obligations)
                .where(obligations.c.lead_id == lead_id)
                .order_by(obligations.c.obligation_id)
                .with_for_update()
            )
        ).all()

    async def fire_due(self, session: AsyncSession) -> int:
        """Fire one batch of due ladder steps, oldest first; each step fires once, whoever
        sweeps. Returns how many timers were taken (fired or skipped)."""
        # Sweeps of this process overlap, but claim in turn: a later claim that shares an
        # assignment with an uncommitted earlier one waits for its commit, so steps still fire
        # in due order (a lead's recycle never before its escalation).
        async with self._claiming:
            claim = await self._claim_due(session)
        return 0 if claim is None else await self._fire_claimed(session, claim)

    async def _claim_due(self, session: AsyncSession) -> SweepClaim | None:
        """Lock the next batch of due timers and their assignments' obligations."""
        now = self._clock.now()
        # A step waits while an earlier step of its obligation is pending, even one another
        # instance has locked but not committed: so instances never fire a ladder out of order.
        earlier = timers.alias("earlier")
        earlier_pending = (
            select(earlier.c.timer_id)
            .where(
                earlier.c.obligation_id == timers.c.obligation_id,
                earlier.c.due_at < timers.c.due_at,
            )
            .exists()
        )
        # Rows are read as mappings: by key they cost a fraction of by attribute, per value.
        claimed = (
            (
                await session.execute(
                    select(
                        timers.c.timer_id,
                        timers.c.obligation_id,
                        timers.c.step,
                        timers.c.due_at,
                        timers.c.event_id,
                        obligations.c.assignment_id,
                    )
                    .join(
                        obligations,
                        obligations.c.obligation_id == timers.c.obligation_id,
                        isouter=True,
                    )
                    .where(timers.c.due_at <= now, ~earlier_pending)
                    .order_by(timers.c.due_at)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True, of=timers)
                )
            )
            .mappings()
            .all()
        )
        if not claimed:
            return None
        # The whole assignment is locked, because a recycle closes the other milestones too.
        # Its ids are passed as values: PostgreSQL then finds the rows through the index instead
        # of scanning every obligation for a semi-join.
        assignment_ids = {row["assignment_id"] for row in claimed} - {None}
        rows = {
            row["obligation_id"]: row
            for row in (
                await session.execute(
                    select(*SWEPT_COLUMNS)
                    .where(_one_of(session, obligations.c.assignment_id, assignment_ids))
                    .order_by(obligations.c.obligation_id)
                    .with_for_update()
                )
            )
            .mappings()
            .all()
        }
        return SweepClaim(
            now,
            [
                DueTimer(row["timer_id"], row["obligation_id"], row["step"], row["due_at"])
                for row in claimed
            ],
            {row["timer_id"]: row["event_id"] for row in claimed},
            rows,
        )

    async def _fire_claimed(self, session: AsyncSession, claim: SweepClaim) -> int:
        """Fire a claimed batch: record it and write one event per step that fires."""
        now, rows = claim.now, claim.obligations
        outcome = fire_due_timers(
            claim.timers,
            {
                key: ObligationView(key, row["assignment_id"], row["state"], row["escalate_at"])
                for key, row in rows.items()
            },
            now,
        )
        # Fired or skipped, a timer is done with: its event and the obligation keep the record.
        await session.execute(
            delete(timers).where(
                _one_of(session, timers.c.timer_id, [timer.timer_id for timer in claim.timers])
            )
        )
        await self._record_transitions(session, rows, outcome.new_states, now)
        events = [
            self._step_event(rows[timer.obligation_id], timer, claim.event_ids[timer.timer_id], now)
            for timer in outcome.fired
        ]
        self._outbox.add_at_commit(session, *events)
        if self._announcer is not None:
            for event in events:
                await self._announcer.announce(session, event)
        await flush_inserts(session)  # a batch's events by COPY (PostgreSQL), not row by row
        return len(claim.timers)

    async def _record_transitions(
        self,
        session: AsyncSession,
        rows: dict[uuid.UUID, RowMapping],
        new_states: Mapping[uuid.UUID, tuple[str, str | None]],
        now: datetime,
    ) -> None:
        missed, ended = [], []
        for obligation_id, (state, reason) in new_states.items():
            row = rows[obligation_id]
            if state == "escalated":
                # Missed at the deadline: the whole target counted, the rest of the wait paused.
                wall = (row["escalate_at"] - row["assigned_at"]).total_seconds()
                missed.append(
                    {"obligation_id": obligation_id, "paused_seconds": wall - row["target_seconds"]}
                )
            else:
                default_reason = f"recycled: {row['milestone']} missed"
                ended.append(
                    {
                        "obligation_id": obligation_id,
                        "state": state,
                        "closed_reason": reason or default_reason,
                    }
                )
        await _update_each(
            session,
            obligations,
            missed,
            state="escalated",
            within_target=False,
            counted_seconds=obligations.c.target_seconds,
        )
        await _update_each(session, obligations, ended, closed_at=now)

    def _step_event(
        self, row: RowMapping, timer: DueTimer, event_id: str, now: datetime
    ) -> CloudEvent:
        event_class = STEP_EVENTS[timer.step][0]
        # One validation of the whole envelope: the same checks as `build` with an `SlaStepData`,
        # at half the cost, which shows in a burst of tens of thousands of steps.
        return event_class.model_validate(
            {
                "id": event_id,
                "source": SOURCE,
                "type": event_class.event_type,
                "time": now,
                "subject": str(row["lead_id"]),
                "dataschema": event_class.schema_uri(),
                "data": {
                    **{name: row[name] for name in STEP_EVENT_COLUMNS},
                    "due_at": timer.due_at,
                    "fired_at": now,
                    "recycle_to": row["recycle_to"] if timer.step == "recycle" else None,
                },
            }
        )

    async def overdue(self, session: AsyncSession) -> tuple[int, timedelta]:
        """How many timers are past their due time, and how late the oldest of them is."""
        now = self._clock.now()
        count, oldest = (
            await session.execute(
                select(func.count(), func.min(timers.c.due_at)).where(timers.c.due_at <= now)
            )
        ).one()
        return count, timedelta(0) if oldest is None else now - oldest

    async def next_due_in(self, session: AsyncSession) -> timedelta | None:
        """How long until the earliest pending timer is due (None when there is none)."""
        earliest = await session.scalar(select(timers.c.due_at).order_by(timers.c.due_at).limit(1))
        return None if earliest is None else earliest - self._clock.now()


def _counting_rule_of(row: Row[Any]) -> CountingRule:
    opens: time = row.opens
    closes: time = row.closes
    return CountingRule(
        clock=row.clock,
        time_zone=row.time_zone,
        country=row.holiday_country,
        working_days=frozenset(int(day) for day in row.working_days),
        opens=opens,
        closes=closes,
    )


async def _update_each(
    session: AsyncSession, table: Table, changes: Sequence[Mapping[str, Any]], **common: Any
) -> None:
    """Give each row, found by the primary key in `changes`, its own values and `common` ones.

    On PostgreSQL one statement joins the rows to their values unnested from one array per
    column: a burst's batch would otherwise be a thousand single-row updates. Elsewhere it is
    one update per row.
    """
    if not changes:
        return
    (key,) = table.primary_key.columns.keys()
    names = list(changes[0])
    if session.get_bind().dialect.name == "postgresql":
        given = (
            func.unnest(
                *(
                    bindparam(None, [row[name] for row in changes], type_=ARRAY(table.c[name].type))
                    for name in names
                )
            )
            .table_valued(*(column(name, table.c[name].type) for name in names))
            .render_derived(name="given")
        )
        await session.execute(
            update(table)
            .where(table.c[key] == given.c[key])
            .values({**{name: given.c[name] for name in names if name != key}, **common})
        )
        return
    await session.execute(
        update(table)
        .where(table.c[key] == bindparam(f"b_{key}"))
        .values({**{name: bindparam(f"b_{name}") for name in names if name != key}, **common}),
        [{f"b_{name}": value for name, value in row.items()} for row in changes],
    )


def _one_of(
    session: AsyncSession, column: ColumnElement[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """`column IN values`, as a single array parameter on PostgreSQL.

    A sweep's lists run to a batch of values, and rendering and binding one parameter per value
    cost SQLAlchemy more than the database spends on the statement.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def _zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
