"""Removing a deleted job's files, confined to the store's artifact root.

A job's files live in ``<artifact root>/<job name>``. Nothing outside the root is ever
removed: a job folder that is a symbolic link (or resolves) outside the root is refused, and
links inside the folder are removed as links, never followed (``shutil.rmtree``).
"""

from __future__ import annotations

import shutil
from typing import Any

from tunelab.errors import StoreError


def delete_job_files(store: Any, name: str) -> bool:
    """Remove the job's artifact folder; True if there was one. Raises :class:`StoreError`
    (removing nothing) if the folder is a link or lies outside the artifact root."""
    root = store.artifacts.resolve()
    folder = store.job_dir(name)
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
