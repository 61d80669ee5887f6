"""The built-in image classifier, an objective like any other: ``train(params, trial)``.

Reads top to bottom: a config, a pure learning-rate function, the data, the model, one loop that
trains an epoch, evaluates, saves one checkpoint dict and calls ``trial.report()``. A scheduler
may end the segment at any report (``TrialInterrupted`` propagates); a later segment resumes from
the checkpoint — this trial's own, or a donor's for PBT, with this trial's (new) hyperparameters
applied on top: the learning rate comes from :func:`lr_at` with the new config, and weight decay,
momentum and dropout are set from the new config after the optimizer state is loaded.

On CPU the same seed gives the same metrics, and 2 epochs straight equal 1 epoch + resume.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tunelab.errors import ObjectiveError
from tunelab.objectives.context import TrialContext
from tunelab.vision.augment import AugmentConfig, build_augment
from tunelab.vision.batch_size import fit_batch_size
from tunelab.vision.config import TrainConfig
from tunelab.vision.models import describe_model, load_pretrained, make_model
from tunelab.vision.prepare import load_config_data

log = logging.getLogger(__name__)
EVAL_BATCH = 512
CHECKPOINT_FORMAT = 1
ONECYCLE_PEAK = 0.25  # fraction of the epochs spent rising to the peak learning rate


def lr_at(epoch: float, cfg: TrainConfig) -> float:
    """Learning rate at fractional ``epoch`` (the middle of a step: ``e + (i + 0.5) / steps``).

    Linear warm-up over ``warmup_epochs``, then ``constant``, ``step`` (times ``gamma`` every
    ``step_epochs``) or ``cosine`` (to zero at ``epochs``). ``onecycle`` (Smith 2018, the shape
    of ``torch.optim.lr_scheduler.OneCycleLR``): from ``learning_rate / 25`` up to
    ``learning_rate`` over ``warmup_epochs`` (0: the first 25 % of ``epochs``), then a cosine down
    to ``learning_rate / 25e4`` at ``epochs``.
    """
    if cfg.lr_schedule == "onecycle":
        peak = cfg.warmup_epochs or ONECYCLE_PEAK * cfg.epochs
        low, end = cfg.learning_rate / 25, cfg.learning_rate / 25e4
        if epoch < peak:
            return low + (cfg.learning_rate - low) * epoch / peak
        progress = min((epoch - peak) / max(cfg.epochs - peak, 1e-9), 1.0)
        return end + (cfg.learning_rate - end) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if epoch < cfg.warmup_epochs:
        return cfg.learning_rate * epoch / cfg.warmup_epochs
    if cfg.lr_schedule == "step":
        return cfg.learning_rate * cfg.gamma ** math.floor(epoch / cfg.step_epochs)
    if cfg.lr_schedule == "cosine":
        span = max(cfg.epochs - cfg.warmup_epochs, 1e-9)
        progress = min((epoch - cfg.warmup_epochs) / span, 1.0)
        return cfg.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))
    return cfg.learning_rate


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Parameter groups: weights decay, biases and norm parameters don't. Fine-tuning
    (``pretrained``) splits each into backbone and head, so the backbone can learn at its own
    rate (:func:`lr_scales`)."""
    named = list(model.named_parameters())
    if cfg.pretrained:
        parts = [(name.startswith("head."), p.ndim >= 2, p) for name, p in named]
        groups: list[dict[str, Any]] = [
            {"params": [p for h, d, p in parts if h == head and d == decay],
             "decay": decay, "head": head}
            for head in (False, True) for decay in (True, False)]
    else:
        groups = [{"params": [p for _, p in named if p.ndim >= 2], "decay": True},
                  {"params": [p for _, p in named if p.ndim < 2], "decay": False}]
    if cfg.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            groups, lr=cfg.learning_rate, momentum=cfg.momentum,
            nesterov=cfg.nesterov and cfg.momentum > 0)
    elif cfg.optimizer == "adam":
        opt = torch.optim.Adam(groups, lr=cfg.learning_rate)
    else:
        opt = torch.optim.AdamW(groups, lr=cfg.learning_rate)
    apply_hyperparameters(opt, model, cfg)
    return opt


