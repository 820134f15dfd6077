"""Per-transaction state: team seats read once under the team's lock, inserts made at commit,
lead histories read once for a batch.

Locking a team's rotation row serialises every assignment into that team across router
instances. Once a transaction holds the lock, nobody else can assign into the team until it
commits, so the seats it read stay true except for what the transaction itself does: the seats
are kept in memory, updated as leads are assigned, and the rotation credit and last-assignment
times are written in one statement each just before the commit (still inside the lock). Open
leads can only drop behind the lock's back (accepted or rejected elsewhere), which at worst makes
a seat look fuller than it is: capacity caps hold.

Signals, first decisions, assignments and first parkings in the overflow queue are inserted in
one statement per table at the commit (or earlier, before anything reads them back: see
`flush`). The assignments' unique index still refuses a second holder of a lead, at the latest
at the commit, which rolls the whole transaction back.

Histories read for a whole batch (`keep_histories`) are handed out once per lead: the lead's
first event uses it, and any later event of the same lead in the transaction reads it again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, event, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from handoff_router.adapters.lead_history import Histories, LeadHistory
from handoff_router.adapters.tables import assignments, reps, rotation_credits, rotations
from handoff_router.domain.assignment import Pick, Rep, Seat
from handoff_shared import db
from handoff_shared.db import flush_inserts, insert_ignoring_conflicts
from handoff_shared.events import WorkingHours

_STATE = "handoff_router.transaction_state"


@dataclass
class LockedTeam:
    """One locked team's seats, by rep id in rep id order, as this transaction left them."""

    name: str
    seats: dict[str, Seat]
    credits_changed: set[str] = field(default_factory=set)
    assigned_at: dict[str, datetime] = field(default_factory=dict)

    def ordered(self) -> list[Seat]:
        return list(self.seats.values())

    def record_pick(self, pick: Pick, now: datetime) -> None:
        """The chosen rep holds one more open lead, and every candidate's credit moved."""
        for rep_id, weight in pick.current_weights.items():
            self.seats[rep_id].current_weight = weight
        self.credits_changed.update(pick.current_weights)
        chosen = self.seats[pick.rep.rep_id]
        chosen.open_leads += 1
        chosen.last_assigned_at = now
        self.assigned_at[pick.rep.rep_id] = now

    def release(self, rep_id: str) -> None:
        """One of the rep's open leads stopped counting against capacity (accepted or closed)."""
        seat = self.seats.get(rep_id)
        if seat is not None and seat.open_leads > 0:
            seat.open_leads -= 1


@dataclass
class _TransactionState:
    transaction: SessionTransaction | None
    teams: dict[str, LockedTeam] = field(default_factory=dict)
    pending_leads: set[uuid.UUID] = field(default_factory=set)
    histories: Histories | None = None


def _state(session: AsyncSession) -> _TransactionState:
    transaction = session.sync_session.get_transaction()
    held: _TransactionState | None = session.info.get(_STATE)
    if held is None or held.transaction is not transaction:
        held = _TransactionState(transaction)
        session.info[_STATE] = held
        if not event.contains(session.sync_session, "before_commit", _write_back):
            event.listen(session.sync_session, "before_commit", _write_back)
    return held


def insert_at_commit(session: AsyncSession, table: Table, **row: Any) -> None:
    """Insert a lead's `row` into `table` at the commit, or at the next `flush`."""
    _state(session).pending_leads.add(row["lead_id"])
    db.insert_at_commit(session, table, row)


async def flush(session: AsyncSession, lead_id: uuid.UUID | None = None) -> None:
    """Insert what is pending now: before reading a lead's rows back (or any, if no lead)."""
    held = _state(session)
    if lead_id is not None and lead_id not in held.pending_leads:
        return
    held.pending_leads.clear()
    await flush_inserts(session)


def keep_histories(session: AsyncSession, histories: Histories) -> None:
    """Histories read for this transaction's batch of events."""
    _state(session).histories = histories


