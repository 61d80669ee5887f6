"""Image data for the built-in classifier: decoding once, the cache, the split (where the images
come from is :mod:`tunelab.vision.sources`).

Sources (the ``source`` string):

* a folder with one subfolder per class (JPEG, PNG, BMP, GIF, TIFF, WebP; grey or colour; any
  sizes; files in nested folders of a class count for that class);
* a CSV manifest ``path,label`` (header optional; relative paths are relative to the CSV);
* ``builtin:digits`` — scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes),
  scaled from 0..16 to 0..255.

Every image is decoded once: resized so its shorter side is ``image_size`` and centre-cropped to a
square, then stored in a uint8 cache on disk (see :mod:`tunelab.vision.cache`) that every trial and
worker process memory-maps. Default ``image_size``: 8 for ``builtin:digits``; otherwise the median
shorter side of the images, clamped to 8..32: at 32 pixels a small ResNet learns real photos well
(bench/photo_quality.py) at a tenth of the cost of 100 pixels; set ``image_size`` for more detail.
If every image is grey the data has one channel.

Unreadable or truncated files are skipped and listed (``ImageData.skipped`` and a log file beside
the cache entry); ``strict=True`` raises :class:`~tunelab.errors.DataError` instead.

The validation split is stratified and fixed by ``seed`` and ``validation_percent``; it is stored
as its own cache entry laid out train-then-validation, so ``train_x`` and ``val_x`` are both plain
slices of one memory map, and recorded in ``split.json`` (which file went where).

Example:
    >>> data = load_image_data("builtin:digits", cache_dir=tmp_path)  # doctest: +SKIP
    >>> data.train_x.shape, data.channels, len(data.classes)          # doctest: +SKIP
    (torch.Size([1437, 1, 8, 8]), 1, 10)
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunelab.devices import available_cpus
from tunelab.errors import DataError, SpecError
from tunelab.vision.cache import (
    IMAGES_FILE,
    META_FILE,
    cache_key,
    channel_stats,
    decode_file,
    decode_into,
    default_cache_dir,
    map_images,
    open_or_build,
)
from tunelab.vision.sources import (
    Source,
    relabel,
    resolve_source,
)

log = logging.getLogger(__name__)
_WARNED: set[tuple[Any, ...]] = set()  # skipped-file logs already warned about

MAX_DEFAULT_SIZE = 32
MIN_DEFAULT_SIZE = 8


@dataclass(frozen=True)
class ImageData:
    """A decoded, split image data set; the tensors map the on-disk cache (nothing copied).

    Pickling an ``ImageData`` (e.g. to a worker process) sends only the load arguments; the
    receiver maps the same cache entries instead of receiving a copy of the pixels.

    Example:
        >>> data = load_image_data("builtin:digits", cache_dir=tmp_path)  # doctest: +SKIP
        >>> xb = data.train_x[:32]  # uint8 [32, 1, 8, 8]   # doctest: +SKIP
        >>> yb = data.train_y[:32]  # int64 [32]           # doctest: +SKIP
    """

    classes: list[str]
    channels: int
    image_size: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor | None
    test_y: torch.Tensor | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    skipped: list[str]
    split_seed: int
    source: str
    validation_percent: float = 20
    validation: str | None = None
    test: str | None = None
    cache_dir: Path | None = None
    strict: bool = False
    requested_image_size: int | None = None
    #: ``split.json``: seed, percent, and the files in each part (None with a validation folder).
    split_record: Path | None = None
    #: Text file naming each skipped file and why (None when nothing was skipped).
    skipped_log: Path | None = None
    cache_entries: tuple[Path, ...] = field(default=())
    #: links not followed in the data folders, "path<TAB>why" (out of the folder, a loop...)
    excluded: tuple[str, ...] = field(default=())

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {
            "image_size": self.requested_image_size,
            "validation_percent": self.validation_percent,
            "seed": self.split_seed,
            "cache_dir": self.cache_dir,
            "strict": self.strict,
            "validation": self.validation,
            "test": self.test,
        }
        return (_reload, (self.source, kwargs))


#: the old private name, still read by the server's data-root preview
_resolve_source = resolve_source


def _reload(source: str, kwargs: dict[str, Any]) -> ImageData:
    return load_image_data(source, **kwargs)


# --------------------------------------------------------------------------------------------
# Decoding


def _median_short_side(src: Source) -> int:
    sides: list[int] = []
    for i in range(len(src.files)):
        try:
            with src.open_item(i) as im:
                sides.append(min(im.size))
        except Exception:  # unreadable files are reported when decoded
            continue
    if not sides:
        return 64
    return int(min(MAX_DEFAULT_SIZE, max(MIN_DEFAULT_SIZE, int(np.median(sides)))))


def _decoded(src: Source, size: int | None, root: Path) -> tuple[torch.Tensor, dict[str, Any]]:
    key = cache_key({"kind": "decoded", "items": src.fingerprint, "image_size": size or "auto"})

    def build(folder: Path) -> dict[str, Any]:
        resolved = size if size is not None else _median_short_side(src)
        log.info("decoding %d images from %s at %dx%d", len(src.files), src.name, resolved,
                 resolved)
        return decode_into(folder, src.files, src.labels, src.open_item, resolved,
                           workers=min(8, available_cpus()))

    return open_or_build(root, key, build)


# --------------------------------------------------------------------------------------------
# The stratified split


def stratified_split(
    labels: np.ndarray[Any, Any], classes: list[str], validation_percent: float, seed: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Split indices into (train, validation), stratified by label, fixed by ``seed``.

    Each class keeps ``round(n * percent / 100)`` images for validation, at least one, and at
    least one for training, so every class appears in both parts.

    Example:
        >>> y = np.array([0] * 10 + [1] * 5)
        >>> tr, va = stratified_split(y, ["a", "b"], 20, seed=0)
        >>> len(tr), len(va), sorted(set(y[va].tolist()))
        (12, 3, [0, 1])
    """
    counts = np.bincount(labels, minlength=len(classes))
    short = [f"{classes[c]!r} ({int(n)})" for c, n in enumerate(counts) if n < 2]
    if short:
        raise DataError(
            "Every class needs at least 2 readable images to appear in both the training and the "
            f"validation part (validation_percent={validation_percent:g}); got too few for "
            f"{', '.join(short)}. Add images to those classes, or pass a separate validation "
            "folder."
        )
    rng = np.random.default_rng(seed)
    val_parts = []
    for c in range(len(classes)):
        members = np.flatnonzero(labels == c)
        n_val = round(len(members) * validation_percent / 100.0)
        n_val = min(max(n_val, 1), len(members) - 1)
        val_parts.append(rng.permutation(members)[:n_val])
    val = np.sort(np.concatenate(val_parts))
    train = np.setdiff1d(np.arange(len(labels)), val, assume_unique=True)
    return train, val


