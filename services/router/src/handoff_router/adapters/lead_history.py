"""What the router already knows about leads: decision, assignments, signals, account owner.

Read for many leads in one round trip: the consumer reads a whole polled batch's leads before
handling them (`read_histories`), and a lead read again later in the same transaction is read
alone, after its pending rows are inserted.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ARRAY,
    Select,
    String,
    Uuid,
    any_,
    bindparam,
    cast,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from handoff_router.adapters.tables import (
    HOLDING_STATUSES,
    account_owners,
    assignments,
    decisions,
    reps,
    signals,
)
from handoff_router.domain.qualification import Signal
from handoff_shared.db import UtcDateTime
from handoff_shared.events import deterministic_uuid


@dataclass(frozen=True)
class Holding:
    """The assignment that holds a lead now."""

    assignment_id: uuid.UUID
    rep_id: str
    status: str
    team: str | None


@dataclass
class LeadHistory:
    """What the router already knows about one lead."""

    lead_id: uuid.UUID
    outcome: str | None = None
    holder: Holding | None = None
    had_it: set[str] = field(default_factory=set)
    assignments: int = 0
    signals: list[Signal] = field(default_factory=list)
    owner: tuple[str, str] | None = None  # the account owner's rep id and team


@dataclass
class Histories:
    """Histories of some leads, and the owners of some account domains (None: no owner)."""

    leads: dict[uuid.UUID, LeadHistory]
    owners: dict[str, tuple[str, str] | None]


def assignment_id(lead_id: uuid.UUID, sequence: int) -> uuid.UUID:
    """The id of a lead's `sequence`-th assignment, the same on every redelivery."""
    return deterministic_uuid("assignment", lead_id, sequence)


async def read_histories(
    session: AsyncSession, lead_ids: Collection[uuid.UUID], domains: Collection[str]
) -> Histories:
    """The histories of `lead_ids` (empty ones for new leads) and owners of `domains`."""
    query = _HISTORIES_BY_DIALECT.get(session.get_bind().dialect.name, _HISTORIES)
    rows = await session.execute(query, {"lead_ids": list(lead_ids), "domains": list(domains)})
    found = Histories(
        {lead_id: LeadHistory(lead_id) for lead_id in lead_ids}, dict.fromkeys(domains)
    )
    for row in rows:
        if row.tag == "owner":
            found.owners[row.domain] = (row.name, row.team)
            continue
        history = found.leads[row.lead_id]
        if row.tag == "decision":
            history.outcome = row.name
        elif row.tag == "assignment":
            history.assignments += 1
            if row.status in HOLDING_STATUSES:
                history.holder = Holding(
                    assignment_id(row.lead_id, row.number), row.name, row.status, row.team
                )
            else:
                history.had_it.add(row.name)
        else:
            history.signals.append(Signal(row.name, row.at))
    return found


def _history_parts(*, as_arrays: bool) -> list[Select[Any]]:
    def among(column: Any, name: str, item_type: Any) -> Any:
        # PostgreSQL takes the list as one array parameter, so the statement stays the same for
        # any batch size; `IN (...)` elsewhere (SQLite) is expanded anew for every execution.
        if as_arrays:
            return column == any_(bindparam(name, type_=ARRAY(item_type)))
        return column.in_(bindparam(name, expanding=True, type_=item_type))

    no_lead, no_domain = cast(null(), Uuid), cast(null(), String)
    no_text, no_number, no_time = cast(null(), String), literal(None), cast(null(), UtcDateTime)
    return [
        select(
            literal("decision").label("tag"),
            decisions.c.lead_id.label("lead_id"),
            no_domain.label("domain"),
            decisions.c.outcome.label("name"),
            no_text.label("status"),
            no_text.label("team"),
            no_number.label("number"),
            no_time.label("at"),
        ).where(among(decisions.c.lead_id, "lead_ids", Uuid)),
        select(
            literal("assignment"),
            assignments.c.lead_id,
            no_domain,
            assignments.c.rep_id,
            assignments.c.status,
            assignments.c.team,
            assignments.c.sequence,
            no_time,
        ).where(among(assignments.c.lead_id, "lead_ids", Uuid)),
        select(
            literal("signal"),
            signals.c.lead_id,
            no_domain,
            signals.c.kind,
            no_text,
            no_text,
            no_number,
            signals.c.occurred_at,
        ).where(among(signals.c.lead_id, "lead_ids", Uuid)),
        select(
            literal("owner"),
            no_lead,
            account_owners.c.domain,
            reps.c.rep_id,
            no_text,
            reps.c.team,
            no_number,
            no_time,
        )
        .join(account_owners, account_owners.c.rep_id == reps.c.rep_id)
        .where(among(account_owners.c.domain, "domains", String)),
    ]


# Built once: building and hashing the union for every batch costs more than running it.
_HISTORIES = union_all(*_history_parts(as_arrays=False))
_HISTORIES_BY_DIALECT = {"postgresql": union_all(*_history_parts(as_arrays=True))}
