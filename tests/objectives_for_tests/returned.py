"""Training functions that return their metrics (imported by worker processes by path)."""

from __future__ import annotations

from typing import Any


def returns_only(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """Reports nothing; returns the objective and two more metrics."""
    x = float(params["x"])
    return {"loss": (x - 1.0) ** 2, "accuracy": 0.5 + x / 10, "f1": 0.25}


def reports_and_returns(params: dict[str, Any], trial: Any) -> dict[str, Any]:
    """Reports the objective at two steps; returns other metrics, without the objective (its
    value comes from the last report), plus values that cannot be kept as metrics."""
    x = float(params["x"])
    trial.report(step=1, loss=1.0 + x * x, val_accuracy=0.6)
    trial.report(step=2, loss=x * x, val_accuracy=0.7)
    return {"test_accuracy": 0.8, "test_loss": 0.3, "bad": float("nan"), "note": "text"}


def returns_float(params: dict[str, Any], trial: Any) -> float:
    """Returns the objective as a float, reporting nothing."""
    return abs(float(params["x"]))


def returns_no_objective(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """Returns metrics but never the objective: the trial fails, its metrics are kept."""
    return {"accuracy": 0.9}
