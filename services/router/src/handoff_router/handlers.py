"""Router's use cases: qualify, assign or nurture, and take back rejected or recycled leads.

The consumer (or the API, or the queue sweep) owns the transaction; nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_router.adapters.config_store import ConfigStore, RouterConfig
from handoff_router.adapters.lead_history import (
    Holding,
    LeadHistory,
    assignment_id,
    read_histories,
)
from handoff_router.adapters.tables import (
    account_owners,
    assignments,
    decisions,
    queued_leads,
    shadow_results,
    signals,
)
from handoff_router.adapters.unit_of_work import (
    already_locked,
    flush,
    forget_owner,
    insert_at_commit,
    keep_histories,
    lock_team,
    take_history,
)
from handoff_router.domain.assignment import Pick, unavailable_because, weighted_round_robin
from handoff_router.domain.assignment import choose_team as match_routing_rule
from handoff_router.domain.facts import EmailDomainLists, email_type, lead_facts
from handoff_router.domain.qualification import Signal
from handoff_router.messages import assignment_message, nurture_message, overflow_message
from handoff_shared.clock import Clock
from handoff_shared.db import EncodedJson, insert_ignoring_conflicts
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
    LeadUpdatedData,
    Qualification,
    RoutingDecision,
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
                await self._route(session, lead, lead.received_at, requalifying=False)
            case LeadUpdated(data=update_data):
                await self._route(session, update_data.lead, event.time, requalifying=True)
            case LeadActivityRecorded(data=activity):
                await flush(session)
                await self._on_activity(session, activity)
            case LeadRecycled(data=step):
                await flush(session)
                await self._take_back(
                    session,
                    step.lead_id,
                    f"sla_recycled: {step.milestone} missed",
                    rejected=False,
                    recycle_to=step.recycle_to,
                )

    async def _route(
        self, session: AsyncSession, lead: LeadSnapshot, at: datetime, *, requalifying: bool
    ) -> None:
        history = await self._history(session, lead.lead_id, self._account_domain(lead))
        if lead.form_type:
            insert_at_commit(
                session,
                signals,
                lead_id=lead.lead_id,
                kind=lead.form_type,
                occurred_at=at,
            )
            history.signals.append(Signal(lead.form_type, at))
        if history.holder is not None:
            return  # an updated lead that a rep already works stays with that rep
        previous = history.outcome
        if requalifying and previous is None:
            return  # the update overtook its lead.received; that event will route the lead
        config = await self._config.current()
        facts = lead_facts(lead, self._email_lists)
        qualification = await self._qualify(session, config, lead, facts, history.signals)
        outcome = previous
        if qualification.is_mql:
            if previous != "queued":
                # Only a lead decided before can sit in the overflow queue.
                assigned = await self._assign(
                    session,
                    config,
                    lead,
                    qualification,
                    history,
                    may_be_queued=bool(previous),
                    facts=facts,
                )
                outcome = "mql" if assigned else "queued"
        else:
            if previous != "nurture":
                await self._nurture(
                    session,
                    lead,
                    f"not sales-ready: {'; '.join(qualification.reasons)}",
                    qualification,
                    key=qualification.policy_version,
                )
            outcome = "nurture"
        await self._record_decision(session, lead, qualification, previous, outcome)

    async def prepare(self, session: AsyncSession, events: Sequence[LeadEvent]) -> None:
        """Read the histories of a batch's leads, and their accounts' owners, in one go."""
        lead_ids: set[uuid.UUID] = set()
        domains: set[str] = set()
        for event in events:
            match event:
                case LeadReceived(data=lead) | LeadUpdated(data=LeadUpdatedData(lead=lead)):
                    lead_ids.add(lead.lead_id)
                    if (domain := self._account_domain(lead)) is not None:
                        domains.add(domain)
                case LeadActivityRecorded(data=activity):
                    lead_ids.add(activity.lead_id)
                case LeadRecycled(data=step):
                    lead_ids.add(step.lead_id)
        await flush(session)
        keep_histories(session, await read_histories(session, lead_ids, domains))

    async def _history(
        self, session: AsyncSession, lead_id: uuid.UUID, account_domain: str | None
    ) -> LeadHistory:
        """The lead's decision, assignments, signals and account owner."""
        history = take_history(session, lead_id, account_domain)
        if history is not None:
            return history
        await flush(session, lead_id)
        found = await read_histories(session, [lead_id], [account_domain] if account_domain else [])
        history = found.leads[lead_id]
        if account_domain is not None:
            history.owner = found.owners[account_domain]
        return history

    async def _qualify(
        self,
        session: AsyncSession,
        config: RouterConfig,
        lead: LeadSnapshot,
        facts: Mapping[str, Any],
        seen: list[Signal],
    ) -> Qualification:
        now = self._clock.now()
        lists = self._email_lists
        qualification = config.policy.qualify(
            lead, signals=seen, now=now, email_lists=lists, facts=facts
        )
        if config.shadow is not None:
            shadow = config.shadow.qualify(
                lead, signals=seen, now=now, email_lists=lists, facts=facts
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
        history: LeadHistory,
        *,
        may_be_queued: bool,
        facts: Mapping[str, Any] | None = None,
    ) -> bool:
        """Hand the lead to a rep, or park it in the overflow queue; True if assigned.

        The caller records the decision's outcome: `mql` if assigned, `queued` if not.
        """
        now = self._clock.now()
        had_it = frozenset(history.had_it)
        facts = facts if facts is not None else lead_facts(lead, self._email_lists)
        owner_note = ""
        if history.owner is not None:
            owner_id, owner_team = history.owner
            owner_seat = (await lock_team(session, owner_team)).seats.get(owner_id)
            reason = unavailable_because(owner_seat, now, had_it) if owner_seat else "not found"
            if owner_seat is not None and reason is None:
                owner_rep = owner_seat.rep
                await self._commit_pick(
                    session,
                    lead,
                    qualification,
                    Pick(owner_rep, {}, [owner_rep.rep_id]),
                    RoutingDecision(
                        rule=f"account_owner:{self._account_domain(lead)}",
                        team=owner_rep.team,
                        candidates=[owner_rep.rep_id],
                        reason=f"{owner_rep.name} owns the account {self._account_domain(lead)}",
                    ),
                    history,
                    may_be_queued=may_be_queued,
                )
                return True
            owner_note = f"; account owner {owner_id} unavailable: {reason}"
        rule = match_routing_rule(config.routing_rules, facts)
        if rule is None:
            await self._queue(
                session,
                lead,
                None,
                "no routing rule matches the lead",
                may_be_queued=may_be_queued,
            )
            return False
        seats = (await lock_team(session, rule.team)).ordered()
        pick = weighted_round_robin(seats, now, str(lead.lead_id), had_it)
        if pick is None:
            skipped = {seat.rep.rep_id: unavailable_because(seat, now, had_it) for seat in seats}
            await self._queue(
                session,
                lead,
                rule.team,
                f"nobody eligible in {rule.team}: {skipped}",
                may_be_queued=may_be_queued,
            )
            return False
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
                    f"weighted round robin (weight {pick.rep.weight} of {pick.pool_weight})"
                    f"{owner_note}"
                ),
                skipped=pick.skipped,
            ),
            history,
            may_be_queued=may_be_queued,
        )
        return True

    async def _commit_pick(
        self,
        session: AsyncSession,
        lead: LeadSnapshot,
        qualification: Qualification,
        pick: Pick,
        routing: RoutingDecision,
        history: LeadHistory,
        *,
        may_be_queued: bool,
    ) -> None:
        now = self._clock.now()
        rep = pick.rep
        sequence = history.assignments + 1
        new_assignment_id = assignment_id(lead.lead_id, sequence)
        # The partial unique index on holding assignments makes a second concurrent assignment
        # of the same lead fail (at the latest on commit), so the loser's transaction rolls back
        # and is retried.
        insert_at_commit(
            session,
            assignments,
            assignment_id=new_assignment_id,
            lead_id=lead.lead_id,
            sequence=sequence,
            rep_id=rep.rep_id,
            team=routing.team,
            status="open",
            assigned_at=now,
            closed_reason=None,
        )
        # The team is locked: the new load, credit and last-assignment time are written at commit.
        (await lock_team(session, routing.team)).record_pick(pick, now)
        if may_be_queued:
            await session.execute(
                delete(queued_leads).where(queued_leads.c.lead_id == lead.lead_id)
            )
        data = LeadAssignedData(
            assignment_id=new_assignment_id,
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
        self._outbox.add_at_commit(
            session,
            LeadAssigned.build(source=SOURCE, time=now, event_id=str(new_assignment_id), data=data),
        )
        rep_channels = (
            [Channel(name=f"rep-slack:{rep.rep_id}", kind="slack", url=rep.slack_url)]
            if rep.slack_url
            else []
        )
        channels = [*self._channels.assignment, *rep_channels]
        if not channels:
            return
        message = assignment_message(data)
        for channel in channels:
            self._notifier.enqueue_at_commit(
                session, notification_id=str(new_assignment_id), channel=channel, message=message
            )

    async def _queue(
        self,
        session: AsyncSession,
        lead: LeadSnapshot,
        team: str | None,
        reason: str,
        *,
        may_be_queued: bool,
    ) -> None:
        """Park a sales-ready lead nobody can take now; ops are alerted once per parking."""
        now = self._clock.now()
        row = {"lead_id": lead.lead_id, "team": team, "reason": reason[:2000], "queued_at": now}
        if may_be_queued:
            parked = await session.scalar(
                insert_ignoring_conflicts(session, queued_leads)
                .values(**row)
                .returning(queued_leads.c.lead_id)
            )
            if parked is None:
                return
        else:
            insert_at_commit(session, queued_leads, **row)
        log.warning("lead_overflowed", lead_id=str(lead.lead_id), team=team, reason=reason)
        message = overflow_message(lead, team, reason)
        key = deterministic_id("overflow", lead.lead_id, now.isoformat())
        for channel in self._channels.alert:
            self._notifier.enqueue_at_commit(
                session, notification_id=key, channel=channel, message=message
            )

    async def retry_queued(self, session: AsyncSession, limit: int = 50) -> int:
        """Try again to assign parked leads (reps may have freed up); returns how many left."""
        await flush(session)
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
            history = await self._history(session, lead.lead_id, self._account_domain(lead))
            if history.holder is None and await self._assign(
                session, config, lead, qualification, history, may_be_queued=True
            ):
                await self._set_outcome(session, lead.lead_id, "mql")
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
            holder = (await self._history(session, activity.lead_id, None)).holder
            if holder is None:
                return
            await session.execute(
                update(assignments)
                .where(assignments.c.assignment_id == holder.assignment_id)
                .values(status="accepted")
            )
            self._released(session, holder)
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

    @staticmethod
    def _released(session: AsyncSession, holder: Holding) -> None:
        """An open lead stopped counting against its rep's capacity; a locked team sees it."""
        if holder.status == "open":
            locked = already_locked(session, holder.team) if holder.team else None
            if locked is not None:
                locked.release(holder.rep_id)

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
            forget_owner(session, domain)

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
        history = await self._history(session, lead_id, None)
        holder = history.holder
        if holder is None:
            return  # already taken back (a rejection and a recycle can both arrive)
        await session.execute(
            update(assignments)
            .where(assignments.c.assignment_id == holder.assignment_id)
            .values(status="rejected" if rejected else "recycled", closed_reason=reason[:500])
        )
        self._released(session, holder)
        stored = (
            await session.execute(
                select(decisions.c.lead, decisions.c.qualification).where(
                    decisions.c.lead_id == lead_id
                )
            )
        ).first()
        config = await self._config.current()
        rerouting = config.policy.rerouting
        so_far = history.assignments
        action = (
            rerouting.after_rejection(rejection_reason, so_far)
            if rejected
            else recycle_to or rerouting.after_recycle(so_far)
        )
        lead = LeadSnapshot.model_validate(stored.lead) if stored else None
        if action == "reassign" and lead is not None and stored is not None:
            qualification = Qualification.model_validate(stored.qualification)
            history = await self._history(session, lead_id, self._account_domain(lead))
            assigned = await self._assign(
                session, config, lead, qualification, history, may_be_queued=True
            )
            await self._set_outcome(session, lead_id, "mql" if assigned else "queued")
            return
        await self._nurture(
            session, lead, reason, None, key=str(holder.assignment_id), lead_id=lead_id
        )
        await self._set_outcome(session, lead_id, "nurture")

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
        """Announce that the lead goes to nurture; the caller records the decision's outcome."""
        now = self._clock.now()
        the_lead_id = lead.lead_id if lead else lead_id
        assert the_lead_id is not None
        event_id = deterministic_id("nurture", the_lead_id, reason, key)
        data = LeadNurturedData(
            lead_id=the_lead_id, reason=reason, decided_at=now, qualification=qualification
        )
        self._outbox.add_at_commit(
            session, LeadNurtured.build(source=SOURCE, time=now, event_id=event_id, data=data)
        )
        message = nurture_message(data, lead)
        for channel in self._channels.nurture:
            self._notifier.enqueue_at_commit(
                session, notification_id=event_id, channel=channel, message=message
            )

    async def _set_outcome(self, session: AsyncSession, lead_id: uuid.UUID, outcome: str) -> None:
        await session.execute(
            update(decisions).where(decisions.c.lead_id == lead_id).values(outcome=outcome)
        )

    async def _record_decision(
        self,
        session: AsyncSession,
        lead: LeadSnapshot,
        qualification: Qualification,
        previous: str | None,
        outcome: str | None,
    ) -> None:
        values = {
            "lead": EncodedJson(lead.model_dump_json()),
            "qualification": EncodedJson(qualification.model_dump_json()),
            "policy_version": qualification.policy_version,
            "decided_at": self._clock.now(),
            "outcome": outcome,
        }
        if previous is None:
            insert_at_commit(session, decisions, lead_id=lead.lead_id, **values)
        else:
            await session.execute(
                update(decisions).where(decisions.c.lead_id == lead.lead_id).values(**values)
            )

    def _account_domain(self, lead: LeadSnapshot) -> str | None:
        """The company domain that identifies the account; None for free or throwaway mail."""
        if email_type(lead.email, self._email_lists) != "business":
            return None
        return (lead.company_domain or lead.email.rpartition("@")[2]).casefold()
