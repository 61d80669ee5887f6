"""trials.metrics: the metrics a training function returned

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'


def upgrade() -> None:
    # A plain ALTER TABLE ... ADD COLUMN on both SQLite and PostgreSQL (no batch table copy:
    # on SQLite a copy drops the old table, which with foreign keys on would cascade to
    # reports and checkpoints). Nullable, no default: existing trials returned nothing.
    op.add_column('trials', sa.Column('metrics', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('trials', 'metrics')  # SQLite >= 3.35 drops a column in place
