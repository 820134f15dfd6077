"""Router's use cases: qualify, assign or nurture, and take back rejected or recycled leads.

The consumer (or the API, or the queue sweep) owns the transaction; nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import and_, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_router.adapters.config_store import ConfigStore, RouterConfig
from handoff_router.adapters.tables import (
    HOLDING_STATUSES,
    account_owners,
    assignments,
    decisions,
    queued_leads,
    reps,
    rotation_credits,
    rotations,
    shadow_results,
    signals,
)
from handoff_router.domain.assignment import (
    Pick,
    Rep,
    Seat,
    unavailable_because,
    weighted_round_robin,
)
from handoff_router.domain.assignment import choose_team as match_routing_rule
from handoff_router.domain.facts import EmailDomainLists, email_type, lead_facts
from handoff_router.domain.qualification import Signal
from handoff_router.messages import assignment_message, nurture_message, overflow_message
from handoff_shared.clock import Clock
from handoff_shared.db import insert_ignoring_conflicts
from handoff_shared.events import (
    LeadActivityData,
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
    WorkingHours,
    deterministic_id,
)
from handoff_shared.notify import Channel, Notifier
from handoff_shared.outbox import Outbox

SOURCE = "urn:handoff:router"
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Channels:
    """Where notifications go: assignments (besides the rep's own Slack), nurture, alerts."""

    assignment: Sequence[Channel] = ()
    nurture: Sequence[Channel] = ()
    alert: Sequence[Channel] = ()


class RouterHandlers:
    """Decides what happens to each lead and records why."""

    def __init__(
        self,
        outbox: Outbox,
        clock: Clock,
        config: ConfigStore,
        email_lists: EmailDomainLists,
        notifier: Notifier,
        channels: Channels,
    ) -> None:
        self._outbox = outbox
        self._clock = clock
        self._config = config
        self._email_lists = email_lists
        self._notifier = notifier
        self._channels = channels

    @property
    def email_lists(self) -> EmailDomainLists:
        return self._email_lists

    async def handle(self, session: AsyncSession, event: LeadEvent) -> None:
        match event:
            case LeadReceived(data=lead):
                await self._record_signal(session, lead, lead.received_at)
                await self._route(session, lead, requalifying=False)
            case LeadUpdated(data=update_data):
                await self._record_signal(session, update_data.lead, event.time)
                await self._route(session, update_data.lead, requalifying=True)
            case LeadActivityRecorded(data=activity):
                await self._on_activity(session, activity)
            case LeadRecycled(data=step):
                await self._take_back(
                    session,
                    step.lead_id,
                    f"sla_recycled: {step.milestone} missed",
                    rejected=False,
                    recycle_to=step.recycle_to,
                )

    async def _record_signal(self, session: AsyncSession, lead: LeadSnapshot, at: datetime) -> None:
        if lead.form_type:
            await session.execute(
                insert(signals).values(lead_id=lead.lead_id, kind=lead.form_type, occurred_at=at)
            )

    async def _route(
        self, session: AsyncSession, lead: LeadSnapshot, *, requalifying: bool
    ) -> None:
        if await self._holder(session, lead.lead_id) is not None:
            return  # an updated lead that a rep already works stays with that rep
        previous = await session.scalar(
            select(decisions.c.outcome).where(decisions.c.lead_id == lead.lead_id)
        )
        if requalifying and previous is None:
            return  # the update overtook its lead.received; that event will route the lead
        config = await self._config.current()
        qualification = await self._qualify(session, config, lead)
        await self._record_decision(session, lead, qualification, first=previous is None)
        if qualification.is_mql:
            if previous != "queued":
                await self._assign(session, config, lead, qualification)
        elif previous != "nurture":
            await self._nurture(
                session,
                lead,
                f"not sales-ready: {'; '.join(qualification.reasons)}",
                qualification,
                key=qualification.policy_version,
            )

    async def _qualify(
        self, session: AsyncSession, config: RouterConfig, lead: LeadSnapshot
    ) -> Qualification:
        rows = await session.execute(
            select(signals.c.kind, signals.c.occurred_at).where(signals.c.lead_id == lead.lead_id)
        )
        seen = [Signal(row.kind, row.occurred_at) for row in rows]
        now = self._clock.now()
        qualification = config.policy.qualify(
            lead, signals=seen, now=now, email_lists=self._email_lists
        )
        if config.shadow is not None:
            shadow = config.shadow.qualify(
                lead, signals=seen, now=now, email_lists=self._email_lists
            )
            key = {"lead_id": lead.lead_id, "shadow_version": config.shadow.version}
            values = {
                "active_version": qualification.policy_version,
                "active_mql": qualification.is_mql,
                "shadow_mql": shadow.is_mql,
                "active_grade": qualification.grade,
                "shadow_grade": shadow.grade,
                "shadow_qualification": shadow.model_dump(mode="json"),
                "decided_at": now,
            }
            await session.execute(
                delete(shadow_results).where(
                    *(shadow_results.c[name] == value for name, value in key.items())
                )
            )
            await session.execute(insert(shadow_results).values(**key, **values))
        return qualification

    async def _assign(
        self,
        session: AsyncSession,
        config: RouterConfig,
        lead: LeadSnapshot,
        qualification: Qualification,
    ) -> bool:
        """Hand the lead to a rep, or park it in the overflow queue; True if assigned."""
        now = self._clock.now()
        had_it = frozenset(
            (
                await session.scalars(
                    select(assignments.c.rep_id).where(
                        assignments.c.lead_id == lead.lead_id,
                        assignments.c.status.not_in(HOLDING_STATUSES),
                    )
                )
            ).all()
        )
        facts = lead_facts(lead, self._email_lists)
        owner_note = ""
        domain = self._account_domain(lead)
        if domain is not None:
            owner = (
                await session.execute(
                    select(reps).where(
                        reps.c.rep_id
                        == select(account_owners.c.rep_id)
                        .where(account_owners.c.domain == domain)
                        .scalar_subquery()
                    )
                )
            ).first()
            if owner is not None:
                owner_rep = _rep(owner)
                seats = await self._lock_team_seats(session, owner_rep.team, only=owner_rep.rep_id)
                reason = unavailable_because(seats[0], now, had_it) if seats else "not found"
                if reason is None:
                    await self._commit_pick(
                        session,
                        lead,
                        qualification,
                        Pick(owner_rep, {}, [owner_rep.rep_id]),
                        RoutingDecision(
                            rule=f"account_owner:{domain}",
                            team=owner_rep.team,
                            candidates=[owner_rep.rep_id],
                            reason=f"{owner_rep.name} owns the account {domain}",
                        ),
                    )
                    return True
                owner_note = f"; account owner {owner_rep.rep_id} unavailable: {reason}"
        rule = match_routing_rule(config.routing_rules, facts)
        if rule is None:
            await self._queue(session, lead, None, "no routing rule matches the lead")
            return False
        seats = await self._lock_team_seats(session, rule.team)
        pick = weighted_round_robin(seats, now, str(lead.lead_id), had_it)
        if pick is None:
            skipped = {seat.rep.rep_id: unavailable_because(seat, now, had_it) for seat in seats}
            await self._queue(
                session, lead, rule.team, f"nobody eligible in {rule.team}: {skipped}"
            )
            return False
        await session.execute(
            update(rotation_credits)
            .where(rotation_credits.c.team == rule.team)
            .where(rotation_credits.c.rep_id.in_(list(pick.current_weights)))
            .values(current_weight=_case_by_rep(pick.current_weights))
        )
        weights = {seat.rep.rep_id: seat.rep.weight for seat in seats}
        await self._commit_pick(
            session,
            lead,
            qualification,
            pick,
            RoutingDecision(
                rule=f"{rule.name}->{rule.team}",
                team=rule.team,
                candidates=pick.candidates,
                reason=(
                    f"weighted round robin (weight {weights[pick.rep.rep_id]} of "
                    f"{sum(weights[c] for c in pick.candidates)}){owner_note}"
                ),
                skipped=pick.skipped,
            ),
        )
        return True

    async def _commit_pick(
        self,
        session: AsyncSession,
        lead: LeadSnapshot,
        qualification: Qualification,
        pick: Pick,
        routing: RoutingDecision,
    ) -> None:
        now = self._clock.now()
        rep = pick.rep
        sequence = 1 + int(
            await session.scalar(
                select(func.count())
                .select_from(assignments)
                .where(assignments.c.lead_id == lead.lead_id)
            )
            or 0
        )
        assignment_id = uuid.UUID(deterministic_id("assignment", lead.lead_id, sequence))
        # The partial unique index on holding assignments makes a second concurrent assignment
        # of the same lead fail here, so the loser's transaction rolls back and is retried.
        await session.execute(
            insert(assignments).values(
                assignment_id=assignment_id,
                lead_id=lead.lead_id,
                sequence=sequence,
                rep_id=rep.rep_id,
                team=routing.team,
                status="open",
                assigned_at=now,
            )
        )
        await session.execute(
            update(reps).where(reps.c.rep_id == rep.rep_id).values(last_assigned_at=now)
        )
        await session.execute(delete(queued_leads).where(queued_leads.c.lead_id == lead.lead_id))
        await session.execute(
            update(decisions).where(decisions.c.lead_id == lead.lead_id).values(outcome="mql")
        )
        data = LeadAssignedData(
            assignment_id=assignment_id,
            lead_id=lead.lead_id,
            rep_id=rep.rep_id,
            rep_name=rep.name,
            manager=rep.manager,
            team=routing.team,
            assigned_at=now,
            qualification=qualification,
            routing=routing,
            lead=lead,
            rep_time_zone=rep.time_zone,
            rep_country=rep.country,
            rep_working_hours=rep.working_hours,
            priority="high" if qualification.hand_raise else "normal",
        )
        await self._outbox.add(
            session,
            LeadAssigned.build(source=SOURCE, time=now, event_id=str(assignment_id), data=data),
        )
        message = assignment_message(data)
        rep_channels = (
            [Channel(name=f"rep-slack:{rep.rep_id}", kind="slack", url=rep.slack_url)]
            if rep.slack_url
            else []
        )
        for channel in [*self._channels.assignment, *rep_channels]:
            await self._notifier.enqueue(
                session, notification_id=str(assignment_id), channel=channel, message=message
            )

    async def _queue(
        self, session: AsyncSession, lead: LeadSnapshot, team: str | None, reason: str
    ) -> None:
        """Park a sales-ready lead nobody can take now; ops are alerted once per parking."""
        now = self._clock.now()
        await session.execute(
            update(decisions).where(decisions.c.lead_id == lead.lead_id).values(outcome="queued")
        )
        parked = await session.scalar(
            insert_ignoring_conflicts(session, queued_leads)
            .values(lead_id=lead.lead_id, team=team, reason=reason[:2000], queued_at=now)
            .returning(queued_leads.c.lead_id)
        )
        if parked is None:
            return
        log.warning("lead_overflowed", lead_id=str(lead.lead_id), team=team, reason=reason)
        message = overflow_message(lead, team, reason)
        key = deterministic_id("overflow", lead.lead_id, now.isoformat())
        for channel in self._channels.alert:
            await self._notifier.enqueue(
                session, notification_id=key, channel=channel, message=message
            )

    async def retry_queued(self, session: AsyncSession, limit: int = 50) -> int:
        """Try again to assign parked leads (reps may have freed up); returns how many left."""
        config = await self._config.current()
        rows = (
            await session.execute(
                select(queued_leads.c.lead_id, decisions.c.lead, decisions.c.qualification)
                .join(decisions, decisions.c.lead_id == queued_leads.c.lead_id)
                .order_by(queued_leads.c.queued_at)
                .limit(limit)
                .with_for_update(skip_locked=True, of=queued_leads)
            )
        ).all()
        assigned = 0
        for row in rows:
            lead = LeadSnapshot.model_validate(row.lead)
            qualification = Qualification.model_validate(row.qualification)
            if await self._holder(session, lead.lead_id) is None and await self._assign(
                session, config, lead, qualification
            ):
                assigned += 1
        return assigned

    async def _on_activity(self, session: AsyncSession, activity: LeadActivityData) -> None:
        if activity.kind == "rejected":
            await self._take_back(
                session,
                activity.lead_id,
                f"rejected: {activity.reason or 'no reason given'}",
                rejected=True,
                rejection_reason=activity.reason,
            )
        elif activity.kind == "accepted":
            holder = await self._holder(session, activity.lead_id)
            if holder is None:
                return
            await session.execute(
                update(assignments)
                .where(assignments.c.assignment_id == holder.assignment_id)
                .values(status="accepted")
            )
            await self._claim_account(session, activity.lead_id, holder.rep_id)
        elif activity.kind in ("converted", "won"):
            await session.execute(
                update(decisions)
                .where(decisions.c.lead_id == activity.lead_id)
                .values(converted=True)
            )
        elif activity.kind == "lost":
            await session.execute(
                update(decisions)
                .where(decisions.c.lead_id == activity.lead_id, decisions.c.converted.is_(None))
                .values(converted=False)
            )

    async def _claim_account(self, session: AsyncSession, lead_id: uuid.UUID, rep_id: str) -> None:
        """The first rep to accept a lead of a company becomes that account's owner."""
        stored = await session.scalar(
            select(decisions.c.lead).where(decisions.c.lead_id == lead_id)
        )
        if stored is None:
            return
        domain = self._account_domain(LeadSnapshot.model_validate(stored))
        if domain is not None:
            await session.execute(
                insert_ignoring_conflicts(session, account_owners).values(
                    domain=domain, rep_id=rep_id, since=self._clock.now()
                )
            )

    async def _take_back(
        self,
        session: AsyncSession,
        lead_id: uuid.UUID,
        reason: str,
        *,
        rejected: bool,
        rejection_reason: str | None = None,
        recycle_to: str | None = None,
    ) -> None:
        holder = await self._holder(session, lead_id)
        if holder is None:
            return  # already taken back (a rejection and a recycle can both arrive)
        await session.execute(
            update(assignments)
            .where(assignments.c.assignment_id == holder.assignment_id)
            .values(status="rejected" if rejected else "recycled", closed_reason=reason[:500])
        )
        stored = (
            await session.execute(
                select(decisions.c.lead, decisions.c.qualification).where(
                    decisions.c.lead_id == lead_id
                )
            )
        ).first()
        config = await self._config.current()
        rerouting = config.policy.rerouting
        so_far = int(
            await session.scalar(
                select(func.count())
                .select_from(assignments)
                .where(assignments.c.lead_id == lead_id)
            )
            or 0
        )
        action = (
            rerouting.after_rejection(rejection_reason, so_far)
            if rejected
            else recycle_to or rerouting.after_recycle(so_far)
        )
        lead = LeadSnapshot.model_validate(stored.lead) if stored else None
        if action == "reassign" and lead is not None and stored is not None:
            qualification = Qualification.model_validate(stored.qualification)
            await self._assign(session, config, lead, qualification)
            return
        await self._nurture(
            session, lead, reason, None, key=str(holder.assignment_id), lead_id=lead_id
        )

    async def _nurture(
        self,
        session: AsyncSession,
        lead: LeadSnapshot | None,
        reason: str,
        qualification: Qualification | None,
        *,
        key: str,
        lead_id: uuid.UUID | None = None,
    ) -> None:
        now = self._clock.now()
        the_lead_id = lead.lead_id if lead else lead_id
        assert the_lead_id is not None
        await session.execute(
            update(decisions).where(decisions.c.lead_id == the_lead_id).values(outcome="nurture")
        )
        event_id = deterministic_id("nurture", the_lead_id, reason, key)
        data = LeadNurturedData(
            lead_id=the_lead_id, reason=reason, decided_at=now, qualification=qualification
        )
        await self._outbox.add(
            session, LeadNurtured.build(source=SOURCE, time=now, event_id=event_id, data=data)
        )
        message = nurture_message(data, lead)
        for channel in self._channels.nurture:
            await self._notifier.enqueue(
                session, notification_id=event_id, channel=channel, message=message
            )

    async def _record_decision(
        self, session: AsyncSession, lead: LeadSnapshot, qualification: Qualification, first: bool
    ) -> None:
        values = {
            "lead": lead.model_dump(mode="json"),
            "qualification": qualification.model_dump(mode="json"),
            "policy_version": qualification.policy_version,
            "decided_at": self._clock.now(),
        }
        if first:
            outcome = "mql" if qualification.is_mql else "nurture"
            await session.execute(
                insert(decisions).values(lead_id=lead.lead_id, outcome=outcome, **values)
            )
        else:
            await session.execute(
                update(decisions).where(decisions.c.lead_id == lead.lead_id).values(**values)
            )

    async def _holder(self, session: AsyncSession, lead_id: uuid.UUID) -> Any:
        return (
            await session.execute(
                select(assignments.c.assignment_id, assignments.c.rep_id).where(
                    assignments.c.lead_id == lead_id, assignments.c.status.in_(HOLDING_STATUSES)
                )
            )
        ).first()

    def _account_domain(self, lead: LeadSnapshot) -> str | None:
        """The company domain that identifies the account; None for free or throwaway mail."""
        if email_type(lead.email, self._email_lists) != "business":
            return None
        return (lead.company_domain or lead.email.rpartition("@")[2]).casefold()

    async def _lock_team_seats(
        self, session: AsyncSession, team: str, only: str | None = None
    ) -> list[Seat]:
        """The team's reps with their load, after locking the team's rotation row.

        The row lock serialises every assignment into this team across router instances, so
        two instances never both see a rep one below capacity, nor both spend the same credit.
        """
        await session.execute(
            insert_ignoring_conflicts(session, rotations).values(pool=team, cursor=0)
        )
        await session.execute(
            select(rotations.c.pool).where(rotations.c.pool == team).with_for_update()
        )
        query = select(reps).where(reps.c.team == team)
        if only is not None:
            query = query.where(reps.c.rep_id == only)
        rows = (await session.execute(query.order_by(reps.c.rep_id))).all()
        if not rows:
            return []
        ids = [row.rep_id for row in rows]
        await session.execute(
            insert_ignoring_conflicts(session, rotation_credits),
            [{"team": team, "rep_id": rep_id, "current_weight": 0} for rep_id in ids],
        )
        load: dict[str, int] = {
            rep_id: int(count)
            for rep_id, count in await session.execute(
                select(assignments.c.rep_id, func.count())
                .where(assignments.c.rep_id.in_(ids), assignments.c.status == "open")
                .group_by(assignments.c.rep_id)
            )
        }
        credit: dict[str, int] = {
            rep_id: int(weight)
            for rep_id, weight in await session.execute(
                select(rotation_credits.c.rep_id, rotation_credits.c.current_weight).where(
                    and_(rotation_credits.c.team == team, rotation_credits.c.rep_id.in_(ids))
                )
            )
        }
        return [
            Seat(
                rep=_rep(row),
                open_leads=int(load.get(row.rep_id, 0)),
                current_weight=int(credit.get(row.rep_id, 0)),
                last_assigned_at=row.last_assigned_at,
            )
            for row in rows
        ]


def _rep(row: Any) -> Rep:
    return Rep(
        rep_id=row.rep_id,
        name=row.name,
        manager=row.manager,
        team=row.team,
        active=row.active,
        weight=row.weight,
        capacity=row.capacity,
        time_zone=row.time_zone,
        working_hours=WorkingHours.model_validate(row.working_hours) if row.working_hours else None,
        away=row.away,
        away_until=row.away_until,
        country=row.country,
        email=row.email,
        slack_url=row.slack_url,
    )


def _case_by_rep(weights: dict[str, int]) -> Any:
    return case(weights, value=rotation_credits.c.rep_id, else_=rotation_credits.c.current_weight)
