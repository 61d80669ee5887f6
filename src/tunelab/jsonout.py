"""JSON for people's tools: always valid JSON (RFC 8259), whatever the numbers are.

Python's ``json.dumps`` writes ``NaN`` and ``Infinity`` for non-finite floats, which no strict
JSON parser (``jq``, JavaScript's ``JSON.parse``) accepts. A trial that reported a NaN loss is
real data, so the value is kept as ``null`` instead.

    >>> dumps({"loss": float("nan"), "best": [1.5, float("inf")]})
    '{"loss": null, "best": [1.5, null]}'
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf) replaced by None, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    """Strict JSON: non-finite floats become null; other unknown objects their ``str``."""
    return json.dumps(finite(obj), default=str, allow_nan=False)
