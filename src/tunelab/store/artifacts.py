"""The artifact store: checkpoint files under one absolute root, verified before every load.

A job's checkpoints live under one folder, its *artifact root* (recorded in the job's row), and
the store records each file by its *key*: the path relative to that root
(``my-job/trial-0003/ckpt-000004.pt``). Nothing read from the store is trusted:

- :meth:`LocalArtifacts.resolve` turns a key (or a legacy absolute path) into a file inside the
  root, refusing an absolute path elsewhere, a ``..`` that climbs out and a symlink that leads
  out (:class:`~tunelab.errors.UnsafePathError`). A refused path is never opened or deleted.
- :meth:`Artifacts.verify` checks a file's sha256 against the one recorded when it was written
  (:class:`~tunelab.errors.CheckpointCorrupt` on a missing, truncated or changed file).
- :meth:`Artifacts.load` verifies, then reads with ``torch.load(weights_only=True)``: tensors,
  numbers, strings and containers of them load; a file that would build other Python objects
  (and so could run code) is refused unless the caller opts in with ``allow_pickle=True``.

:class:`Artifacts` is the seam for other places to keep files: :func:`open_artifacts` gives a
:class:`LocalArtifacts` for a folder (or a ``file://`` URL of one: the fast path, plain file
calls) and a :class:`~tunelab.store.remote_artifacts.RemoteArtifacts` for object storage
(``s3://bucket/prefix`` through fsspec, the ``s3`` extra); the simulated executor keeps its fake
checkpoints in memory.

    >>> arts = LocalArtifacts("/srv/runs/artifacts")                  # doctest: +SKIP
    >>> ck = arts.save({"w": torch.ones(2)}, arts.trial_dir("demo", 0) / "ckpt-000001.pt")
    >>> arts.load(ck.path, ck.sha256)["w"]                            # doctest: +SKIP
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from tunelab.checkpoint import Checkpoint
from tunelab.errors import (
    CheckpointCorrupt,
    DiskFullError,
    StoreError,
    UnsafeCheckpoint,
    UnsafePathError,
)

FILE_MODE = 0o600  # checkpoints hold a job's weights: readable by their owner only


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def free_mb(path: str | Path) -> float:
    """Free space (MB) on the file system that holds ``path`` (or its nearest existing parent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free / 1e6
    except OSError:
        return float("nan")


def is_disk_full(e: BaseException) -> bool:
    """True for "no space left" (ENOSPC), "quota exceeded" and SQLite's "disk is full"."""
    if isinstance(e, DiskFullError):
        return True
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(e).lower()
    return "database or disk is full" in text or "no space left on device" in text


def disk_full_error(path: str | Path, job: str | None = None) -> DiskFullError:
    """The one-line message for a full disk at ``path`` (what to do: free space, resume)."""
    then = f"`tunelab resume {job}`" if job else "resume the job"
    return DiskFullError(f"disk full at {path} ({free_mb(path):.0f} MB free): free space, "
                         f"then {then}", path=str(path))


def is_remote(location: str | Path) -> bool:
    """True for an object-storage URL (``s3://bucket/prefix``); False for a folder path or a
    ``file://`` URL, which stay plain file calls."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def artifact_folder(location: str | Path) -> Path:
    """The folder an ``--artifacts`` location names: a path, or a ``file://`` URL (a shared
    folder every node mounts, ``file:///mnt/shared/runs``). An object-storage URL is refused
    here in one line (:func:`artifact_location` accepts it)."""
    text = str(location)
    if text.startswith("file://"):
        text = text[len("file://"):]
        if not text.startswith("/"):
            raise StoreError(f"the artifact location {str(location)!r} is not an absolute "
                             "file:// URL; write file:///mnt/shared/runs (three slashes)")
    elif "://" in text:
        raise StoreError(
            f"the artifact location {text!r} is not a folder: give a folder every machine "
            "that runs trials mounts at the same path (--artifacts /mnt/shared/runs or "
            "file:///mnt/shared/runs)")
    return Path(text).expanduser()


def artifact_location(location: str | Path) -> Path | str:
    """An ``--artifacts`` location: the folder (:func:`artifact_folder`) of a path or
    ``file://`` URL, or an object-storage URL as given (``s3://bucket/prefix``, checked for
    form and for fsspec knowing its protocol; :class:`StoreError` in one line otherwise)."""
    if not is_remote(location):
        return artifact_folder(location)
    from tunelab.store.remote_artifacts import check_url

    return check_url(str(location))


def open_artifacts(location: str | Path) -> FileArtifacts:
    """The artifact store at ``location``: :class:`LocalArtifacts` for a folder or
    ``file://`` URL, :class:`~tunelab.store.remote_artifacts.RemoteArtifacts` for an
    object-storage URL (credentials and endpoint from the usual places of its client: for
    ``s3://``, ``AWS_*`` variables such as ``AWS_ENDPOINT_URL``, ``~/.aws``, an instance role)."""
    where = artifact_location(location)
    if isinstance(where, Path):
        return LocalArtifacts(where)
    from tunelab.store.remote_artifacts import RemoteArtifacts

    return RemoteArtifacts(where)


class Artifacts(ABC):
    """Where a job's checkpoint files live. Keys are the paths recorded in the store."""

    #: printable location (a folder, or a URL for remote stores)
    root: str

    @abstractmethod
    def trial_dir(self, job: str, number: int) -> str:
        """The folder a trial's worker writes its checkpoints into."""

    @abstractmethod
    def verify(self, key: str, sha256: str) -> None:
        """Raise :class:`UnsafePathError` or :class:`CheckpointCorrupt` unless the file at
        ``key`` is inside the root and has exactly the bytes recorded (``sha256``)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the file at ``key`` (gone already is fine); a key outside the root is
        refused with :class:`UnsafePathError` and nothing is deleted."""


class FileArtifacts(Artifacts):
    """An artifact store that holds real files: a folder (:class:`LocalArtifacts`) or object
    storage (:class:`~tunelab.store.remote_artifacts.RemoteArtifacts`)."""

    @abstractmethod
    def save(self, obj: Any, path: str | Path, *, job: str | None = None) -> Checkpoint:
        """Write ``obj`` with ``torch.save`` at ``path`` (a key, or a path/URL inside the
        root) so that no reader ever sees half a file; return its key, sha256 and size."""

    @abstractmethod
    def load(self, key: str, sha256: str | None, *, allow_pickle: bool = False) -> Any:
        """Verify ``key`` against ``sha256`` (None: checked for place only), then load it on
        the CPU with ``torch.load(weights_only=not allow_pickle)``."""

    @abstractmethod
    def read_verified(self, key: str, sha256: str) -> bytes:
        """The bytes of ``key``, exactly those recorded (else :class:`CheckpointCorrupt`)."""

    @abstractmethod
    def local_copy(self, key: str, sha256: str) -> Path:
        """A file on this machine with the verified bytes of ``key`` (the file itself for a
        folder; a private cached copy for object storage), for readers that need a path."""

    @abstractmethod
    def delete_job(self, job: str) -> None:
        """Remove a job's whole folder (``tunelab delete``), nothing outside the root."""

    @abstractmethod
    def probe(self) -> str | None:
        """Write and remove a probe file at the root: None, or why that failed (one line)."""


class LocalArtifacts(FileArtifacts):
    """Checkpoints in a local (or mounted, shared) folder: ``root/<job>/trial-NNNN/...``."""

    def __init__(self, root: str | Path) -> None:
        self.path = Path(os.path.abspath(Path(root).expanduser()))
        self.root = str(self.path)

    def __repr__(self) -> str:
        return f"LocalArtifacts({self.root!r})"

    # paths ------------------------------------------------------------------------------------
    def job_dir(self, job: str) -> Path:
        return self.resolve(job)

    def trial_dir(self, job: str, number: int) -> str:
        return str(self.resolve(f"{job}/trial-{number:04d}"))

    def key(self, path: str | Path) -> str:
        """The key (POSIX path relative to the root) to record for a file inside the root."""
        real = self.resolve(path)
        return real.relative_to(Path(os.path.realpath(self.path))).as_posix()

    def resolve(self, key: str | Path) -> Path:
        """The real path of ``key`` (relative to the root, or absolute inside it).

        Raises :class:`UnsafePathError` for anything that lands outside the root: an absolute
        path elsewhere, ``..`` climbing out, or a symlink (anywhere on the way) leading out."""
        p = Path(key)
        full = p if p.is_absolute() else self.path / p
        lexical = Path(os.path.normpath(full))
        real = Path(os.path.realpath(full))
        real_root = Path(os.path.realpath(self.path))
        if not (_inside(lexical, self.path) and _inside(real, real_root)):
            raise UnsafePathError(
                f"refused the path {str(key)!r}: it lies outside the artifact root {self.root} "
                "(a `..`, an absolute path elsewhere, or a symlink out). It was not opened or "
                "deleted; check who wrote it into the store."
            )
        return real

    # files ------------------------------------------------------------------------------------
    def save(self, obj: Any, path: str | Path, *, job: str | None = None) -> Checkpoint:
        """Write ``obj`` with ``torch.save`` crash-safely (temp file, fsync, rename; mode 0600)
        and return its key, sha256 and size (``step`` is -1: the caller knows it).

        A full disk raises :class:`DiskFullError` naming the folder and the free space."""
        import torch

        target = self.resolve(path)
        tmp: str | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".pt")
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "wb") as f:
                torch.save(obj, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
            tmp = None
        except BaseException as e:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            if is_disk_full(e) or is_disk_full(e.__cause__ or e):
                raise disk_full_error(target.parent, job) from None
            raise
        return Checkpoint(path=self.key(target), step=-1, sha256=file_sha256(target),
                          size=target.stat().st_size)

    def verify(self, key: str, sha256: str) -> None:
        self._verified(key, sha256)

    def read_verified(self, key: str, sha256: str) -> bytes:
        path = self._verified(key, sha256)
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:  # changed since it was verified
            raise CheckpointCorrupt(f"checkpoint {path} changed while it was read; try again",
                                    path=str(path))
        return data

    def local_copy(self, key: str, sha256: str) -> Path:
        return self._verified(key, sha256)

    def probe(self) -> str | None:
        import uuid

        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"tunelab artifact probe\n")
            probe.unlink()
        except OSError as e:
            return f"{e.__class__.__name__}: {e.strerror or e}"
        return None

    def _verified(self, key: str, sha256: str | None) -> Path:
        path = self.resolve(key)
        if not path.is_file():
            raise CheckpointCorrupt(f"checkpoint {path} is missing", path=str(path))
        if sha256 is not None:
            got = file_sha256(path)
            if got != sha256:
                raise CheckpointCorrupt(
                    f"checkpoint {path} does not match its recorded sha256 (changed, truncated "
                    f"or replaced since it was written: {got[:12]}… instead of {sha256[:12]}…)",
                    path=str(path))
        return path

    def load(self, key: str, sha256: str | None, *, allow_pickle: bool = False) -> Any:
        """Verify ``key`` against ``sha256`` (None: no hash recorded, checked for place only),
        then load it on the CPU with ``torch.load(weights_only=not allow_pickle)``."""
        return load_torch_file(self._verified(key, sha256), allow_pickle=allow_pickle)

    def delete(self, key: str) -> None:
        self.resolve(key).unlink(missing_ok=True)

    def delete_job(self, job: str) -> None:
        """Remove a job's whole folder (``tunelab delete``); a job folder that is a symlink
        out of the root is refused, not followed."""
        folder = self.resolve(job)
        if folder.exists():
            shutil.rmtree(folder)


