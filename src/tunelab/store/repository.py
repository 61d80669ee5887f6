"""The store: the durable record of jobs, trials, reports, checkpoints, decisions and events.

Only the tuner writes (workers send events). Writes happen inside :meth:`Store.transaction`, a
unit of work that the tuner opens once per loop iteration, so a burst of events costs one commit.

    >>> store = Store.open("tunelab-runs")                       # doctest: +SKIP
    >>> with store.transaction() as tx:                           # doctest: +SKIP
    ...     job = tx.create_job("demo", spec, metric="loss", goal="minimize")
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from tunelab.errors import JobNotFound, SpecError, StoreError
from tunelab.store import schema as t
from tunelab.store.engine import make_engine, resolve_url
from tunelab.store.records import (
    CheckpointRecord,
    DecisionRow,
    EventRow,
    JobRecord,
    ReportRecord,
    TrialRecord,
)
from tunelab.trial import JobStatus, TrialState, transition

if TYPE_CHECKING:
    from tunelab.store.artifacts import FileArtifacts, LocalArtifacts

# the writes made at every report, built once and executed with their values as parameters:
# building a statement with .values(...) per call cost more than SQLite's own work
_INSERT_TRIAL = insert(t.trials)
_INSERT_REPORT = insert(t.reports)
_INSERT_CHECKPOINT = insert(t.checkpoints)
_INSERT_DECISION = insert(t.decisions)
_INSERT_EVENT = insert(t.events)
_UPDATE_TRIAL = update(t.trials).where(t.trials.c.id == bindparam("trial_id_"))
_DELETE_CHECKPOINT = update(t.checkpoints).where(
    t.checkpoints.c.id == bindparam("checkpoint_id_")).values(deleted=True)

JOB_STATUSES = tuple(s.value for s in JobStatus)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def _loads(s: str | None) -> Any:
    return None if s is None else json.loads(s)


def _num(v: float | None) -> float | None:
    """NaN/inf are kept out of numeric columns (PostgreSQL and JSON disagree on them)."""
    return v if v is None or math.isfinite(v) else None


def _metrics_json(metrics: Mapping[str, float] | None) -> str | None:
    """A trial's returned metrics as JSON, finite floats only (NULL when there are none)."""
    clean = {str(k): float(v) for k, v in (metrics or {}).items()
             if isinstance(v, (int, float)) and math.isfinite(v)}
    return _dumps(clean) if clean else None


