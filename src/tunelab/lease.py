"""The job lease: one tuner runs a job at a time, and a dead tuner's job can be resumed.

A tuner holds ``jobs.lease_owner`` (``host:pid:tag``) until ``lease_until`` and renews it every
``LEASE_TTL / 3`` seconds. A second tuner on a live job gets :class:`JobBusyError`. A lease whose
owner is a dead process on this host is taken over at once, so ``resume`` right after a
``kill -9`` works; another host's lease runs out after its TTL.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass, field

from tunelab.errors import JobBusyError
from tunelab.store import JobRecord, Tx

LEASE_TTL = 30.0


def dead_local_owner(owner: str | None) -> bool:
    """True if ``owner`` (``host:pid:tag``) is a tuner process on this host that has died
    (``kill -9``, a crash): its lease can be taken over at once instead of after the TTL.
    A pid reused by another process reads as alive, so the lease then runs out as usual."""
    if not owner:
        return False
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed child not yet reaped still has its pid: it is dead all the same (Linux)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


@dataclass(frozen=True)
class Lease:
    """This process's claim on jobs: ``owner`` is ``host:pid:tag``."""

    owner: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    ttl: float = field(default_factory=lambda: LEASE_TTL)  # read when the lease is made

    def acquire(self, tx: Tx, job: JobRecord) -> str | None:
        """Take ``job``'s lease (in ``tx``); returns the dead owner taken over, if any.
        Raises :class:`JobBusyError` while another live tuner holds it."""
        dead = job.lease_owner if dead_local_owner(job.lease_owner) else None
        if not tx.acquire_lease(job.id, self.owner, self.ttl, take_over=dead):
            left = (job.lease_until or 0) - time.time()
            raise JobBusyError(
                f"job {job.name!r} is already running (held by {job.lease_owner}, lease "
                f"valid {left:.0f}s more). Stop it with `tunelab stop {job.name}` or wait "
                "for it to finish."
            )
        return dead

    def renew(self, tx: Tx, job_id: int) -> None:
        tx.acquire_lease(job_id, self.owner, self.ttl)

    def release(self, tx: Tx, job_id: int) -> None:
        tx.release_lease(job_id, self.owner)
