"""`tunelab report NAME -o report.html`: the job page as one self-contained file.

The page is the dashboard's own job page with plotly.js, the script and the styles inlined
and every API answer it needs written into it, so it opens offline (an email attachment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from tunelab.store.queries import Reader

MAX_METRICS = 8  # curves of at most this many metrics go into the file
LEADERBOARD_ROWS = 100


def _q(s: str) -> str:
    """As JavaScript's encodeURIComponent."""
    return quote(s, safe="!~*'()")


def report_data(reader: Reader, name: str) -> dict[str, Any]:
    """The API answers the job page asks for, keyed by their path."""
    from tunelab.report.importance import param_importance
    from tunelab.server.app import _clean

    head = reader.job_header(name)
    base = "/jobs/" + _q(name)
    points = reader.points(name)
    data: dict[str, Any] = {
        base: head.model_dump(mode="json"),
        base + "/points": [p.model_dump(mode="json") for p in points],
        base + "/decisions": [d.model_dump(mode="json") for d in reader.decisions(name)],
        base + "/importance": param_importance(points).model_dump(mode="json"),
        base + "/trials": reader.trials(name, limit=LEADERBOARD_ROWS).model_dump(mode="json"),
    }
    metrics = [head.metric, *[m for m in head.metrics if m != head.metric]][:MAX_METRICS]
    for m in metrics:
        data[f"{base}/curves?metric={_q(m)}"] = reader.curves(name, metric=m).model_dump(
            mode="json")
    head_json = data[base]
    head_json["metrics"] = [m for m in head_json["metrics"] if m in metrics] or [head.metric]
    cleaned: dict[str, Any] = _clean(data)
    return cleaned


def write_report(reader: Reader, name: str, out: Path) -> Path:
    """Write the self-contained report of job ``name`` to ``out``."""
    from tunelab.server.pages import page_html

    html = page_html("job", f"{name} report", {"job": name},
                     data=report_data(reader, name), inline=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
