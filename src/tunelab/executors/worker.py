"""The worker process: runs trial segments one after another, sending events to the tuner.

A worker never writes the database. It receives ``("run", SegmentSpec)`` messages, calls the
objective with a :class:`~tunelab.objectives.context.TrialContext` whose ``report()`` sends a
``report`` message and waits for the tuner's decision, and ends each segment with one of
``finished``, ``ended`` (a scheduler ended it) or ``failed``.
"""

from __future__ import annotations

import inspect
import os
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from tunelab.executors.base import Checkpoint, SegmentSpec
from tunelab.objectives.command import CommandObjective, kill_running_child, run_command
from tunelab.objectives.context import TrialContext, TrialInterrupted
from tunelab.objectives.function import FunctionObjective
from tunelab.trial import Decision

_FN_CACHE: dict[str, Any] = {}


def _on_sigterm(_signum: int, _frame: Any) -> None:
    kill_running_child()
    os._exit(143)


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """Exit once the tuner that started this worker is gone (``kill -9``: no message comes),
    so an orphan never keeps training and writing checkpoints for a job it no longer runs."""
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            kill_running_child()
            os._exit(1)


def worker_main(slot: int, conn: Connection, env: dict[str, str]) -> None:
    """Entry point of a worker process."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="tunelab-parent-watch").start()
    os.environ.update(env)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the tuner's to handle
    threads = env.get("OMP_NUM_THREADS")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "exit":
            return
        if threads and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(threads))
        _run_segment(msg[1], conn, env.get("TUNELAB_DEVICE", "cpu"))


def _call(objective: Any, ctx: TrialContext) -> Any:
    if isinstance(objective, CommandObjective):
        return run_command(objective, ctx)
    if isinstance(objective, FunctionObjective):
        fn = _FN_CACHE.get(objective.target)
        if fn is None:
            fn = _FN_CACHE[objective.target] = objective.resolve()
        try:
            n_args = len(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            n_args = 2
        return fn(dict(ctx.params), ctx) if n_args >= 2 else fn(dict(ctx.params))
    raise TypeError(f"unknown objective {objective!r}")


def _run_segment(seg: SegmentSpec, conn: Connection, device: str) -> None:
    def reporter(step: int, metrics: dict[str, float], ck: Checkpoint | None) -> Decision:
        conn.send(("report", seg.trial_id, step, metrics, ck, time.time()))
        reply = conn.recv()
        decision: Decision = reply[2]
        return decision

    ctx = TrialContext(
        params=seg.params, number=seg.number, attempt=seg.attempt,
        checkpoint_dir=seg.checkpoint_dir, restore_from=seg.restore_from,
        restore_step=seg.restore_step, seed=seg.seed, device=device, metric=seg.metric,
        reporter=reporter,
    )
    conn.send(("started", seg.trial_id, time.time()))  # the trial's clock starts here
    try:
        result = _call(seg.objective, ctx)
    except TrialInterrupted as e:
        conn.send(("ended", seg.trial_id, e.decision.action.value, time.time()))
        return
    except BaseException as e:  # the user's code failed: report it, keep the worker
        conn.send(("failed", seg.trial_id, f"{e.__class__.__name__}: {e}",
                   traceback.format_exc(), time.time()))
        return
    metrics: dict[str, float] = {}
    value: float | None
    if isinstance(result, dict):
        metrics = {k: float(v) for k, v in result.items() if isinstance(v, (int, float))}
        value = metrics.get(seg.metric, ctx.last_metrics.get(seg.metric))
    elif isinstance(result, (int, float)) and not isinstance(result, bool):
        value = float(result)
        metrics = {seg.metric: value}
    else:
        value = ctx.last_metrics.get(seg.metric)
    seen = sorted(ctx.metrics_seen | set(metrics))
    conn.send(("finished", seg.trial_id, value, metrics, seen, time.time()))