def apply_hyperparameters(opt: torch.optim.Optimizer, model: nn.Module, cfg: TrainConfig) -> None:
    """Set ``cfg``'s weight decay, momentum and dropout on a (possibly restored) optimizer/model."""
    for i, group in enumerate(opt.param_groups):
        group["weight_decay"] = cfg.weight_decay if group.get("decay", i == 0) else 0.0
        if cfg.optimizer == "sgd":
            group["momentum"] = cfg.momentum
            group["nesterov"] = cfg.nesterov and cfg.momentum > 0
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = cfg.dropout


def lr_scales(cfg: TrainConfig, epoch: float) -> tuple[float, float]:
    """(backbone, head) multipliers of the learning rate at ``epoch``. Fine-tuning a pretrained
    model trains the new head alone for ``head_epochs`` (the backbone is still: its features are
    not disturbed by a random head's gradients), then the whole network, the backbone at
    ``backbone_lr`` times the rate. Without ``pretrained`` both are 1."""
    if not cfg.pretrained:
        return 1.0, 1.0
    return (0.0 if epoch < cfg.head_epochs else cfg.backbone_lr), 1.0


def resolve_precision(precision: str, device: torch.device) -> str:
    """The arithmetic a trial trains in: ``auto`` is bf16 autocast on a GPU that has bf16, fp16
    (with a grad scaler) on an older GPU, and fp32 on the CPU; fp16 asked for on the CPU (no
    fast fp16 there) trains in fp32, with a notice."""
    if device.type != "cuda":
        if precision == "fp16":
            log.warning("notice: precision fp16 needs a GPU; training in fp32 on the CPU")
            return "fp32"
        return "fp32" if precision == "auto" else precision
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return precision


