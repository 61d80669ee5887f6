"""The REST API (``/api/v1``): JSON over the read side, plus the one write (stop a job).

Unknown jobs and trials answer 404 with the store's message; bad query parameters 422 naming
the field (FastAPI's validation, and the read side's own checks).
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter

from tunelab.errors import JobNotFound, SpecError, TunelabError
from tunelab.report.importance import Importance, param_importance
from tunelab.server.compare import Comparison, compare_jobs
from tunelab.server.model_zip import best_model_zip
from tunelab.server.security import Access
from tunelab.store.queries import JOB_STATUS_FILTERS, SORT_KEYS, Reader
from tunelab.store.read_models import (
    Curves,
    EventPage,
    JobHeader,
    JobOverview,
    JobSummary,
    JobVersion,
    LineageRow,
    ReportPage,
    TrialDetail,
    TrialPage,
    TrialPoint,
)

JobStatusQ = Annotated[str | None, Query(
    pattern="^(" + "|".join(JOB_STATUS_FILTERS) + ")$", description="Only jobs with this status.")]
StateQ = Annotated[str | None, Query(
    pattern="^(pending|running|paused|completed|pruned|failed|timed_out|stopped|lost)$",
    description="Only trials in this state.")]
SortQ = Annotated[str, Query(pattern="^(" + "|".join(SORT_KEYS) + ")$",
                             description="Sort key; `value` ranks as the leaderboard does.")]
IMPORTANCE_EVERY = 10.0
AfterQ = Annotated[int, Query(ge=0, description="Cursor: only rows with a larger id.")]


class StopAnswer(BaseModel):
    name: str
    stop_requested: bool


def _run(fn: Any, *args: Any, **kw: Any) -> Any:
    """Call the read side, turning its errors into HTTP answers."""
    try:
        return fn(*args, **kw)
    except JobNotFound as e:
        raise HTTPException(404, str(e)) from None
    except SpecError as e:
        raise HTTPException(422, str(e)) from None
    except TunelabError as e:
        raise HTTPException(409, str(e)) from None


def _fast(model: BaseModel) -> Response:
    """Serialise with pydantic's own JSON encoder (non-finite floats become null), skipping
    FastAPI's re-validation of the answer: big answers (curves of thousands of trials) cost
    several times less."""
    return Response(model.model_dump_json(), media_type="application/json")


_POINTS: TypeAdapter[list[TrialPoint]] = TypeAdapter(list[TrialPoint])


def build_router(reader: Reader, access: Access) -> APIRouter:
    """The API's routes over ``reader``; every route checks ``access``."""

    def read_ok(request: Request) -> None:
        access.check_read(request)

    def write_ok(request: Request) -> None:
        access.check_write(request)

    api = APIRouter(prefix="/api/v1", dependencies=[Depends(read_ok)])
    cache: dict[str, tuple[str, float, Importance]] = {}  # job -> (key, computed at, answer)
    lock = threading.Lock()

    @api.get("/jobs", response_model=list[JobOverview], summary="List jobs")
    def jobs(status: JobStatusQ = None) -> Any:
        return _run(reader.jobs, status)

    @api.get("/jobs/{name}", response_model=JobHeader, summary="A job's header")
    def job(name: str) -> Any:
        return _fast(_run(reader.job_header, name))

    @api.get("/jobs/{name}/summary", response_model=JobSummary,
             summary="Everything `tunelab show --json` prints")
    def summary(name: str) -> Any:
        return _fast(_run(reader.job_summary, name))

    @api.get("/jobs/{name}/version", response_model=JobVersion,
             summary="A fingerprint that changes on every write (poll this)")
    def version(name: str) -> Any:
        return _run(reader.version, name)

    @api.get("/jobs/{name}/trials", response_model=TrialPage, summary="Leaderboard page")
    def trials(name: str, state: StateQ = None, sort: SortQ = "value",
               descending: bool = False, offset: Annotated[int, Query(ge=0)] = 0,
               limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> Any:
        return _fast(_run(reader.trials, name, state=state, sort=sort, descending=descending,
                          offset=offset, limit=limit))

    @api.get("/jobs/{name}/points", response_model=list[TrialPoint],
             summary="Every trial's parameters and value (history, slices, coordinates)")
    def points(name: str) -> Any:
        return Response(_POINTS.dump_json(_run(reader.points, name)),
                        media_type="application/json")

    @api.get("/jobs/{name}/trials/{number}", response_model=TrialDetail, summary="One trial")
    def trial(name: str, number: int) -> Any:
        return _run(reader.trial, name, number)

    @api.get("/jobs/{name}/curves", response_model=Curves,
             summary="Per-step values of one metric for many trials")
    def curves(name: str, metric: Annotated[str | None, Query(max_length=200)] = None,
               trials: Annotated[list[int] | None, Query()] = None, after: AfterQ = 0) -> Any:
        return _fast(_run(reader.curves, name, metric=metric, trials=trials, after=after))

    @api.get("/jobs/{name}/reports", response_model=ReportPage, summary="Reports after a cursor")
    def reports(name: str, after: AfterQ = 0,
                limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> Any:
        return _run(reader.reports_after, name, after, limit)

    @api.get("/jobs/{name}/events", response_model=EventPage, summary="Events after a cursor")
    def events(name: str, after: AfterQ = 0,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> Any:
        return _run(reader.events, name, after, limit)

    @api.get("/jobs/{name}/decisions", response_model=list[LineageRow],
             summary="Scheduler decisions (PBT copies, pauses, stops)")
    def decisions(name: str) -> Any:
        return _run(reader.decisions, name)

    @api.get("/jobs/{name}/importance", response_model=Importance,
             summary="Parameter importance (random forest + permutation importance)")
    def importance(name: str) -> Any:
        pts = _run(reader.points, name)
        done = sum(1 for p in pts if p.state in ("completed", "pruned"))
        key = f"{len(pts)}:{done}"
        with lock:
            hit = cache.get(name)
        # a forest fit costs CPU the tuner may need: while a job runs, at most one per
        # IMPORTANCE_EVERY seconds (the answer says how many trials it used)
        if hit is None or (hit[0] != key and time.monotonic() - hit[1] > IMPORTANCE_EVERY):
            hit = (key, time.monotonic(), param_importance(pts))
            with lock:
                cache[name] = hit
        return hit[2]

    @api.get("/compare", response_model=Comparison, summary="Compare 2 to 5 jobs")
    def compare(jobs: Annotated[list[str], Query(min_length=2, max_length=5)]) -> Any:
        return _run(compare_jobs, reader, jobs)

    @api.get("/jobs/{name}/model.zip", summary="The best model (export output) as a zip",
             response_class=Response)
    def model_zip(name: str) -> Response:
        data, filename = _run(best_model_zip, reader, name)
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    @api.post("/jobs/{name}/stop", response_model=StopAnswer, dependencies=[Depends(write_ok)],
              summary="Ask a running job to stop (needs the token header)")
    def stop(name: str) -> Any:
        try:
            reader.request_stop(name, "the dashboard")
        except JobNotFound as e:
            raise HTTPException(404, str(e)) from None
        except SpecError as e:  # not running: a conflict with the job's state
            raise HTTPException(409, str(e)) from None
        return StopAnswer(name=name, stop_requested=True)

    return api
