"""The Ray actor that runs trial segments: a warm worker on some node of the cluster.

It is the Ray twin of :mod:`tunelab.executors.worker`: one actor per slot, reused between
segments, never touching the store. The segment runs in one of the actor's threads with
:func:`~tunelab.executors.runner.run_segment` over a :class:`QueueChannel`; the executor collects
the worker's messages with long-polling :meth:`TrialActor.messages` calls and answers reports
with :meth:`TrialActor.reply`, so messages travel through Ray and nowhere else.

The class is plain Python; the executor turns it into an actor with ``ray.remote`` and the
resources each trial asks for (so this module imports without Ray installed).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from typing import Any

from tunelab.executors.base import SegmentSpec
from tunelab.executors.messages import (
    DiskFull,
    Ended,
    ExecutorMessage,
    Failed,
    Finished,
    Reply,
    WorkerMessage,
)
from tunelab.executors.runner import run_segment

#: messages that end a segment: after one of them the actor is free for the next
FINAL = (Finished, Ended, Failed, DiskFull)


class QueueChannel:
    """A :class:`~tunelab.executors.runner.Channel` over two thread queues inside the actor."""

    def __init__(self, out: queue.Queue[WorkerMessage], replies: queue.Queue[Any]) -> None:
        self._out = out
        self._replies = replies

    def send(self, msg: Any) -> None:
        self._out.put(msg)

    def recv(self) -> Any:
        return self._replies.get()


class TrialActor:
    """Runs one segment at a time; ``env`` holds its thread count (``OMP_NUM_THREADS``)."""

    def __init__(self, env: dict[str, str]) -> None:
        os.environ.update(env)
        self._env = env
        self._out: queue.Queue[WorkerMessage] = queue.Queue()
        self._replies: queue.Queue[ExecutorMessage] = queue.Queue()
        self._busy = threading.Lock()

    def where(self) -> tuple[str, int]:
        """(Ray node id, process id): where the segments of this actor run."""
        import ray

        return str(ray.get_runtime_context().get_node_id()), os.getpid()

    def run(self, segment: SegmentSpec) -> None:
        """Run ``segment`` to its end (in this actor's thread pool); its messages, the last
        one included, go to :meth:`messages`."""
        with self._busy:
            while not self._replies.empty():  # a reply that came after its segment ended
                self._replies.get_nowait()
            threads = self._env.get("OMP_NUM_THREADS")
            if threads and "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(int(threads))
            device = "cuda" if os.environ.get("CUDA_VISIBLE_DEVICES") else "cpu"
            run_segment(segment, QueueChannel(self._out, self._replies), device)

    def messages(self, wait: float) -> list[WorkerMessage]:
        """The messages sent since the last call, waiting up to ``wait`` seconds for one."""
        try:
            first = self._out.get(timeout=wait)
        except queue.Empty:
            return []
        out = [first]
        while True:
            try:
                out.append(self._out.get_nowait())
            except queue.Empty:
                return out

    def reply(self, msg: Reply) -> None:
        self._replies.put(msg)

    def stop_command(self, grace: float) -> bool:
        """Stop the running segment's command (a ``command`` objective's child): SIGTERM to
        its process group, SIGKILL after ``grace`` seconds. The executor calls this before it
        kills the actor, whose death would leave the child (in a session of its own) running.
        True if there was one."""
        from tunelab.objectives.command import kill_running_child

        return kill_running_child(grace)
