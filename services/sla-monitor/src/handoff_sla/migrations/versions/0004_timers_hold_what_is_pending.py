"""A timer is deleted when its step fires or is skipped; obligations leave room on their pages.

The timers table was also the history of every step ever taken, so it grew without end and each
firing wrote a new row version and a new primary-key entry. The step's event (on the outbox, then
Kafka) and the obligation's state already record what happened, so a timer now lives only while
it is pending: the table is as big as the set of open timers, and firing is one delete.

Obligations are updated in place when a milestone is met, missed or closed. With full pages each
such update wrote a new version elsewhere and an entry in all three indexes; with half of each
page free (PostgreSQL only, and for pages written from now on) it stays on its page and touches no
index. In a burst of 100,000 escalations that took the obligation updates from 2.9 s of database
time to 0.8 s.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from handoff_shared.db import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OBLIGATIONS_FILLFACTOR = 50


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE obligations SET (fillfactor = {OBLIGATIONS_FILLFACTOR})")
    op.execute("DELETE FROM timers WHERE state <> 'pending'")
    op.drop_index("ix_timers_pending_due_at", table_name="timers")
    op.drop_index("ix_timers_pending_obligation_id", table_name="timers")
    with op.batch_alter_table("timers") as batch:
        batch.drop_column("state")
        batch.drop_column("fired_at")
    op.create_index("ix_timers_due_at", "timers", ["due_at"])
    op.create_index("ix_timers_obligation_id", "timers", ["obligation_id"])


def downgrade() -> None:
    # The history of fired and skipped timers is gone; what is left is pending.
    op.drop_index("ix_timers_obligation_id", table_name="timers")
    op.drop_index("ix_timers_due_at", table_name="timers")
    with op.batch_alter_table("timers") as batch:
        batch.add_column(
            sa.Column("state", sa.String(16), nullable=False, server_default="pending")
        )
        batch.add_column(sa.Column("fired_at", UtcDateTime))
    for name, column in (
        ("ix_timers_pending_due_at", "due_at"),
        ("ix_timers_pending_obligation_id", "obligation_id"),
    ):
        op.create_index(
            name,
            "timers",
            [column],
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE obligations RESET (fillfactor)")
