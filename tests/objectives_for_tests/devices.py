"""A training function that reports which device its worker slot was given."""

from __future__ import annotations

import os
import time
from typing import Any


def where(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """Sleeps a moment (so the slots fill up) and reports the slot's CUDA_VISIBLE_DEVICES as a
    number (-1: empty, the CPU) and whether the trial's device is cuda."""
    time.sleep(float(params.get("sleep", 0.2)))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    metrics = {"loss": float(params["x"]), "gpu": float(visible) if visible.isdigit() else -1.0,
               "cuda": float(trial.device == "cuda"),
               "slot": float(os.environ.get("TUNELAB_SLOT", "-1"))}
    trial.report_metrics(metrics, step=1)
    return metrics
