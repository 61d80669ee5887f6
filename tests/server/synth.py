"""Jobs written straight into a store (no tuner): what the dashboard's tests and
``bench/ui_load.py`` draw. Each trial reports train/val loss and accuracy per step; some are
paused and stopped at rungs, some copy a donor (PBT-style decisions); one failed with a
traceback."""

from __future__ import annotations

import math
import random
import time
from typing import Any

from tunelab.store import Store
from tunelab.trial import TrialState


def synth_job(store: Store, name: str, *, trials: int = 12, steps: int = 8, seed: int = 0,
              status: str = "completed", running_tail: int = 0, goal: str = "maximize",
              lr_effect: float = 1.0) -> int:
    """Write a job of ``trials`` trials × ``steps`` reports; the last ``running_tail`` trials
    are left RUNNING (and the job running with a live lease when ``status == "running"``)."""
    rng = random.Random(seed)
    spec: dict[str, Any] = {
        "name": name, "objective": {"metric": "val_accuracy", "goal": goal},
        "strategy": {"type": "pbt", "seed": seed, "population": trials},
        "search_space": {"lr": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
                         "dropout": {"type": "float", "low": 0.0, "high": 0.5},
                         "optimizer": {"type": "choice", "values": ["sgd", "adam"]}},
        "static": {"epochs": steps},
        "limits": {"max_trials": trials, "max_parallel": 4},
    }
    now = time.time()
    with store.transaction() as tx:
        job = tx.create_job(name, spec, metric="val_accuracy", goal=goal)
        tx.set_job(job.id, status=status,
                   lease_owner="synth:0:x" if status == "running" else None,
                   lease_until=now + 3600 if status == "running" else None,
                   ended_at=None if status == "running" else now)
        tx.add_event(job.id, "started", "synthetic job")
        for n in range(trials):
            lr = 10 ** rng.uniform(-4, 0)
            dropout = rng.uniform(0, 0.5)
            params: dict[str, Any] = {"lr": lr, "dropout": dropout,
                                      "optimizer": rng.choice(["sgd", "adam"])}
            tid = tx.create_trial(job.id, n, params)
            tx.set_trial(tid, state=TrialState.RUNNING, current=TrialState.PENDING,
                         started_at=now - 100 + n, segments=1, worker="synth")
            quality = 1.0 - lr_effect * abs(math.log10(lr) + 2) / 4 - dropout / 4
            failed = n == 3
            n_steps = 2 if failed else steps
            acc = 0.0
            for s in range(1, n_steps + 1):
                acc = max(0.0, min(1.0, quality * (1 - math.exp(-s / 3)) + rng.gauss(0, 0.01)))
                tloss = 2.0 * (1 - quality) + 1.5 * math.exp(-s / 2)
                m = {"train_loss": tloss, "val_loss": tloss + 0.05 * s / steps,
                     "train_accuracy": min(1.0, acc + 0.03), "val_accuracy": acc}
                tx.add_report(tid, s, acc, m, at=now - 100 + n + s)
                if s % 4 == 0:
                    tx.add_checkpoint(tid, s, f"{name}/trial-{n:04d}/ckpt-{s:06d}.pt",
                                      "0" * 64, 1000)
            if n >= trials - running_tail:
                tx.set_trial(tid, value=acc, last_step=n_steps)
                continue
            if failed:
                tx.set_trial(tid, state=TrialState.FAILED, current=TrialState.RUNNING,
                             error="RuntimeError: loss is NaN", last_step=n_steps,
                             traceback="Traceback (most recent call last):\n  ...\n"
                                       "RuntimeError: loss is NaN", ended_at=now - 50 + n,
                             device_seconds=2.0)
                tx.add_event(job.id, "failed", "RuntimeError: loss is NaN", trial_number=n)
                continue
            tx.set_trial(tid, state=TrialState.COMPLETED, current=TrialState.RUNNING,
                         value=acc, last_step=n_steps, ended_at=now - 50 + n,
                         device_seconds=5.0 + n % 7, metrics={"val_accuracy": acc})
        for n in range(4, min(trials, 10), 2):  # PBT copies and rung pauses/stops
            tx.add_decision(job.id, n, 4, "exploit", reason="bottom quantile", donor=n - 4,
                            donor_step=4, params={"lr": 0.01}, at=now - 90 + n)
            tx.add_decision(job.id, n + 1, 2, "pause", reason="rung 2", at=now - 95 + n)
            tx.add_decision(job.id, n + 1, 4, "stop", reason="below the median", at=now - 94)
        return int(job.id)
