"""Router's tables, in its own schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)

from handoff_shared.db import UtcDateTime
from handoff_shared.inbox import inbox_table
from handoff_shared.outbox import outbox_table

SCHEMA = "router"
metadata = MetaData()

reps = Table(
    "reps",
    metadata,
    Column("rep_id", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("manager", String(200)),
    Column("team", String(100), nullable=False),
    Column("active", Boolean, nullable=False),
)

rotations = Table(
    "rotations",
    metadata,
    Column("pool", String(100), primary_key=True),
    Column("cursor", Integer, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("lead_id", Uuid, primary_key=True),
    Column("lead", JSON, nullable=False),
    Column("qualification", JSON, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
)

assignments = Table(
    "assignments",
    metadata,
    Column("assignment_id", Uuid, primary_key=True),
    Column("lead_id", Uuid, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("rep_id", String(200), nullable=False),
    Column("status", String(32), nullable=False),
    Column("assigned_at", UtcDateTime, nullable=False),
    Column("closed_reason", String(500)),
    UniqueConstraint("lead_id", "sequence", name="uq_assignments_lead_sequence"),
    Index("ix_assignments_rep_status", "rep_id", "status"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