def _split_layout(
    images: torch.Tensor, meta: dict[str, Any], classes: list[str], percent: float, seed: int,
    root: Path,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The decoded images re-laid as [train..., validation...] (one copy per seed, no decoding)."""
    labels = np.asarray(meta["labels"], dtype=np.int64)
    train, val = stratified_split(labels, classes, percent, seed)
    key = cache_key({"kind": "split", "of": Path(meta["entry"]).name, "seed": seed,
                     "percent": percent})

    def build(folder: Path) -> dict[str, Any]:
        order = np.concatenate([train, val])
        shape = (len(order), *images.shape[1:])
        out = np.memmap(folder / IMAGES_FILE, dtype=np.uint8, mode="w+", shape=shape)
        src = images.numpy()
        for start in range(0, len(order), 1024):
            rows = np.sort(order[start : start + 1024])  # sorted reads; order restored below
            pos = np.searchsorted(rows, order[start : start + 1024])
            out[start : start + len(rows)] = src[rows][pos]
        out.flush()
        del out
        files = meta["files"]
        mean, std = channel_stats(map_images(folder / IMAGES_FILE, shape)[: len(train)])
        record = {
            "seed": seed,
            "validation_percent": percent,
            "train": [files[i] for i in train],
            "validation": [files[i] for i in val],
        }
        (folder / "split.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
        return {
            "shape": list(shape),
            "n_train": len(train),
            "labels": labels[order].tolist(),
            "mean": mean,
            "std": std,
        }

    return open_or_build(root, key, build)


# --------------------------------------------------------------------------------------------
# The entry point


def _check_args(image_size: int | None, validation_percent: float, seed: int) -> None:
    if image_size is not None and (
        isinstance(image_size, bool) or not isinstance(image_size, int) or not 4 <= image_size
        <= 1024
    ):
        raise SpecError.field(
            "image_size", "an integer from 4 to 1024, or None for the default", image_size
        )
    if isinstance(validation_percent, bool) or not isinstance(validation_percent, int | float) \
            or not 0 < validation_percent < 100:
        raise SpecError.field(
            "validation_percent", "a number between 0 and 100 (exclusive)", validation_percent,
            "Use e.g. 20, or pass a separate validation folder.",
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpecError.field("seed", "a non-negative integer", seed)


def match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 images ``[N, C, H, W]`` as ``channels`` (1 or 3) channels.

    Grey images for a colour model are shown as 3 equal channels (a view, not a copy); colour
    images for a grey model become their luma, computed exactly as PIL's ``convert("L")``
    (ITU-R 601-2: ``(19595 R + 38470 G + 7471 B + 2^15) >> 16``).

    Example:
        >>> match_channels(torch.full((1, 1, 2, 2), 7, dtype=torch.uint8), 3).shape
        torch.Size([1, 3, 2, 2])
        >>> rgb = torch.tensor([255, 0, 0], dtype=torch.uint8).view(1, 3, 1, 1)
        >>> int(match_channels(rgb, 1))
        76
    """
    if x.shape[1] == channels:
        return x
    if x.shape[1] == 1:
        return x.expand(-1, channels, -1, -1)
    if channels == 1 and x.shape[1] == 3:
        w = torch.tensor([19595, 38470, 7471], dtype=torch.int32).view(1, 3, 1, 1)
        luma = ((x.to(torch.int32) * w).sum(1, keepdim=True) + 32768) >> 16
        return luma.to(torch.uint8)
    raise DataError(f"Images must have 1 or 3 channels to be shown as {channels}; got "
                    f"{x.shape[1]}.")


def load_image(path: str | Path, *, image_size: int, channels: int) -> torch.Tensor:
    """Decode one image file exactly as the images of a data set are decoded into the cache
    (EXIF rotation, transparency on white, 16-bit grey by range, shorter side resized to
    ``image_size`` and centre-cropped), as uint8 ``[channels, image_size, image_size]``.

    This is what ``predict`` feeds an exported model, so it sees the pixels training saw.
    """
    try:
        arr, grey = decode_file(path, image_size)
    except Exception as exc:  # any decoder failure means "unreadable", as in the cache
        raise DataError(f"Cannot read image {str(path)!r} ({exc}). Give a JPEG, PNG, BMP, GIF, "
                        "TIFF or WebP file.") from None
    t = torch.from_numpy(np.array(arr[:1] if grey else arr)).unsqueeze(0)  # a writable copy
    return match_channels(t, channels)[0].contiguous()


def load_labelled_images(
    source: str, *, image_size: int, cache_dir: str | Path | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Every readable image of ``source`` with its label, unsplit: what ``evaluate`` scores.

    Unlike :func:`load_image_data` nothing is held out, so one class is enough (a test folder
    of cats alone measures the model's recall on cats). Returns uint8 images [N, C, S, S],
    labels indexing the returned class names, and those names.
    """
    root = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir())
    src = resolve_source(source, "data")
    if not src.classes:
        raise DataError(f"The data {src.name!r} holds no class folders (or labels). Put the "
                        "images in one folder per class.")
    images, meta = _decoded(src, image_size, root / "images")
    if images.shape[0] == 0:
        raise DataError(
            f"The data must hold readable images; none of the {len(src.files)} files in "
            f"{src.name!r} could be decoded (see {Path(meta['entry']) / 'skipped.txt'}).")
    if meta["skipped"]:
        log.warning("skipped %d unreadable image files (listed in %s)", len(meta["skipped"]),
                    Path(meta["entry"]) / "skipped.txt")
    return images, torch.tensor(meta["labels"], dtype=torch.int64), list(src.classes)


def load_image_data(
    source: str,
    *,
    image_size: int | None = None,
    validation_percent: float = 20,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    strict: bool = False,
    validation: str | None = None,
    test: str | None = None,
    warn_skipped: bool = True,
) -> ImageData:
    """Load (decoding only on the first call) an image data set, split for one tuning job.

    Args:
        source: a class-per-subfolder folder, a ``path,label`` .csv manifest, or
            ``"builtin:digits"``.
        image_size: square side after resizing; None means 8 for digits, otherwise the median
            shorter side of the images, clamped to 8..128.
        validation_percent: share of each class held out for validation (stratified), ignored
            when ``validation`` is given.
        seed: fixes the split; use the tuning job's seed so every trial sees the same split.
        cache_dir: cache root; default ``$TUNELAB_CACHE_DIR`` or ``~/.cache/tunelab``.
        strict: raise :class:`DataError` on any unreadable image instead of skipping it.
        validation, test: optional folders (or manifests) with the same class names.
        warn_skipped: log a warning naming the skipped-file list (once per process).

    Example:
        >>> data = load_image_data("builtin:digits", cache_dir=tmp_path)  # doctest: +SKIP
        >>> len(data.train_y) + len(data.val_y)                          # doctest: +SKIP
        1797
    """
    _check_args(image_size, validation_percent, seed)
    root = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir())
    root = root / "images"
    src = resolve_source(source, "data")
    if len(src.classes) < 2:
        raise DataError(
            f"A classifier needs at least 2 classes; got {len(src.classes)} "
            f"({', '.join(map(repr, src.classes))}) in {src.name!r}. Add a folder (or label) per "
            "class."
        )
    images, meta = _decoded(src, image_size, root)
    size = int(meta["image_size"])
    if images.shape[0] == 0:
        raise DataError(
            f"The data must hold readable images; none of the {len(src.files)} files in "
            f"{src.name!r} could be decoded (see {Path(meta['entry']) / 'skipped.txt'})."
        )
    entries = [Path(meta["entry"])]
    skipped = list(meta["skipped"])
    excluded = list(src.excluded)
    logs = [Path(meta["entry"]) / "skipped.txt"] if skipped else []

    parts: dict[str, tuple[torch.Tensor, torch.Tensor] | None] = {"validation": None, "test": None}
    for what, given in (("validation", validation), ("test", test)):
        if given is None:
            continue
        other = relabel(resolve_source(given, what), src.classes, what)
        excluded += other.excluded
        x, m = _decoded(other, size, root)
        if x.shape[0] == 0:
            raise DataError(f"The {what} set {other.name!r} holds no readable images.")
        parts[what] = (x, torch.tensor(m["labels"], dtype=torch.int64))
        entries.append(Path(m["entry"]))
        skipped += m["skipped"]
        if m["skipped"]:
            logs.append(Path(m["entry"]) / "skipped.txt")

    if strict and skipped:
        shown = "\n  ".join(skipped[:10]) + ("\n  ..." if len(skipped) > 10 else "")
        raise DataError(
            f"With strict: true every image must be readable; {len(skipped)} could not be "
            f"decoded:\n  {shown}\nFix or remove them, or set strict: false to skip them."
        )
    if skipped and warn_skipped and tuple(logs) not in _WARNED:  # once per process
        _WARNED.add(tuple(logs))
        log.warning("skipped %d unreadable image files (listed in %s)", len(skipped),
                    ", ".join(map(str, logs)))
    if excluded and warn_skipped and ("links", *excluded) not in _WARNED:
        _WARNED.add(("links", *excluded))
        log.warning("did not follow %d link(s) in the data folder: %s", len(excluded),
                    "; ".join(e.replace("\t", ": ") for e in excluded[:5]))

    split_record: Path | None = None
    if parts["validation"] is None:
        laid, lmeta = _split_layout(images, meta, src.classes, float(validation_percent), seed,
                                    root)
        n_train = int(lmeta["n_train"])
        labels = torch.tensor(lmeta["labels"], dtype=torch.int64)
        train_x, val_x = laid[:n_train], laid[n_train:]
        train_y, val_y = labels[:n_train], labels[n_train:]
        mean, std = lmeta["mean"], lmeta["std"]
        split_record = Path(lmeta["entry"]) / "split.json"
        entries.append(Path(lmeta["entry"]))
    else:
        train_x, train_y = images, torch.tensor(meta["labels"], dtype=torch.int64)
        val_x, val_y = parts["validation"]
        mean, std = meta["mean"], meta["std"]
        if len(set(train_y.tolist())) < 2:
            raise DataError(f"The training set {src.name!r} needs readable images of 2 classes.")

    test_x, test_y = parts["test"] if parts["test"] is not None else (None, None)
    channels = max(int(t.shape[1]) for t in (train_x, val_x, test_x) if t is not None)
    if len(mean) != channels:
        mean, std = mean * channels, std * channels
    return ImageData(
        classes=list(src.classes),
        channels=channels,
        image_size=size,
        train_x=match_channels(train_x, channels),
        train_y=train_y,
        val_x=match_channels(val_x, channels),
        val_y=val_y,
        test_x=None if test_x is None else match_channels(test_x, channels),
        test_y=test_y,
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        skipped=skipped,
        split_seed=seed,
        source=source,
        validation_percent=validation_percent,
        validation=validation,
        test=test,
        cache_dir=Path(cache_dir) if cache_dir is not None else None,
        strict=strict,
        requested_image_size=image_size,
        split_record=split_record,
        skipped_log=logs[0] if logs else None,
        cache_entries=tuple(entries),
        excluded=tuple(excluded),
    )


def _content_digest(path: str) -> str | None:
    """sha256 of a file's bytes (None for an item that is not a file, e.g. builtin:digits)."""
    import hashlib

    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def _part_files(data: ImageData) -> tuple[list[str], list[str]]:
    """The files of the training and the validation part, in their order."""
    if data.split_record is not None:
        rec = json.loads(data.split_record.read_text(encoding="utf-8"))
        return list(rec["train"]), list(rec["validation"])
    metas = [json.loads((e / META_FILE).read_text(encoding="utf-8"))
             for e in data.cache_entries[:2]]
    return list(metas[0]["files"]), list(metas[1]["files"])


def shared_content(data: ImageData) -> int:
    """How many validation images have the same file content (sha256 of the bytes) as a
    training image: copies of one photo on both sides inflate validation accuracy.

    Reads every file once; the tuner calls it once per job (see
    :func:`tunelab.vision.prepare.describe_data`), not once per trial.
    """
    train, val = _part_files(data)
    seen = {d for d in map(_content_digest, train) if d is not None}
    return sum(1 for d in map(_content_digest, val) if d is not None and d in seen)
