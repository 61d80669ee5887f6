"""The folders the training page may read: only those under ``tunelab ui --data-root``.

A browser names a data set by its path relative to the data root (or ``builtin:digits``); this
module turns that into a real path after checking it stays inside the root (``..``, absolute
paths and links that lead out are refused), lists the candidate data sets, and previews one:
images per class, a few thumbnails, the image sizes, whether it is monochrome, and the files
that cannot be read. A data set of at most ``PREVIEW_SAMPLE`` images is loaded the way a trial
loads it (filling the shared decode cache, so the job launched from the page starts without
decoding again). A larger one is listed and counted without decoding it: sizes, monochrome,
the training image size, unreadable files and thumbnails come from a random sample of
``PREVIEW_SAMPLE`` images (drawn per class in proportion, at least one per class), and the
preview says so; the job decodes it when it starts.
"""

from __future__ import annotations

import base64
import io
import os
from collections import Counter
from pathlib import Path
from typing import Any

from tunelab.errors import SpecError

BUILTIN = "builtin:digits"
#: Folders below the root looked at for data sets (a data set is a folder of class folders).
MAX_DEPTH = 2
THUMBS_PER_CLASS = 4
SIZE_SAMPLE = 200
#: A data set with more images than this is previewed from a random sample of this many.
PREVIEW_SAMPLE = 500
THUMB_SIDE = 48


