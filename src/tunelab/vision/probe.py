"""How long training takes, measured before anything runs: a short probe of real training steps.

``measure_costs`` adds what a trial spends besides its epochs (a worker's start, a segment's
set-up, each epoch's checkpoint and report: :mod:`tunelab.vision.trial_overhead`);
:mod:`tunelab.estimate` holds the arithmetic that turns them into a job's device-hours.

``tunelab tune --data`` sizes its default search to a time budget with it, and ``plan`` turns it
into device-hours ("more training jobs means more GPU-hours", as a number before the user spends
it). The probe builds the trial's own model at the trial's image size, runs a few warm-up steps
and then times full steps of the trainer's own step code (gather, augment, forward, backward,
optimizer, running metrics) on random images of the data's shape, so what it measures is the
model, size and step that will train, on the device that will train it.

>>> from tunelab.vision.config import TrainConfig
>>> p = probe_training(TrainConfig(batch_size=8), channels=1, num_classes=10, image_size=8,
...                    steps=1, warmup=1)
>>> p.seconds_per_image > 0
True
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from tunelab.estimate import Budget, JobEstimate, TrialCosts, device_seconds
from tunelab.vision.config import TrainConfig


@dataclass(frozen=True)
class TrainingProbe:
    """What a probe measured: seconds per training image (one full step over the batch, divided
    by its size) and per evaluated image, on ``device``."""

    device: str
    device_name: str
    batch_size: int
    seconds_per_image: float
    eval_seconds_per_image: float
    checkpoint_seconds: float = 0.0

    def epoch_seconds(self, n_train: int, n_eval: int) -> float:
        """Estimated seconds of one epoch: training on ``n_train`` images, scoring ``n_eval``."""
        return n_train * self.seconds_per_image + n_eval * self.eval_seconds_per_image


def device_name(device: torch.device) -> str:
    """The device type as people name it: the GPU's model (``NVIDIA H200``) or ``CPU``."""
    if device.type == "cuda":
        return str(torch.cuda.get_device_name(device))
    return "CPU"


