"""Each timer carries the id of the event its step publishes; only pending timers are indexed
by obligation.

The id is deterministic (uuid5 of the obligation and the step), so it is computed once when the
timer is created instead of in the sweep, where a burst of timers made it a noticeable cost.
Existing timers get theirs here. The index by obligation serves only the sweep's look-up of an
earlier pending step, so fired timers leave it: firing one writes one index entry fewer, and the
index stays as small as the set of open timers.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from handoff_shared.events import deterministic_id

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The event each step publishes, as named in its id (see handlers.STEP_EVENTS).
EVENT_NAMES = {"warn": "warned", "escalate": "escalated", "recycle": "recycled"}
BACKFILL_CHUNK = 10_000


def upgrade() -> None:
    op.add_column("timers", sa.Column("event_id", sa.String(64)))
    timers = sa.table(
        "timers",
        sa.column("timer_id", sa.Uuid),
        sa.column("obligation_id", sa.Uuid),
        sa.column("step", sa.String),
        sa.column("event_id", sa.String),
    )
    bind = op.get_bind()
    after = None
    while True:
        query = sa.select(timers.c.timer_id, timers.c.obligation_id, timers.c.step)
        if after is not None:
            query = query.where(timers.c.timer_id > after)
        chunk = bind.execute(query.order_by(timers.c.timer_id).limit(BACKFILL_CHUNK)).all()
        if not chunk:
            break
        bind.execute(
            sa.update(timers)
            .where(timers.c.timer_id == sa.bindparam("b_timer_id"))
            .values(event_id=sa.bindparam("b_event_id")),
            [
                {
                    "b_timer_id": row.timer_id,
                    "b_event_id": deterministic_id("sla", row.obligation_id, EVENT_NAMES[row.step]),
                }
                for row in chunk
            ],
        )
        after = chunk[-1].timer_id
    with op.batch_alter_table("timers") as batch:
        batch.alter_column("event_id", existing_type=sa.String(64), nullable=False)
    op.drop_index("ix_timers_obligation_id", table_name="timers")
    op.create_index(
        "ix_timers_pending_obligation_id",
        "timers",
        ["obligation_id"],
        postgresql_where=sa.text("state = 'pending'"),
        sqlite_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_timers_pending_obligation_id", table_name="timers")
    op.create_index("ix_timers_obligation_id", "timers", ["obligation_id"])
    with op.batch_alter_table("timers") as batch:
        batch.drop_column("event_id")
