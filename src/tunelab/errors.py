"""Errors raised by tunelab.

Every error a user can cause derives from :class:`TunelabError`; the CLI prints its message and
exits non-zero without a traceback (unless ``--debug``).

    TunelabError
    ├── SpecError            bad spec, search space or argument (field, expected, given, fix)
    ├── StoreError           the store cannot be opened, migrated or written
    │   └── JobNotFound      no job of that name
    ├── JobBusyError         another tuner holds the job (live lease)
    ├── ObjectiveError       the training code cannot be loaded or run as declared
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


class JobBusyError(TunelabError):
    """Another live tuner process holds the job."""


class ObjectiveError(TunelabError):
    """The training code cannot be loaded or run as declared."""


class DataError(TunelabError):
    """A data set folder, manifest or image is unusable."""

