"""The FastAPI application of `tunelab ui`: REST API, pages, static files, no CORS."""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware

from tunelab.server.pages import build_pages
from tunelab.server.routes import build_router
from tunelab.server.security import Access
from tunelab.store.queries import Reader


def _clean(obj: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


class SafeJSON(JSONResponse):
    """JSON responses with non-finite numbers turned into null (strict JSON)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(_clean(content), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


def create_app(reader: Reader, access: Access, *, data_root: str | Path | None = None,
               launch_dir: Path | None = None) -> FastAPI:
    """The dashboard over ``reader`` (read-only: changes go through the job's own tuner
    process, or a stop request) under ``access``; the training page reads data only under
    ``data_root`` and keeps its launches in ``launch_dir``."""
    from tunelab import __version__
    from tunelab.server.control import Control, build_control_router
    from tunelab.server.dataroot import DataRoot
    from tunelab.server.launcher import Launcher, default_launch_dir
    from tunelab.server.modelops import Models
    from tunelab.server.planner import Planner

    root = DataRoot(data_root)
    folder = launch_dir or default_launch_dir(reader)
    control = Control(Planner(reader, root), Launcher(reader, folder),
                      Models(reader, root, folder))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        control.launcher.close()  # the warm standby process; launched tuners keep running

    app = FastAPI(title="tunelab", version=__version__, default_response_class=SafeJSON,
                  lifespan=lifespan,
                  description="REST API over a tunelab store: read-only, plus stopping, "
                              "launching and resuming jobs (each in its own tuner process). "
                              "Send the server's token in the `X-Tunelab-Token` header.")
    if access.allowed_hosts != ("*",):
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(access.allowed_hosts))
    app.include_router(build_router(reader, access))
    app.include_router(build_control_router(control, access))
    app.include_router(build_pages(access))
    # scikit-learn takes seconds to import on a busy machine: do it before the first
    # importance request needs it
    threading.Thread(target=_warm_up, daemon=True, name="tunelab-warm-up").start()
    return app


def _warm_up() -> None:
    import sklearn.ensemble
    import sklearn.inspection  # noqa: F401
