"""The record of one durable checkpoint file: where it is, its step, its digest and size.

Written by the objective side (``TrialContext``) and carried by the executors' events; it lives
on its own so ``objectives`` and ``executors`` need not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Checkpoint:
    path: str
    step: int
    sha256: str
    size: int