class Tx:
    """One transaction on the store: every write method of the tuner lives here."""

    def __init__(self, conn: Connection) -> None:
        self.c = conn

    # jobs -----------------------------------------------------------------------------------
    def create_job(
        self, name: str, spec: Mapping[str, Any], *, metric: str, goal: str,
        data: Mapping[str, Any] | None = None, artifact_root: str | Path | None = None,
    ) -> JobRecord:
        taken = SpecError.field(
            "name", "a job name not used in this store", name,
            f"Use `tunelab resume {name}` to continue it, or pick another name.",
        )
        if self.c.execute(select(t.jobs.c.id).where(t.jobs.c.name == name)).first():
            raise taken
        now = time.time()
        try:
            self.c.execute(
                insert(t.jobs).values(
                    name=name, status=JobStatus.CREATED.value, metric=metric, goal=goal,
                    spec=_dumps(spec),
                    created_at=now, updated_at=now, stop_requested=False,
                    data=_dumps(dict(data or {})),
                    artifact_root=None if artifact_root is None else str(artifact_root),
                )
            )
        except IntegrityError:
            # another tuner created the same name between the check and the insert
            # (PostgreSQL: its uncommitted row blocks ours until it commits)
            raise taken from None
        return self.job(name)

    def delete_job(self, job_id: int) -> None:
        """Delete a job and every row that belongs to it (trials, reports, checkpoints,
        decisions, events); its files are the caller's (see ``tunelab delete``)."""
        trial_ids = select(t.trials.c.id).where(t.trials.c.job_id == job_id)
        for table in (t.reports, t.checkpoints):
            self.c.execute(delete(table).where(table.c.trial_id.in_(trial_ids)))
        for table in (t.trials, t.decisions, t.events):
            self.c.execute(delete(table).where(table.c.job_id == job_id))
        self.c.execute(delete(t.jobs).where(t.jobs.c.id == job_id))

    def job(self, name: str) -> JobRecord:
        row = self.c.execute(select(t.jobs).where(t.jobs.c.name == name)).mappings().first()
        if row is None:
            known = [r[0] for r in self.c.execute(select(t.jobs.c.name).limit(20))]
            hint = f" Known jobs: {', '.join(known)}." if known else " The store has no jobs."
            raise JobNotFound(f"no tuning job named {name!r} in this store.{hint}")
        return _job(row)

    def jobs(self) -> list[JobRecord]:
        rows = self.c.execute(select(t.jobs).order_by(t.jobs.c.created_at)).mappings()
        return [_job(r) for r in rows]

    def set_job(self, job_id: int, **fields: Any) -> None:
        if "data" in fields:
            fields["data"] = _dumps(fields["data"])
        if "spec" in fields:
            fields["spec"] = _dumps(fields["spec"])
        fields["updated_at"] = time.time()
        self.c.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(**fields))

    def acquire_lease(
        self, job_id: int, owner: str, ttl: float, *, take_over: str | None = None
    ) -> bool:
        """Take the job's lease if it is free, expired, or already ours; or, with
        ``take_over``, if that (known dead) owner still holds it."""
        now = time.time()
        free = [t.jobs.c.lease_owner.is_(None), t.jobs.c.lease_until < now,
                t.jobs.c.lease_owner == owner]
        if take_over is not None:
            free.append(t.jobs.c.lease_owner == take_over)
        res = self.c.execute(
            update(t.jobs)
            .where(and_(t.jobs.c.id == job_id, or_(*free)))
            .values(lease_owner=owner, lease_until=now + ttl, updated_at=now)
        )
        return bool(res.rowcount)

    def release_lease(self, job_id: int, owner: str) -> None:
        self.c.execute(
            update(t.jobs)
            .where(and_(t.jobs.c.id == job_id, t.jobs.c.lease_owner == owner))
            .values(lease_owner=None, lease_until=None)
        )

    # trials ---------------------------------------------------------------------------------
    def next_trial_number(self, job_id: int) -> int:
        n = self.c.execute(
            select(func.max(t.trials.c.number)).where(t.trials.c.job_id == job_id)
        ).scalar()
        return 0 if n is None else int(n) + 1

    def create_trial(
        self, job_id: int, number: int, params: Mapping[str, Any], *, source: str = "strategy",
        attempt: int = 1, retry_of: int | None = None,
    ) -> int:
        res = self.c.execute(_INSERT_TRIAL, {
            "job_id": job_id, "number": number, "attempt": attempt, "retry_of": retry_of,
            "source": source, "params": _dumps(dict(params)),
            "state": TrialState.PENDING.value, "segments": 0, "created_at": time.time(),
            "device_seconds": 0.0,
        })
        pk = res.inserted_primary_key
        assert pk is not None
        return int(pk[0])

    def set_trial(
        self, trial_id: int, *, state: TrialState | None = None, current: TrialState | None = None,
        **fields: Any,
    ) -> None:
        """Update a trial; a state change is checked against the legal transitions.

        ``metrics`` (what the training function returned) is stored as JSON of its finite
        values, NULL when none are left."""
        if state is not None:
            if current is None:
                row = self.c.execute(
                    select(t.trials.c.state).where(t.trials.c.id == trial_id)
                ).first()
                if row is None:
                    raise StoreError(f"no trial with id {trial_id}")
                current = TrialState(row[0])
            fields["state"] = transition(current, state).value
        if "params" in fields:
            fields["params"] = _dumps(dict(fields["params"]))
        if "value" in fields:
            fields["value"] = _num(fields["value"])
        if "metrics" in fields:
            fields["metrics"] = _metrics_json(fields["metrics"])
        self.c.execute(_UPDATE_TRIAL, {"trial_id_": trial_id, **fields})

    def add_report(
        self, trial_id: int, step: int, value: float | None, metrics: Mapping[str, float],
        at: float,
    ) -> None:
        self.c.execute(_INSERT_REPORT, {
            "trial_id": trial_id, "step": step, "value": _num(value),
            "metrics": json.dumps({k: (v if math.isfinite(v) else str(v))
                                   for k, v in metrics.items()}),
            "at": at,
        })

    def add_checkpoint(self, trial_id: int, step: int, path: str, sha256: str, size: int) -> int:
        res = self.c.execute(_INSERT_CHECKPOINT, {
            "trial_id": trial_id, "step": step, "path": path, "sha256": sha256, "size": size,
            "created_at": time.time(), "deleted": False,
        })
        pk = res.inserted_primary_key
        assert pk is not None
        return int(pk[0])

    def mark_checkpoint_deleted(self, checkpoint_id: int) -> None:
        self.c.execute(_DELETE_CHECKPOINT, {"checkpoint_id_": checkpoint_id})

    def add_decision(
        self, job_id: int, trial_number: int, step: int, action: str, *, reason: str = "",
        donor: int | None = None, donor_step: int | None = None,
        params: Mapping[str, Any] | None = None, at: float | None = None,
    ) -> None:
        """Record a decision; ``at`` is on the executor's clock (that of the trial's reports,
        so a restarted tuner can tell whether a report came after it), default now."""
        self.c.execute(_INSERT_DECISION, {
            "job_id": job_id, "trial_number": trial_number, "step": step, "action": action,
            "reason": reason or None, "donor": donor, "donor_step": donor_step,
            "params": None if params is None else _dumps(dict(params)),
            "at": time.time() if at is None else at,
        })

    def add_event(
        self, job_id: int, kind: str, message: str = "", *, trial_number: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        self.c.execute(_INSERT_EVENT, {
            "job_id": job_id, "trial_number": trial_number, "kind": kind,
            "message": message or None, "data": None if data is None else _dumps(dict(data)),
            "at": time.time(),
        })

    # reads ----------------------------------------------------------------------------------
    def trials(
        self, job_id: int, *, with_reports: bool = True, ids: Sequence[int] | None = None,
    ) -> list[TrialRecord]:
        """The job's trials by number (only those with the given store ``ids``, if given)."""
        q = select(t.trials).where(t.trials.c.job_id == job_id)
        if ids is not None:
            q = q.where(t.trials.c.id.in_(list(ids)))
        rows = self.c.execute(q.order_by(t.trials.c.number)).mappings()
        out = [_trial(r) for r in rows]
        by_id = {tr.id: tr for tr in out}
        if not out:
            return out
        ids_q: Any = (list(by_id) if ids is not None
                      else select(t.trials.c.id).where(t.trials.c.job_id == job_id))
        if with_reports:
            for r in self.c.execute(
                select(t.reports).where(t.reports.c.trial_id.in_(ids_q)).order_by(t.reports.c.id)
            ).mappings():
                metrics = {k: float(v) for k, v in json.loads(r["metrics"]).items()}
                by_id[r["trial_id"]].reports.append(
                    ReportRecord(r["step"], r["value"], metrics, r["at"])
                )
        for r in self.c.execute(
            select(t.checkpoints).where(t.checkpoints.c.trial_id.in_(ids_q))
            .order_by(t.checkpoints.c.id)
        ).mappings():
            by_id[r["trial_id"]].checkpoints.append(
                CheckpointRecord(r["id"], r["step"], r["path"], r["sha256"], r["size"],
                                 bool(r["deleted"]))
            )
        return out

    def decisions(self, job_id: int) -> list[DecisionRow]:
        rows = self.c.execute(
            select(t.decisions).where(t.decisions.c.job_id == job_id).order_by(t.decisions.c.id)
        ).mappings()
        return [
            DecisionRow(r["trial_number"], r["step"], r["action"], r["reason"], r["donor"],
                        r["donor_step"], _loads(r["params"]), r["at"])
            for r in rows
        ]

    def events(self, job_id: int, kind: str | None = None) -> list[EventRow]:
        q = select(t.events).where(t.events.c.job_id == job_id)
        if kind is not None:
            q = q.where(t.events.c.kind == kind)
        rows = self.c.execute(q.order_by(t.events.c.id)).mappings()
        return [
            EventRow(r["trial_number"], r["kind"], r["message"], _loads(r["data"]), r["at"])
            for r in rows
        ]


def _job(r: Any) -> JobRecord:
    return JobRecord(
        id=r["id"], name=r["name"], status=r["status"], status_reason=r["status_reason"],
        metric=r["metric"], goal=r["goal"], spec=json.loads(r["spec"]),
        created_at=r["created_at"], updated_at=r["updated_at"], ended_at=r["ended_at"],
        lease_owner=r["lease_owner"], lease_until=r["lease_until"],
        stop_requested=bool(r["stop_requested"]), data=_loads(r["data"]) or {},
        artifact_root=r["artifact_root"],
    )


def _trial(r: Any) -> TrialRecord:
    return TrialRecord(
        id=r["id"], number=r["number"], attempt=r["attempt"], retry_of=r["retry_of"],
        source=r["source"], params=json.loads(r["params"]), state=TrialState(r["state"]),
        value=r["value"], last_step=r["last_step"], segments=r["segments"], error=r["error"],
        traceback=r["traceback"], worker=r["worker"], created_at=r["created_at"],
        started_at=r["started_at"], ended_at=r["ended_at"], device_seconds=r["device_seconds"],
        metrics={k: float(v) for k, v in (_loads(r["metrics"]) or {}).items()},
    )


class Store:
    """A tunelab store: a database (SQLite file or PostgreSQL) plus an artifact root.

    ``artifacts`` is the absolute folder new jobs record as their artifact root: by default
    ``artifacts/`` beside a SQLite file; a PostgreSQL store has none by default (its trials may
    run on other machines: give a folder they all reach). ``explicit`` says it was given by the
    caller, in which case it also overrides the root a job recorded (the share is mounted
    elsewhere on this machine)."""

    def __init__(self, engine: Engine, artifacts: Path | str | None, url: str, *,
                 explicit: bool = False) -> None:
        from tunelab.store.artifacts import is_remote

        self.engine = engine
        #: the artifact folder (None: none, or object storage: see ``artifact_url``)
        self.artifacts: Path | None = None
        #: an object-storage location (``s3://bucket/prefix``) given instead of a folder
        self.artifact_url: str | None = None
        if artifacts is not None and is_remote(artifacts):
            self.artifact_url = str(artifacts)
        elif artifacts is not None:
            self.artifacts = Path(os.path.abspath(artifacts))
        self.url = url
        self.explicit_artifacts = explicit

    @classmethod
    def open(cls, store: str | Path | None = None, *, artifacts: str | Path | None = None) -> Store:
        """Open (creating and migrating if needed) the store at a folder path or URL."""
        from tunelab.store.artifacts import artifact_location
        from tunelab.store.engine import DEFAULT_STORE

        url, default_artifacts = resolve_url(store if store is not None else DEFAULT_STORE)
        where = artifact_location(artifacts) if artifacts else default_artifacts
        return cls(make_engine(url), where, url, explicit=bool(artifacts))

    def artifact_root(self, job: JobRecord | None = None) -> str:
        """The artifact root for ``job`` (or for a new job): an explicit ``artifacts`` given to
        :meth:`open`, else the root the job recorded, else the store's default — an absolute
        folder or an object-storage URL. Raises :class:`StoreError` when there is none (a
        PostgreSQL store opened without one)."""
        given = self.artifact_url or (str(self.artifacts) if self.artifacts is not None
                                      else None)
        if given is not None and (self.explicit_artifacts or job is None
                                  or job.artifact_root is None):
            return given
        if job is not None and job.artifact_root is not None:
            return job.artifact_root
        where = f"job {job.name!r}" if job is not None else "a new job"
        raise StoreError(
            f"a PostgreSQL store needs a shared artifact location for {where}; none was given. "
            "Pass --artifacts PATH (Python: artifacts=PATH), a folder every machine that runs "
            "trials can reach, or s3://BUCKET/PREFIX."
        )

    def db_folder(self) -> str | None:
        """The folder of a SQLite store's file (where a full disk stops commits), else None."""
        if not self.url.startswith("sqlite:///"):
            return None
        db = self.url[len("sqlite:///"):].split("?")[0]
        return None if not db or db == ":memory:" else os.path.dirname(os.path.abspath(db))

    def artifacts_for(self, job: JobRecord | None = None) -> LocalArtifacts:
        """The job's artifact folder (see :meth:`artifact_root`); :class:`StoreError` when the
        job's checkpoints are in object storage (:meth:`artifact_store` serves both)."""
        from tunelab.store.artifacts import LocalArtifacts

        store = self.artifact_store(job)
        if not isinstance(store, LocalArtifacts):
            raise StoreError(f"the checkpoints of this job are in object storage "
                             f"({store.root}), not in a folder")
        return store

    def artifact_store(self, job: JobRecord | None = None) -> FileArtifacts:
        """The job's artifact store: a folder, or object storage (see :meth:`artifact_root`)."""
        from tunelab.store.artifacts import open_artifacts

        return open_artifacts(self.artifact_root(job))

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self.engine.begin() as conn:
            yield Tx(conn)

    def read(self) -> Tx:
        """A Tx for reads outside a transaction block (each call auto-commits)."""
        return _ReadTx(self.engine)

    def close(self) -> None:
        self.engine.dispose()


class _ReadTx(Tx):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __getattribute__(self, name: str) -> Any:
        attr = object.__getattribute__(self, name)
        if name.startswith("_") or not callable(attr) or name not in Tx.__dict__:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._engine.begin() as conn:
                return getattr(Tx(conn), name)(*args, **kwargs)

        return call
