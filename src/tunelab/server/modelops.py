"""What the job page does with a finished job's best model: evaluate it on a test folder (under
the data root), predict uploaded images, and "tune again around the best".

The model is exported once per best checkpoint (``tunelab export``'s code, into the launch
folder) and reused. Uploads are checked before any model sees them: at most
:data:`MAX_UPLOAD_BYTES` each and :data:`MAX_UPLOADS` per request, and Pillow must read them
as an image; the bytes are written under a private temporary folder with a generated name, never
under a name from the request.
"""

from __future__ import annotations

import io
import math
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from tunelab.errors import SpecError
from tunelab.server.dataroot import DataRoot
from tunelab.server.model_zip import best_checkpoint
from tunelab.store.queries import Reader

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOADS = 16
#: "Tune again": each searched range shrinks to this share of its width around the best value.
NARROW = 0.25


class Models:
    """Exported best models of the store's jobs, cached under ``folder``."""

    def __init__(self, reader: Reader, root: DataRoot, folder: Path) -> None:
        self.reader = reader
        self.root = root
        self.folder = folder / "models"
        self._lock = threading.Lock()

    def exported(self, name: str) -> Path:
        """The ``tunelab export`` folder of job ``name``'s best model (made on first use)."""
        from tunelab.vision.export import export_model

        best = best_checkpoint(self.reader, name)
        if not best.builtin:
            raise SpecError.field(f"job {name}", "a job of the built-in image classifier",
                                  "other training code", "Download its checkpoint instead.")
        out = self.folder / f"{name}-{best.sha256[:16]}"
        with self._lock:
            if not (out / "model.json").is_file():
                tmp = Path(tempfile.mkdtemp(dir=self._ensure(), prefix=".export-"))
                export_model(best.path, tmp / "m", sha256=best.sha256)
                shutil.rmtree(out, ignore_errors=True)
                (tmp / "m").rename(out)
                shutil.rmtree(tmp, ignore_errors=True)
        return out

    def _ensure(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder

    def evaluate(self, name: str, data: str) -> dict[str, Any]:
        """Accuracy, per-class precision/recall and the confusion matrix on a test folder."""
        from tunelab.vision.export import evaluate

        path = self.root.resolve(data, "test_data")
        model = self.exported(name)
        return {"data": self.root.relative(path), **evaluate(model, path).to_dict()}

    def predict(self, name: str, uploads: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        """Top classes of each uploaded image (each checked to be an image first)."""
        from PIL import Image, UnidentifiedImageError

        from tunelab.vision.export import predict

        if not uploads:
            raise SpecError.field("images", "at least one image file", 0)
        if len(uploads) > MAX_UPLOADS:
            raise SpecError.field("images", f"at most {MAX_UPLOADS} images at once",
                                  len(uploads), "Send fewer at a time.")
        for filename, data in uploads:
            if len(data) > MAX_UPLOAD_BYTES:
                raise SpecError.field("images", f"files of at most {MAX_UPLOAD_BYTES // 2**20} "
                                      "MiB", f"{filename} ({len(data):,} bytes)")
            try:
                with Image.open(io.BytesIO(data)) as im:
                    im.verify()
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
                raise SpecError.field("images", "image files (PNG, JPEG, ...)", filename,
                                      "Only images can be predicted.") from None
        model = self.exported(name)
        with tempfile.TemporaryDirectory(prefix="tunelab-predict-") as tmp:
            paths = []
            for i, (_filename, data) in enumerate(uploads):
                p = Path(tmp) / f"upload-{i}"
                p.write_bytes(data)
                paths.append(p)
            preds = predict(model, paths, top_k=3)
        return [{"image": uploads[i][0], "error": p.error,
                 "top": [{"class": c, "probability": v} for c, v in p.top]}
                for i, p in enumerate(preds)]


def narrowed_spec(reader: Reader, name: str, new_name: str) -> dict[str, Any]:
    """Job ``name``'s spec with each searched numeric range narrowed to :data:`NARROW` of its
    width around the best trial's value (on the range's own scale), under ``new_name``: the
    coarse-to-fine practice, as a spec to review and launch."""
    head = reader.job_header(name)
    if head.best_trial is None:
        raise SpecError(f"job {name!r} has no finished trial with a value to tune around yet.")
    best = head.best_trial.params
    spec = dict(reader.job(name).spec)
    space = {k: dict(v) for k, v in (spec.get("search_space") or {}).items()}
    for key, p in space.items():
        if key not in best or p.get("type") not in ("float", "int") or "low" not in p:
            continue
        lo, hi, v = float(p["low"]), float(p["high"]), float(best[key])
        log = p.get("scale") == "log" and lo > 0 and v > 0
        f = math.log if log else (lambda x: x)
        g = math.exp if log else (lambda x: x)
        half = (f(hi) - f(lo)) * NARROW / 2
        a, b = max(f(lo), f(v) - half), min(f(hi), f(v) + half)
        new_lo, new_hi = g(a), g(b)
        if p["type"] == "int":
            new_lo, new_hi = math.floor(new_lo), math.ceil(new_hi)
            if new_lo >= new_hi:
                continue
        p["low"], p["high"] = (float(f"{new_lo:.4g}"), float(f"{new_hi:.4g}")) \
            if p["type"] == "float" else (int(new_lo), int(new_hi))
    spec["search_space"] = space
    spec["name"] = new_name
    spec.pop("warm_start", None)
    first = ("name", "objective", "train", "search_space", "strategy", "limits")
    return {**{k: spec[k] for k in first if k in spec},
            **{k: v for k, v in spec.items() if k not in first}}
