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

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.checkpoint import Checkpoint
from tunelab.space import ParamValue
from tunelab.trial import Action, Decision

if TYPE_CHECKING:
    from tunelab.store.artifacts import FileArtifacts

Reporter = Callable[[int, dict[str, float], "Checkpoint | None"], Decision]


class TrialInterrupted(BaseException):
    """Raised by :meth:`TrialContext.report` when the tuner ends this segment."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason or decision.action.value)
        self.decision = decision


class TrialContext:
    """What a training function receives besides its parameters.

    Attributes: ``params`` (search and static parameters), ``number`` (trial number),
    ``attempt``, ``checkpoint_dir`` (where this trial writes), ``restore_from`` (checkpoint
    to resume from, as recorded in the store: its own, or a donor's for PBT; None on a fresh
    start), ``start_step`` (steps already done by the restored state), ``device`` and ``seed``.

    Checkpoints go through the job's artifact store (``artifact_root``; by default the
    checkpoint folder itself): files are written atomically with mode 0600, and a restore is
    read only from inside the root, only if its sha256 is the one recorded
    (``restore_sha256``), and with ``torch.load(weights_only=True)``.

    When the artifact root is object storage (``s3://bucket/prefix``), ``checkpoint_dir`` is
    its URL's stand-in on this machine: a private scratch folder for the trial's other files
    (a command's parameters and log); :meth:`save_checkpoint` writes to the object store.
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
        restore_sha256: str | None = None,
        artifact_root: str | Path | None = None,
        seed: int = 0,
        device: str = "cpu",
        metric: str | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        from tunelab.store.artifacts import is_remote

        self.params = dict(params)
        self.number = number
        self.attempt = attempt
        root = artifact_root if artifact_root is not None else checkpoint_dir
        self._remote = is_remote(root)
        #: where checkpoints go: the trial's folder, or its URL in object storage
        self.checkpoint_location = str(checkpoint_dir)
        self.checkpoint_dir = (_scratch(str(checkpoint_dir)) if self._remote
                               else Path(checkpoint_dir))
        self.restore_from = restore_from
        self.start_step = int(restore_step or 0)
        self.restore_sha256 = restore_sha256
        self.artifact_root: str | Path = str(root) if self._remote else Path(root)
        self._store: FileArtifacts | None = None
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

    def _artifacts(self) -> FileArtifacts:
        from tunelab.store.artifacts import open_artifacts

        if self._store is None:
            self._store = open_artifacts(self.artifact_root)
        return self._store

    @property
    def restore_path(self) -> Path | None:
        """The restore checkpoint as a file inside the artifact root (None on a fresh start);
        a recorded path outside the root raises :class:`~tunelab.errors.UnsafePathError`. From
        object storage: a private copy on this machine of its verified bytes."""
        if not self.restore_from:
            return None
        from tunelab.store.artifacts import LocalArtifacts

        arts = self._artifacts()
        if isinstance(arts, LocalArtifacts):
            return arts.resolve(self.restore_from)
        if self.restore_sha256 is None:
            from tunelab.errors import CheckpointCorrupt

            raise CheckpointCorrupt(f"checkpoint {self.restore_from} has no recorded sha256 "
                                    "to check it against", path=self.restore_from)
        return arts.local_copy(self.restore_from, self.restore_sha256)

    def save_checkpoint(self, state: Any, *, step: int | None = None) -> Path | str:
        """Save ``state`` as this trial's checkpoint for ``step`` (default: the next report's
        step). It is recorded with the next report.

        Keep ``state`` to tensors, numbers, strings, and lists/tuples/dicts of them (a model's
        ``state_dict()``, an optimizer's, ``torch.get_rng_state()``): that is what
        :meth:`load_checkpoint` reads back safely. Returns the file written (its URL in
        object storage)."""
        step = self._last_step + 1 if step is None else int(step)
        arts = self._artifacts()
        ck = arts.save(state, f"{self.checkpoint_location}/ckpt-{step:06d}.pt")
        self._pending = Checkpoint(path=ck.path, step=step, sha256=ck.sha256, size=ck.size)
        from tunelab.store.artifacts import LocalArtifacts

        return arts.resolve(ck.path) if isinstance(arts, LocalArtifacts) \
            else f"{arts.root}/{ck.path}"

    def load_checkpoint(self, *, allow_pickle: bool = False) -> Any | None:
        """The state to resume from (own or a donor's), or None on a fresh start.

        The file is checked first: inside the artifact root and with the sha256 recorded
        when it was written (:class:`~tunelab.errors.CheckpointCorrupt` otherwise). It is
        read with ``torch.load(weights_only=True)``, which builds tensors, numbers, strings
        and containers only; anything else is refused with
        :class:`~tunelab.errors.UnsafeCheckpoint`.

        ``allow_pickle=True`` opts in to full unpickling, for an objective that saves other
        Python objects. **Risk:** unpickling runs code named in the file, so anyone who can
        write the artifact folder *and* the store's checkpoint rows can then run code in
        your workers. Prefer converting such objects to plain types."""
        if not self.restore_from:
            return None
        return self._artifacts().load(self.restore_from, self.restore_sha256,
                                      allow_pickle=allow_pickle)

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


def _scratch(url: str) -> Path:
    """A private folder on this machine standing in for a trial's object-storage URL."""
    import hashlib
    import os
    import tempfile

    base = Path(tempfile.gettempdir()) / f"tunelab-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    tail = url.rstrip("/").rsplit("/", 2)[-2:]
    return base / hashlib.sha256(url.encode()).hexdigest()[:12] / "/".join(tail)
