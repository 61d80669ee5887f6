"""How long training takes, measured before anything runs: a short probe of real training steps.

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

import time
from dataclasses import dataclass

import torch

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
                   min_seconds: float = 0.5, max_steps: int = 30) -> TrainingProbe:
    """Time training steps of ``cfg``'s model at ``image_size`` on ``device`` with ``cfg``'s
    batch size (64 for ``auto``), precision, augmentation and loss, through the trainer's own
    :class:`~tunelab.vision.train.Stepper` (batches gathered from a uint8 cache, the learning
    rate set per step, the running loss and accuracy kept, as an epoch does); then the
    trainer's evaluation pass. After ``warmup`` untimed steps it times at least ``steps`` and
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
    while timed < steps or (time.perf_counter() - t0 < min_seconds and timed < max_steps):
        one(timed)
        timed += 1
        if timed >= steps:
            sync()
    sync()
    train_s = (time.perf_counter() - t0) / (timed * bs)
    n_eval = min(n, max(bs, EVAL_BATCH))
    evaluate_split(model, cache[:bs], labels[:bs], mean, std, dev, precision)  # warm-up
    sync()
    t0 = time.perf_counter()
    evaluate_split(model, cache[:n_eval], labels[:n_eval], mean, std, dev, precision)
    sync()
    eval_s = (time.perf_counter() - t0) / n_eval
    return TrainingProbe(dev.type, device_name(dev), bs, train_s, eval_s)


def estimate_device_hours(probe: TrainingProbe, *, n_train: int, n_eval: int, epochs: int,
                          trials: int) -> float:
    """Device-hours of ``trials`` trials of ``epochs`` epochs each at the probed speed (a full
    budget: schedulers that stop trials early spend less)."""
    return probe.epoch_seconds(n_train, n_eval) * epochs * trials / 3600.0


@dataclass(frozen=True)
class JobEstimate:
    """``plan``'s estimate of a built-in job: device-hours at full budget, and how they were
    reached (a probe of real steps on the device the slots train on)."""

    device_name: str
    device_hours: float
    trials: int
    epochs: int
    epoch_seconds: float

    def describe(self, gpus_per_trial: float = 1.0) -> str:
        hours = self.device_hours * gpus_per_trial
        return (f"about {hours:.2g} device-hours on {self.device_name} "
                f"({self.trials} trials x {self.epochs} epochs x {self.epoch_seconds:.1f} s per "
                "epoch, measured by a short probe; early stopping spends less)")


def estimate_job(static: dict[str, object], *, trials: int, device: str = "cpu",
                 epochs: int | None = None) -> JobEstimate:
    """Estimate a built-in image job before it runs: load its data (cached), probe a few
    training steps of its model at its image size on ``device``, and scale to ``trials`` trials
    of ``epochs`` (default: the static ``epochs``). For other helpers and ``tunelab plan``."""
    from tunelab.vision.prepare import DATA_KEYS, load_config_data

    cfg = TrainConfig.from_params(static)
    data = load_config_data(TrainConfig.from_params(
        {k: v for k, v in static.items() if k in DATA_KEYS}), warn_skipped=False)
    probe = probe_training(cfg, channels=data.channels, num_classes=len(data.classes),
                           image_size=data.image_size, device=device)
    n_eval = len(data.val_y)
    e = epochs or cfg.epochs
    epoch_s = probe.epoch_seconds(len(data.train_y), n_eval)
    hours = estimate_device_hours(probe, n_train=len(data.train_y), n_eval=n_eval, epochs=e,
                                  trials=trials)
    return JobEstimate(probe.device_name, hours, trials, e, epoch_s)
