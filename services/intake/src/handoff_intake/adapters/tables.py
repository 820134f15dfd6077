"""Intake's tables, in its own schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
)

from handoff_shared.db import UtcDateTime
from handoff_shared.inbox import inbox_table
from handoff_shared.outbox import outbox_table

SCHEMA = "intake"
metadata = MetaData()

leads = Table(
    "leads",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("status", String(32), nullable=False),
    Column("snapshot", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("source_id", String(100)),
    Column("external_id", String(200)),
    Index("ix_leads_email_created_at", "email", "created_at"),
    Index("ix_leads_source_external_id", "source_id", "external_id"),
    Index("ix_leads_created_at", "created_at"),
    Index("ix_leads_status_created_at", "status", "created_at"),
)

timeline = Table(
    "timeline",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("lead_id", Uuid, nullable=False, index=True),
    Column("event_id", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("detail", JSON, nullable=False),
)

# Every webhook delivery and REST call that was stored: the raw body for audit, and the answer
# given, which a replay of the same (channel, delivery id) gets back instead of a second lead.
deliveries = Table(
    "deliveries",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("delivery_id", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("content_type", String(200), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response_media_type", String(100), nullable=False),
    Column("response_body", LargeBinary, nullable=False),
    Column("lead_ids", JSON, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("kind", String(64), nullable=False),
    # Sealed with INTAKE_SECRETS_KEYS when set (adapters/secret_box.py), never hashed: an HMAC
    # is checked by recomputing it with the secret itself.
    Column("secrets", JSON, nullable=False),
    Column("options", JSON, nullable=False),
    Column("default_region", String(2)),
    Column("default_campaign", String(200)),
    Column("default_lead_source", String(200)),
    Column("rate_limit", String(64)),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("hint", String(8), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
