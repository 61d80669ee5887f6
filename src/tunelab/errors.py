"""Errors raised by tunelab.

Every error a user can cause derives from :class:`TunelabError`; the CLI prints its message and
exits non-zero without a traceback (unless ``--debug``).

    TunelabError
    ├── SpecError            bad spec, search space or argument (field, expected, given, fix)
    ├── StoreError           the store cannot be opened, migrated or written
    │   ├── JobNotFound      no job of that name
    │   ├── DiskFullError    no space left for a checkpoint or a commit (free space, resume)
    │   └── ArtifactError    an artifact file that must not be used
    │       ├── UnsafePathError   a path from the store that lies outside the artifact root
    │       ├── CheckpointCorrupt missing, truncated or changed since written (sha256)
    │       └── UnsafeCheckpoint  would build Python objects beyond tensors (could run code)
    ├── JobBusyError         another tuner holds the job (live lease)
    ├── ObjectiveError       the training code cannot be loaded or run as declared
    ├── ClusterError         no Ray cluster at the address, or none of its nodes fits a trial
    └── DataError            a data set folder or manifest is unusable
"""

from __future__ import annotations


class TunelabError(Exception):
    """Root of every error a user can cause; its message is meant to be printed as is."""


class SpecError(TunelabError):
    """Invalid spec, search space or argument.

    Build with :meth:`field` so every message follows one template: what was expected, what was
    given, how to fix it.
    """

    @classmethod
    def field(cls, name: str, expected: str, given: object, fix: str = "") -> SpecError:
        msg = f"`{name}` must be {expected}; got {given!r}."
        if fix:
            msg += f" {fix}"
        return cls(msg)


class StoreError(TunelabError):
    """The store cannot be opened, migrated or written."""


class JobNotFound(StoreError):
    """No tuning job of that name in the store."""


class DiskFullError(StoreError):
    """No space left to write a checkpoint or commit to the store: the job stops cleanly and
    its interrupted trials re-run on ``tunelab resume``. ``path`` names where."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ArtifactError(StoreError):
    """An artifact (checkpoint, model) file that must not be used; ``path`` names it."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnsafePathError(ArtifactError):
    """A path read from the store lies outside the artifact root: never opened or deleted."""


class CheckpointCorrupt(ArtifactError):
    """A checkpoint is missing, unreadable, or its bytes differ from the recorded sha256."""


class UnsafeCheckpoint(ArtifactError):
    """A file that ``torch.load(weights_only=True)`` refuses: it could run code when loaded."""


class JobBusyError(TunelabError):
    """Another live tuner process holds the job."""


class ClusterError(TunelabError):
    """The Ray cluster cannot be reached, went away, or has no node that fits one trial."""


class ObjectiveError(TunelabError):
    """The training code cannot be loaded or run as declared."""


class DataError(TunelabError):
    """A data set folder, manifest or image is unusable."""