class DataRoot:
    """The one folder tree the server reads data from (``None``: only ``builtin:digits``)."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else None
        if self.root is not None and not self.root.is_dir():
            raise SpecError.field("--data-root", "an existing folder", str(root),
                                  "Give the folder that holds your image folders.")

    def resolve(self, name: str, field: str = "data") -> str:
        """The path (or ``builtin:digits``) for the data set called ``name`` on the page;
        :class:`SpecError` naming ``field`` when it is outside the data root or missing."""
        name = (name or "").strip()
        if name == BUILTIN:
            return BUILTIN
        if self.root is None:
            raise SpecError.field(field, f"{BUILTIN!r} (this server has no --data-root)", name,
                                  "Restart `tunelab ui` with --data-root DIR to use folders.")
        if not name:
            raise SpecError.field(field, "a data set under the data root", name,
                                  "Pick one from the list.")
        candidate = Path(name)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        real = Path(os.path.realpath(candidate))
        if real != self.root and self.root not in real.parents:
            raise SpecError.field(field, f"a folder inside the data root {self.root}", name,
                                  "The server reads nothing outside --data-root.")
        if real == self.root:
            raise SpecError.field(field, "a data set folder below the data root", name,
                                  "Pick one of its subfolders.")
        if not (real.is_dir() or (real.is_file() and real.suffix.lower() == ".csv")):
            raise SpecError.field(field, "an existing folder or .csv manifest under the data "
                                  "root", name, "Pick one from the list.")
        return str(real)

    def relative(self, path: str) -> str:
        """How the page names ``path`` (relative to the root; builtin names as they are)."""
        if self.root is None or path.startswith("builtin:"):
            return path
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return path

    def datasets(self) -> list[str]:
        """Data sets under the root: folders holding at least two class folders, and .csv
        manifests; plus ``builtin:digits``."""
        out = [BUILTIN]
        if self.root is None:
            return out
        found: list[str] = []

        def visit(folder: Path, depth: int) -> None:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                return
            subdirs = [e for e in entries if e.is_dir(follow_symlinks=False)
                       and not e.name.startswith(".")]
            if depth > 0 and len(subdirs) >= 2:
                found.append(str(folder.relative_to(self.root)))  # type: ignore[arg-type]
            for e in entries:
                if e.is_file(follow_symlinks=False) and e.name.lower().endswith(".csv"):
                    found.append(str(Path(e.path).relative_to(self.root)))  # type: ignore[arg-type]
            if depth < MAX_DEPTH:
                for e in subdirs:
                    visit(Path(e.path), depth + 1)

        visit(self.root, 0)
        return out + found

    def preview(self, name: str, *, validation_percent: float = 20.0,
                sample: int | None = None) -> dict[str, Any]:
        """What the page shows about data set ``name`` (see the module docstring); more than
        ``sample`` (default ``PREVIEW_SAMPLE``) images are previewed from a random sample of
        ``sample``."""
        from tunelab.vision.data import _resolve_source, load_image_data

        sample = PREVIEW_SAMPLE if sample is None else sample
        path = self.resolve(name)
        src = _resolve_source(path, "data")
        counts = Counter(src.labels)
        per_class = {c: counts.get(i, 0) for i, c in enumerate(src.classes)}
        out: dict[str, Any] = {
            "data": self.relative(path), "path": path, "classes": src.classes,
            "images_per_class": per_class, "images": len(src.files),
            "links_skipped": [e.split("\t")[0] for e in src.excluded[:20]],
        }
        if path != BUILTIN and len(src.files) > sample:
            return out | self._sampled(src, validation_percent, sample)
        data = load_image_data(path, validation_percent=validation_percent, warn_skipped=False)
        return out | {
            "sample": None, "train": len(data.train_y), "validation": len(data.val_y),
            "image_size": data.image_size, "channels": data.channels,
            "monochrome": data.channels == 1,
            "sizes": _sizes(src) if path != BUILTIN else {"8x8": len(src.files)},
            "unreadable": [self.relative(p) for p in data.skipped[:50]],
            "unreadable_count": len(data.skipped),
            "thumbnails": _thumbnails(data),
        }

    def _sampled(self, src: Any, validation_percent: float, sample: int) -> dict[str, Any]:
        """The preview of a large data set from a random sample (nothing decoded in full)."""
        import numpy as np

        from tunelab.vision.cache import _decode
        from tunelab.vision.data import MAX_DEFAULT_SIZE, MIN_DEFAULT_SIZE

        labels = np.asarray(src.labels)
        rng = np.random.default_rng(0)
        picked: list[int] = []
        for c in range(len(src.classes)):  # per class, in proportion (each class shows)
            members = np.flatnonzero(labels == c)
            k = min(len(members), max(1, round(sample * len(members) / len(labels))))
            picked += rng.choice(members, k, replace=False).tolist()
        sizes: Counter[str] = Counter()
        sides: list[int] = []
        grey = True
        bad: list[str] = []
        thumbs: dict[str, list[str]] = {c: [] for c in src.classes}
        for i in sorted(picked):
            try:
                im = src.open_item(i)
                w, h = im.size
                arr, is_grey = _decode(im, THUMB_SIDE)  # as the cache decodes it
            except Exception:
                bad.append(src.files[i])
                continue
            sizes[f"{w}x{h}"] += 1
            sides.append(min(w, h))
            grey = grey and is_grey
            cls = src.classes[src.labels[i]]
            if len(thumbs[cls]) < THUMBS_PER_CLASS:
                thumbs[cls].append(_png_url(arr))
        n = len(labels)
        val = sum(min(max(round(k * validation_percent / 100.0), 1), k - 1)
                  for k in np.bincount(labels, minlength=len(src.classes)) if k >= 2)
        size = (int(min(MAX_DEFAULT_SIZE, max(MIN_DEFAULT_SIZE, int(np.median(sides)))))
                if sides else 64)
        return {
            "sample": len(picked), "train": n - val, "validation": val, "image_size": size,
            "channels": 1 if grey else 3, "monochrome": grey,
            "sizes": dict(sizes.most_common(8)),
            "unreadable": [self.relative(p) for p in bad[:50]], "unreadable_count": len(bad),
            "thumbnails": thumbs,
        }


def _sizes(src: Any) -> dict[str, int]:
    """``"WxH" -> count`` over an even sample of the files (headers only, no decoding)."""
    from PIL import Image

    step = max(1, len(src.files) // SIZE_SAMPLE)
    sizes: Counter[str] = Counter()
    for f in src.files[::step]:
        try:
            with Image.open(f) as im:
                sizes[f"{im.size[0]}x{im.size[1]}"] += 1
        except Exception:  # counted as unreadable by the loader
            continue
    return dict(sizes.most_common(8))


def _png_url(arr: Any) -> str:
    """A uint8 [channels, H, W] image as a ``THUMB_SIDE`` square PNG data URL."""
    import numpy as np
    from PIL import Image

    img = (Image.fromarray(np.ascontiguousarray(arr[0], dtype=np.uint8), "L")
           if arr.shape[0] == 1 else
           Image.fromarray(np.ascontiguousarray(np.transpose(arr, (1, 2, 0)), dtype=np.uint8),
                           "RGB"))
    img = img.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _thumbnails(data: Any) -> dict[str, list[str]]:
    """A few training images per class as PNG data URLs (as decoded for training)."""
    out: dict[str, list[str]] = {c: [] for c in data.classes}
    ys = data.train_y.tolist()
    for i, y in enumerate(ys):
        cls = data.classes[y]
        if len(out[cls]) >= THUMBS_PER_CLASS:
            continue
        out[cls].append(_png_url(data.train_x[i].numpy()))
        if all(len(v) >= THUMBS_PER_CLASS for v in out.values()):
            break
    return out
