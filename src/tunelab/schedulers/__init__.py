"""Schedulers (on_report -> Decision): fifo, median stopping, ASHA/Hyperband, PBT."""

from __future__ import annotations

from tunelab.schedulers.base import FIFOScheduler, Resume, Scheduler

__all__ = ["FIFOScheduler", "Resume", "Scheduler"]
