"""The handle a training function gets: ``trial.report()``, checkpoints, parameters.

    def train(params: dict, trial: tunelab.TrialContext) -> float:
        state = trial.load_checkpoint()          # None on a fresh start
        model = build(params); start = trial.start_step
        if state: model.load_state_dict(state["model"])
        for epoch in range(start, params["epochs"]):
            loss = fit_one_epoch(model)
            trial.save_checkpoint({"model": model.state_dict()})   # optional
            trial.report(step=epoch + 1, loss=loss)                 # may end the segment
        return loss

``step`` counts completed units of work (epochs): the first report is step 1. ``report`` waits
for the tuner's decision; when a scheduler pauses, stops or exploits the trial, it raises
:class:`TrialInterrupted` (a ``BaseException``, so ``except Exception`` in user code does not
swallow it) and the worker ends the segment.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tunelab.executors.base import Checkpoint
from tunelab.space import ParamValue
from tunelab.trial import Action, Decision

Reporter = Callable[[int, dict[str, float], "Checkpoint | None"], Decision]


class TrialInterrupted(BaseException):
    """Raised by :meth:`TrialContext.report` when the tuner ends this segment."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason or decision.action.value)
        self.decision = decision


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_torch_save(obj: Any, path: Path) -> Checkpoint:
    """Write ``obj`` to ``path`` crash-safely: temp file, fsync, rename, then hash."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Checkpoint(path=str(path), step=-1, sha256=file_sha256(path), size=path.stat().st_size)


class TrialContext:
    """What a training function receives besides its parameters.

    Attributes: ``params`` (search and static parameters), ``number`` (trial number),
    ``attempt``, ``checkpoint_dir`` (where this trial writes), ``restore_from`` (checkpoint
    file to resume from: its own, or a donor's for PBT; None on a fresh start),
    ``start_step`` (steps already done by the restored state), ``device`` and ``seed``.
    """

    def __init__(
        self,
        *,
        params: Mapping[str, ParamValue],
        number: int,
        attempt: int = 1,
        checkpoint_dir: str | Path,
        restore_from: str | None = None,
        restore_step: int | None = None,
        seed: int = 0,
        device: str = "cpu",
        metric: str | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.params = dict(params)
        self.number = number
        self.attempt = attempt
        self.checkpoint_dir = Path(checkpoint_dir)
        self.restore_from = restore_from
        self.start_step = int(restore_step or 0)
        self.seed = seed
        self.device = device
        self.metric = metric
        self._reporter = reporter
        self._last_step = self.start_step
        self._pending: Checkpoint | None = None
        self.metrics_seen: set[str] = set()
        self.last_metrics: dict[str, float] = {}

    @property
    def last_step(self) -> int:
        return self._last_step

    def save_checkpoint(self, state: Any, *, step: int | None = None) -> Path:
        """Save ``state`` (any picklable object; tensors welcome) as this trial's checkpoint
        for ``step`` (default: the next report's step). It is recorded with the next report."""
        step = self._last_step + 1 if step is None else int(step)
        path = self.checkpoint_dir / f"ckpt-{step:06d}.pt"
        ck = atomic_torch_save(state, path)
        self._pending = Checkpoint(path=ck.path, step=step, sha256=ck.sha256, size=ck.size)
        return path

    def load_checkpoint(self) -> Any | None:
        """The state to resume from (own or a donor's), or None on a fresh start."""
        if not self.restore_from:
            return None
        import torch

        # Our own checkpoint files, written by save_checkpoint in this store.
        return torch.load(self.restore_from, map_location="cpu", weights_only=False)

    def report(self, step: int | None = None, **metrics: float) -> None:
        """Report metrics after ``step`` units of work (default: the previous step + 1).

        Raises :class:`TrialInterrupted` when the tuner pauses, stops or exploits this trial.
        """
        self.report_metrics(metrics, step=step)

    def report_metrics(self, metrics: Mapping[str, Any], *, step: int | None = None) -> None:
        """Like :meth:`report`, with the metrics as a mapping (names need not be identifiers)."""
        step = self._last_step + 1 if step is None else int(step)
        clean: dict[str, float] = {}
        for k, v in metrics.items():
            try:
                clean[k] = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"metric {k!r} must be a number; got {v!r}") from None
        self._last_step = step
        self.metrics_seen.update(clean)
        self.last_metrics.update(clean)
        ck, self._pending = self._pending, None
        if self._reporter is None:
            return
        decision = self._reporter(step, clean, ck)
        if decision.action is not Action.CONTINUE:
            raise TrialInterrupted(decision)
