"""Versioned policies, teams, routing rules, rep capacity and hours, weighted rotation,
behaviour signals, account owners, the overflow queue, shadow results and notifications.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from handoff_shared.db import UtcDateTime
from handoff_shared.migrations import create_notifications_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN_ASSIGNMENT = sa.text("status IN ('open', 'accepted')")


def upgrade() -> None:
    with op.batch_alter_table("reps") as batch:
        batch.add_column(sa.Column("weight", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("capacity", sa.Integer, nullable=False, server_default="25"))
        batch.add_column(
            sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC")
        )
        batch.add_column(sa.Column("working_hours", sa.JSON))
        batch.add_column(sa.Column("away", sa.Boolean, nullable=False, server_default="false"))
        batch.add_column(sa.Column("away_until", UtcDateTime))
        batch.add_column(sa.Column("country", sa.String(100)))
        batch.add_column(sa.Column("email", sa.String(320)))
        batch.add_column(sa.Column("slack_url", sa.Text))
        batch.add_column(sa.Column("last_assigned_at", UtcDateTime))
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("policy_version", sa.String(100)))
        batch.add_column(sa.Column("converted", sa.Boolean))
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("team", sa.String(100)))
    op.create_index(
        "uq_assignments_one_holder",
        "assignments",
        ["lead_id"],
        unique=True,
        postgresql_where=OPEN_ASSIGNMENT,
        sqlite_where=OPEN_ASSIGNMENT,
    )
    op.create_table(
        "teams",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "routing_rules",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("conditions", sa.JSON, nullable=False),
    )
    op.create_table(
        "rotation_credits",
        sa.Column("team", sa.String(100), primary_key=True),
        sa.Column("rep_id", sa.String(200), primary_key=True),
        sa.Column("current_weight", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "policies",
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("source_text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("activated_at", UtcDateTime),
    )
    op.create_table(
        "signals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("lead_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_signals_lead_id", "signals", ["lead_id"])
    op.create_table(
        "account_owners",
        sa.Column("domain", sa.String(255), primary_key=True),
        sa.Column("rep_id", sa.String(200), nullable=False),
        sa.Column("since", UtcDateTime, nullable=False),
    )
    op.create_table(
        "queued_leads",
        sa.Column("lead_id", sa.Uuid, primary_key=True),
        sa.Column("team", sa.String(100)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("queued_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "shadow_results",
        sa.Column("lead_id", sa.Uuid, primary_key=True),
        sa.Column("shadow_version", sa.String(100), primary_key=True),
        sa.Column("active_version", sa.String(100), nullable=False),
        sa.Column("active_mql", sa.Boolean, nullable=False),
        sa.Column("shadow_mql", sa.Boolean, nullable=False),
        sa.Column("active_grade", sa.String(1)),
        sa.Column("shadow_grade", sa.String(1)),
        sa.Column("shadow_qualification", sa.JSON, nullable=False),
        sa.Column("decided_at", UtcDateTime, nullable=False),
    )
    create_notifications_table()


def downgrade() -> None:
    for table in (
        "notifications",
        "shadow_results",
        "queued_leads",
        "account_owners",
        "signals",
        "policies",
        "rotation_credits",
        "routing_rules",
        "teams",
    ):
        op.drop_table(table)
    op.drop_index("uq_assignments_one_holder", "assignments")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("team")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("converted")
        batch.drop_column("policy_version")
    with op.batch_alter_table("reps") as batch:
        for column in (
            "last_assigned_at",
            "slack_url",
            "email",
            "country",
            "away_until",
            "away",
            "working_hours",
            "time_zone",
            "capacity",
            "weight",
        ):
            batch.drop_column(column)
