"""Alembic helpers: each service keeps its own migration history in its own schema."""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from handoff_shared.db import UtcDateTime, ensure_sqlite_folder, is_postgres


def upgrade_to_head(database_url: str, schema: str, script_location: Path) -> None:
    """Apply a service's migrations (blocking; call through asyncio.to_thread from a loop)."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["database_url"] = database_url
    config.attributes["schema"] = schema
    command.upgrade(config, "head")


def run_env(target_metadata: sa.MetaData) -> None:
    """The body of every service's alembic env.py."""
    url: str = context.config.attributes["database_url"]
    schema: str = context.config.attributes["schema"]
    asyncio.run(_migrate(url, schema, target_metadata))


async def _migrate(url: str, schema: str, target_metadata: sa.MetaData) -> None:
    ensure_sqlite_folder(url)
    engine = create_async_engine(url, poolclass=NullPool)
    postgres = is_postgres(url)
    async with engine.connect() as connection:
        if postgres:
            # Replicas starting together must not race each other through the same migration.
            lock_key = zlib.crc32(f"migrate:{schema}".encode())
            await connection.execute(sa.text(f"SELECT pg_advisory_lock({lock_key})"))
            await connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await connection.execute(sa.text(f'SET search_path TO "{schema}"'))
            await connection.commit()
        await connection.run_sync(_run_sync, target_metadata, schema if postgres else None)
        await connection.commit()
        if postgres:
            await connection.execute(sa.text(f"SELECT pg_advisory_unlock({lock_key})"))
    await engine.dispose()


def _run_sync(connection: Connection, target_metadata: sa.MetaData, schema: str | None) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def create_outbox_table() -> None:
    """The outbox as of its first version, for a service's initial migration."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def create_inbox_table() -> None:
    """The inbox as of its first version, for a service's initial migration."""
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("processed_at", UtcDateTime, nullable=False),
    )


def create_notifications_table() -> None:
    """The notifications table as of its first version, for a service's migration."""
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("notification_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("delivered_at", UtcDateTime),
        sa.UniqueConstraint("notification_id", "channel", name="uq_notifications_id_channel"),
    )
    op.create_index(
        "ix_notifications_status_next_attempt_at", "notifications", ["status", "next_attempt_at"]
    )