def place_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device``; on a GPU in channels-last layout (what cuDNN's tensor-core
    convolutions read fastest)."""
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model


def _autocast(device: torch.device, precision: str) -> Any:
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def _use_assigned_threads() -> None:
    # The executor assigns each worker slot its CPU threads through OMP_NUM_THREADS; follow it.
    assigned = os.environ.get("OMP_NUM_THREADS", "")
    if assigned.isdigit() and int(assigned) > 0 and torch.get_num_threads() != int(assigned):
        torch.set_num_threads(int(assigned))


def resolve_hflip(cfg: TrainConfig, channels: int) -> bool:
    """``hflip: auto`` means flips for colour images (photos), none for grey ones (digits and
    other writing, where a mirror image can be another class)."""
    return channels == 3 if cfg.hflip == "auto" else bool(cfg.hflip)


def _augment_config(cfg: TrainConfig, channels: int) -> AugmentConfig:
    # build_augment switches saturation and hue off (with a notice) for monochrome data.
    return AugmentConfig(hflip=resolve_hflip(cfg, channels), translate=cfg.translate,
                         random_resized_crop=cfg.random_resized_crop,
                         crop_scale=cfg.crop_scale, crop_ratio=cfg.crop_ratio,
                         brightness=cfg.brightness, contrast=cfg.contrast,
                         saturation=cfg.saturation, hue=cfg.hue)


def evaluate_split(model: nn.Module, x_u8: torch.Tensor, y: torch.Tensor, mean: torch.Tensor,
                   std: torch.Tensor, device: torch.device,
                   precision: str = "fp32", flip: bool = False) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on uint8 images (no augmentation); with
    ``flip``, of the mean logits of each image and its mirror image (test-time flips)."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    with torch.no_grad(), _autocast(device, precision):
        for i in range(0, len(y), EVAL_BATCH):
            xb = x_u8[i:i + EVAL_BATCH].to(device, torch.float32).div_(255).sub_(mean).div_(std)
            yb = y[i:i + EVAL_BATCH].to(device)
            xb = xb.contiguous(memory_format=fmt)
            logits = model(xb).float()
            if flip:
                logits = (logits + model(xb.flip(3)).float()) / 2
            loss_sum += F.cross_entropy(logits, yb, reduction="sum")
            correct += (logits.argmax(1) == yb).sum()
    n = max(len(y), 1)
    return loss_sum.item() / n, correct.item() / n


class Stepper:
    """One training step exactly as the trainer takes it: uint8 batch to float, augment,
    normalise, forward under autocast, label-smoothed loss (plus L1), backward through the
    grad scaler, optimizer step. :mod:`tunelab.vision.probe` times this same code, so an
    estimate measures what a trial will run."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, cfg: TrainConfig, *,
                 channels: int, mean: torch.Tensor, std: torch.Tensor, device: torch.device,
                 precision: str) -> None:
        self.model, self.opt, self.cfg = model, opt, cfg
        self.mean, self.std, self.device, self.precision = mean, std, device, precision
        self.augment = build_augment(_augment_config(cfg, channels), channels)
        self.scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
        self.fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.l1_params = [p for p in model.parameters() if p.ndim >= 2] if cfg.l1 > 0 else []

    def set_lr(self, epoch: float) -> float:
        """Set every parameter group's learning rate for fractional ``epoch``; return it."""
        lr = lr_at(epoch, self.cfg)
        backbone, head = lr_scales(self.cfg, epoch)
        for group in self.opt.param_groups:
            group["lr"] = lr * (head if group.get("head", True) else backbone)
        return lr

    def __call__(self, x_u8: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Train on one batch; the (detached) loss and logits."""
        x = self.augment(x_u8.to(torch.float32).div_(255)).sub_(self.mean).div_(self.std)
        with _autocast(self.device, self.precision):
            logits = self.model(x.contiguous(memory_format=self.fmt))
            loss = F.cross_entropy(logits.float(), y, label_smoothing=self.cfg.label_smoothing)
        if self.l1_params:
            loss = loss + self.cfg.l1 * sum(p.abs().sum() for p in self.l1_params)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
        self.scaler.step(self.opt)
        self.scaler.update()
        return loss.detach(), logits.detach()


def _rng_state(gen: torch.Generator, device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "shuffle": gen.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def train(params: dict[str, Any], trial: TrialContext) -> dict[str, float]:
    """Train the built-in classifier with ``params``; report each epoch; return the last metrics.

    ``params`` holds :class:`TrainConfig` keys (``data`` is required). Each epoch reports
    ``train_loss``, ``train_accuracy``, ``val_loss``, ``val_accuracy``, ``lr``,
    ``images_per_second`` and ``epoch_seconds``, after saving a checkpoint.
    """
    cfg = TrainConfig.from_params(params)
    _use_assigned_threads()
    device = torch.device(trial.device)
    torch.manual_seed(trial.seed)
    gen = torch.Generator().manual_seed(trial.seed)

    # Data: decoded once into the shared uint8 cache; the split is fixed by split_seed per job.
    data = load_config_data(cfg, warn_skipped=False)  # the tuner reported them for the job
    n_classes, channels, size = len(data.classes), data.channels, data.image_size
    # On a GPU the decoded uint8 images live there (a quarter of float32's bytes); batches are
    # gathered, converted and augmented on the device.
    train_x, train_y = data.train_x.to(device), data.train_y.to(device)
    val_x = data.val_x.to(device) if device.type == "cuda" else data.val_x
    val_y = data.val_y
    if cfg.train_on_validation:  # a refit: every labelled image trains; nothing is held out
        train_x = torch.cat([train_x, val_x.to(device)])
        train_y = torch.cat([train_y, val_y.to(device)])
        val_x, val_y = val_x[:0], val_y[:0]
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
    # Test-time flips only for a model that learnt with flips (it has seen mirror images).
    flip_test = cfg.flip_test and resolve_hflip(cfg, channels)

    # Model and optimizer, then the checkpoint (own or a donor's) with cfg applied on top.
    model = make_model(cfg, channels, n_classes, size)
    batch_size, why = fit_batch_size(
        cfg.batch_size, lambda: make_model(cfg, channels, n_classes, size),
        (channels, size, size), n_classes, device=device, n_train=len(train_y),
        memory_mb=cfg.auto_batch_memory_mb, what=describe_model(cfg))
    if why and not trial.restore_from:  # said once per trial, not per resumed segment
        log.warning("notice: %s", why)
    if cfg.pretrained and not trial.restore_from:  # a resumed segment has its own weights
        loaded = load_pretrained(model, cfg.pretrained)
        log.warning("notice: loaded %d pretrained tensors from %s%s", len(loaded.loaded),
                    cfg.pretrained, f"; the classifier head is new ({n_classes} classes)"
                    if loaded.skipped_head else "")
    precision = resolve_precision(cfg.precision, device)
    place_model(model, device)
    opt = make_optimizer(model, cfg)
    step = Stepper(model, opt, cfg, channels=channels, mean=mean, std=std, device=device,
                   precision=precision)
    scaler = step.scaler
    start_epoch, best_val, bad_epochs = 0, math.inf, 0
    state = trial.load_checkpoint()
    if state is not None:
        try:
            model.load_state_dict(state["model"])
        except (RuntimeError, KeyError) as e:
            raise ObjectiveError(
                f"The checkpoint {trial.restore_from} does not fit this model ({e}). Don't search "
                "model shape (model, width, depth) with a scheduler that copies trials (PBT)."
            ) from None
        if state["config"]["optimizer"] == cfg.optimizer:
            opt.load_state_dict(state["optimizer"])
        if scaler.is_enabled() and state.get("scaler"):
            # fp16's loss scale, found over many steps: a resumed segment starts from it
            # instead of relearning it from 65536 with a burst of skipped steps
            scaler.load_state_dict(state["scaler"])
        apply_hyperparameters(opt, model, cfg)
        start_epoch = int(state["epoch"])
        best_val, bad_epochs = state["early_stop"]
        if state["trial"] == trial.number:
            torch.set_rng_state(state["rng"]["torch"])
            gen.set_state(state["rng"]["shuffle"])
            if device.type == "cuda" and "cuda" in state["rng"]:
                torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        else:  # a donor's state (PBT): continue with this trial's own random stream
            torch.manual_seed(trial.seed * 100_003 + start_epoch)
            gen.manual_seed(trial.seed * 100_003 + start_epoch)

    n = len(train_y)
    steps = max(n // batch_size, 1)  # drop the ragged last batch: BatchNorm needs > 1 sample
    metrics: dict[str, float] = {}
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen, lr = 0, cfg.learning_rate
        for i in range(steps):
            lr = step.set_lr(epoch + (i + 0.5) / steps)
            idx = perm[i * batch_size:(i + 1) * batch_size]
            y = train_y[idx]
            loss, logits = step(train_x[idx], y)
            loss_sum += loss * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
        train_seconds = time.perf_counter() - t0
        train_loss = loss_sum.item() / max(seen, 1)
        metrics = {"train_loss": train_loss, "train_accuracy": correct.item() / max(seen, 1)}
        if len(val_y):
            val_loss, val_acc = evaluate_split(model, val_x, val_y, mean, std, device,
                                               precision, flip_test)
            metrics |= {"val_loss": val_loss, "val_accuracy": val_acc}
        metrics |= {"lr": lr, "images_per_second": seen / max(train_seconds, 1e-9),
                    "epoch_seconds": time.perf_counter() - t0}
        diverged = not math.isfinite(train_loss)
        watched = metrics.get("val_loss", train_loss)
        if watched < best_val - cfg.min_delta:
            best_val, bad_epochs = watched, 0
        else:
            bad_epochs += 1
        last = (epoch + 1 == cfg.epochs or diverged
                or (cfg.early_stop and bad_epochs >= cfg.patience))
        if last and data.test_x is not None and data.test_y is not None and len(data.test_y):
            test_loss, test_acc = evaluate_split(model, data.test_x, data.test_y, mean, std,
                                                 device, precision, flip_test)
            metrics |= {"test_loss": test_loss, "test_accuracy": test_acc}
        if not diverged:
            trial.save_checkpoint({
                "format": CHECKPOINT_FORMAT, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "scheduler": {"lr_schedule": cfg.lr_schedule,
                                                              "lr": lr},
                "epoch": epoch + 1, "rng": _rng_state(gen, device), "config": cfg.to_dict(),
                "early_stop": (best_val, bad_epochs), "trial": trial.number, "seed": trial.seed,
                "data": {"classes": list(data.classes), "channels": channels, "image_size": size,
                         "mean": list(data.mean), "std": list(data.std)},
                "metrics": dict(metrics), "batch_size": batch_size,
                "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            }, step=epoch + 1)
        trial.report(step=epoch + 1, **metrics)
        if last:
            break
    return metrics
