"""What a built-in trial spends besides its epochs, measured through the code paths a job uses.

* **Worker start** (once per slot): a worker process spawned as the local executor spawns it
  (:class:`~tunelab.executors.worker.WorkerProcess`), importing what a worker and the trainer
  import, then the trainer's segment set-up (:func:`segment_setup`). The tuner's clock of a
  trial starts when it hands the segment over, so a fresh worker's start-up is in its first
  trial's device time.
* **Segment set-up** in a warm worker: :func:`segment_setup` again, in the same process.
* **Report**: a :class:`~tunelab.executors.messages.Reported` sent over the worker's pipe, the
  store transaction the tuner writes for it (the report and its checkpoint row, on a
  temporary SQLite store) and the :class:`~tunelab.executors.messages.Reply` back; the trial
  waits for all of it.

* **Epochs**: :func:`tunelab.vision.probe.probe_training` (training steps, the evaluation
  pass, each epoch's checkpoint write), run in that same worker after the set-ups: the
  trial's own process and threads.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunelab.vision.probe import TrainingProbe

REPORTS = 5  # report round trips timed (the median is kept)
START_TIMEOUT = 300.0  # seconds a probe worker may take to start


@dataclass(frozen=True)
class Overhead:
    startup_seconds: float
    setup_seconds: float
    report_seconds: float
    probe: TrainingProbe  # the training steps, evaluation and checkpoint, timed in the worker


def segment_setup(static: dict[str, Any], device: str) -> None:
    """The built-in trainer's set-up of a segment (:func:`tunelab.vision.train.train` before
    its first epoch), with the same calls: the data from the decode cache onto the device, the
    model built, the batch size fitted, the model placed, optimizer and step built."""
    import torch

    from tunelab.vision.batch_size import fit_batch_size
    from tunelab.vision.config import TrainConfig
    from tunelab.vision.models import describe_model, make_model
    from tunelab.vision.prepare import load_config_data
    from tunelab.vision.train import (
        Stepper,
        make_optimizer,
        place_model,
        resolve_precision,
    )

    cfg = TrainConfig.from_params(static)
    dev = torch.device(device)
    data = load_config_data(cfg, warn_skipped=False)
    n_classes, channels, size = len(data.classes), data.channels, data.image_size
    train_x, train_y = data.train_x.to(dev), data.train_y.to(dev)
    if dev.type == "cuda":
        data.val_x.to(dev)
    mean = torch.tensor(data.mean, device=dev).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=dev).view(1, -1, 1, 1)
    model = make_model(cfg, channels, n_classes, size)
    fit_batch_size(cfg.batch_size, lambda: make_model(cfg, channels, n_classes, size),
                   (channels, size, size), n_classes, device=dev, n_train=len(train_y),
                   memory_mb=cfg.auto_batch_memory_mb, what=describe_model(cfg))
    precision = resolve_precision(cfg.precision, dev)
    place_model(model, dev)
    opt = make_optimizer(model, cfg)
    Stepper(model, opt, cfg, channels=channels, mean=mean, std=std, device=dev,
            precision=precision)
    del train_x
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _worker(conn: Connection, static: dict[str, Any], device: str, threads: int) -> None:
    """The probe worker: import as a worker does, set up a segment (cold, then warm), then
    time report round trips with the parent."""
    import importlib
    import os

    from tunelab.devices import thread_env

    os.environ.update(thread_env(threads))  # a worker slot's, before torch loads its OpenMP
    import torch

    from tunelab.executors.messages import Reported

    torch.set_num_threads(threads)  # as a worker follows its slot's OMP_NUM_THREADS

    # what every worker imports, and what the built-in objective resolves to
    for module in ("tunelab.executors.worker", "tunelab.vision.train"):
        importlib.import_module(module)

    segment_setup(static, device)
    ready = time.time()
    t0 = time.perf_counter()
    segment_setup(static, device)
    setup = time.perf_counter() - t0
    trips = []
    metrics = {"train_loss": 1.0, "train_accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5,
               "lr": 0.1, "images_per_second": 1000.0, "epoch_seconds": 1.0}
    for step in range(1, REPORTS + 1):
        t0 = time.perf_counter()
        conn.send(Reported(0, step, metrics, None, time.time()))
        conn.recv()
        trips.append(time.perf_counter() - t0)
    # the epoch itself, timed here too: in a fresh process with the slot's threads, as a
    # trial trains (in the process that asks, earlier work and its threads can make the same
    # steps read many times slower)
    from tunelab.vision.config import TrainConfig
    from tunelab.vision.prepare import load_config_data
    from tunelab.vision.probe import probe_training

    cfg = TrainConfig.from_params(static)
    data = load_config_data(cfg, warn_skipped=False)
    probe = probe_training(cfg, channels=data.channels, num_classes=len(data.classes),
                           image_size=data.image_size, device=device)
    conn.send((ready, setup, statistics.median(trips), probe))


def measure_overhead(static: dict[str, Any], device: str = "cpu", *,
                     threads: int = 1) -> Overhead:
    """Start a probe worker and measure (see the module docstring)."""
    import multiprocessing as mp

    from tunelab.errors import ObjectiveError
    from tunelab.executors.messages import Reply, Reported
    from tunelab.executors.worker import WorkerProcess
    from tunelab.store import Store
    from tunelab.trial import Decision

    with tempfile.TemporaryDirectory(prefix="tunelab-probe-") as tmp:
        store = Store.open(tmp)  # opened (and migrated) before the clock starts
        try:
            with store.transaction() as tx:
                job = tx.create_job("probe", {}, metric="val_accuracy", goal="maximize")
                trial = tx.create_trial(job.id, 0, {})
            ctx = mp.get_context("spawn")
            parent, child = ctx.Pipe(duplex=True)
            proc = WorkerProcess(target=_worker, args=(child, dict(static), device, threads),
                                 daemon=True, name="tunelab-probe-worker")
            t_start = time.time()
            proc.start()
            child.close()
            try:
                while True:
                    if not parent.poll(START_TIMEOUT):
                        raise ObjectiveError(
                            f"The probe worker did not answer in {START_TIMEOUT:.0f} s.")
                    msg = parent.recv()
                    if not isinstance(msg, Reported):
                        ready, setup, report, probe = msg
                        break
                    with store.transaction() as tx:  # what the tuner writes for a report
                        tx.add_report(trial, msg.step, msg.metrics["val_accuracy"], msg.metrics,
                                      msg.at)
                        tx.add_checkpoint(trial, msg.step, f"trial-0/ckpt-{msg.step:06d}.pt",
                                          "0" * 64, 1)
                        tx.set_trial(trial, last_step=msg.step,
                                     value=msg.metrics["val_accuracy"])
                    parent.send(Reply(0, Decision.cont()))
            except EOFError:
                raise ObjectiveError("The probe worker ended without an answer (see the "
                                     "server's log).") from None
            finally:
                proc.join(10)
                if proc.is_alive():
                    proc.terminate()
        finally:
            store.close()
    return Overhead(max(0.0, float(ready) - t_start), float(setup), float(report), probe)
