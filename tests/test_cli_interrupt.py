"""Ctrl-C on `tunelab tune`: two presses 50 ms apart leave no trial recorded as running, say
what happened, and exit 130 (the shell's code for an interrupt), not 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tunelab.store import Store
from tunelab.trial import TrialState

TESTS = Path(__file__).resolve().parent


def _running_trials(store: Path, name: str) -> int:
    if not (store / "tunelab.db").exists() and not any(store.glob("*.db")):
        return 0
    st = Store.open(store)
    try:
        tx = st.read()
        job = tx.job(name)
        return sum(1 for t in tx.trials(job.id) if t.state is TrialState.RUNNING)
    except Exception:  # not created yet
        return 0
    finally:
        st.close()


@pytest.mark.slow
def test_two_quick_ctrl_c_stop_cleanly_and_exit_130(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "sleepy", "objective": {"metric": "loss"},
        "train": {"function": "objectives_for_tests.fns:slow"}, "static": {"sleep": 30},
        "search_space": {"x": {"type": "float", "low": 0, "high": 2}},
        "limits": {"max_trials": 4, "max_parallel": 2}}))
    store = tmp_path / "store"
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tunelab.cli", "tune", str(spec), "--store", str(store)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 180
        while _running_trials(store, "sleepy") < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no trial started"
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole group
        time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    text = " ".join(err.split())
    assert "Ctrl-C: stopping job sleepy" in text, err[-3000:]
    assert "interrupted: job sleepy is stopped; `tunelab resume sleepy` continues it" in text, \
        err[-3000:]
    assert _running_trials(store, "sleepy") == 0
    st = Store.open(store)
    try:
        tx = st.read()
        states = {t.state for t in tx.trials(tx.job("sleepy").id)}
    finally:
        st.close()
    assert TrialState.RUNNING not in states and states, states
