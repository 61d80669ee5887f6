"""Checkpointing training functions for the artifact and fault tests (run in worker processes)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

STEPS = 4


def rising(params: dict[str, Any], trial: Any) -> float:
    """Four steps, a checkpoint at each; the loss rises, so retention keeps step 1 (the best)
    and the latest. Reports ``restored``: the step its state was restored from (0: fresh)."""
    import torch

    state = trial.load_checkpoint()
    start = int(state["step"].item()) if state is not None else 0
    assert start == trial.start_step, (start, trial.start_step)
    loss = 0.0
    for step in range(start + 1, STEPS + 1):
        loss = float(params["x"]) ** 2 + step
        trial.save_checkpoint({"step": torch.tensor(step), "note": f"step {step}"})
        trial.report(step=step, loss=loss, restored=float(start))
    return loss


def disk_fills(params: dict[str, Any], trial: Any) -> float:
    """Like :func:`rising`, but while ``params["armed"]`` (a file) exists, writing the step-2
    checkpoint fails with ENOSPC (the file is removed: the fault fires once)."""
    import torch

    armed = Path(str(params["armed"]))
    state = trial.load_checkpoint()
    start = int(state["step"].item()) if state is not None else 0
    loss = 0.0
    for step in range(start + 1, STEPS + 1):
        loss = float(params["x"]) ** 2 + step
        if step == 2 and armed.exists():
            armed.unlink()
            real_fsync = os.fsync

            def full(fd: Any) -> None:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            os.fsync = full
            try:
                trial.save_checkpoint({"step": torch.tensor(step)})
            finally:
                os.fsync = real_fsync
        trial.save_checkpoint({"step": torch.tensor(step)})
        trial.report(step=step, loss=loss, restored=float(start))
    return loss