def take_history(
    session: AsyncSession, lead_id: uuid.UUID, account_domain: str | None
) -> LeadHistory | None:
    """The lead's history as read for the batch, the first time only; None: read it now."""
    histories = _state(session).histories
    if histories is None:
        return None
    history = histories.leads.pop(lead_id, None)
    if history is None or (account_domain is not None and account_domain not in histories.owners):
        return None
    if account_domain is not None:
        history.owner = histories.owners[account_domain]
    return history


def forget_owner(session: AsyncSession, account_domain: str) -> None:
    """The account's owner may have changed: later leads of it read the owner again."""
    histories = _state(session).histories
    if histories is not None:
        histories.owners.pop(account_domain, None)


def already_locked(session: AsyncSession, team: str) -> LockedTeam | None:
    """The team's seats if this transaction already holds its lock."""
    return _state(session).teams.get(team)


async def lock_team(session: AsyncSession, team: str) -> LockedTeam:
    """The team's seats with their load and credit, locking the team's rotation row first."""
    held = _state(session)
    if team in held.teams:
        return held.teams[team]
    await flush(session)  # the load below counts assignments, pending ones too
    await session.execute(insert_ignoring_conflicts(session, rotations).values(pool=team, cursor=0))
    await session.execute(
        select(rotations.c.pool).where(rotations.c.pool == team).with_for_update()
    )
    open_leads = (
        select(func.count())
        .where(assignments.c.rep_id == reps.c.rep_id, assignments.c.status == "open")
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(reps, rotation_credits.c.current_weight, open_leads.label("open_leads"))
            .outerjoin(
                rotation_credits,
                (rotation_credits.c.team == team) & (rotation_credits.c.rep_id == reps.c.rep_id),
            )
            .where(reps.c.team == team)
            .order_by(reps.c.rep_id)
        )
    ).all()
    uncredited = [row.rep_id for row in rows if row.current_weight is None]
    if uncredited:
        await session.execute(
            insert_ignoring_conflicts(session, rotation_credits),
            [{"team": team, "rep_id": rep_id, "current_weight": 0} for rep_id in uncredited],
        )
    locked = LockedTeam(
        team,
        {
            row.rep_id: Seat(
                rep=rep_from_row(row),
                open_leads=int(row.open_leads),
                current_weight=int(row.current_weight or 0),
                last_assigned_at=row.last_assigned_at,
            )
            for row in rows
        },
    )
    held.teams[team] = locked
    return locked


def _write_back(session: Session) -> None:
    held: _TransactionState | None = session.info.pop(_STATE, None)
    if held is None or held.transaction is not session.get_transaction():
        return  # left over from a transaction that rolled back
    assigned_at: dict[str, datetime] = {}
    for team in held.teams.values():
        if team.credits_changed:
            weights = {r: team.seats[r].current_weight for r in sorted(team.credits_changed)}
            session.execute(
                update(rotation_credits)
                .where(rotation_credits.c.team == team.name)
                .where(rotation_credits.c.rep_id.in_(list(weights)))
                .values(
                    current_weight=_by_rep(
                        rotation_credits.c.rep_id, rotation_credits.c.current_weight, weights
                    )
                )
            )
        assigned_at.update(team.assigned_at)
    if assigned_at:
        session.execute(
            update(reps)
            .where(reps.c.rep_id.in_(sorted(assigned_at)))
            .values(last_assigned_at=_by_rep(reps.c.rep_id, reps.c.last_assigned_at, assigned_at))
        )


def _by_rep(rep_id: Any, target: Any, values: dict[str, Any]) -> Any:
    """`CASE rep_id WHEN ... THEN value END`, each value typed like the target column."""
    return case(*((rep_id == key, literal(value, target.type)) for key, value in values.items()))


def rep_from_row(row: Any) -> Rep:
    """A rep from a `reps` row."""
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
