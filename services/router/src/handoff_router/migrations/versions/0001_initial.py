"""Reps, rotations, decisions, assignments, outbox and inbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from handoff_shared.db import UtcDateTime
from handoff_shared.migrations import create_inbox_table, create_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reps",
        sa.Column("rep_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("manager", sa.String(200)),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_table(
        "rotations",
        sa.Column("pool", sa.String(100), primary_key=True),
        sa.Column("cursor", sa.Integer, nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("lead_id", sa.Uuid, primary_key=True),
        sa.Column("lead", sa.JSON, nullable=False),
        sa.Column("qualification", sa.JSON, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("decided_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column("assignment_id", sa.Uuid, primary_key=True),
        sa.Column("lead_id", sa.Uuid, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("rep_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("assigned_at", UtcDateTime, nullable=False),
        sa.Column("closed_reason", sa.String(500)),
        sa.UniqueConstraint("lead_id", "sequence", name="uq_assignments_lead_sequence"),
    )
    op.create_index("ix_assignments_rep_status", "assignments", ["rep_id", "status"])
    create_outbox_table()
    create_inbox_table()


def downgrade() -> None:
    for table in ("inbox", "outbox", "assignments", "decisions", "rotations", "reps"):
        op.drop_table(table)
