"""The training page's API (``/api/v1``): data sets under the data root, plan, launch, and the
job page's controls (resume, delete, evaluate, predict, tune again).

Every route here that reads data or changes anything is a POST that needs the token header
(:meth:`~tunelab.server.security.Access.check_write`), like stopping a job; listing the data
sets and a launch's process follow the read rule. A bad form answers 422 with
``{"message", "errors": {field: message}}``: the CLI's own message, placed by field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tunelab.errors import JobBusyError, JobNotFound, SpecError, TunelabError
from tunelab.server.dataroot import DataRoot
from tunelab.server.form import errors_by_field
from tunelab.server.launcher import Launcher
from tunelab.server.modelops import MAX_UPLOAD_BYTES, Models, narrowed_spec
from tunelab.server.planner import Planner
from tunelab.server.security import Access
from tunelab.store.queries import Reader


class PreviewRequest(BaseModel):
    data: str = Field(max_length=4096)
    validation_percent: float = Field(default=20.0, gt=0, lt=100)


class FormRequest(BaseModel):
    """The page's form: field -> the text typed (see :mod:`tunelab.server.form`)."""

    form: dict[str, Any]
    estimate: bool = True


class EvaluateRequest(BaseModel):
    data: str = Field(max_length=4096)


class TuneAgainRequest(BaseModel):
    name: str | None = Field(default=None, max_length=200)


def _fail(e: Exception) -> HTTPException:
    """A user error as an HTTP answer: 404 unknown job, 409 busy, else 422 with its field."""
    msg = str(e)
    if isinstance(e, JobNotFound):
        return HTTPException(404, msg)
    if isinstance(e, JobBusyError):
        return HTTPException(409, msg)
    return HTTPException(422, {"message": msg, "errors": errors_by_field(msg)})


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except TunelabError as e:
        raise _fail(e) from None


class Control:
    """The pieces the training page needs, built once per server."""

    def __init__(self, planner: Planner, launcher: Launcher, models: Models) -> None:
        self.planner = planner
        self.launcher = launcher
        self.models = models

    @property
    def root(self) -> DataRoot:
        return self.planner.root


def build_control_router(control: Control, access: Access) -> APIRouter:
    def read_ok(request: Request) -> None:
        access.check_read(request)

    def write_ok(request: Request) -> None:
        access.check_write(request)

    api = APIRouter(prefix="/api/v1", dependencies=[Depends(read_ok)])
    w = [Depends(write_ok)]
    root, planner, launcher, models = (control.root, control.planner, control.launcher,
                                       control.models)

    @api.get("/datasets", summary="Data sets under --data-root (and builtin:digits)")
    def datasets() -> Any:
        return {"root": str(root.root) if root.root else None, "datasets": root.datasets()}

    @api.post("/datasets/preview", dependencies=w, summary="Preview a data set")
    def preview(req: PreviewRequest) -> Any:
        return _call(lambda: root.preview(req.data, validation_percent=req.validation_percent))

    @api.post("/plan", dependencies=w, summary="The form's spec, job count and estimate")
    def plan(req: FormRequest) -> Any:
        out = planner.plan(req.form, estimate=req.estimate)
        # the form is being filled: have a tuner process ready for "Launch" -- started after
        # the probe, whose timing its start-up (importing PyTorch on every core) would slow
        launcher.warm()
        return out

    @api.post("/launch", dependencies=w, summary="Validate the form and start its tuner")
    def launch(req: FormRequest) -> Any:
        d, _js = _call(planner.spec, req.form)  # nothing is written before the spec is valid
        return _call(launcher.launch, d)

    @api.get("/launcher", summary="Whether a warm tuner process is ready for the next launch")
    def launcher_state() -> Any:
        return {"standby": launcher.standby()}

    @api.get("/jobs/{name}/process", summary="The page-started process of a job, if any")
    def process(name: str) -> Any:
        return launcher.process(name)

    @api.post("/jobs/{name}/resume", dependencies=w, summary="Resume a job in a new process")
    def resume(name: str) -> Any:
        return _call(launcher.resume, name)

    @api.post("/jobs/{name}/delete", dependencies=w, summary="Delete a finished job")
    def delete(name: str) -> Any:
        return {"name": name, "deleted": True, "message": _call(launcher.delete, name)}

    @api.post("/jobs/{name}/evaluate", dependencies=w, summary="Evaluate the best model")
    def evaluate(name: str, req: EvaluateRequest) -> Any:
        return _call(models.evaluate, name, req.data)

    @api.post("/jobs/{name}/predict", dependencies=w,
              summary="Predict one uploaded image (the request body; images only)")
    async def predict(name: str, request: Request,
                      filename: Annotated[str, Query(max_length=255)] = "image") -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
            raise _fail(SpecError.field("images", f"files of at most "
                                        f"{MAX_UPLOAD_BYTES // 2**20} MiB",
                                        f"{filename} ({int(declared):,} bytes)"))
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_UPLOAD_BYTES:
                raise _fail(SpecError.field("images", f"files of at most "
                                            f"{MAX_UPLOAD_BYTES // 2**20} MiB", filename))
        try:
            out = await run_in_threadpool(models.predict, name, [(filename, bytes(body))])
        except TunelabError as e:
            raise _fail(e) from None
        return out[0]

    @api.post("/jobs/{name}/tune-again", dependencies=w,
              summary="A new spec with ranges narrowed around the best trial")
    def tune_again(name: str, req: TuneAgainRequest) -> Any:
        from tunelab.server.form import spec_yaml

        new = req.name or f"{name}-fine"
        spec = _call(narrowed_spec, planner.reader, name, new)
        return {"name": new, "yaml": spec_yaml(spec)}

    @api.post("/jobs/{name}/refit", dependencies=w,
              summary="Retrain the best configuration on every image, as a new job")
    def refit(name: str, req: TuneAgainRequest) -> Any:
        return _call(launch_refit, planner.reader, planner.root, launcher, name, req.name)

    return api


def launch_refit(reader: Reader, root: DataRoot, launcher: Launcher, name: str,
                 new: str | None) -> dict[str, Any]:
    """Start ``tunelab refit``'s one-trial job for ``name`` (training and validation images
    together, the best trial's epochs) as a page-launched job; its page shows it live and its
    export is its last epoch. Its data must be inside the data root, as a form's must."""
    from tunelab.store.repository import Tx
    from tunelab.vision.refit import refit_spec, source_in

    with reader.snapshot() as conn:
        source = source_in(Tx(conn), name)
    spec = refit_spec(source, name=new)
    for key in ("data", "validation_data", "test_data"):
        if spec["train"].get(key) is not None:
            spec["train"][key] = root.resolve(str(spec["train"][key]), f"train.{key}")
    return launcher.launch(spec)
