"""Router's tables, in its own schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from handoff_shared.db import UtcDateTime
from handoff_shared.inbox import inbox_table
from handoff_shared.notify import notifications_table
from handoff_shared.outbox import outbox_table

SCHEMA = "router"
metadata = MetaData()

# Statuses of an assignment that still hold the lead; only `open` counts against capacity.
HOLDING_STATUSES = ("open", "accepted")
OPEN_ASSIGNMENT = text("status IN ('open', 'accepted')")

reps = Table(
    "reps",
    metadata,
    Column("rep_id", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("manager", String(200)),
    Column("team", String(100), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("weight", Integer, nullable=False, server_default="1"),
    Column("capacity", Integer, nullable=False, server_default="25"),
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
    Column("working_hours", JSON),
    Column("away", Boolean, nullable=False, server_default="false"),
    Column("away_until", UtcDateTime),
    Column("country", String(100)),
    Column("email", String(320)),
    Column("slack_url", Text),
    Column("last_assigned_at", UtcDateTime),
)

teams = Table(
    "teams",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("description", Text, nullable=False, server_default=""),
)

routing_rules = Table(
    "routing_rules",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("team", String(100), nullable=False),
    Column("conditions", JSON, nullable=False),
)

# One row per team: locking it serialises that team's assignments across router instances.
rotations = Table(
    "rotations",
    metadata,
    Column("pool", String(100), primary_key=True),
    Column("cursor", Integer, nullable=False),
)

rotation_credits = Table(
    "rotation_credits",
    metadata,
    Column("team", String(100), primary_key=True),
    Column("rep_id", String(200), primary_key=True),
    Column("current_weight", BigInteger, nullable=False),
)

policies = Table(
    "policies",
    metadata,
    Column("version", String(100), primary_key=True),
    Column("document", JSON, nullable=False),
    Column("source_text", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("activated_at", UtcDateTime),
)

signals = Table(
    "signals",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("lead_id", Uuid, nullable=False),
    Column("kind", String(100), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Index("ix_signals_lead_id", "lead_id"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("lead_id", Uuid, primary_key=True),
    Column("lead", JSON, nullable=False),
    Column("qualification", JSON, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("policy_version", String(100)),
    Column("converted", Boolean),
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
    Column("team", String(100)),
    UniqueConstraint("lead_id", "sequence", name="uq_assignments_lead_sequence"),
    Index("ix_assignments_rep_status", "rep_id", "status"),
    Index(
        "uq_assignments_one_holder",
        "lead_id",
        unique=True,
        postgresql_where=OPEN_ASSIGNMENT,
        sqlite_where=OPEN_ASSIGNMENT,
    ),
)

account_owners = Table(
    "account_owners",
    metadata,
    Column("domain", String(255), primary_key=True),
    Column("rep_id", String(200), nullable=False),
    Column("since", UtcDateTime, nullable=False),
)

queued_leads = Table(
    "queued_leads",
    metadata,
    Column("lead_id", Uuid, primary_key=True),
    Column("team", String(100)),
    Column("reason", Text, nullable=False),
    Column("queued_at", UtcDateTime, nullable=False),
)

shadow_results = Table(
    "shadow_results",
    metadata,
    Column("lead_id", Uuid, primary_key=True),
    Column("shadow_version", String(100), primary_key=True),
    Column("active_version", String(100), nullable=False),
    Column("active_mql", Boolean, nullable=False),
    Column("shadow_mql", Boolean, nullable=False),
    Column("active_grade", String(1)),
    Column("shadow_grade", String(1)),
    Column("shadow_qualification", JSON, nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
notifications = notifications_table(metadata)
