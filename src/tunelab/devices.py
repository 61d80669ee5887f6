"""Which device each worker slot trains on: GPUs found with torch, ``--gpus``, ``gpus_per_trial``.

A job's trials run in worker slots (:class:`~tunelab.executors.local.LocalExecutor`); each slot
gets its own ``CUDA_VISIBLE_DEVICES``, so a trial sees only its GPU(s) as ``cuda:0``.

* ``limits.gpus_per_trial``: GPUs per trial; by default 1 when GPUs exist, else 0 (CPU). A
  fraction packs trials on one GPU, as Ray does: 0.5 gives each GPU two slots. Above 1 it must
  be a whole number (a trial gets that many GPUs).
* ``limits.gpus`` / ``--gpus all|0,2|none``: which GPUs the job may use (default: all found).
* ``limits.max_parallel`` defaults to the number of GPU slots; more than that is an error.

Example (a fake list of two GPUs, half a GPU per trial):

>>> layout = plan_slots(gpus=[0, 1], gpus_per_trial=0.5, max_parallel=None)
>>> layout.visible
['0', '1', '0', '1']
>>> layout.describe()
'4 slots: 2 per GPU on GPUs 0, 1 (gpus_per_trial 0.5)'
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunelab.errors import SpecError


def available_cpus() -> int:
    """The CPU cores this process may run on: its affinity mask where the platform has one
    (``taskset``, a container's cpuset), else ``os.cpu_count()``. Threads are sized from this,
    so a job pinned to 2 of 16 cores runs 2 threads, not 16 fighting over 2."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def thread_env(threads: int) -> dict[str, str]:
    """The environment a trial's process gets for its CPU threads: ``OMP_NUM_THREADS`` and
    ``MKL_NUM_THREADS``, and ``OMP_WAIT_POLICY=PASSIVE`` unless this process's environment sets
    a policy. With the default (spinning) policy, PyTorch's threads wait for one another at
    every operator, and when other programs want the cores a waiting thread's descheduled
    partner can stall a step for long: beside one busy process a 32 px ResNet step took 1.7x
    as long spinning as passive, and under the mixed load of other jobs epochs stalled for
    seconds. Passive costs about 1.1x on an idle machine at 32 px and 2.1-2.4x on the tiny
    8 px digits model (``bench/thread_waits.py``, BENCHMARKS "OpenMP wait policy")."""
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if not os.environ.get("OMP_WAIT_POLICY"):
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def detect_gpus() -> list[int]:
    """The CUDA GPUs torch sees (ids as numbered under the current ``CUDA_VISIBLE_DEVICES``);
    empty without torch's CUDA or when ``CUDA_VISIBLE_DEVICES`` is set empty."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return []
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return []
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def parse_gpus(text: str | Sequence[int] | None, found: Sequence[int]) -> list[int]:
    """``all`` (or None): every GPU found; ``none``: no GPU; ``0,2``: those ids, each of which must
    have been found."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("all", "")):
        return list(found)
    if isinstance(text, str):
        if text.strip().lower() in ("none", "cpu"):
            return []
        try:
            ids = [int(p) for p in text.split(",") if p.strip()]
        except ValueError:
            raise SpecError.field("--gpus", "all, none, or GPU ids like 0,2", text) from None
    else:
        ids = [int(i) for i in text]
    missing = [i for i in ids if i not in found]
    if missing:
        have = ", ".join(map(str, found)) or "none"
        raise SpecError.field("--gpus", f"GPU ids this machine has ({have})",
                              ",".join(map(str, ids)),
                              "Run `nvidia-smi -L` to list them, or use --gpus all.")
    return sorted(dict.fromkeys(ids))


@dataclass(frozen=True)
class SlotLayout:
    """The device of each worker slot: ``visible[i]`` is slot i's ``CUDA_VISIBLE_DEVICES``
    (``""``: the CPU)."""

    visible: list[str]
    gpus: list[int]
    gpus_per_trial: float

    @property
    def slots(self) -> int:
        return len(self.visible)

    def describe(self) -> str:
        """One line for ``plan`` and the job's events."""
        if not self.gpus or self.gpus_per_trial == 0:
            return f"{self.slots} slot{'s' if self.slots != 1 else ''} on the CPU"
        ids = ", ".join(map(str, self.gpus))
        if self.gpus_per_trial < 1:
            per = int(1 / self.gpus_per_trial + 1e-9)
            return (f"{self.slots} slots: {per} per GPU on GPUs {ids} "
                    f"(gpus_per_trial {self.gpus_per_trial:g})")
        each = int(self.gpus_per_trial)
        return (f"{self.slots} slot{'s' if self.slots != 1 else ''}: "
                + "; ".join(f"slot {i} GPU{'s' if each > 1 else ''} {v}"
                            for i, v in enumerate(self.visible)))


def plan_slots(*, gpus: Sequence[int], gpus_per_trial: float | None,
               max_parallel: int | None) -> SlotLayout:
    """Lay out worker slots over ``gpus`` (the ids the job may use).

    ``gpus_per_trial`` None means 1 when there are GPUs, else 0; ``max_parallel`` None means
    as many slots as the GPUs hold (1 on the CPU). Raises :class:`SpecError` when the GPUs
    cannot hold ``max_parallel`` trials or one trial's GPUs.
    """
    per = (1.0 if gpus else 0.0) if gpus_per_trial is None else float(gpus_per_trial)
    if per < 0 or (per > 1 and per != int(per)):
        raise SpecError.field("limits.gpus_per_trial", "0, a fraction of 1, or a whole number",
                              gpus_per_trial, "Use e.g. 1, 2 or 0.5 (two trials per GPU).")
    if per == 0 or not gpus:
        if per > 0:  # asked for GPUs, none here: train on the CPU rather than not at all
            per = 0.0
        n = max_parallel or 1
        return SlotLayout([""] * n, [], 0.0)
    if per < 1:
        share = math.floor(1 / per + 1e-9)
        # Slot i on GPU i mod n: a job using fewer slots than fit spreads over the GPUs first.
        visible = [str(gpus[i % len(gpus)]) for i in range(share * len(gpus))]
    else:
        each = int(per)
        if each > len(gpus):
            raise SpecError.field("limits.gpus_per_trial", f"at most the {len(gpus)} GPU(s) "
                                  "the job may use", per,
                                  "Lower gpus_per_trial or give more GPUs with --gpus.")
        visible = [",".join(map(str, gpus[i * each:(i + 1) * each]))
                   for i in range(len(gpus) // each)]
    if max_parallel is not None:
        if max_parallel > len(visible):
            raise SpecError.field(
                "limits.max_parallel", f"at most {len(visible)} (the GPU slots: {len(gpus)} "
                f"GPU(s) at {per:g} per trial)", max_parallel,
                "Lower max_parallel, or use a fraction such as gpus_per_trial: 0.5 to pack "
                "trials on a GPU.")
        visible = visible[:max_parallel]
    return SlotLayout(visible, list(gpus), per)


def _gpu_driver_present() -> bool:
    # A cheap look before importing torch: without NVIDIA's driver there is nothing to find.
    return os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/nvidia0")


def layout_for(limits: object, gpus: str | Sequence[int] | None = None) -> SlotLayout:
    """The slot layout of a job's ``limits`` (a :class:`~tunelab.spec.LimitsSpec`), with
    ``gpus`` (``--gpus``) overriding ``limits.gpus``."""
    requested = gpus if gpus is not None else getattr(limits, "gpus", None)
    per = getattr(limits, "gpus_per_trial", None)
    off = per == 0 or (isinstance(requested, str) and requested.strip().lower() in ("none",
                                                                                      "cpu"))
    found = [] if off or not _gpu_driver_present() else detect_gpus()
    chosen = [] if off else parse_gpus(requested, found)
    max_parallel: int | None = getattr(limits, "max_parallel", None)
    return plan_slots(gpus=chosen, gpus_per_trial=per, max_parallel=max_parallel)


def gpus_option(text: str | None) -> str | list[int] | None:
    """``--gpus`` as a spec value: ``all``, ``none``, or a list of ids (checked against the GPUs
    found when the job starts)."""
    if text is None:
        return None
    t = text.strip().lower()
    if t in ("all", "none"):
        return t
    if t == "cpu":
        return "none"
    try:
        return [int(p) for p in t.split(",") if p.strip()]
    except ValueError:
        raise SpecError.field("--gpus", "all, none, or GPU ids like 0,2", text) from None


def gpu_names(ids: Sequence[int]) -> dict[int, str]:
    """GPU model names by id (``NVIDIA H200``) from ``nvidia-smi``, which, unlike torch, needs no
    CUDA context in the tuner's process; ``GPU`` where it cannot tell."""
    import subprocess

    names = dict.fromkeys(ids, "GPU")
    if not ids:
        return names
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return names
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    order = [int(v) for v in visible.split(",") if v.strip().isdigit()] if visible else None
    by_index = {}
    for line in out.strip().splitlines():
        idx, _, name = line.partition(",")
        if idx.strip().isdigit():
            by_index[int(idx)] = name.strip()
    for i in ids:  # ids count within CUDA_VISIBLE_DEVICES when it is set
        physical = order[i] if order is not None and i < len(order) else i
        names[i] = by_index.get(physical, "GPU")
    return names


def slot_names(layout: SlotLayout) -> list[str]:
    """The device type of each slot, for device-hours: the first GPU's model, or ``CPU``."""
    names = gpu_names(layout.gpus)
    return [names.get(int(v.split(",")[0]), "GPU") if v else "CPU" for v in layout.visible]


def device_hours_by_type(trials: Sequence[tuple[float, str | None]],
                         slots: Mapping[str, Any] | None) -> dict[str, float]:
    """Device-hours per device type (``{"NVIDIA H200": 0.42, "CPU": 1.3}``).

    ``trials``: each trial's (device seconds, worker, e.g. ``"pid 12 slot 1"``); ``slots``: the
    job's latest ``slots`` event data (``visible``, ``names``, ``gpus_per_trial``). A trial on a
    GPU slot counts its seconds times its GPUs per trial (an hour on half a GPU is half a
    GPU-hour, an hour on two is two); a CPU slot counts its seconds. A trial is
    counted on the slot of its last segment. Without a ``slots`` record (another executor) the
    time is filed under ``unrecorded``.
    """
    import re

    out: dict[str, float] = {}
    names = list((slots or {}).get("names") or [])
    visible = list((slots or {}).get("visible") or [])
    per = float((slots or {}).get("gpus_per_trial") or 0.0)
    for seconds, worker in trials:
        if seconds <= 0:
            continue
        m = re.search(r"slot (\d+)", worker or "")
        slot = int(m.group(1)) if m else 0
        if not names:
            name, share = "unrecorded", 1.0
        else:
            name = names[slot] if slot < len(names) else names[0]
            gpu = slot < len(visible) and bool(visible[slot])
            share = max(per, 0.0) if gpu and per > 0 else 1.0
        out[name] = out.get(name, 0.0) + seconds * share / 3600.0
    return {k: round(v, 6) for k, v in sorted(out.items())}
