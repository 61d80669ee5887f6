"""Where the images of a data set come from: a class-per-subfolder folder, a CSV manifest, or
``builtin:digits``, each as a :class:`Source` (files, labels, a fingerprint for the cache key, and
how to open item ``i``). Decoding, caching and splitting are :mod:`tunelab.vision.data`'s.

A folder is walked without following links out of it (each real folder and file is read once);
what was not followed is listed in ``Source.excluded``.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tunelab.errors import DataError, SpecError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
)
BUILTIN_DIGITS = "builtin:digits"




@dataclass(frozen=True)
class Source:
    """A list of items to decode. ``open_item(i)`` returns a PIL image (may raise)."""

    name: str
    classes: list[str]
    files: list[str]
    labels: list[int]
    fingerprint: list[Any]  # what the cache key hashes: paths, sizes, mtimes, labels
    open_item: Callable[[int], Image.Image]
    #: links not followed: "path<TAB>why" (out of the data folder, broken, a loop)
    excluded: list[str] = field(default_factory=list)


def _file_fingerprint(path: Path | str) -> list[Any]:
    try:
        st = os.stat(path)
        return [str(path), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(path), -1, -1]  # listed as skipped when decoded


def _is_image(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


class _Walk:
    """The image files of a class-per-subfolder data folder, each real folder and file read
    once.

    Symbolic links are where loops and mislabelling come from (a link to a parent folder is
    an endless tree; a link from one class into another labels its images twice), so the
    folder is read in two passes: first every real folder and file without following any link,
    each labelled by the class it physically lives in; then the links, in order, adding only
    what the first pass did not find. A link whose target lies outside the data folder, is
    broken, or leads to a folder or file already read (a loop) is skipped with a reason.
    """

    def __init__(self, root: Path, n_classes: int) -> None:
        self.root = os.path.realpath(root)
        self.files: list[list[str]] = [[] for _ in range(n_classes)]
        self.excluded: list[tuple[str, str]] = []  # (path, why it was skipped)
        st = os.stat(self.root)  # the data folder itself: a link to it is a loop
        self._dirs: dict[tuple[int, int], str] = {(st.st_dev, st.st_ino): str(root)}
        self._seen: dict[tuple[int, int], str] = {}
        self._links: list[tuple[int, str]] = []

    def _inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root + os.sep)

    def walk(self, label: int, folder: str) -> None:
        st = os.stat(folder)
        key = (st.st_dev, st.st_ino)
        if key in self._dirs:
            self.excluded.append((folder, f"a link to a folder already read "
                                          f"({self._dirs[key]}): a loop or a second link"))
            return
        self._dirs[key] = folder
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_symlink():
                self._links.append((label, e.path))
            elif e.is_dir(follow_symlinks=False):
                self.walk(label, e.path)
            elif e.is_file(follow_symlinks=False) and _is_image(e.name):
                self._add(label, e.path)

    def _add(self, label: int, path: str) -> None:
        st = os.stat(path)
        key = (st.st_dev, st.st_ino)
        if key in self._seen:
            self.excluded.append((path, f"the same file as {self._seen[key]}, already read"))
            return
        self._seen[key] = path
        self.files[label].append(path)

    def follow_links(self) -> None:
        """The second pass: links found in the first (and in linked folders), in order."""
        i = 0
        while i < len(self._links):
            label, path = self._links[i]
            i += 1
            real = os.path.realpath(path)
            if not self._inside(real):
                self.excluded.append((path, f"a link out of the data folder (to {real})"))
            elif not os.path.exists(real):
                self.excluded.append((path, "a broken link"))
            elif os.path.isdir(real):
                self.walk(label, path)
            elif os.path.isfile(real) and _is_image(os.path.basename(path)):
                self._add(label, path)


def _open_path(files: list[str]) -> Callable[[int], Image.Image]:
    return lambda i: Image.open(files[i])


def _folder_source(folder: Path, what: str) -> Source:
    if not folder.is_dir():
        raise DataError(
            f"The {what} must be a folder with one subfolder per class, a .csv manifest or "
            f"{BUILTIN_DIGITS!r}; got {str(folder)!r}, which does not exist. Check the path."
        )
    walk = _Walk(folder, 0)
    class_dirs: list[Path] = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_dir():
            continue
        real = os.path.realpath(p)
        if p.is_symlink() and not walk._inside(real):
            walk.excluded.append((str(p), f"a class folder linked from outside the data "
                                          f"folder (to {real})"))
            continue
        class_dirs.append(p)
    if not class_dirs:
        loose = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
        hint = (
            f" It holds {len(loose)} images directly; move them into one subfolder per class."
            if loose
            else " It is empty."
        )
        raise DataError(
            f"The {what} folder must hold one subfolder per class; got {str(folder)!r} with no "
            f"subfolders.{hint}"
        )
    walk.files = [[] for _ in class_dirs]
    real_first = sorted(range(len(class_dirs)), key=lambda i: class_dirs[i].is_symlink())
    for label in real_first:  # a linked class folder after the real ones (see _Walk)
        walk.walk(label, str(class_dirs[label]))
    walk.follow_links()
    files: list[str] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        found = sorted(walk.files[label])
        if not found:
            why = [f"{p}: {w}" for p, w in walk.excluded if p.startswith(str(class_dir))]
            raise DataError(
                f"Every class folder must hold images ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
                f"got none in {str(class_dir)!r}"
                + (f" (skipped: {'; '.join(why[:3])})" if why else "")
                + ". Add images or remove the folder."
            )
        files += found
        labels += [label] * len(found)
    classes = [d.name for d in class_dirs]
    fingerprint = [[*_file_fingerprint(f), labels[i]] for i, f in enumerate(files)]
    return Source(str(folder), classes, files, labels, fingerprint, _open_path(files),
                   excluded=[f"{p}\t{w}" for p, w in walk.excluded])


def _csv_source(manifest: Path, what: str) -> Source:
    try:
        with manifest.open(newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"The {what} manifest {str(manifest)!r} could not be read: {exc}.") from exc
    if rows and [c.strip().lower() for c in rows[0]] == ["path", "label"]:
        rows = rows[1:]
    if not rows:
        raise DataError(
            f"The {what} manifest must list images as `path,label` rows; got an empty file "
            f"{str(manifest)!r}. Add one row per image."
        )
    pairs: list[tuple[str, str]] = []
    for n, row in enumerate(rows, start=1):
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise DataError(
                f"Every row of the manifest {str(manifest)!r} must be `path,label`; row {n} is "
                f"{','.join(row)!r}. Quote paths that contain commas."
            )
        path = Path(row[0].strip())
        if not path.is_absolute():
            path = manifest.parent / path
        pairs.append((str(path), row[1].strip()))
    classes = sorted({label for _, label in pairs})
    index = {c: i for i, c in enumerate(classes)}
    files = [p for p, _ in pairs]
    labels = [index[c] for _, c in pairs]
    fingerprint = [[*_file_fingerprint(f), labels[i]] for i, f in enumerate(files)]
    return Source(str(manifest), classes, files, labels, fingerprint, _open_path(files))


def _digits_source() -> Source:
    import sklearn
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0))
    images = np.clip(pixels, 0, 255).astype(np.uint8)
    labels = [int(t) for t in bunch.target]
    files = [f"{BUILTIN_DIGITS}#{i}" for i in range(len(labels))]
    return Source(
        BUILTIN_DIGITS,
        [str(d) for d in range(10)],
        files,
        labels,
        [BUILTIN_DIGITS, sklearn.__version__, len(labels)],
        lambda i: Image.fromarray(images[i], mode="L"),
    )


def resolve_source(source: str, what: str) -> Source:
    if not isinstance(source, str | os.PathLike) or not str(source).strip():
        raise SpecError.field(
            what, f"a folder, a .csv manifest or {BUILTIN_DIGITS!r}", source, "Pass a path."
        )
    text = str(source).strip()
    if text == BUILTIN_DIGITS:
        return _digits_source()
    if text.startswith("builtin:"):
        raise SpecError.field(what, f"{BUILTIN_DIGITS!r} for a built-in data set", text)
    path = Path(text).expanduser()
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise DataError(f"The {what} manifest {text!r} does not exist. Check the path.")
        return _csv_source(path.resolve(), what)
    return _folder_source(path.resolve(), what)


def relabel(src: Source, classes: list[str], what: str) -> Source:
    """Map a validation/test source's labels onto the training classes."""
    unknown = sorted(set(src.classes) - set(classes))
    if unknown:
        raise DataError(
            f"The {what} classes must be among the training classes {classes}; got "
            f"{unknown} in {src.name!r}. Rename or remove those classes."
        )
    index = {c: i for i, c in enumerate(classes)}
    labels = [index[src.classes[y]] for y in src.labels]
    fingerprint = [[*fp[:-1], labels[i]] for i, fp in enumerate(src.fingerprint)]
    return Source(src.name, classes, src.files, labels, fingerprint, src.open_item,
                   excluded=src.excluded)
