"""Outbox and decision rows of a few kilobytes stay inline and uncompressed (PostgreSQL).

A `lead.assigned` event is about 2 KB, so with the default TOAST target (about 2 KB) PostgreSQL
compressed nearly every outbox row as it was written, and decompressed it when the relay read it
back a moment later; rows larger than a page are still moved out of line as before.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("outbox", "decisions")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} RESET (toast_tuple_target)")
