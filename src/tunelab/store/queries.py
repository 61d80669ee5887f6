"""The read side: every question the CLI, the Python API, the progress view and the web server
ask the store, answered with typed records (:mod:`tunelab.store.read_models`).

A :class:`Reader` holds a read-only engine (:mod:`tunelab.store.read_engine`), so polling a
live job never takes the tuner's write lock. Each public method reads in one snapshot. The only
write is :meth:`Reader.request_stop`, a short transaction through the ordinary writer.

    >>> r = Reader.open("tunelab-runs")                 # doctest: +SKIP
    >>> [j.name for j in r.jobs()]                      # one query for the whole list
    >>> r.curves("my-job", metric="val_loss", after=0)  # every trial's curve, then increments
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, case, func, literal, or_, select

from tunelab.errors import JobNotFound, SpecError
from tunelab.store import schema as t
from tunelab.store.read_models import (
    BestTrial,
    CheckpointRow,
    Curve,
    Curves,
    EventOut,
    EventPage,
    JobHeader,
    JobOverview,
    JobSummary,
    JobVersion,
    LineageRow,
    Objective,
    ReportPage,
    ReportRow,
    TrialDetail,
    TrialPage,
    TrialPoint,
    TrialRow,
)
from tunelab.store.records import JobRecord
from tunelab.store.repository import Tx
from tunelab.trial import RANKED, JobStatus, TrialState

STALE_LEASE = JobStatus.INTERRUPTED.value  # shown for a running job whose lease ran out
JOB_STATUS_FILTERS = tuple(s.value for s in JobStatus)
SORT_KEYS = ("value", "number", "state", "device_seconds", "steps", "started_at", "ended_at")
SortKey = Literal["value", "number", "state", "device_seconds", "steps", "started_at",
                  "ended_at"]
# states whose value ranks a trial on the leaderboard (as `tunelab show` ranks them, and as
# JobState.ranked picks the best trial)
_RANKED = tuple(sorted(RANKED, key=list(TrialState).index))


def finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def job_status(job: JobRecord) -> str:
    """The job's status, with a crashed tuner (running, lease expired) shown as interrupted."""
    return _status(job.status, job.lease_until)


def _status(status: str, lease_until: float | None) -> str:
    if status == "running" and (lease_until is None or lease_until < time.time()):
        return STALE_LEASE
    return status


def _metrics(s: str | None) -> dict[str, float]:
    """A report's metrics JSON (non-finite values are stored as strings: they come back as
    floats, NaN included, as the tuner saw them)."""
    return {} if s is None else {k: float(v) for k, v in json.loads(s).items()}


def _finite_metrics(m: dict[str, float]) -> dict[str, float | None]:
    return {k: finite(v) for k, v in m.items()}


