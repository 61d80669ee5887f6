"""The on-disk uint8 image cache shared by every trial and worker process, and decoding into it.

An entry is a folder ``<root>/<key>/`` holding ``images.u8`` (raw uint8, C-order, shape recorded in
``meta.json``) and ``meta.json``. Entries are built in a temporary folder next to the final one and
renamed into place, so a reader sees either a complete entry or none; a crash mid-build leaves
only a ``.<key>.*`` temp folder, which is never read. Builders of the same key serialise on a lock
file (``fcntl.flock`` where available); if two builders still race, the rename of the loser fails
and it uses the winner's entry.

Readers map ``images.u8`` copy-on-write (``numpy.memmap`` mode ``"c"``): every process reading the
same entry shares the page cache, and nothing is copied into process memory until touched.

Example:
    >>> import tempfile, numpy as np
    >>> root = Path(tempfile.mkdtemp())
    >>> def build(tmp: Path) -> dict[str, Any]:
    ...     write_images(tmp, np.zeros((2, 1, 4, 4), np.uint8))
    ...     return {"shape": [2, 1, 4, 4]}
    >>> images, meta = open_or_build(root, "k1", build)
    >>> tuple(images.shape), images.dtype
    ((2, 1, 4, 4), torch.uint8)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from tunelab.errors import DataError

try:  # POSIX only; elsewhere the atomic rename alone keeps the cache consistent.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Bump when the layout of an entry changes; old entries are then simply never matched.
CACHE_FORMAT = 1
CACHE_ENV_VAR = "TUNELAB_CACHE_DIR"
IMAGES_FILE = "images.u8"
META_FILE = "meta.json"
_GREY_MODES = frozenset({"1", "L", "I", "F"})


def default_cache_dir() -> Path:
    """The cache root: ``$TUNELAB_CACHE_DIR`` if set, else ``~/.cache/tunelab``.

    This is the only place tunelab's vision code reads that environment variable.

    Example:
        >>> isinstance(default_cache_dir(), Path)
        True
    """
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tunelab"


def cache_key(payload: object) -> str:
    """A stable hex key for a JSON-serialisable description of what an entry holds.

    Example:
        >>> cache_key({"a": 1}) == cache_key({"a": 1}) != cache_key({"a": 2})
        True
    """
    blob = json.dumps({"format": CACHE_FORMAT, "payload": payload}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def write_images(folder: Path, images: np.ndarray[Any, Any]) -> None:
    """Write a uint8 array as ``folder/images.u8`` and fsync it (for use inside a build)."""
    path = folder / IMAGES_FILE
    with path.open("wb") as f:
        f.write(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not supported on every platform / file system
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_json(path: Path, obj: object) -> None:
    with path.open("w", encoding="utf-8") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a+") as f:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def map_images(path: Path, shape: tuple[int, ...]) -> torch.Tensor:
    """Map a raw uint8 file as a tensor of ``shape`` without reading it into memory."""
    if int(np.prod(shape)) == 0:
        return torch.empty(shape, dtype=torch.uint8)
    arr = np.memmap(path, dtype=np.uint8, mode="c", shape=shape)
    return torch.from_numpy(arr)


def _try_open(entry: Path) -> tuple[torch.Tensor, dict[str, Any]] | None:
    """Open a complete, intact entry, or return None."""
    try:
        meta = json.loads((entry / META_FILE).read_text(encoding="utf-8"))
        shape = tuple(int(s) for s in meta["shape"])
        size = (entry / IMAGES_FILE).stat().st_size
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if size != int(np.prod(shape)):
        return None  # damaged (e.g. truncated by a disk-full copy): rebuild
    return map_images(entry / IMAGES_FILE, shape), meta


def open_or_build(
    root: Path, key: str, build: Callable[[Path], dict[str, Any]]
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Return the entry ``key`` under ``root``, building it with ``build(tmp_folder)`` if absent.

    ``build`` writes ``images.u8`` (see :func:`write_images`) and any side files into the folder it
    is given and returns the metadata, which must include ``"shape"``. The returned tensor is a
    memory map of the entry; ``meta`` also gains ``"entry"``, the entry's folder.
    """
    entry = root / key
    got = _try_open(entry)
    if got is None:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(
                f"The image cache folder must be writable; could not create {root} ({exc}). "
                f"Pass cache_dir=... or set {CACHE_ENV_VAR} to a writable folder."
            ) from exc
        with _locked(root / f"{key}.lock"):
            got = _try_open(entry)  # another process may have built it while we waited
            if got is None:
                _build(root, entry, build)
                got = _try_open(entry)
        if got is None:  # pragma: no cover - only if the file system lies to us
            raise DataError(f"The image cache entry {entry} could not be read back after writing.")
    images, meta = got
    meta["entry"] = str(entry)
    return images, meta


