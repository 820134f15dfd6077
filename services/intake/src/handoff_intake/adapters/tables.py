"""Intake's tables, in its own schema."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, String, Table, Uuid

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
    Index("ix_leads_email_created_at", "email", "created_at"),
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

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
