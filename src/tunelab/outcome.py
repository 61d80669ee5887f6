"""What a segment that returned makes of its trial: a value, or the error that fails it.

Pure, so the rule is read (and tested) in one place: the objective's value is the one the
function returned, else its last reported one; it must exist and be finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from tunelab.store import ReportRecord


def returned_value(value: float | None, reports: Sequence[ReportRecord], metric: str,
                   seen: Sequence[str]) -> tuple[float | None, str | None]:
    """``(value, None)`` for a usable objective value, else ``(None, error)``."""
    if value is None:  # a resumed segment may add no report: the last one stands
        value = next((r.value for r in reversed(reports) if r.value is not None), None)
    if value is None:
        return None, (f"the objective metric {metric!r} was never reported or returned; "
                      f"metrics seen: {', '.join(seen) or 'none'}")
    if not math.isfinite(value):
        return None, f"returned {value} for {metric!r}"
    return value, None


def finite_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """The metrics a function returned, kept whatever the outcome (finite values only)."""
    return {k: float(v) for k, v in metrics.items() if math.isfinite(v)}
