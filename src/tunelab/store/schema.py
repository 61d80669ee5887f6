"""Tables of the store (SQLAlchemy Core). Changes go through an alembic migration."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("status", String(20), nullable=False),
    Column("status_reason", Text, nullable=True),
    Column("metric", String(200), nullable=False),
    Column("goal", String(10), nullable=False),
    Column("spec", Text, nullable=False),  # JSON of the validated spec
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("stop_requested", Boolean, nullable=False, default=False),
    Column("data", Text, nullable=True),  # JSON: facts fixed per job (data split, seeds)
    # absolute folder of the job's checkpoints (checkpoint paths are relative to it); NULL for
    # jobs made before migration 0003 whose root was relative: the store's default folder
    Column("artifact_root", Text, nullable=True),
)

trials = Table(
    "trials",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("attempt", Integer, nullable=False, default=1),
    Column("retry_of", Integer, nullable=True),  # trial number of the first attempt
    Column("source", String(20), nullable=False, default="strategy"),
    Column("params", Text, nullable=False),  # JSON: current hyperparameters (PBT may change them)
    Column("state", String(20), nullable=False),
    Column("value", Float, nullable=True),
    Column("last_step", Integer, nullable=True),
    Column("segments", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("traceback", Text, nullable=True),
    Column("worker", String(200), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("device_seconds", Float, nullable=False, default=0.0),
    # JSON: the metrics the training function returned (finite floats); NULL when none
    Column("metrics", Text, nullable=True),
    UniqueConstraint("job_id", "number", name="uq_trial_number"),
)

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("trial_id", Integer, ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("value", Float, nullable=True),  # the objective metric at this step, if reported
    Column("metrics", Text, nullable=False),  # JSON of every metric reported
    Column("at", Float, nullable=False),
    Index("ix_reports_trial_step", "trial_id", "step"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("trial_id", Integer, ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Index("ix_checkpoints_trial", "trial_id"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("trial_number", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("action", String(20), nullable=False),
    Column("reason", Text, nullable=True),
    Column("donor", Integer, nullable=True),
    Column("donor_step", Integer, nullable=True),
    Column("params", Text, nullable=True),  # JSON: hyperparameters after the decision
    Column("at", Float, nullable=False),
    Index("ix_decisions_job", "job_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("trial_number", Integer, nullable=True),
    Column("kind", String(40), nullable=False),
    Column("message", Text, nullable=True),
    Column("data", Text, nullable=True),  # JSON
    Column("at", Float, nullable=False),
    Index("ix_events_job", "job_id"),
)
