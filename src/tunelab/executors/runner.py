"""Run one segment of one trial against any channel to the tuner's executor.

The runner only needs to send :mod:`~tunelab.executors.messages` and to receive the reply to a
report, so it works over a ``multiprocessing`` pipe (the local executor's worker processes) and
over anything else with ``send`` and ``recv`` (a Ray actor's queue, a test's in-memory channel).
"""

from __future__ import annotations

import inspect
import time
import traceback
from typing import Any, Protocol

from tunelab.checkpoint import Checkpoint
from tunelab.executors.base import SegmentSpec
from tunelab.executors.messages import (
    DiskFull,
    Ended,
    ExecutorMessage,
    Failed,
    Finished,
    Reply,
    Reported,
    Started,
    WorkerMessage,
)
from tunelab.objectives.command import CommandObjective, run_command
from tunelab.objectives.context import TrialContext, TrialInterrupted
from tunelab.objectives.function import FunctionObjective
from tunelab.trial import Decision

_FN_CACHE: dict[str, Any] = {}


class Channel(Protocol):
    """Where a segment's messages go and its replies come from."""

    def send(self, msg: Any) -> None: ...

    def recv(self) -> Any: ...


class ProtocolError(RuntimeError):
    """The executor answered a report with something other than its :class:`Reply`."""


def _call(objective: Any, ctx: TrialContext) -> Any:
    if isinstance(objective, CommandObjective):
        return run_command(objective, ctx)
    if isinstance(objective, FunctionObjective):
        fn = _FN_CACHE.get(objective.cache_key)
        if fn is None:
            fn = _FN_CACHE[objective.cache_key] = objective.resolve()
        try:
            n_args = len(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            n_args = 2
        return fn(dict(ctx.params), ctx) if n_args >= 2 else fn(dict(ctx.params))
    raise TypeError(f"unknown objective {objective!r}")


def run_segment(seg: SegmentSpec, channel: Channel, device: str = "cpu") -> WorkerMessage:
    """Run ``seg`` to its end, sending its messages over ``channel``; returns the last one sent
    (:class:`Finished`, :class:`Ended`, :class:`Failed` or :class:`DiskFull`)."""

    def send(msg: WorkerMessage) -> WorkerMessage:
        channel.send(msg)
        return msg

    def reporter(step: int, metrics: dict[str, float], ck: Checkpoint | None) -> Decision:
        send(Reported(seg.trial_id, step, metrics, ck, time.time()))
        reply: ExecutorMessage = channel.recv()
        if not isinstance(reply, Reply) or reply.trial_id != seg.trial_id:
            raise ProtocolError(f"expected the reply to trial {seg.trial_id}'s report; "
                                f"got {reply!r}")
        return reply.decision

    ctx = TrialContext(
        params=seg.params, number=seg.number, attempt=seg.attempt,
        checkpoint_dir=seg.checkpoint_dir, restore_from=seg.restore_from,
        restore_step=seg.restore_step, restore_sha256=seg.restore_sha256,
        artifact_root=seg.artifact_root, seed=seg.seed, device=device, metric=seg.metric,
        reporter=reporter,
    )
    send(Started(seg.trial_id, time.time()))  # the trial's clock starts here
    try:
        result = _call(seg.objective, ctx)
    except TrialInterrupted as e:
        return send(Ended(seg.trial_id, e.decision.action.value, time.time()))
    except BaseException as e:  # the user's code failed: report it, keep the worker
        from tunelab.store.artifacts import is_disk_full

        if is_disk_full(e):  # not the trial's fault: the tuner stops the job cleanly
            where = getattr(e, "path", None) or getattr(e, "filename", None) \
                or seg.checkpoint_dir
            return send(DiskFull(seg.trial_id, str(where), time.time()))
        return send(Failed(seg.trial_id, f"{e.__class__.__name__}: {e}",
                           traceback.format_exc(), time.time()))
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
    seen = tuple(sorted(ctx.metrics_seen | set(metrics)))
    return send(Finished(seg.trial_id, value, metrics, seen, time.time()))
