"""SLA monitor's tables, in its own schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Time,
    UniqueConstraint,
    Uuid,
    text,
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
)

# One row per ladder step: the durable timers. Only pending rows are indexed (by due time, and by
# obligation for the sweep's look-up of an earlier pending step), so the indexes stay as small as
# the set of open timers however much history accumulates.
timers = Table(
    "timers",
    metadata,
    Column("timer_id", Uuid, primary_key=True),
    Column("obligation_id", Uuid, nullable=False),
    Column("step", String(16), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("fired_at", UtcDateTime),
    # The id of the event the step publishes, deterministic and so computed at creation.
    Column("event_id", String(64), nullable=False),
    Index(
        "ix_timers_pending_due_at",
        "due_at",
        postgresql_where=text("state = 'pending'"),
        sqlite_where=text("state = 'pending'"),
    ),
    Index(
        "ix_timers_pending_obligation_id",
        "obligation_id",
        postgresql_where=text("state = 'pending'"),
        sqlite_where=text("state = 'pending'"),
    ),
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
