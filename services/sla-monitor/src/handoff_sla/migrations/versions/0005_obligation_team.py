"""Each obligation names the team its assignment was routed to, for compliance per team.

Obligations opened before this version have no team; the compliance report shows them under
"(unknown)".

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("obligations", sa.Column("team", sa.String(100)))


def downgrade() -> None:
    with op.batch_alter_table("obligations") as batch:
        batch.drop_column("team")