def probe_training(cfg: TrainConfig, *, channels: int, num_classes: int, image_size: int,
                   device: torch.device | str = "cpu", steps: int = 3, warmup: int = 2,
                   min_seconds: float = 0.5, max_steps: int = 30,
                   checkpoint: bool = True) -> TrainingProbe:
    """Time training steps of ``cfg``'s model at ``image_size`` on ``device`` with ``cfg``'s
    batch size (64 for ``auto``), precision, augmentation and loss, through the trainer's own
    :class:`~tunelab.vision.train.Stepper` (batches gathered from a uint8 cache, the learning
    rate set per step, the running loss and accuracy kept, as an epoch does); then the
    trainer's evaluation pass, and (``checkpoint``) the write of an epoch's checkpoint
    (:func:`checkpoint_seconds`). After ``warmup`` untimed steps it times at least ``steps`` and
    goes on (up to ``max_steps``) until ``min_seconds`` have passed: tiny models take
    milliseconds a step, and a few of them say little on a busy machine."""
    from tunelab.vision.models import make_model
    from tunelab.vision.train import (
        EVAL_BATCH,
        Stepper,
        evaluate_split,
        make_optimizer,
        place_model,
        resolve_precision,
    )

    dev = torch.device(device)
    bs = cfg.batch_size if isinstance(cfg.batch_size, int) else 64
    model = make_model(cfg, channels, num_classes, image_size)
    place_model(model, dev)
    opt = make_optimizer(model, cfg)
    precision = resolve_precision(cfg.precision, dev)
    mean = torch.full((1, channels, 1, 1), 0.5, device=dev)
    std = torch.full((1, channels, 1, 1), 0.25, device=dev)
    step = Stepper(model, opt, cfg, channels=channels, mean=mean, std=std, device=dev,
                   precision=precision)
    gen = torch.Generator().manual_seed(0)
    n = 4 * bs  # a small cache to gather shuffled batches from, as the trainer does
    cache = torch.randint(0, 256, (n, channels, image_size, image_size), generator=gen,
                          dtype=torch.uint8).to(dev)
    labels = torch.randint(0, num_classes, (n,), generator=gen).to(dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    loss_sum = torch.zeros((), device=dev)
    correct = torch.zeros((), device=dev, dtype=torch.long)

    def one(i: int) -> None:
        nonlocal loss_sum, correct
        step.set_lr((i % 4 + 0.5) / 4)
        idx = torch.randperm(n, generator=gen)[:bs].to(dev)
        y = labels[idx]
        loss, logits = step(cache[idx], y)
        loss_sum += loss * len(y)
        correct += (logits.argmax(1) == y).sum()

    model.train()
    for i in range(warmup):
        one(i)
    sync()
    t0 = time.perf_counter()
    timed = 0
    each: list[float] = []  # on the CPU, every step's own time
    while timed < steps or (time.perf_counter() - t0 < min_seconds and timed < max_steps):
        t_step = time.perf_counter()
        one(timed)
        timed += 1
        if dev.type != "cuda":
            each.append(time.perf_counter() - t_step)
        if timed >= steps:
            sync()
    sync()
    # On the CPU the median step: on a shared machine one step can stall for seconds (other
    # processes on the cores PyTorch's threads wait for) and a mean over a few steps then reads
    # an epoch 20x too slow (bench/launch_latency.py). On a GPU, steps are queued: the total.
    train_s = (statistics.median(each) if each else (time.perf_counter() - t0) / timed) / bs
    n_eval = min(n, max(bs, EVAL_BATCH))
    evaluate_split(model, cache[:bs], labels[:bs], mean, std, dev, precision)  # warm-up
    passes: list[float] = []
    while len(passes) < 3 and (not passes or sum(passes) < min_seconds):
        sync()
        t_eval = time.perf_counter()
        evaluate_split(model, cache[:n_eval], labels[:n_eval], mean, std, dev, precision)
        sync()
        passes.append(time.perf_counter() - t_eval)
    eval_s = statistics.median(passes) / n_eval
    ck_s = checkpoint_seconds(model, opt, cfg, step.scaler) if checkpoint else 0.0
    return TrainingProbe(dev.type, device_name(dev), bs, train_s, eval_s, ck_s)


def probe_batch_sizes(cfg: TrainConfig, batch_sizes: list[int], *, channels: int,
                      num_classes: int, image_size: int, device: torch.device | str = "cpu",
                      min_seconds: float = 0.3) -> TrainingProbe:
    """:func:`probe_training` at each of ``batch_sizes`` (a searched batch size: the members
    train with all of them, and on a CPU a batch of 256 trains an image faster than one of
    64), averaged per image; no checkpoint is timed."""
    from dataclasses import replace

    probes = [probe_training(replace(cfg, batch_size=bs), channels=channels,
                             num_classes=num_classes, image_size=image_size, device=device,
                             min_seconds=min_seconds, checkpoint=False)
              for bs in sorted(set(batch_sizes))]
    return replace(probes[0], batch_size=round(statistics.mean(p.batch_size for p in probes)),
                   seconds_per_image=statistics.mean(p.seconds_per_image for p in probes),
                   eval_seconds_per_image=statistics.mean(p.eval_seconds_per_image
                                                          for p in probes))


def checkpoint_seconds(model: torch.nn.Module, opt: torch.optim.Optimizer, cfg: TrainConfig,
                       scaler: torch.amp.GradScaler, writes: int = 3) -> float:
    """Seconds to write one epoch's checkpoint of ``model`` as the trainer writes it: the
    same state dict layout through :meth:`TrialContext.save_checkpoint` (the job's artifact
    store: an atomic write with its sha256) into a temporary folder; the median of
    ``writes``."""
    import statistics
    import tempfile
    from pathlib import Path

    from tunelab.objectives.context import TrialContext
    from tunelab.vision.train import CHECKPOINT_FORMAT

    times = []
    with tempfile.TemporaryDirectory(prefix="tunelab-probe-") as tmp:
        ctx = TrialContext(params={}, number=0, checkpoint_dir=Path(tmp) / "trial-0",
                           artifact_root=tmp)
        for k in range(writes):
            t0 = time.perf_counter()
            ctx.save_checkpoint({
                "format": CHECKPOINT_FORMAT, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "scheduler": {"lr_schedule": cfg.lr_schedule,
                                                              "lr": cfg.learning_rate},
                "epoch": k + 1, "rng": {"torch": torch.get_rng_state(),
                                        "shuffle": torch.Generator().get_state()},
                "config": cfg.to_dict(), "early_stop": (1.0, 0), "trial": 0, "seed": 0,
                "metrics": {"val_loss": 1.0}, "batch_size": cfg.batch_size,
                "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            }, step=k + 1)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def slot_threads(slots: int) -> int:
    """The CPU threads each of ``slots`` worker slots trains with (the local executor's
    ``OMP_NUM_THREADS``)."""
    from tunelab.devices import available_cpus

    return max(1, available_cpus() // max(1, slots))


def measure_costs(static: dict[str, object], *, device: str = "cpu",
                  threads: int | None = None) -> TrialCosts:
    """Measure what a built-in trial of ``static`` spends on ``device``: start a worker as a
    job does and time, in it, its start-up, a segment's set-up, a report's round trip, and
    training steps, validation and a checkpoint write of its model at its image size
    (:func:`probe_training`; see :func:`tunelab.vision.trial_overhead.measure_overhead`). On
    the CPU the worker trains with ``threads`` (a worker slot's, :func:`slot_threads`;
    default: this process's)."""
    from tunelab.vision.prepare import DATA_KEYS, load_config_data
    from tunelab.vision.trial_overhead import measure_overhead

    data = load_config_data(TrainConfig.from_params(
        {k: v for k, v in static.items() if k in DATA_KEYS}), warn_skipped=False)
    n_threads = threads if threads and device == "cpu" else torch.get_num_threads()
    over = measure_overhead(dict(static), device, threads=n_threads)
    probe = over.probe  # timed in the probe worker: a trial's own process and threads
    n_test = 0 if data.test_y is None else len(data.test_y)
    return TrialCosts(
        probe.device_name, startup_seconds=over.startup_seconds,
        setup_seconds=over.setup_seconds,
        epoch_seconds=probe.epoch_seconds(len(data.train_y), len(data.val_y)),
        per_epoch_seconds=probe.checkpoint_seconds + over.report_seconds,
        final_seconds=n_test * probe.eval_seconds_per_image)


def estimate_job(static: dict[str, object], *, trials: int, device: str = "cpu",
                 epochs: int | None = None, slots: int = 1) -> JobEstimate:
    """Estimate ``trials`` full trials of ``epochs`` (default: the static ``epochs``) of a
    built-in job on ``slots`` worker slots, every trial training to the end (FIFO);
    :func:`tunelab.estimate.estimate_spec` counts a spec's trials and its scheduler's
    expected epochs."""
    costs = measure_costs(static, device=device, threads=slot_threads(slots))
    e = int(epochs or TrainConfig.from_params(static).epochs)
    budget = Budget(float(e), 1.0, e)
    secs = device_seconds(costs, budget, trials=trials, slots=slots)
    return JobEstimate(costs.device_name, secs / 3600.0, trials, e, costs.epoch_seconds, costs,
                       budget, max(1, min(slots, trials)))
