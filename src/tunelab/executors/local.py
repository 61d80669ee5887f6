"""Local executor: one warm worker process per parallel slot, reused between trials.

A trial that raises, crashes its process (segfault, out-of-memory kill) or runs past its time
limit never takes the tuner or another slot down: the slot's process is replaced and the event
says what happened. Each slot gets its device: a GPU id through ``CUDA_VISIBLE_DEVICES`` when
GPUs are given, else a share of the CPU threads.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from tunelab.devices import available_cpus, thread_env
from tunelab.executors.base import Event, EventKind, Executor, SegmentSpec
from tunelab.executors.messages import (
    DiskFull,
    Ended,
    Exit,
    Failed,
    Finished,
    Reply,
    Reported,
    Run,
    Started,
    WorkerMessage,
    final_event,
)
from tunelab.executors.worker import WorkerProcess, worker_main
from tunelab.trial import Decision

_STARTUP_ALLOWANCE = 60.0  # seconds a worker may take to start before its trial counts


@dataclass
class _Slot:
    index: int
    env: dict[str, str]
    process: BaseProcess | None = None
    conn: Connection | None = None
    trial_id: int | None = None
    deadline: float | None = None
    time_limit: float | None = None
    kill_reason: str | None = None  # "timeout" | "stop"
    kill_at: float | None = None  # when to escalate to SIGKILL


def _signal_name(code: int | None) -> str:
    if code is None:
        return "unknown exit"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"


class LocalExecutor(Executor):
    """Runs segments in ``slots`` worker processes on this machine.

    ``devices``: each slot's ``CUDA_VISIBLE_DEVICES`` (``""``: CPU), as laid out by
    :func:`tunelab.devices.plan_slots`; or ``gpus``: GPU ids to hand out round-robin (one per
    slot). ``threads``: CPU threads per slot
    (default: the machine's cores divided by the slots). ``grace``: seconds between SIGTERM and
    SIGKILL when a segment is stopped or times out.
    """

    def __init__(
        self, slots: int, *, gpus: list[int] | None = None, threads: int | None = None,
        grace: float = 5.0, start_method: str = "spawn", devices: list[str] | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self._ctx: Any = mp.get_context(start_method)
        self._spawn = start_method == "spawn"
        self.grace = grace
        per_slot = threads or max(1, available_cpus() // slots)
        self._slots: list[_Slot] = []
        for i in range(slots):
            env = {**thread_env(per_slot), "TUNELAB_SLOT": str(i),
                   # a stopped command objective: SIGTERM, then SIGKILL to its process group
                   # after this, before the worker itself is killed (after ``grace``)
                   "TUNELAB_STOP_GRACE": f"{grace * 0.8:g}"}
            if devices is not None:  # one CUDA_VISIBLE_DEVICES per slot (tunelab.devices)
                env["CUDA_VISIBLE_DEVICES"] = devices[i]
                env["TUNELAB_DEVICE"] = "cuda" if devices[i] else "cpu"
            elif gpus:
                env["CUDA_VISIBLE_DEVICES"] = str(gpus[i % len(gpus)])
                env["TUNELAB_DEVICE"] = "cuda"
            else:
                env["CUDA_VISIBLE_DEVICES"] = ""
                env["TUNELAB_DEVICE"] = "cpu"
            self._slots.append(_Slot(i, env))
        self._by_trial: dict[int, _Slot] = {}

    @property
    def slots(self) -> int:
        return len(self._slots)

    def free_slots(self) -> int:
        return sum(1 for s in self._slots if s.trial_id is None)

    def now(self) -> float:
        return time.time()

    def warm_up(self) -> None:
        """Start every slot's process now, so the first trials do not wait for them."""
        for s in self._slots:
            self._ensure_process(s)

    def _ensure_process(self, slot: _Slot) -> None:
        if slot.process is not None and slot.process.is_alive():
            return
        parent, child = self._ctx.Pipe(duplex=True)
        # a spawned worker watches this process from its first instruction (worker.py)
        process_class = WorkerProcess if self._spawn else self._ctx.Process
        proc = process_class(
            target=worker_main, args=(slot.index, child, slot.env), daemon=True,
            name=f"tunelab-worker-{slot.index}",
        )
        proc.start()
        child.close()
        slot.process, slot.conn = proc, parent

    def start(self, segment: SegmentSpec) -> None:
        slot = next((s for s in self._slots if s.trial_id is None), None)
        if slot is None:
            raise RuntimeError("no free slot")
        self._ensure_process(slot)
        assert slot.conn is not None
        slot.trial_id = segment.trial_id
        # The time limit is armed when the worker says "started" (a fresh worker first spends
        # its start-up importing); this deadline only catches a worker that never gets there.
        slot.deadline = (
            time.monotonic() + segment.time_limit + _STARTUP_ALLOWANCE
            if segment.time_limit is not None else None
        )
        slot.time_limit = segment.time_limit
        slot.kill_reason = slot.kill_at = None
        self._by_trial[segment.trial_id] = slot
        slot.conn.send(Run(segment))

    def reply(self, trial_id: int, decision: Decision) -> None:
        slot = self._by_trial.get(trial_id)
        if slot is None or slot.conn is None:
            return
        try:
            slot.conn.send(Reply(trial_id, decision))
        except (BrokenPipeError, OSError):
            pass  # the process died; poll() reports it

    def stop(self, trial_id: int, reason: str = "") -> None:
        slot = self._by_trial.get(trial_id)
        if slot is not None and slot.kill_reason is None:
            self._terminate(slot, "stop")

    def _terminate(self, slot: _Slot, reason: str) -> None:
        slot.kill_reason = reason
        slot.kill_at = time.monotonic() + self.grace
        if slot.process is not None and slot.process.pid is not None:
            try:
                os.kill(slot.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _free(self, slot: _Slot) -> None:
        if slot.trial_id is not None:
            self._by_trial.pop(slot.trial_id, None)
        slot.trial_id = slot.deadline = slot.kill_reason = slot.kill_at = None

    def _check_clocks(self) -> None:
        now = time.monotonic()
        for s in self._slots:
            if s.trial_id is None:
                continue
            if s.kill_reason is None and s.deadline is not None and now >= s.deadline:
                self._terminate(s, "timeout")
            elif s.kill_at is not None and now >= s.kill_at and s.process is not None:
                if s.process.is_alive() and s.process.pid is not None:
                    try:
                        os.kill(s.process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    def _next_clock(self) -> float | None:
        times = [t for s in self._slots if s.trial_id is not None
                 for t in (s.deadline if s.kill_reason is None else None, s.kill_at)
                 if t is not None]
        return min(times) if times else None

    def poll(self, timeout: float) -> list[Event]:
        self._check_clocks()
        busy = [s for s in self._slots if s.trial_id is not None and s.conn is not None]
        if not busy:
            if timeout > 0:
                time.sleep(min(timeout, 0.05))
            return []
        nxt = self._next_clock()
        if nxt is not None:
            timeout = max(0.0, min(timeout, nxt - time.monotonic()))
        waitables: dict[Any, _Slot] = {}
        for s in busy:
            assert s.conn is not None and s.process is not None
            waitables[s.conn] = s
            waitables[s.process.sentinel] = s
        ready = wait(list(waitables), timeout)
        events: list[Event] = []
        for obj in ready:
            slot = waitables[obj]
            if slot.trial_id is None:
                continue
            if obj is slot.conn:
                events.extend(self._drain(slot))
            if slot.trial_id is not None and slot.process is not None \
                    and not slot.process.is_alive():
                events.extend(self._drain(slot))
                if slot.trial_id is not None:
                    events.append(self._death_event(slot))
        self._check_clocks()
        return events

    def _drain(self, slot: _Slot) -> list[Event]:
        out: list[Event] = []
        conn = slot.conn
        assert conn is not None
        try:
            while slot.trial_id is not None and conn.poll():
                ev = self._to_event(slot, conn.recv())
                if ev is not None:
                    out.append(ev)
        except (EOFError, OSError):
            pass
        return out

    def _to_event(self, slot: _Slot, msg: WorkerMessage) -> Event | None:
        trial_id = msg.trial_id
        worker = f"pid {slot.process.pid if slot.process else '?'} slot {slot.index}"
        if isinstance(msg, Reported):
            return Event(EventKind.REPORT, trial_id, msg.at, step=msg.step,
                         metrics=msg.metrics, checkpoint=msg.checkpoint, worker=worker)
        if isinstance(msg, Started):
            if slot.time_limit is not None and slot.kill_reason is None:
                slot.deadline = time.monotonic() + slot.time_limit
            return Event(EventKind.STARTED, trial_id, msg.at, worker=worker)
        if slot.kill_reason is not None:
            return None  # it is being killed; the death event says why
        self._free(slot)
        if isinstance(msg, Finished | Ended | Failed | DiskFull):
            return final_event(msg, trial_id, worker)
        raise RuntimeError(f"unknown worker message {msg!r}")

    def _death_event(self, slot: _Slot) -> Event:
        assert slot.process is not None and slot.trial_id is not None
        slot.process.join(timeout=1)
        code = slot.process.exitcode
        trial_id, reason = slot.trial_id, slot.kill_reason
        worker = f"pid {slot.process.pid} slot {slot.index}"
        slot.process = None
        if slot.conn is not None:
            slot.conn.close()
            slot.conn = None
        self._free(slot)
        now = time.time()
        if reason == "timeout":
            return Event(EventKind.TIMED_OUT, trial_id, now, worker=worker,
                         error="ran past max_trial_runtime; stopped")
        if reason == "stop":
            return Event(EventKind.STOPPED, trial_id, now, worker=worker, error="stopped")
        return Event(EventKind.FAILED, trial_id, now, worker=worker,
                     error=f"worker process died: {_signal_name(code)}")

    def shutdown(self) -> None:
        for s in self._slots:
            if s.process is None:
                continue
            if s.trial_id is None and s.conn is not None:
                try:
                    s.conn.send(Exit())
                except OSError:
                    pass
            elif s.process.pid is not None:
                try:
                    os.kill(s.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + self.grace
        for s in self._slots:
            if s.process is None:
                continue
            s.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if s.process.is_alive():
                s.process.kill()
                s.process.join(timeout=1)
            if s.conn is not None:
                s.conn.close()
            s.process = s.conn = None
            s.trial_id = None
        self._by_trial.clear()
