"""The dashboard's HTML pages and static files (plotly.js from the installed plotly package,
never a CDN). Pages are shells: their data comes from the REST API, or, in a self-contained
report, from JSON written into the page (:func:`page_html` with ``data``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, Response

from tunelab.server.security import Access

STATIC = Path(__file__).with_name("static")
_FILES = {"dashboard.js": "text/javascript", "style.css": "text/css", "new.js": "text/javascript",
          "jobctl.js": "text/javascript"}


@cache
def plotly_js() -> bytes:
    """plotly.js as shipped inside the installed ``plotly`` Python package."""
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


def _json_for_script(obj: Any) -> str:
    """JSON safe to place inside a <script> element."""
    return (json.dumps(obj, separators=(",", ":"), allow_nan=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


_NAV = ('<nav><a href="/">Jobs</a><a href="/new" id="nav-new">New job</a>'
        '<a href="/compare">Compare</a><a href="/docs">API</a></nav>')


def page_html(kind: str, title: str, ctx: dict[str, Any], *, data: dict[str, Any] | None = None,
              inline: bool = False, extra: tuple[str, ...] = ()) -> str:
    """One page: ``kind`` picks what dashboard.js draws; ``data`` (report mode) answers its API
    calls from the page itself; ``inline`` puts plotly.js, the script and the styles inside;
    ``extra`` names more static scripts (served pages only: the training page, job controls)."""
    from html import escape

    boot = {**ctx, "page": kind}
    if data is not None:
        boot["data"] = data
    if inline:
        head = ("<style>" + (STATIC / "style.css").read_text() + "</style>"
                "<script>" + plotly_js().decode() + "</script>")
        script = "<script>" + (STATIC / "dashboard.js").read_text() + "</script>"
        nav = ""
    else:
        head = ('<link rel="stylesheet" href="/static/style.css">'
                '<script src="/static/plotly.min.js"></script>')
        script = "".join(f'<script src="/static/{f}"></script>'
                         for f in ("dashboard.js", *extra))
        nav = _NAV
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)} · tunelab</title>{head}</head>"
            f'<body><header><h1>tunelab</h1>{nav}</header>'
            f'<main id="main" data-page="{escape(kind)}"><p class="muted">loading…</p></main>'
            f"<script>window.TUNELAB={_json_for_script(boot)};</script>{script}</body></html>")


def build_pages(access: Access) -> APIRouter:
    pages = APIRouter(include_in_schema=False)
    base = {"token": access.token} if access.embed_token else {}

    @pages.get("/", response_class=HTMLResponse)
    def jobs_page() -> str:
        return page_html("jobs", "jobs", base)

    @pages.get("/jobs/{name}", response_class=HTMLResponse)
    def job_page(name: str) -> str:
        return page_html("job", name, {**base, "job": name}, extra=("jobctl.js",))

    @pages.get("/jobs/{name}/trials/{number}", response_class=HTMLResponse)
    def trial_page(name: str, number: int) -> str:
        return page_html("trial", f"{name} #{number}", {**base, "job": name, "trial": number})

    @pages.get("/new", response_class=HTMLResponse)
    def new_page(from_job: str | None = Query(default=None, alias="from",
                                               max_length=200)) -> str:
        return page_html("new", "new job", {**base, "from": from_job}, extra=("new.js",))

    @pages.get("/compare", response_class=HTMLResponse)
    def compare_page(jobs: list[str] = Query(default_factory=list)) -> str:  # noqa: B008
        return page_html("compare", "compare", {**base, "jobs": jobs[:5]})

    @pages.get("/static/plotly.min.js")
    def plotly_file() -> Response:
        return Response(plotly_js(), media_type="text/javascript",
                        headers={"Cache-Control": "max-age=86400"})

    @pages.get("/static/{file}")
    def static_file(file: str) -> Response:
        if file not in _FILES:  # a fixed list: no path from the request reaches the disk
            raise HTTPException(404, f"no static file {file!r}")
        return Response((STATIC / file).read_bytes(), media_type=_FILES[file])

    return pages
