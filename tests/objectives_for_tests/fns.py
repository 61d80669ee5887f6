"""Training functions for the tuner tests (imported by worker processes by path)."""

from __future__ import annotations

import ctypes
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

#: The store modules a worker may load: checkpoint files, written and verified.
CHECKPOINT_MODULES = frozenset({"tunelab.store.artifacts", "tunelab.store.remote_artifacts"})


def quadratic(params: dict[str, Any], trial: Any) -> float:
    """A fast objective: (x - 1)^2, reported once."""
    loss = (float(params["x"]) - 1.0) ** 2
    trial.report(step=1, loss=loss)
    return loss


def concurrent(params: dict[str, Any], trial: Any) -> dict[str, float]:
    """Marks itself running in a shared folder and returns how many trials ran at once."""
    folder = Path(params["folder"])
    mark = folder / f"{os.getpid()}-{trial.number}"
    mark.touch()
    try:
        time.sleep(float(params["sleep"]))
        seen = len(list(folder.iterdir()))
    finally:
        mark.unlink()
    metrics = {
        "loss": float(params["x"]),
        "concurrent": float(seen),
        "pid": float(os.getpid()),
        "slot": float(os.environ.get("TUNELAB_SLOT", "-1")),
        "threads": float(os.environ.get("OMP_NUM_THREADS", "-1")),
        "passive": float(os.environ.get("OMP_WAIT_POLICY") == "PASSIVE"),
        # the database layer: a worker writes checkpoints through tunelab.store.artifacts only
        "store_imported": float("sqlalchemy" in sys.modules or any(
            m.startswith("tunelab.store.") and m not in CHECKPOINT_MODULES for m in sys.modules)),
    }
    trial.report_metrics(metrics, step=1)
    return metrics


def behave(params: dict[str, Any], trial: Any) -> Any:
    """Does what ``params["mode"]`` says: the ways a trial can end."""
    mode = params["mode"]
    if mode == "ok":
        trial.report(step=1, loss=0.5)
        return {"loss": 0.25, "pid": float(os.getpid())}
    if mode == "raise":
        raise ValueError("boom from the training function")
    if mode == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    if mode == "oom_kill":
        os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does
    if mode == "nan_return":
        return float("nan")
    if mode == "inf_report":
        trial.report(step=1, loss=math.inf)
        return 1.0
    if mode == "no_metric":
        trial.report(step=1, accuracy=0.9, val_accuracy=0.8)
        return None
    if mode == "hang":
        time.sleep(30)
        return 1.0
    if mode == "hang_ignoring_sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(30)
        return 1.0
    raise AssertionError(f"unknown mode {mode}")


def flaky(params: dict[str, Any], trial: Any) -> float:
    """``mode: flaky`` fails on its first attempt only; ``mode: always`` fails every time."""
    if params["mode"] == "always" or trial.attempt == 1:
        raise RuntimeError(f"{params['mode']} failure on attempt {trial.attempt}")
    trial.report(step=1, loss=float(trial.attempt))
    return float(trial.attempt)


def slow(params: dict[str, Any], trial: Any) -> float:
    """Sleeps ~0.3 s per trial (so a kill lands while trials run)."""
    time.sleep(float(params.get("sleep", 0.3)))
    loss = (float(params["x"]) - 1.0) ** 2
    trial.report(step=1, loss=loss)
    return loss


def long_epoch(params: dict[str, Any], trial: Any) -> float:
    """Writes its pid to ``params["marker"]``, then trains one long epoch (sleeps 120 s)."""
    from pathlib import Path

    Path(str(params["marker"])).write_text(str(os.getpid()))
    time.sleep(120)
    trial.report(step=1, loss=1.0)
    return 1.0


def plateau(params: dict[str, Any], trial: Any) -> float:
    """Three epochs with the same loss (a plateau), a checkpoint at each."""
    for step in range(1, 4):
        trial.save_checkpoint({"step": step})
        trial.report(step=step, loss=0.5)
    return 0.5


def steps(params: dict[str, Any], trial: Any) -> float:
    """Reports ``params["epochs"]`` steps of loss x / step (sleeping ``sleep`` s before each)."""
    x = float(params["x"])
    for step in range(trial.start_step + 1, int(params["epochs"]) + 1):
        time.sleep(float(params.get("sleep", 0.0)))
        trial.report(step=step, loss=x / step)
    return x / int(params["epochs"])


def killed_once(params: dict[str, Any], trial: Any) -> float:
    """Sums the steps in its checkpointed state; the worker of its first attempt is killed
    (SIGKILL, as the out-of-memory killer does) at step 3, after the checkpoint of step 2."""
    state = trial.load_checkpoint()
    total = float(state["total"]) if state else 0.0
    for step in range(trial.start_step + 1, 5):
        if trial.attempt == 1 and step == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        total += step
        trial.save_checkpoint({"total": total})
        trial.report(step=step, loss=total, resumed_at=float(trial.start_step))
    return total


def epochs(params: dict[str, Any], trial: Any) -> float:
    """``steps`` epochs of ``sleep`` seconds each, reporting train/val loss and accuracy (the
    dashboard's browser tests watch these live); a checkpoint each epoch."""
    x = float(params["x"])
    acc = 0.0
    for step in range(trial.start_step + 1, int(params.get("steps", 4)) + 1):
        time.sleep(float(params.get("sleep", 0.2)))
        acc = (1.0 - min(1.0, abs(x - 1.0) / 4)) * (1 - math.exp(-step / 2))
        loss = 1.0 - acc
        trial.save_checkpoint({"step": step})
        trial.report(step=step, val_accuracy=acc, train_accuracy=min(1.0, acc + 0.02),
                     val_loss=loss + 0.02, train_loss=loss)
    return acc
