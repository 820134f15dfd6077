"""Sources as configuration, hashed API keys, stored deliveries, lead provenance.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from handoff_shared.db import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("source_id", sa.String(100)))
        batch.add_column(sa.Column("external_id", sa.String(200)))
    op.create_index("ix_leads_source_external_id", "leads", ["source_id", "external_id"])
    op.create_index("ix_leads_created_at", "leads", ["created_at"])
    op.create_index("ix_leads_status_created_at", "leads", ["status", "created_at"])
    op.create_table(
        "deliveries",
        sa.Column("channel", sa.String(200), primary_key=True),
        sa.Column("delivery_id", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(200), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response_media_type", sa.String(100), nullable=False),
        sa.Column("response_body", sa.LargeBinary, nullable=False),
        sa.Column("lead_ids", sa.JSON, nullable=False),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("secrets", sa.JSON, nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("default_region", sa.String(2)),
        sa.Column("default_campaign", sa.String(200)),
        sa.Column("default_lead_source", sa.String(200)),
        sa.Column("rate_limit", sa.String(64)),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(8), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("revoked_at", UtcDateTime),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("sources")
    op.drop_table("deliveries")
    op.drop_index("ix_leads_status_created_at", "leads")
    op.drop_index("ix_leads_created_at", "leads")
    op.drop_index("ix_leads_source_external_id", "leads")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("external_id")
        batch.drop_column("source_id")
