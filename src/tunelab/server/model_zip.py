"""The best model of a job as a zip: the `tunelab export` output for the built-in image
classifier, else the best checkpoint with its parameters. Only files inside the store's
artifact root are read, and a checkpoint must match its recorded sha256."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.errors import SpecError, StoreError
from tunelab.store.artifacts import open_artifacts
from tunelab.store.queries import Reader


@dataclass(frozen=True)
class BestCheckpoint:
    """The checkpoint a job's best model is exported from (checked, read once)."""

    path: Path
    data: bytes
    sha256: str
    trial: int
    step: int
    params: dict[str, Any]
    value: float | None
    builtin: bool  # the built-in image classifier's checkpoint (exportable as TorchScript)


def best_checkpoint(reader: Reader, name: str) -> BestCheckpoint:
    """The best trial's best-scored checkpoint of job ``name``: inside the artifact root
    (else :class:`~tunelab.errors.UnsafePathError`) and matching its recorded sha256."""
    head = reader.job_header(name)
    if head.best_trial is None:
        raise SpecError(f"job {name!r} has no finished trial with a value to export yet.")
    tr = reader.trial(name, head.best_trial.number)
    live = [c for c in tr.checkpoints if not c.deleted]
    if not live:
        raise SpecError(f"the best trial ({tr.number}) of job {name!r} has no checkpoint; the "
                        "objective must call trial.save_checkpoint() to be exported.")
    sign = 1.0 if head.goal == "minimize" else -1.0
    by_step = {r.step: r.value for r in tr.reports if r.value is not None}
    scored = [c for c in live if c.step in by_step]
    refit = bool(head.static.get("train_on_validation"))  # nothing held out: the last epoch
    ck = (min(scored, key=lambda c: (sign * float(by_step[c.step] or 0.0), -c.step))
          if scored and not refit else live[-1])
    job = reader.job(name)
    root = job.artifact_root or reader.artifact_url or reader.artifacts
    if root is None:
        raise StoreError(f"job {name!r} records no artifact root and this store has none; "
                         "start `tunelab ui` with the store's artifact folder.")
    arts = open_artifacts(root)
    data = arts.read_verified(ck.path, ck.sha256)  # inside the root, exactly those bytes
    path = arts.local_copy(ck.path, ck.sha256)
    builtin = (job.spec.get("train") or {}).get("builtin") == "image-classifier"
    return BestCheckpoint(path, data, ck.sha256, tr.number, ck.step,
                          {**head.static, **tr.params}, by_step.get(ck.step), builtin)


def best_model_zip(reader: Reader, name: str) -> tuple[bytes, str]:
    """``(zip bytes, file name)`` of the best model of job ``name``."""
    best = best_checkpoint(reader, name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if best.builtin:
            from tunelab.vision.export import export_model

            with tempfile.TemporaryDirectory() as tmp:
                out = export_model(best.path, Path(tmp) / "model")
                for f in sorted(out.rglob("*")):
                    if f.is_file():
                        z.write(f, f"{name}-model/{f.relative_to(out)}")
        else:
            z.writestr(f"{name}-model/checkpoint.pt", best.data)
            z.writestr(f"{name}-model/params.json", json.dumps(
                {"trial": best.trial, "step": best.step, "params": best.params,
                 "value": best.value}, indent=2))
    return buf.getvalue(), f"{name}-model.zip"
