"""SLA monitor's tables, in its own schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    MetaData,
    String,
    Table,
    Time,
    UniqueConstraint,
    Uuid,
)

from handoff_shared.db import UtcDateTime
from handoff_shared.inbox import inbox_table
from handoff_shared.notify import notifications_table
from handoff_shared.outbox import outbox_table

SCHEMA = "sla"
metadata = MetaData()

# One row per milestone of an assignment: its deadlines, how it counts time, and its outcome.
obligations = Table(
    "obligations",
    metadata,
    Column("obligation_id", Uuid, primary_key=True),
    Column("assignment_id", Uuid, nullable=False),
    Column("lead_id", Uuid, nullable=False, index=True),
    Column("rep_id", String(200), nullable=False),
    Column("manager", String(200)),
    Column("team", String(100)),
    Column("milestone", String(32), nullable=False),
    Column("policy", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("assigned_at", UtcDateTime, nullable=False),
    Column("escalate_at", UtcDateTime, nullable=False),
    Column("recycle_at", UtcDateTime),
    Column("warn_at", UtcDateTime),
    Column("met_at", UtcDateTime),
    Column("closed_reason", String(500)),
    Column("closed_at", UtcDateTime),
    Column("clock", String(16), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("holiday_country", String(16)),
    Column("working_days", String(7), nullable=False),
    Column("opens", Time, nullable=False),
    Column("closes", Time, nullable=False),
    Column("target_seconds", Float, nullable=False),
    Column("met_by", JSON, nullable=False),
    Column("recycle_to", String(16), nullable=False),
    Column("within_target", Boolean),
    Column("counted_seconds", Float),
    Column("paused_seconds", Float),
    UniqueConstraint("assignment_id", "milestone", name="uq_obligations_assignment_milestone"),
    # Half of each page free, so meeting, missing or closing a milestone updates the row in place
    # without touching the indexes (migration 0004).
    postgresql_with={"fillfactor": 50},
)

# One row per pending ladder step: the durable timers. A timer is deleted in the transaction that
# fires or skips its step, so the table holds only open timers; the step's event and the
# obligation's state are the record of what happened.
timers = Table(
    "timers",
    metadata,
    Column("timer_id", Uuid, primary_key=True),
    Column("obligation_id", Uuid, nullable=False, index=True),
    Column("step", String(16), nullable=False),
    Column("due_at", UtcDateTime, nullable=False, index=True),
    # The id of the event the step publishes, deterministic and so computed at creation.
    Column("event_id", String(64), nullable=False),
)

activities = Table(
    "activities",
    metadata,
    Column("activity_id", Uuid, primary_key=True),
    Column("lead_id", Uuid, nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("rep_id", String(200)),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
notifications = notifications_table(metadata)
