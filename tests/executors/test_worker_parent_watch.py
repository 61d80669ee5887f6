"""A worker exits when its tuner is killed, also while the worker is still starting up.

A spawned worker re-imports the tuner's main module (and with it tunelab and often torch)
before any worker code runs; a ``kill -9`` of the tuner during that import used to leave the
worker running until the import was done. Here the import is a long sleep in the main module.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """
import sys, time
if __name__ == "__mp_main__":
    time.sleep(300)  # the worker's start-up: a heavy import of the tuner's main module
if __name__ == "__main__":
    from tunelab.executors.local import LocalExecutor
    ex = LocalExecutor(1)
    ex.warm_up()
    print(ex._slots[0].process.pid, flush=True)
    time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie is dead, only not reaped


def test_worker_exits_when_tuner_dies_during_its_startup(tmp_path: Path) -> None:
    script = tmp_path / "tuner_main.py"
    script.write_text(SCRIPT)
    tuner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                             cwd=tmp_path)
    worker = 0
    try:
        assert tuner.stdout is not None
        worker = int(tuner.stdout.readline())
        time.sleep(1.0)  # the worker is inside its start-up import now
        assert _alive(worker)
        tuner.send_signal(signal.SIGKILL)
        tuner.wait()
        # far less than the 300 s start-up: the watch runs from the worker's first instruction
        deadline = time.monotonic() + 30
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the worker outlived its killed tuner"
    finally:
        if tuner.poll() is None:
            tuner.kill()
        if worker and _alive(worker):
            os.kill(worker, signal.SIGKILL)
