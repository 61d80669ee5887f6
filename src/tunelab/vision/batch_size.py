"""``batch_size: auto``: the largest power of two that fits in memory.

On a GPU the probe runs real forward/backward passes with doubling batch sizes until CUDA runs
out of memory. On CPU an out-of-memory error kills the process instead of raising, so the probe
measures the activations of a small batch and extrapolates against a memory cap
(``auto_batch_memory_mb``). Either way the result never exceeds the training set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

MIN_BATCH = 2
MAX_BATCH = 4096


def largest_power_of_two(n: int) -> int:
    """The largest power of two <= ``n`` (at least 1)."""
    return 1 << max(int(n), 1).bit_length() - 1


def _activation_bytes_per_sample(model: nn.Module, sample: torch.Tensor) -> int:
    """Bytes of module outputs per sample in one forward pass (kept for backward)."""
    total = 0

    def hook(_m: nn.Module, _i: Any, out: Any) -> None:
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out.numel() * out.element_size()

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        was_training = model.training
        model.train()
        with torch.no_grad():
            model(sample)
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return max(total // sample.shape[0], 1)


def estimate_cpu_batch_size(model: nn.Module, sample_shape: tuple[int, int, int], *,
                            memory_mb: int, max_batch: int = MAX_BATCH) -> int:
    """Largest power of two whose estimated training memory fits ``memory_mb``.

    Memory = 4 x parameters (weights, gradients, two optimizer moments) + per sample: the input,
    its augmented copy and 3 x the forward activations (kept outputs, their gradients, and
    temporaries in backward).
    """
    sample = torch.zeros(2, *sample_shape)
    per_sample = 3 * _activation_bytes_per_sample(model, sample) + 2 * sample[0].numel() * 4
    fixed = 4 * sum(p.numel() * p.element_size() for p in model.parameters())
    budget = memory_mb * 2**20 - fixed
    if budget <= per_sample * MIN_BATCH:
        return MIN_BATCH
    return max(MIN_BATCH, largest_power_of_two(min(budget // per_sample, max_batch)))


def probe_gpu_batch_size(model: nn.Module, sample_shape: tuple[int, int, int], num_classes: int,
                         device: torch.device, *, max_batch: int = MAX_BATCH) -> int:
    """Double the batch until a forward/backward pass on ``device`` runs out of memory."""
    model = model.to(device)
    best, bs = MIN_BATCH, MIN_BATCH
    while bs <= max_batch:
        try:
            x = torch.randn(bs, *sample_shape, device=device)
            y = torch.randint(0, num_classes, (bs,), device=device)
            nn.functional.cross_entropy(model(x), y).backward()  # type: ignore[no-untyped-call]
            best, bs = bs, bs * 2
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            model.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
    return best


def auto_batch_size(make_model: Callable[[], nn.Module], sample_shape: tuple[int, int, int],
                    num_classes: int, *, device: torch.device, n_train: int,
                    memory_mb: int) -> int:
    """The batch size for ``batch_size: auto`` on ``device``, at most the training set size."""
    cap = largest_power_of_two(max(n_train, MIN_BATCH))
    if device.type == "cuda":
        return min(cap, probe_gpu_batch_size(make_model(), sample_shape, num_classes, device))
    return min(cap, estimate_cpu_batch_size(make_model(), sample_shape, memory_mb=memory_mb))


def fit_batch_size(requested: int | str, make_model: Callable[[], nn.Module],
                   sample_shape: tuple[int, int, int], num_classes: int, *,
                   device: torch.device, n_train: int, memory_mb: int,
                   what: str = "this model") -> tuple[int, str | None]:
    """The batch size a trial trains with, and why it differs from ``requested`` (or None).

    ``auto`` is measured for the model and image size the trial itself builds (``make_model``);
    a fixed size on CPU larger than what fits ``memory_mb`` for that model is lowered to what
    fits, and the reason says so (on a GPU a fixed size that does not fit fails loudly instead,
    with CUDA's out-of-memory error).
    """
    c, h, _w = sample_shape
    if requested == "auto":
        bs = auto_batch_size(make_model, sample_shape, num_classes, device=device,
                             n_train=n_train, memory_mb=memory_mb)
        where = ("measured on the GPU" if device.type == "cuda"
                 else f"estimated against auto_batch_memory_mb={memory_mb}")
        return bs, (f"batch_size auto: {bs}, the largest power of two that fits for {what} at "
                    f"{c}x{h}x{h} ({where}, at most the {n_train} training images)")
    assert isinstance(requested, int)
    if device.type == "cuda":
        return requested, None
    fits = estimate_cpu_batch_size(make_model(), sample_shape, memory_mb=memory_mb)
    if requested <= fits:
        return requested, None
    return fits, (f"batch_size {requested} lowered to {fits}: {requested} does not fit "
                  f"auto_batch_memory_mb={memory_mb} for {what} at {c}x{h}x{h}; raise "
                  "auto_batch_memory_mb if the machine has the memory")


def cap_batch_size_space(space: Mapping[str, Any], limit: int) -> dict[str, Any]:
    """Cap a spec-style ``batch_size`` search range at ``limit`` (the auto probe's answer).

    Choice values above the limit are dropped (keeping at least the limit itself); an int range's
    ``high`` is lowered. Other parameters are returned unchanged.
    """
    out = dict(space)
    p = out.get("batch_size")
    if not isinstance(p, Mapping):
        return out
    p = dict(p)
    if p.get("type") == "choice":
        vals = [v for v in p["values"] if isinstance(v, int) and v <= limit]
        p["values"] = vals or [limit]
    elif p.get("type") == "int" and p.get("high", 0) > limit:
        p["high"] = max(limit, int(p.get("low", 1)))
        p["low"] = min(int(p.get("low", 1)), p["high"])
    out["batch_size"] = p
    return out