def _build(root: Path, entry: Path, build: Callable[[Path], dict[str, Any]]) -> None:
    if entry.exists():
        shutil.rmtree(entry, ignore_errors=True)  # a damaged entry
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=root))
    try:
        meta = build(tmp)
        _write_json(tmp / META_FILE, meta)  # last: an entry with meta.json is complete
        _fsync_dir(tmp)
        try:
            os.rename(tmp, entry)
        except OSError:
            if _try_open(entry) is None:
                raise
            # Lost a race with a process that does not honour the lock: use its entry.
        _fsync_dir(root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Decoding into an entry


def _to_uint8_grey(im: Image.Image) -> Image.Image:
    """Convert 16/32-bit and float grey images to 8-bit by their range, not by clipping."""
    if im.mode in ("1", "L"):
        return im.convert("L")
    arr = np.asarray(im, dtype=np.float64)
    if im.mode == "F" and arr.size and arr.max() <= 1.0:
        arr = arr * 255.0
    elif arr.size and arr.max() > 255.0:
        arr = arr / 257.0  # 16-bit range
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")


def _decode(im: Image.Image, size: int) -> tuple[np.ndarray[Any, Any], bool]:
    """Decode one opened image to uint8 [3, size, size] (shorter side resized, centre crop)."""
    with im:
        im.draft("RGB", (size, size))  # JPEG: let libjpeg decode at a reduced scale
        im.load()  # raises on truncated files (we never set LOAD_TRUNCATED_IMAGES)
        im = ImageOps.exif_transpose(im)
        mode = im.mode
        if mode in _GREY_MODES or mode.startswith("I;16"):
            im = _to_uint8_grey(im)
        elif mode in ("LA", "RGBA", "PA") or "transparency" in im.info:
            rgba = im.convert("RGBA")  # transparent pixels become white, not black
            im = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
        else:
            im = im.convert("RGB")
        if im.size != (size, size):
            im = ImageOps.fit(im, (size, size), method=Image.Resampling.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim == 2:
        return np.broadcast_to(arr, (3, size, size)), True
    hwc = arr.transpose(2, 0, 1)
    grey = bool((hwc[0] == hwc[1]).all() and (hwc[1] == hwc[2]).all())
    return hwc, grey


def decode_file(path: str | Path, size: int) -> tuple[np.ndarray[Any, Any], bool]:
    """Decode one image file as every cached image is decoded: uint8 [3, size, size] (grey
    images as 3 equal channels) and whether it is grey. Raises whatever the decoder raises."""
    return _decode(Image.open(path), size)


def decode_into(
    folder: Path,
    files: list[str],
    labels: list[int],
    open_item: Callable[[int], Image.Image],
    size: int,
    *,
    workers: int = 1,
) -> dict[str, Any]:
    """Decode every item into ``folder`` (inside a build of :func:`open_or_build`).

    Item ``i`` is ``open_item(i)``, named ``files[i]``, labelled ``labels[i]``. Items that fail to
    decode are left out and named in ``folder/skipped.txt``. Returns the entry's metadata: shape,
    image_size, channels (1 if every image is grey), labels, files, skipped, mean, std.
    """
    n = len(files)
    staging = folder / "staging.u8"
    buf = np.memmap(staging, dtype=np.uint8, mode="w+", shape=(max(n, 1), 3, size, size))
    ok = np.zeros(n, dtype=bool)
    all_grey = True
    skipped: list[tuple[str, str]] = []

    def work(i: int) -> tuple[np.ndarray[Any, Any] | None, bool, str]:
        try:
            arr, grey = _decode(open_item(i), size)
            return arr, grey, ""
        except Exception as exc:  # any decoder failure means "unreadable": skip and list it
            return None, False, f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, (arr, grey, why) in enumerate(pool.map(work, range(n))):
            if arr is None:
                skipped.append((files[i], why))
                continue
            buf[i] = arr
            ok[i] = True
            all_grey = all_grey and grey
    keep = np.flatnonzero(ok)
    channels = 1 if all_grey and len(keep) else 3
    out_shape = (len(keep), channels, size, size)
    if channels == 3 and len(keep) == n:
        buf.flush()
        del buf
        os.replace(staging, folder / IMAGES_FILE)
    else:
        out = np.memmap(folder / IMAGES_FILE, dtype=np.uint8, mode="w+", shape=out_shape) \
            if len(keep) else None
        for start in range(0, len(keep), 1024):
            rows = keep[start : start + 1024]
            if out is not None:
                out[start : start + len(rows)] = buf[rows, :channels]
        if out is not None:
            out.flush()
            del out
        else:
            write_images(folder, np.zeros(out_shape, np.uint8))
        del buf
        staging.unlink()
    with (folder / IMAGES_FILE).open("rb+") as f:
        os.fsync(f.fileno())
    if skipped:
        (folder / "skipped.txt").write_text(
            "".join(f"{path}\t{why}\n" for path, why in skipped), encoding="utf-8"
        )
    mean, std = channel_stats(map_images(folder / IMAGES_FILE, out_shape))
    return {
        "shape": list(out_shape),
        "image_size": size,
        "channels": channels,
        "labels": [labels[i] for i in keep],
        "files": [files[i] for i in keep],
        "skipped": [path for path, _ in skipped],
        "mean": mean,
        "std": std,
    }


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1], in chunks (never the whole set in memory)."""
    c = x.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    count = 0
    for start in range(0, x.shape[0], 512):
        chunk = x[start : start + 512].to(torch.float64).div_(255.0)
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
        count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
    if count == 0:
        return [0.0] * c, [1.0] * c
    mean = total / count
    var = (squares / count - mean.square()).clamp_min(0.0)
    std = var.sqrt().clamp_min(1e-6)
    return [float(v) for v in mean], [float(v) for v in std]
