"""SLA monitor's tables, in its own schema."""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, Uuid

from handoff_shared.db import UtcDateTime
from handoff_shared.inbox import inbox_table
from handoff_shared.outbox import outbox_table

SCHEMA = "sla"
metadata = MetaData()

obligations = Table(
    "obligations",
    metadata,
    Column("obligation_id", Uuid, primary_key=True),
    Column("assignment_id", Uuid, nullable=False, unique=True),
    Column("lead_id", Uuid, nullable=False, index=True),
    Column("rep_id", String(200), nullable=False),
    Column("manager", String(200)),
    Column("milestone", String(32), nullable=False),
    Column("policy", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("assigned_at", UtcDateTime, nullable=False),
    Column("escalate_at", UtcDateTime, nullable=False),
    Column("recycle_at", UtcDateTime, nullable=False),
    Column("met_at", UtcDateTime),
    Column("closed_reason", String(500)),
    Index("ix_obligations_state_escalate_at", "state", "escalate_at"),
    Index("ix_obligations_state_recycle_at", "state", "recycle_at"),
)

activities = Table(
    "activities",
    metadata,
    Column("activity_id", Uuid, primary_key=True),
    Column("lead_id", Uuid, nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
