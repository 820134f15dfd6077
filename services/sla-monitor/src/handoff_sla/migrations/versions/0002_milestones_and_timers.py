"""Milestone obligations with their counting rules, durable timers, notifications.

Obligations become one row per milestone of an assignment and carry how they count time
(business or calendar hours, zone, week, holidays) and their outcome; each ladder step becomes a
row in `timers`, indexed by due time while pending. Open obligations of the first version are
carried over with calendar-hour timers for their escalation and recycle.

Revision ID: 0002
Revises: 0001
"""

import uuid
from datetime import time

import sqlalchemy as sa
from alembic import op

from handoff_shared.db import UtcDateTime
from handoff_shared.events import FOLLOW_UP_KINDS, deterministic_id
from handoff_shared.migrations import create_notifications_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for index in (
        "ix_obligations_lead_id",
        "ix_obligations_state_escalate_at",
        "ix_obligations_state_recycle_at",
    ):
        op.drop_index(index, table_name="obligations")
    op.rename_table("obligations", "obligations_v1")
    obligations = op.create_table(
        "obligations",
        sa.Column("obligation_id", sa.Uuid, primary_key=True),
        sa.Column("assignment_id", sa.Uuid, nullable=False),
        sa.Column("lead_id", sa.Uuid, nullable=False),
        sa.Column("rep_id", sa.String(200), nullable=False),
        sa.Column("manager", sa.String(200)),
        sa.Column("milestone", sa.String(32), nullable=False),
        sa.Column("policy", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("assigned_at", UtcDateTime, nullable=False),
        sa.Column("escalate_at", UtcDateTime, nullable=False),
        sa.Column("recycle_at", UtcDateTime),
        sa.Column("warn_at", UtcDateTime),
        sa.Column("met_at", UtcDateTime),
        sa.Column("closed_reason", sa.String(500)),
        sa.Column("closed_at", UtcDateTime),
        sa.Column("clock", sa.String(16), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("holiday_country", sa.String(16)),
        sa.Column("working_days", sa.String(7), nullable=False),
        sa.Column("opens", sa.Time, nullable=False),
        sa.Column("closes", sa.Time, nullable=False),
        sa.Column("target_seconds", sa.Float, nullable=False),
        sa.Column("met_by", sa.JSON, nullable=False),
        sa.Column("recycle_to", sa.String(16), nullable=False),
        sa.Column("within_target", sa.Boolean),
        sa.Column("counted_seconds", sa.Float),
        sa.Column("paused_seconds", sa.Float),
        sa.UniqueConstraint(
            "assignment_id", "milestone", name="uq_obligations_assignment_milestone"
        ),
    )
    op.create_index("ix_obligations_lead_id", "obligations", ["lead_id"])
    timers = op.create_table(
        "timers",
        sa.Column("timer_id", sa.Uuid, primary_key=True),
        sa.Column("obligation_id", sa.Uuid, nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("fired_at", UtcDateTime),
    )
    op.create_index("ix_timers_obligation_id", "timers", ["obligation_id"])
    op.create_index(
        "ix_timers_pending_due_at",
        "timers",
        ["due_at"],
        postgresql_where=sa.text("state = 'pending'"),
        sqlite_where=sa.text("state = 'pending'"),
    )
    _carry_over_first_version(obligations, timers)
    op.drop_table("obligations_v1")
    op.add_column("activities", sa.Column("rep_id", sa.String(200)))
    create_notifications_table()


def _carry_over_first_version(obligations: sa.Table, timers: sa.Table) -> None:
    old = sa.Table(
        "obligations_v1",
        sa.MetaData(),
        sa.Column("obligation_id", sa.Uuid),
        sa.Column("assignment_id", sa.Uuid),
        sa.Column("lead_id", sa.Uuid),
        sa.Column("rep_id", sa.String),
        sa.Column("manager", sa.String),
        sa.Column("milestone", sa.String),
        sa.Column("policy", sa.String),
        sa.Column("state", sa.String),
        sa.Column("assigned_at", UtcDateTime),
        sa.Column("escalate_at", UtcDateTime),
        sa.Column("recycle_at", UtcDateTime),
        sa.Column("met_at", UtcDateTime),
        sa.Column("closed_reason", sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(old)).mappings().all()
    if not rows:
        return
    bind.execute(
        obligations.insert(),
        [
            {
                **row,
                "clock": "calendar",
                "time_zone": "UTC",
                "working_days": "12345",
                "opens": time(9),
                "closes": time(17),
                "target_seconds": (row["escalate_at"] - row["assigned_at"]).total_seconds(),
                "met_by": sorted(FOLLOW_UP_KINDS),
                "recycle_to": "nurture",
            }
            for row in rows
        ],
    )
    pending = [
        {
            "timer_id": uuid.UUID(deterministic_id("timer", row["obligation_id"], step)),
            "obligation_id": row["obligation_id"],
            "step": step,
            "due_at": row[column],
            "state": "pending",
        }
        for row in rows
        for step, column, states in (
            ("escalate", "escalate_at", ("open",)),
            ("recycle", "recycle_at", ("open", "escalated")),
        )
        if row["state"] in states
    ]
    if pending:
        bind.execute(timers.insert(), pending)


def downgrade() -> None:
    """Back to one first-touch row per assignment; accept milestones and timer history go."""
    op.drop_table("notifications")
    with op.batch_alter_table("activities") as batch:
        batch.drop_column("rep_id")
    op.drop_table("timers")
    op.drop_index("ix_obligations_lead_id", table_name="obligations")
    op.execute("DELETE FROM obligations WHERE milestone <> 'first_touch'")
    op.execute("UPDATE obligations SET recycle_at = escalate_at WHERE recycle_at IS NULL")
    with op.batch_alter_table("obligations") as batch:
        batch.drop_constraint("uq_obligations_assignment_milestone", type_="unique")
        batch.create_unique_constraint("obligations_assignment_id_key", ["assignment_id"])
        batch.alter_column("recycle_at", existing_type=UtcDateTime, nullable=False)
        for column in (
            "warn_at",
            "closed_at",
            "clock",
            "time_zone",
            "holiday_country",
            "working_days",
            "opens",
            "closes",
            "target_seconds",
            "met_by",
            "recycle_to",
            "within_target",
            "counted_seconds",
            "paused_seconds",
        ):
            batch.drop_column(column)
    op.create_index("ix_obligations_lead_id", "obligations", ["lead_id"])
    op.create_index("ix_obligations_state_escalate_at", "obligations", ["state", "escalate_at"])
    op.create_index("ix_obligations_state_recycle_at", "obligations", ["state", "recycle_at"])
