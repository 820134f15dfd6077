"""Obligations, activities seen, outbox and inbox.

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
        "obligations",
        sa.Column("obligation_id", sa.Uuid, primary_key=True),
        sa.Column("assignment_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("lead_id", sa.Uuid, nullable=False),
        sa.Column("rep_id", sa.String(200), nullable=False),
        sa.Column("manager", sa.String(200)),
        sa.Column("milestone", sa.String(32), nullable=False),
        sa.Column("policy", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("assigned_at", UtcDateTime, nullable=False),
        sa.Column("escalate_at", UtcDateTime, nullable=False),
        sa.Column("recycle_at", UtcDateTime, nullable=False),
        sa.Column("met_at", UtcDateTime),
        sa.Column("closed_reason", sa.String(500)),
    )
    op.create_index("ix_obligations_lead_id", "obligations", ["lead_id"])
    op.create_index("ix_obligations_state_escalate_at", "obligations", ["state", "escalate_at"])
    op.create_index("ix_obligations_state_recycle_at", "obligations", ["state", "recycle_at"])
    op.create_table(
        "activities",
        sa.Column("activity_id", sa.Uuid, primary_key=True),
        sa.Column("lead_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_activities_lead_id", "activities", ["lead_id"])
    create_outbox_table()
    create_inbox_table()


def downgrade() -> None:
    for table in ("inbox", "outbox", "activities", "obligations"):
        op.drop_table(table)
