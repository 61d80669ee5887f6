"""The worker process: runs trial segments one after another, sending events to the tuner.

A worker never writes the database. It receives :class:`~tunelab.executors.messages.Run`
messages and runs each segment with :func:`~tunelab.executors.runner.run_segment` over its pipe.

A worker exits within a second of its tuner's death (``kill -9``: no message comes), also while
it is still starting up: :class:`WorkerProcess` starts the parent watch as the very first thing
the spawned interpreter does — before it imports tunelab (and with it, often, torch), which can
take many seconds on a busy machine. It does not import the user's ``__main__`` at all (see
:mod:`tunelab.objectives.function`).
"""

from __future__ import annotations

import os
import signal
import sys
from multiprocessing import popen_spawn_posix, spawn
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any

from tunelab.executors.messages import Exit, Run
from tunelab.executors.runner import run_segment
from tunelab.objectives.command import kill_running_child

WATCH_EVERY = 0.5  # seconds between two looks at the parent

# Runs in the spawned interpreter before anything else is imported (stdlib only, see
# _ParentWatch). Exits when the parent is gone; a running command objective's child goes too.
# On Linux the kernel also signals the worker the moment its parent dies (PR_SET_PDEATHSIG:
# SIGTERM, which ends it at once while it starts up and runs the worker's SIGTERM handler
# afterwards); the polling thread covers other systems and a signal lost to a race.
# The kernel watches the *thread* that started the worker: workers are started and replaced by
# the thread running the tuner's loop, which shuts them down before it returns.
_WATCH_SOURCE = """
import os, signal, sys, threading, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the tuner's, even while starting up
if sys.platform.startswith("linux"):
    try:  # the kernel sends SIGTERM when the parent dies: no wait for the GIL or the poll
        import ctypes
        ctypes.CDLL(None).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM
    except Exception:
        pass
if os.getppid() != PARENT:  # it died before the line above
    os._exit(1)
def _tunelab_watch(parent, every):
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            command = sys.modules.get("tunelab.objectives.command")
            if command is not None:
                try:
                    command.kill_running_child()
                except Exception:
                    pass
            os._exit(1)
threading.Thread(target=_tunelab_watch, args=(PARENT, EVERY), daemon=True,
                 name="tunelab-parent-watch").start()
"""


class _ParentWatch:
    """Unpickled (in the child) as a call that starts the parent watch.

    It rides in multiprocessing's preparation data, which the child unpickles before it imports
    anything of the parent's; the call is ``exec`` of stdlib-only code so that unpickling it
    imports nothing heavy either (``tunelab`` itself imports the API and its dependencies).
    """

    def __init__(self, parent: int) -> None:
        self.parent = parent

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (_WATCH_SOURCE, {"PARENT": self.parent, "EVERY": WATCH_EVERY}))


class _WatchedPopen(popen_spawn_posix.Popen):
    def _launch(self, process_obj: Any) -> None:
        original = spawn.get_preparation_data

        def with_watch(name: str) -> dict[str, Any]:
            data: dict[str, Any] = original(name)
            # A worker never needs the user's __main__ (training functions travel by import
            # path or by value): without these keys the child does not run the user's script
            # again, so a script with no `if __name__ == "__main__":` guard works.
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
            # unknown keys are ignored by spawn.prepare(); this one is unpickled first
            return {"tunelab_parent_watch": _ParentWatch(os.getpid()), **data}

        spawn.get_preparation_data = with_watch
        try:
            super()._launch(process_obj)  # type: ignore[misc]
        finally:
            spawn.get_preparation_data = original


class WorkerProcess(SpawnProcess):
    """A spawned process that watches its parent from its first instruction (POSIX)."""

    @staticmethod
    def _Popen(process_obj: Any) -> Any:  # multiprocessing's name
        return _WatchedPopen(process_obj)


def start_parent_watch(parent: int) -> None:
    """Start the parent watch in this process unless it already runs (fork/forkserver workers,
    which :class:`WorkerProcess` does not start)."""
    import threading

    if not any(t.name == "tunelab-parent-watch" for t in threading.enumerate()):
        exec(_WATCH_SOURCE, {"PARENT": parent, "EVERY": WATCH_EVERY})


def _on_sigterm(_signum: int, _frame: Any) -> None:
    kill_running_child()
    os._exit(143)


def worker_main(slot: int, conn: Connection, env: dict[str, str]) -> None:
    """Entry point of a worker process."""
    start_parent_watch(os.getppid())
    os.environ.update(env)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the tuner's to handle
    threads = env.get("OMP_NUM_THREADS")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if isinstance(msg, Exit):
            return
        if not isinstance(msg, Run):
            raise RuntimeError(f"worker expected Run or Exit; got {msg!r}")
        if threads and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(threads))
        run_segment(msg.segment, conn, env.get("TUNELAB_DEVICE", "cpu"))