def load_torch_file(path: str | Path, *, allow_pickle: bool = False,
                    data: bytes | None = None) -> Any:
    """``torch.load`` on the CPU with ``weights_only=True`` unless ``allow_pickle``: a file
    that would build arbitrary Python objects is refused with :class:`UnsafeCheckpoint`, and
    a file torch cannot read at all with :class:`CheckpointCorrupt` (one line each).
    ``data``: the file's bytes, already read (and verified); ``path`` then only names it."""
    import io
    import pickle

    import torch

    try:
        return torch.load(io.BytesIO(data) if data is not None else path, map_location="cpu",
                          weights_only=not allow_pickle)
    except pickle.UnpicklingError as e:
        if allow_pickle:
            raise CheckpointCorrupt(f"{path} is not a readable torch file ({_first_line(e)})",
                                    path=str(path)) from None
        raise UnsafeCheckpoint(
            f"refused to load {path}: it holds Python objects beyond tensors, numbers, strings "
            f"and containers, which could run code ({_first_line(e)}). Save only those types; "
            "an objective that must store other objects can call "
            "trial.load_checkpoint(allow_pickle=True) if it trusts everyone who can write the "
            "artifact folder.", path=str(path)) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        if is_disk_full(e):
            raise
        raise CheckpointCorrupt(f"{path} is not a readable torch file ({_first_line(e)})",
                                path=str(path)) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{e.__class__.__name__}: {text[0]}" if text else e.__class__.__name__


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
