"""Removing a deleted job's files, confined to the store's artifact root.

A job's files live in ``<artifact root>/<job name>``, the root the job recorded (see
:meth:`~tunelab.store.Store.artifact_root`). Nothing outside the root is ever
removed: a job folder that is a symbolic link (or resolves) outside the root is refused, and
links inside the folder are removed as links, never followed (``shutil.rmtree``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tunelab.errors import StoreError


def job_folder(store: Any, name: str) -> Path | str | None:
    """``<artifact root>/<name>`` for the job's recorded root (a URL in object storage; None:
    a PostgreSQL job that recorded none and a store opened without one, so no files are
    known)."""
    from tunelab.store.artifacts import is_remote

    job = store.read().job(name)
    if job.artifact_root is None and store.artifacts is None and store.artifact_url is None:
        return None
    root = store.artifact_root(job)
    return f"{root}/{name}" if is_remote(root) else Path(root) / name


def delete_job_files(store: Any, name: str) -> bool:
    """Remove the job's artifact folder; True if there was one. Raises :class:`StoreError`
    (removing nothing) if the folder is a link or lies outside the artifact root. In object
    storage, every object under ``<prefix>/<name>/`` is removed."""
    from tunelab.store.artifacts import is_remote

    job = store.read().job(name)
    if (job.artifact_root or store.artifact_url) and is_remote(store.artifact_root(job)):
        store.artifact_store(job).delete_job(name)
        return True
    folder = job_folder(store, name)
    if folder is None:
        return False
    folder = Path(folder)
    root = folder.parent.resolve()
    if not folder.exists() and not folder.is_symlink():
        return False
    if folder.is_symlink() or not folder.resolve().is_relative_to(root) \
            or folder.resolve() == root:
        raise StoreError(
            f"the files of job {name!r} must be a folder inside the artifact root {root}; "
            f"got {folder} -> {folder.resolve()}. Nothing was deleted; remove it by hand if "
            "it is yours."
        )
    shutil.rmtree(folder)
    return True
