"""Checkpoints in object storage (``s3://bucket/prefix``) through fsspec: the ``s3`` extra.

A job whose ``--artifacts`` is an object-storage URL keeps its checkpoints as objects under
that prefix, with the same keys a folder would hold (``my-job/trial-0003/ckpt-000004.pt``), so
the store's rows do not depend on where the files are. The rules of
:mod:`tunelab.store.artifacts` hold here too:

- a key that climbs out of the prefix (``..``), or names another URL, is refused
  (:class:`~tunelab.errors.UnsafePathError`) and never read or deleted;
- a checkpoint is written in one ``PUT`` of its whole bytes, so no reader sees half of one;
- every read fetches the bytes, checks their sha256 against the one recorded and only then
  loads them (``torch.load(weights_only=True)``) — from those same bytes, so nothing can change
  between the check and the load (:class:`~tunelab.errors.CheckpointCorrupt` otherwise);
- an error other than "no such object" (a network failure, a refused credential) is a
  :class:`~tunelab.errors.StoreError`, never "corrupt": a checkpoint is set aside only when
  its bytes are really missing or wrong.

Credentials and the endpoint come from where the storage client looks for them (for
``s3://``: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for an
S3-compatible server such as MinIO, ``~/.aws``, an instance role) on every machine that runs
trials. Other fsspec protocols (``gs://``, ``az://``) go through the same code once their
package is installed.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import tempfile
import uuid
from pathlib import Path
from typing import Any

from tunelab.checkpoint import Checkpoint
from tunelab.errors import CheckpointCorrupt, StoreError, UnsafePathError
from tunelab.store.artifacts import FileArtifacts, load_torch_file

_INSTALL = "pip install 'tunelab[s3]'"
#: the packages fsspec needs per protocol (the ones the ``s3`` extra brings are s3fs's)
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs",
             "abfs": "adlfs"}


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{e.__class__.__name__}: {text[0]}" if text else e.__class__.__name__


def check_url(url: str) -> str:
    """``url`` without a trailing slash, after checking it names a bucket and that fsspec and
    the package for its protocol are installed (:class:`StoreError`, one line, otherwise)."""
    protocol, _, rest = url.partition("://")
    where = rest.strip("/")
    if not protocol or not where or where.startswith("."):
        raise StoreError(f"the artifact location {url!r} names no bucket: write "
                         "s3://BUCKET/PREFIX (or a folder, --artifacts /mnt/shared/runs)")
    try:
        import fsspec
    except ImportError:
        raise StoreError(f"the artifact location {url!r} is object storage, which needs "
                         f"fsspec: {_INSTALL}") from None
    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as e:
        package = _PACKAGES.get(protocol)
        fix = (f"install {package} ({_INSTALL} for s3://)" if package
               else "use s3://BUCKET/PREFIX or a folder")
        raise StoreError(f"the artifact location {url!r} cannot be used here "
                         f"({_first_line(e)}): {fix}") from None
    return f"{protocol}://{where}"


def cache_folder() -> Path:
    """Where verified copies of remote checkpoints go for readers that need a file (export,
    a command objective's restore): private to this user (mode 0700)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "tunelab" / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


class RemoteArtifacts(FileArtifacts):
    """Checkpoints as objects under ``url`` (``s3://bucket/prefix``); see the module doc."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.root = check_url(url)
        self.fs: Any
        self.fs, base = fsspec.core.url_to_fs(self.root)
        self.base = str(base).rstrip("/")

    def __repr__(self) -> str:
        return f"RemoteArtifacts({self.root!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # rebuilt from its URL wherever it goes
        return (RemoteArtifacts, (self.root,))

    # keys -----------------------------------------------------------------------------------
    def trial_dir(self, job: str, number: int) -> str:
        return f"{self.root}/{self.key(f'{job}/trial-{number:04d}')}"

    def key(self, path: str | Path) -> str:
        """The key (relative to the prefix) of a key or a URL inside the root; anything that
        lands elsewhere raises :class:`UnsafePathError` and is never opened or deleted."""
        text = str(path)
        if text.startswith(self.root + "/"):
            text = text[len(self.root) + 1:]
        elif "://" in text or text.startswith("/"):
            raise self._unsafe(path)
        key = posixpath.normpath(text)
        if key in (".", "..") or key.startswith(("../", "/")) or "\\" in key:
            raise self._unsafe(path)
        return key

    def _unsafe(self, path: str | Path) -> UnsafePathError:
        return UnsafePathError(
            f"refused the path {str(path)!r}: it lies outside the artifact root {self.root} "
            "(a `..`, or another location). It was not opened or deleted; check who wrote it "
            "into the store.")

    def url(self, key: str) -> str:
        return f"{self.root}/{self.key(key)}"

    def _full(self, key: str | Path) -> str:
        return f"{self.base}/{self.key(key)}"

    # objects --------------------------------------------------------------------------------
    def save(self, obj: Any, path: str | Path, *, job: str | None = None) -> Checkpoint:
        """``torch.save`` into memory, then one PUT of the whole bytes at ``path``."""
        import torch

        key = self.key(path)
        buf = io.BytesIO()
        torch.save(obj, buf)
        data = buf.getvalue()
        try:
            self.fs.pipe_file(self._full(key), data)
        except Exception as e:
            raise StoreError(f"cannot write checkpoint {self.url(key)} ({_first_line(e)})"
                             ) from None
        return Checkpoint(path=key, step=-1, sha256=hashlib.sha256(data).hexdigest(),
                          size=len(data))

    def _read(self, key: str) -> bytes:
        full = self._full(key)
        try:
            return bytes(self.fs.cat_file(full))
        except FileNotFoundError:
            raise CheckpointCorrupt(f"checkpoint {self.url(key)} is missing",
                                    path=self.url(key)) from None
        except Exception as e:
            raise StoreError(f"cannot read checkpoint {self.url(key)} ({_first_line(e)})"
                             ) from None

    def _verified(self, key: str, sha256: str | None) -> bytes:
        data = self._read(key)
        got = hashlib.sha256(data).hexdigest()
        if sha256 is not None and got != sha256:
            raise CheckpointCorrupt(
                f"checkpoint {self.url(key)} does not match its recorded sha256 (changed, "
                f"truncated or replaced since it was written: {got[:12]}… instead of "
                f"{sha256[:12]}…)", path=self.url(key))
        return data

    def verify(self, key: str, sha256: str) -> None:
        self._verified(key, sha256)

    def read_verified(self, key: str, sha256: str) -> bytes:
        return self._verified(key, sha256)

    def load(self, key: str, sha256: str | None, *, allow_pickle: bool = False) -> Any:
        data = self._verified(key, sha256)
        return load_torch_file(self.url(key), allow_pickle=allow_pickle, data=data)

    def local_copy(self, key: str, sha256: str) -> Path:
        target = cache_folder() / f"{sha256}.pt"
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
            return target
        data = self._verified(key, sha256)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".pt")
        try:
            with os.fdopen(fd, "wb") as f:  # mkstemp makes it 0600
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def delete(self, key: str) -> None:
        full = self._full(key)
        try:
            self.fs.rm_file(full)
        except FileNotFoundError:
            pass

    def delete_job(self, job: str) -> None:
        """Remove every object under ``<prefix>/<job>/`` (and nothing that merely starts with
        the job's name)."""
        prefix = self._full(job)
        self.fs.invalidate_cache(prefix)
        try:
            found = self.fs.find(prefix + "/")
        except FileNotFoundError:
            return
        inside = [p for p in found if str(p).startswith(prefix + "/")]
        if inside:
            self.fs.rm(inside)

    def probe(self) -> str | None:
        probe = f"{self.base}/.probe-{uuid.uuid4().hex}"
        try:
            self.fs.pipe_file(probe, b"tunelab artifact probe\n")
            self.fs.rm_file(probe)
        except Exception as e:
            return _first_line(e)
        return None