class Reader:
    """Read-only access to a store (see the module docstring)."""

    def __init__(self, engine: Engine, url: str, artifacts: Path | str | None,
                 artifact_url: str | None = None) -> None:
        from tunelab.store.artifacts import is_remote

        self.engine = engine
        self.url = url
        #: the artifact folder; an object-storage location is ``artifact_url`` instead
        self.artifacts: Path | None = None
        self.artifact_url: str | None = artifact_url
        if artifacts is not None and is_remote(artifacts):
            self.artifact_url = str(artifacts)
        elif artifacts is not None:
            self.artifacts = Path(artifacts)

    @classmethod
    def open(cls, store: str | Path | None = None, *,
             artifacts: str | Path | None = None) -> Reader:
        """Open an existing store read-only (a missing store is a :class:`StoreError`)."""
        from tunelab.store.artifacts import artifact_location
        from tunelab.store.engine import DEFAULT_STORE, resolve_url
        from tunelab.store.read_engine import make_read_engine

        url, default_artifacts = resolve_url(store if store is not None else DEFAULT_STORE)
        return cls(make_read_engine(url), url,
                   artifact_location(artifacts) if artifacts else default_artifacts)

    @classmethod
    def of(cls, store: Any) -> Reader:
        """A reader on an open :class:`~tunelab.store.Store` (its own read-only engine; an
        in-memory SQLite store is read through its only engine)."""
        from tunelab.store.read_engine import make_read_engine, sqlite_path

        if store.url.startswith("sqlite") and sqlite_path(store.url) is None:
            return cls(store.engine, store.url, store.artifacts, store.artifact_url)
        return cls(make_read_engine(store.url), store.url, store.artifacts,
                   store.artifact_url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """One read transaction: every query inside sees the same state of the store."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # jobs -------------------------------------------------------------------------------------
    def jobs(self, status: str | None = None) -> list[JobOverview]:
        """Every job (oldest first), with trial counts and best values, in one query;
        ``status`` filters on the shown status (``interrupted`` included)."""
        if status is not None and status not in JOB_STATUS_FILTERS:
            raise SpecError.field("status", f"one of {', '.join(JOB_STATUS_FILTERS)}", status)
        tr = t.trials.c
        retries = _retries()
        agg = (select(tr.job_id, *_trial_aggregates(retries))
               .select_from(_with_retries(retries)).group_by(tr.job_id).subquery())
        q = (select(t.jobs, *[c for c in agg.c if c.name != "job_id"])
             .select_from(t.jobs.outerjoin(agg, agg.c.job_id == t.jobs.c.id))
             .order_by(t.jobs.c.created_at, t.jobs.c.id))
        with self.snapshot() as conn:
            rows = conn.execute(q).mappings().all()
        out = [self._overview(r) for r in rows]
        return out if status is None else [j for j in out if j.status == status]

    @staticmethod
    def _overview(r: Any) -> JobOverview:
        spec = json.loads(r["spec"])
        counts = {s.value: int(r[f"s_{s.value}"] or 0) for s in TrialState}
        dev = float(r["dev"] or 0.0)
        return JobOverview(
            name=r["name"], status=_status(r["status"], r["lease_until"]),
            status_reason=r["status_reason"], metric=r["metric"], goal=r["goal"],
            strategy=(spec.get("strategy") or {}).get("type"), trials=int(r["n"] or 0),
            counts={k: v for k, v in counts.items() if v},
            best=finite(r["hi"] if r["goal"] == "maximize" else r["lo"]),
            device_seconds=round(dev, 3), device_hours=round(dev / 3600, 6),
            created_at=r["created_at"], updated_at=r["updated_at"], ended_at=r["ended_at"],
            stop_requested=bool(r["stop_requested"]),
        )

    def job(self, name: str) -> JobRecord:
        with self.snapshot() as conn:
            return Tx(conn).job(name)

    def job_header(self, name: str) -> JobHeader:
        """The job page's header: overview, best trial, limits, budget, best's diagnosis."""
        from tunelab.report.summary import static_params

        with self.snapshot() as conn:
            job = Tx(conn).job(name)
            overview = next(o for o in self._overview_rows(conn, job.id))
            best = self._best(conn, job)
            epochs = conn.execute(
                select(func.count()).select_from(t.reports)
                .where(t.reports.c.trial_id.in_(_trial_ids(job.id)))
            ).scalar_one()
            diag = None
            if best is not None:
                diag = _diagnosis([_metrics(m) for (m,) in conn.execute(
                    select(t.reports.c.metrics).where(t.reports.c.trial_id == best[1])
                    .order_by(t.reports.c.id))])
            names = _metric_names(conn, job.id)
            data = _last_event(conn, job.id, "data")
            warm = _last_event(conn, job.id, "warm_start")
        spec = job.spec
        end = job.ended_at or (time.time() if overview.status in ("running", "stopping")
                               else job.updated_at)
        return JobHeader(
            **overview.model_dump(),
            best_trial=None if best is None else best[0], static=static_params(spec),
            strategy_options=spec.get("strategy") or {}, limits=spec.get("limits") or {},
            search_space=spec.get("search_space") or {}, epochs=int(epochs),
            runtime_seconds=round(max(0.0, end - job.created_at), 3), diagnosis=diag,
            data=data, warm_start=warm, metrics=names,
        )

    def _overview_rows(self, conn: Connection, job_id: int) -> Iterator[JobOverview]:
        tr = t.trials.c
        retries = _retries()
        row = conn.execute(
            select(*_trial_aggregates(retries)).select_from(_with_retries(retries))
            .where(tr.job_id == job_id)
        ).mappings().one()
        jrow = conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).mappings().one()
        yield self._overview({**jrow, **row})

    @staticmethod
    def _best(conn: Connection, job: JobRecord) -> tuple[BestTrial, int] | None:
        tr = t.trials.c
        order = tr.value.desc() if job.goal == "maximize" else tr.value.asc()
        r = conn.execute(
            select(tr.id, tr.number, tr.params, tr.value)
            .where(tr.job_id == job.id, tr.state.in_([s.value for s in _RANKED]),
                   tr.value.is_not(None))
            .order_by(order, tr.number).limit(1)
        ).first()
        if r is None:
            return None
        return BestTrial(number=r.number, params=json.loads(r.params),
                         value=finite(r.value)), int(r.id)

    def job_summary(self, name: str) -> JobSummary:
        """Everything ``tunelab show NAME --json`` prints, read in one snapshot."""
        from tunelab.devices import device_hours_by_type
        from tunelab.jobstate import JobState
        from tunelab.report.summary import diagnoses, leaderboard, static_params, trial_dict

        with self.snapshot() as conn:
            tx = Tx(conn)
            job = tx.job(name)
            state = JobState.load(tx, job)
            data = _last_event(conn, job.id, "data")
            warm = _last_event(conn, job.id, "warm_start")
            slots = _last_event(conn, job.id, "slots")
        best = state.leader()  # the leaderboard's first, the trial `export` exports
        ranks = {tr.id: i for i, tr in enumerate(state.ranked(), 1)}
        dev = sum(tr.device_seconds for tr in state.trials.values())
        return JobSummary(
            name=job.name, status=job_status(job), status_reason=job.status_reason,
            objective=Objective(metric=job.metric, goal=job.goal),
            strategy=job.spec.get("strategy", {}),
            best=None if best is None else BestTrial(
                number=best.number, params=best.params, value=finite(best.value)),
            static=static_params(job.spec), counts=state.counts(),
            device_seconds=round(dev, 3), device_hours=round(dev / 3600, 6),
            device_hours_by_type=device_hours_by_type(
                [(tr.device_seconds, tr.worker) for tr in state.trials.values()], slots),
            epochs=state.epochs_spent(),
            checkpoint_bytes=sum(c.size for tr in state.trials.values()
                                 for c in tr.live_checkpoints()),
            created_at=job.created_at, ended_at=job.ended_at,
            trials=[TrialRow(**trial_dict(tr), rank=ranks.get(tr.id))
                    for tr in leaderboard(state)],
            diagnosis=diagnoses(state),
            decisions=[
                LineageRow(trial=d.trial_number, step=d.step, action=d.action, donor=d.donor,
                           donor_step=d.donor_step, params=d.params, reason=d.reason)
                for d in state.decisions
            ],
            data=data, warm_start=warm,
        )

    # trials -----------------------------------------------------------------------------------
    def trials(
        self, name: str, *, state: str | None = None, sort: str = "value",
        descending: bool = False, offset: int = 0, limit: int = 50,
    ) -> TrialPage:
        """A page of the leaderboard. ``sort="value"`` ranks as ``tunelab show`` does (best
        first under the job's goal; trials without a value last, by number)."""
        if sort not in SORT_KEYS:
            raise SpecError.field("sort", f"one of {', '.join(SORT_KEYS)}", sort)
        if state is not None and state not in {s.value for s in TrialState}:
            raise SpecError.field("state", "a trial state "
                                  f"({', '.join(s.value for s in TrialState)})", state)
        tr = t.trials.c
        with self.snapshot() as conn:
            job = Tx(conn).job(name)
            where = [tr.job_id == job.id]
            if state is not None:
                where.append(tr.state == state)
            total = conn.execute(select(func.count()).where(*where)).scalar_one()
            if sort == "value":
                ranked = and_(tr.state.in_([s.value for s in _RANKED]), tr.value.is_not(None))
                sign = -1 if (job.goal == "maximize") != descending else 1
                order: list[Any] = [case((ranked, 0), else_=1),
                                    case((ranked, tr.value * sign), else_=literal(0.0)),
                                    tr.number]
            else:
                col = {"steps": tr.last_step}.get(sort, getattr(tr, sort))
                order = [col.is_(None), col.desc() if descending else col.asc(), tr.number]
            rows = conn.execute(
                select(t.trials).where(*where).order_by(*order).offset(offset).limit(limit)
            ).mappings().all()
            ids = [r["id"] for r in rows]
            last = _last_reports(conn, ids)
            ranks = _ranks(conn, job, ids)
            ckpt = dict(conn.execute(
                select(t.checkpoints.c.trial_id, func.sum(t.checkpoints.c.size))
                .where(t.checkpoints.c.trial_id.in_(ids), t.checkpoints.c.deleted.is_(False))
                .group_by(t.checkpoints.c.trial_id)
            ).all())
        out = []
        for r in rows:
            lm = last.get(r["id"], {})
            returned = {k: float(v) for k, v in json.loads(r["metrics"] or "{}").items()}
            out.append(TrialRow(
                number=r["number"], state=r["state"], params=json.loads(r["params"]),
                value=finite(r["value"]), attempt=r["attempt"], retry_of=r["retry_of"],
                error=r["error"], steps=r["last_step"],
                device_seconds=round(r["device_seconds"], 3), last_metrics=lm,
                metrics=returned or {k: v for k, v in lm.items() if math.isfinite(v)},
                checkpoint_bytes=int(ckpt.get(r["id"], 0) or 0), rank=ranks.get(r["id"]),
            ))
        return TrialPage(total=int(total), offset=offset, limit=limit, sort=sort, rows=out)

    def points(self, name: str) -> list[TrialPoint]:
        """Every trial as (number, state, params, value, end): history, parallel coordinates,
        slice plots and importance are drawn from these."""
        tr = t.trials.c
        with self.snapshot() as conn:
            job = Tx(conn).job(name)
            rows = conn.execute(
                select(tr.number, tr.state, tr.params, tr.value, tr.last_step, tr.ended_at,
                       tr.device_seconds).where(tr.job_id == job.id).order_by(tr.number)
            ).all()
        return [TrialPoint(number=r.number, state=r.state, params=json.loads(r.params),
                           value=finite(r.value), steps=r.last_step, ended_at=r.ended_at,
                           device_seconds=r.device_seconds) for r in rows]

    def trial(self, name: str, number: int) -> TrialDetail:
        """One trial in full; an unknown number is a :class:`JobNotFound` naming the range."""
        from tunelab.report.summary import returned_metrics

        with self.snapshot() as conn:
            tx = Tx(conn)
            job = tx.job(name)
            tid = conn.execute(select(t.trials.c.id).where(
                t.trials.c.job_id == job.id, t.trials.c.number == number)).scalar()
            if tid is None:
                n = conn.execute(select(func.count()).where(
                    t.trials.c.job_id == job.id)).scalar_one()
                raise JobNotFound(f"job {name!r} has no trial number {number}; its trials are "
                                  f"numbered 0..{n - 1}." if n else
                                  f"job {name!r} has no trials yet.")
            rec = tx.trials(job.id, ids=[int(tid)])[0]
            report_ids = [i for (i,) in conn.execute(
                select(t.reports.c.id).where(t.reports.c.trial_id == tid)
                .order_by(t.reports.c.id))]
            decisions = [d for d in tx.decisions(job.id) if d.trial_number == number
                         or d.donor == number]
            events = conn.execute(
                select(t.events).where(t.events.c.job_id == job.id,
                                       t.events.c.trial_number == number)
                .order_by(t.events.c.id)
            ).mappings().all()
        reports = [ReportRow(id=i, trial=number, step=r.step, value=finite(r.value),
                             metrics=_finite_metrics(r.metrics), at=r.at)
                   for i, r in zip(report_ids, rec.reports, strict=False)]
        diag = _diagnosis([r.metrics for r in rec.reports]) if rec.reports else None
        return TrialDetail(
            job=job.name, number=rec.number, state=rec.state.value, params=rec.params,
            value=finite(rec.value), attempt=rec.attempt, retry_of=rec.retry_of,
            source=rec.source, segments=rec.segments, steps=rec.last_step,
            device_seconds=round(rec.device_seconds, 3), created_at=rec.created_at,
            started_at=rec.started_at, ended_at=rec.ended_at, error=rec.error,
            traceback=rec.traceback,
            metrics={k: v for k, v in returned_metrics(rec).items() if math.isfinite(v)},
            reports=reports,
            decisions=[LineageRow(trial=d.trial_number, step=d.step, action=d.action,
                                  donor=d.donor, donor_step=d.donor_step, params=d.params,
                                  reason=d.reason) for d in decisions],
            checkpoints=[CheckpointRow(step=c.step, path=c.path, sha256=c.sha256, size=c.size,
                                       deleted=c.deleted) for c in rec.checkpoints],
            events=[_event(e) for e in events], diagnosis=diag,
        )

    def decisions(self, name: str) -> list[LineageRow]:
        with self.snapshot() as conn:
            tx = Tx(conn)
            rows = tx.decisions(tx.job(name).id)
        return [LineageRow(trial=d.trial_number, step=d.step, action=d.action, donor=d.donor,
                           donor_step=d.donor_step, params=d.params, reason=d.reason)
                for d in rows]

    # curves and live views ---------------------------------------------------------------------
    def curves(
        self, name: str, *, metric: str | None = None, trials: Sequence[int] | None = None,
        after: int = 0,
    ) -> Curves:
        """Per-step values of ``metric`` (default: the objective) for many trials at once,
        from the reports after report id ``after``; ``cursor`` is the last id read."""
        tr, rp = t.trials.c, t.reports.c
        with self.snapshot() as conn:
            job = Tx(conn).job(name)
            metric = metric or job.metric
            value: Any = rp.value if metric == job.metric else _json_field(conn, metric)
            q = (select(rp.id, tr.number, rp.step, value)
                 .select_from(t.reports.join(t.trials, tr.id == rp.trial_id))
                 .where(tr.job_id == job.id, rp.id > after).order_by(rp.id))
            if trials is not None:
                q = q.where(tr.number.in_(list(trials)))
            rows = conn.execute(q).all()
        by: dict[int, Curve] = {}
        cursor = after
        for rid, number, step, v in rows:
            cursor = max(cursor, rid)
            c = by.get(number)
            if c is None:
                c = by[number] = Curve(trial=number, steps=[], values=[])
            c.steps.append(step)
            c.values.append(_to_float(v))
        return Curves(metric=metric, cursor=cursor,
                      curves=sorted(by.values(), key=lambda c: c.trial))

    def reports_after(self, name: str, after: int = 0, limit: int = 10_000) -> ReportPage:
        """Reports of the job with an id above ``after`` (oldest first, at most ``limit``)."""
        tr, rp = t.trials.c, t.reports.c
        with self.snapshot() as conn:
            job = Tx(conn).job(name)
            rows = conn.execute(
                select(rp.id, tr.number, rp.step, rp.value, rp.metrics, rp.at)
                .select_from(t.reports.join(t.trials, tr.id == rp.trial_id))
                .where(tr.job_id == job.id, rp.id > after).order_by(rp.id).limit(limit)
            ).all()
        out = [ReportRow(id=r.id, trial=r.number, step=r.step, value=finite(r.value),
                         metrics=_finite_metrics(_metrics(r.metrics)), at=r.at) for r in rows]
        return ReportPage(cursor=out[-1].id if out else after, reports=out)

    def events(self, name: str, after: int = 0, limit: int = 1000) -> EventPage:
        """Events of the job with an id above ``after`` (oldest first, at most ``limit``)."""
        with self.snapshot() as conn:
            job = Tx(conn).job(name)
            rows = conn.execute(
                select(t.events).where(t.events.c.job_id == job.id, t.events.c.id > after)
                .order_by(t.events.c.id).limit(limit)
            ).mappings().all()
        out = [_event(r) for r in rows]
        return EventPage(cursor=out[-1].id if out else after, events=out)

    def version(self, name: str) -> JobVersion:
        """A fingerprint that changes whenever anything of the job is written (reports,
        events, decisions, trial states, the job row): live views poll this and refetch only
        when it moved."""
        tr = t.trials.c
        with self.snapshot() as conn:
            job = Tx(conn).job(name)
            n, segs, dev, states = conn.execute(
                select(func.count(), func.coalesce(func.sum(tr.segments), 0),
                       func.coalesce(func.sum(tr.device_seconds), 0.0),
                       func.coalesce(func.sum(func.length(tr.state) * tr.number), 0))
                .where(tr.job_id == job.id)
            ).one()
            rep = conn.execute(select(func.max(t.reports.c.id)).where(
                t.reports.c.trial_id.in_(_trial_ids(job.id)))).scalar() or 0
            ev = conn.execute(select(func.max(t.events.c.id)).where(
                t.events.c.job_id == job.id)).scalar() or 0
            dec = conn.execute(select(func.max(t.decisions.c.id)).where(
                t.decisions.c.job_id == job.id)).scalar() or 0
        status = job_status(job)
        token = f"{job.updated_at}:{status}:{n}:{segs}:{dev}:{states}:{rep}:{ev}:{dec}"
        return JobVersion(token=token, status=status, report_cursor=int(rep),
                          event_cursor=int(ev))

    # the one write ---------------------------------------------------------------------------
    def request_stop(self, name: str, source: str = "the command line") -> None:
        """Ask a running job's tuner to stop (the stop request and its event in one write
        transaction); a job that is not running is a :class:`SpecError`."""
        from tunelab.store.repository import Store

        st = Store.open(self.url, artifacts=self.artifact_url or self.artifacts)
        try:
            with st.transaction() as tx:
                job = tx.job(name)
                status = job_status(job)
                if status != "running":
                    raise SpecError.field(f"job {name}", "running", status,
                                          "Only a running job can be stopped.")
                tx.set_job(job.id, stop_requested=True)
                tx.add_event(job.id, "stop_requested", f"stop requested from {source}")
        finally:
            st.close()


def _retries() -> Any:
    """Per retried trial (job, first attempt's number): its latest attempt. Small: only
    trials that were retried appear."""
    tr = t.trials.c
    return (select(tr.job_id.label("job_id"), tr.retry_of.label("first"),
                   func.max(tr.attempt).label("latest"))
            .where(tr.retry_of.is_not(None)).group_by(tr.job_id, tr.retry_of)
            .subquery("retries"))


def _with_retries(retries: Any) -> Any:
    """The trials table joined to :func:`_retries` (one grouped pass, not a subquery per
    trial: the job list stays one cheap query at thousands of trials)."""
    tr = t.trials.c
    return t.trials.outerjoin(retries, and_(
        retries.c.job_id == tr.job_id,
        retries.c.first == func.coalesce(tr.retry_of, tr.number)))


def _latest_attempt(retries: Any) -> Any:
    """True for a trial record that no later attempt of the same trial supersedes (a retry is
    an attempt of its trial: counts count each trial once, by its latest attempt)."""
    return or_(retries.c.latest.is_(None), t.trials.c.attempt >= retries.c.latest)


def _trial_aggregates(retries: Any) -> list[Any]:
    """Per job: trials (each once), device seconds (every attempt), the best value among
    ranked trials (as :meth:`JobState.ranked`), and trials per state of the latest attempt."""
    tr = t.trials.c
    latest = _latest_attempt(retries)
    ranked = and_(tr.state.in_([s.value for s in _RANKED]), tr.value.is_not(None))
    return [
        func.sum(case((latest, 1), else_=0)).label("n"),
        func.coalesce(func.sum(tr.device_seconds), 0.0).label("dev"),
        func.min(case((ranked, tr.value))).label("lo"),
        func.max(case((ranked, tr.value))).label("hi"),
        *[func.sum(case((and_(latest, tr.state == s.value), 1), else_=0)).label(f"s_{s.value}")
          for s in TrialState],
    ]


def _ranks(conn: Connection, job: JobRecord, ids: Sequence[int]) -> dict[int, int]:
    """The leaderboard place of each of these trials (as :meth:`JobState.ranked`: ranked
    states with a value, best first, ties by number); unranked trials have none."""
    if not ids:
        return {}
    tr = t.trials.c
    sign = -1 if job.goal == "maximize" else 1
    places = (select(tr.id.label("tid"), func.row_number().over(
        order_by=(tr.value * sign, tr.number)).label("place"))
        .where(tr.job_id == job.id, tr.state.in_([s.value for s in _RANKED]),
               tr.value.is_not(None)).subquery())
    return {int(i): int(p) for i, p in conn.execute(
        select(places.c.tid, places.c.place).where(places.c.tid.in_(list(ids))))}


def _trial_ids(job_id: int) -> Any:
    return select(t.trials.c.id).where(t.trials.c.job_id == job_id).scalar_subquery()


def _json_field(conn: Connection, key: str) -> Any:
    """One key of the reports' metrics JSON, extracted by the database."""
    if conn.dialect.name == "postgresql":
        return func.cast(t.reports.c.metrics, _pg_json()).op("->>")(key)
    return func.json_extract(t.reports.c.metrics, "$." + json.dumps(key))


def _pg_json() -> Any:
    from sqlalchemy.dialects.postgresql import JSON

    return JSON()


def _to_float(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _last_reports(conn: Connection, trial_ids: Sequence[int]) -> dict[int, dict[str, float]]:
    """The last report's metrics of each trial."""
    if not trial_ids:
        return {}
    rp = t.reports.c
    last = (select(func.max(rp.id)).where(rp.trial_id.in_(list(trial_ids)))
            .group_by(rp.trial_id).scalar_subquery())
    return {tid: _metrics(m) for tid, m in
            conn.execute(select(rp.trial_id, rp.metrics).where(rp.id.in_(last)))}


def _metric_names(conn: Connection, job_id: int) -> list[str]:
    """The metrics the job's latest reports carry (the metric picker's choices)."""
    rp, tr = t.reports.c, t.trials.c
    # the latest trials that reported, then their latest reports: a few index lookups (ordering
    # all the job's reports by id took 0.3 s at 100,000 reports)
    recent = (select(tr.id).where(tr.job_id == job_id, tr.last_step.is_not(None))
              .order_by(tr.id.desc()).limit(20).scalar_subquery())
    names: set[str] = set()
    for (m,) in conn.execute(select(rp.metrics).where(rp.trial_id.in_(recent))
                             .order_by(rp.id.desc()).limit(50)):
        names.update(json.loads(m))
    return sorted(names)


def _last_event(conn: Connection, job_id: int, kind: str) -> dict[str, Any] | None:
    """The latest event of ``kind``: its message and data, or None."""
    r = conn.execute(
        select(t.events.c.message, t.events.c.data)
        .where(t.events.c.job_id == job_id, t.events.c.kind == kind)
        .order_by(t.events.c.id.desc()).limit(1)
    ).first()
    if r is None:
        return None
    return {"message": r.message, **(json.loads(r.data) if r.data else {})}


def _event(r: Any) -> EventOut:
    return EventOut(id=r["id"], trial=r["trial_number"], kind=r["kind"], message=r["message"],
                    data=json.loads(r["data"]) if r["data"] else None, at=r["at"])


def _diagnosis(reports: list[dict[str, float]]) -> dict[str, Any] | None:
    """The over/under-fitting diagnosis of one trial's reports (None when it cannot tell)."""
    from tunelab.report.diagnosis import diagnose

    if not any(k.startswith(("train_", "val_")) for m in reports for k in m):
        return None
    d = diagnose(reports)
    if d.kind == "unknown":
        return None
    return {"kind": d.kind, "summary": d.summary, "advice": list(d.advice)}


__all__ = ["JOB_STATUS_FILTERS", "SORT_KEYS", "Reader", "finite", "job_status"]
