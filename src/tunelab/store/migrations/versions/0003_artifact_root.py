"""jobs.artifact_root: the absolute folder of a job's checkpoints; checkpoint paths as keys

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from pathlib import PurePosixPath

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy: see 0002). NULL for old jobs: their root is the store's
    # default folder, recorded by the next tuner that runs them.
    op.add_column('jobs', sa.Column('artifact_root', sa.Text(), nullable=True))
    # Older tuners recorded `<artifacts>/<job>/trial-NNNN/<file>`, relative to the working
    # directory of the tuner (or absolute). Record the part under the root (the key), and, for
    # absolute paths, the root itself, so a resume from anywhere finds the files.
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT c.id, c.path, j.id, j.name FROM checkpoints c"
        " JOIN trials t ON c.trial_id = t.id JOIN jobs j ON t.job_id = j.id"
        " ORDER BY c.id")).all()
    roots: dict[int, str] = {}
    for cid, path, job_id, name in rows:
        parts = PurePosixPath(path).parts
        if len(parts) < 4 or parts[-3] != name or not parts[-2].startswith("trial-"):
            continue  # not a path the old layout wrote (e.g. a simulated one): left as it is
        conn.execute(sa.text("UPDATE checkpoints SET path = :p WHERE id = :id"),
                     {"p": "/".join(parts[-3:]), "id": cid})
        if path.startswith("/"):
            roots.setdefault(job_id, str(PurePosixPath(*parts[:-3])))
    for job_id, root in roots.items():
        conn.execute(sa.text("UPDATE jobs SET artifact_root = :r WHERE id = :id"),
                     {"r": root, "id": job_id})


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT c.id, c.path, j.artifact_root FROM checkpoints c"
        " JOIN trials t ON c.trial_id = t.id JOIN jobs j ON t.job_id = j.id"
        " WHERE j.artifact_root IS NOT NULL")).all()
    for cid, path, root in rows:
        if not path.startswith("/") and "://" not in path:
            conn.execute(sa.text("UPDATE checkpoints SET path = :p WHERE id = :id"),
                         {"p": str(PurePosixPath(root) / path), "id": cid})
    op.drop_column('jobs', 'artifact_root')
