"""Batch augmentation on the training device, and uint8 → normalised float conversion.

Every op works on a whole float batch ``[B, C, H, W]`` in ``[0, 1]`` with one random draw per image,
on whatever device the batch is on. Random parameters are drawn from torch's global generator of
the batch's device (on a GPU on the GPU: a draw on the CPU copied over would wait for the queued
GPU work every batch), so results are fixed by ``torch.manual_seed`` on each device.

The ops are plain tensor code rather than ``kornia.augmentation``: on the CPU, for the small images
this trainer sees, kornia's per-call overhead and its colour conversions dominate; side by side on
a batch of 128 3x64x64 images, ``ColorJitter`` took several times as long as the version here (see
``bench/input_pipeline.py --augment`` and BENCHMARKS.md).

* ``hflip``: each image is mirrored with probability 0.5.
* ``translate``: each image is shifted by a random whole number of pixels, up to ``translate``
  times its side in each direction, the uncovered edge filled by reflection (the "pad and random
  crop" of CIFAR training recipes).
* ``random_resized_crop``: each image is cropped to a random area fraction in ``crop_scale`` with
  aspect ratio (log-uniform) in ``crop_ratio`` (clamped to fit inside the image) at a random
  position, and resized back to ``H x W`` (bilinear).
* ``color_jitter`` (in this order, like torchvision's factors): brightness factor
  ``U(1-b, 1+b)``, contrast factor ``U(1-c, 1+c)`` around each image's mean grey, saturation
  factor ``U(1-s, 1+s)`` around each pixel's grey, and a hue rotation of up to ``±hue`` turns
  around the grey axis (the linear form of a hue shift). Results are clamped to ``[0, 1]``.

Example:
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> aug = build_augment(AugmentConfig(hflip=True, brightness=0.2), channels=3)
    >>> aug(torch.rand(4, 3, 16, 16)).shape
    torch.Size([4, 3, 16, 16])
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from tunelab.errors import SpecError

log = logging.getLogger(__name__)

#: ITU-R BT.601 luma weights, the grey used by contrast and saturation (as in torchvision).
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations to apply to training batches; all off by default.

    Example:
        >>> AugmentConfig(hflip=True, random_resized_crop=True, crop_scale=(0.6, 1.0))
        ... # doctest: +ELLIPSIS
        AugmentConfig(hflip=True, random_resized_crop=True, crop_scale=(0.6, 1.0), ...)
    """

    hflip: bool = False
    #: Largest shift as a fraction of the side (edges reflected); 0 turns it off.
    translate: float = 0.0
    random_resized_crop: bool = False
    #: Area fraction kept by the crop; (0.08, 1.0) as for ImageNet loses too much of 32px images.
    crop_scale: tuple[float, float] = (0.6, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise SpecError.field("crop_scale", "(low, high) with 0 < low <= high <= 1",
                                  self.crop_scale, "Use e.g. (0.6, 1.0).")
        lo, hi = self.crop_ratio
        if not 0 < lo <= hi:
            raise SpecError.field("crop_ratio", "(low, high) with 0 < low <= high",
                                  self.crop_ratio, "Use e.g. (0.75, 1.333).")
        if not 0 <= self.translate <= 0.5:
            raise SpecError.field("translate", "a fraction from 0 to 0.5", self.translate,
                                  "0 turns it off; 0.125 is a common choice.")
        for name in ("brightness", "contrast", "saturation"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise SpecError.field(name, "a number from 0 to 1", value,
                                      "0 turns it off; 0.2 is a common choice.")
        if not 0 <= self.hue <= 0.5:
            raise SpecError.field("hue", "a number from 0 to 0.5", self.hue,
                                  "0 turns it off; 0.05 is a common choice.")


def _rand(n: int, device: torch.device) -> torch.Tensor:
    """``n`` uniform draws in [0, 1) made on ``device`` (CPU draws for a CPU batch)."""
    return torch.rand(n, device=device)


def _uniform(n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    return _rand(n, device) * (high - low) + low


def _hflip(x: torch.Tensor) -> torch.Tensor:
    flip = (_rand(x.shape[0], x.device) < 0.5).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


def _translate(x: torch.Tensor, fraction: float) -> torch.Tensor:
    """Shift each image by its own random whole-pixel offset of up to ``fraction`` of the side
    in each direction, filling the edge by reflection (pad, then a random crop of the size)."""
    b, c, h, w = x.shape
    pad = min(round(fraction * min(h, w)), h - 1, w - 1)
    if pad < 1:
        return x
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    oy = torch.randint(0, 2 * pad + 1, (b, 1), device=x.device)
    ox = torch.randint(0, 2 * pad + 1, (b, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h) + oy).view(b, 1, h, 1)
    cols = (torch.arange(w, device=x.device).view(1, w) + ox).view(b, 1, 1, w)
    bi = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    ci = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[bi, ci, rows, cols]


def _resized_crop(
    x: torch.Tensor, scale: tuple[float, float], ratio: tuple[float, float]
) -> torch.Tensor:
    b, _, h, w = x.shape
    dev = x.device
    area = _uniform(b, scale[0], scale[1], dev)
    log_r = _uniform(b, math.log(ratio[0]), math.log(ratio[1]), dev)
    aspect = torch.exp(log_r) * (h / w)  # ratio is of the crop in pixels, width / height
    fw = torch.sqrt(area * aspect).clamp(max=1.0)  # crop width as a fraction of the image
    fh = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (_rand(b, dev) * 2 - 1) * (1 - fw)  # crop centre in [-1, 1] grid units, inside
    cy = (_rand(b, dev) * 2 - 1) * (1 - fh)
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = fw, cx
    theta[:, 1, 1], theta[:, 1, 2] = fh, cy
    grid = F.affine_grid(theta.to(x.dtype), [b, x.shape[1], h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _grey(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _hue_rotation(turns: torch.Tensor) -> torch.Tensor:
    """[B, 3, 3] matrices rotating RGB around the grey axis by ``turns`` (1 = 360°)."""
    angle = turns * 2 * math.pi
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    third, root = 1 / 3, math.sqrt(1 / 3)
    ones = torch.full((3, 3), third)
    cross = torch.tensor([[0.0, -root, root], [root, 0.0, -root], [-root, root, 0.0]])
    return cos * (torch.eye(3) - ones) + sin * cross + ones


def _color_jitter(x: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
    b, dev = x.shape[0], x.device
    if cfg.brightness > 0:
        f = _uniform(b, max(0.0, 1 - cfg.brightness), 1 + cfg.brightness, dev)
        x = (x * f.view(-1, 1, 1, 1)).clamp_(0, 1)
    if cfg.contrast > 0:
        f = _uniform(b, max(0.0, 1 - cfg.contrast), 1 + cfg.contrast, dev).view(-1, 1, 1, 1)
        m = _grey(x).mean(dim=(1, 2, 3), keepdim=True)
        x = (x * f + m * (1 - f)).clamp_(0, 1)
    if cfg.saturation > 0 and x.shape[1] == 3:
        f = _uniform(b, max(0.0, 1 - cfg.saturation), 1 + cfg.saturation, dev).view(-1, 1, 1, 1)
        x = (x * f + _grey(x) * (1 - f)).clamp_(0, 1)
    if cfg.hue > 0 and x.shape[1] == 3:
        rot = _hue_rotation(_uniform(b, -cfg.hue, cfg.hue, dev).cpu()).to(dev, x.dtype)
        x = torch.einsum("bij,bjhw->bihw", rot, x).clamp_(0, 1)
    return x


def build_augment(cfg: AugmentConfig, channels: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return a function augmenting a float batch ``[B, C, H, W]`` in ``[0, 1]`` (same shape).

    For ``channels == 1`` saturation and hue have no meaning: they are switched off and a notice
    is logged (once, here, not per batch). The function draws from torch's global generator, so
    ``torch.manual_seed`` fixes its output.

    Example:
        >>> aug = build_augment(AugmentConfig(random_resized_crop=True), channels=1)
        >>> aug(torch.rand(2, 1, 8, 8)).shape
        torch.Size([2, 1, 8, 8])
    """
    if channels not in (1, 3):
        raise SpecError.field("channels", "1 (monochrome) or 3 (colour)", channels)
    if channels == 1 and (cfg.saturation > 0 or cfg.hue > 0):
        log.warning(
            "notice: the images are monochrome, so saturation and hue jitter are switched off "
            "(saturation=%g, hue=%g were given).", cfg.saturation, cfg.hue
        )
        cfg = replace(cfg, saturation=0.0, hue=0.0)
    jitter = cfg.brightness > 0 or cfg.contrast > 0 or cfg.saturation > 0 or cfg.hue > 0

    def augment(x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != channels or not x.is_floating_point():
            raise SpecError.field("batch", f"a float tensor [B, {channels}, H, W] in [0, 1]",
                                  f"{x.dtype} {list(x.shape)}", "Convert with to_float first.")
        if x.shape[0] == 0:
            return x
        if cfg.random_resized_crop:
            x = _resized_crop(x, cfg.crop_scale, cfg.crop_ratio)
        if cfg.translate > 0:
            x = _translate(x, cfg.translate)
        if cfg.hflip:
            x = _hflip(x)
        if jitter:
            x = _color_jitter(x, cfg)
        return x

    return augment


def to_float(
    batch_uint8: torch.Tensor,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` → float32 on the same device: ``(x / 255 - mean) / std``.

    With ``mean`` and ``std`` left out it returns ``x / 255`` in ``[0, 1]``, the input that
    :func:`build_augment`'s function expects; normalise afterwards with :func:`normalize`.

    Example:
        >>> to_float(torch.full((1, 1, 2, 2), 255, dtype=torch.uint8), [0.5], [0.5]).flatten()
        tensor([1., 1., 1., 1.])
    """
    if batch_uint8.dtype != torch.uint8:
        raise SpecError.field("batch", "a uint8 tensor", str(batch_uint8.dtype))
    x = batch_uint8.to(torch.float32)
    if mean is None and std is None:
        return x.div_(255.0)
    # One fused multiply-add in place instead of divide, subtract, divide: fewer passes.
    m = torch.tensor(list(mean or [0.0]), dtype=torch.float64)
    s = torch.tensor(list(std or [1.0]), dtype=torch.float64)
    scale = (1.0 / (255.0 * s)).to(x.device, torch.float32).view(1, -1, 1, 1)
    shift = (-m / s).to(x.device, torch.float32).view(1, -1, 1, 1)
    return x.mul_(scale).add_(shift)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(x - mean) / std`` per channel, on ``x``'s device (a new tensor).

    Example:
        >>> normalize(torch.ones(1, 3, 1, 1), [0.5] * 3, [0.25] * 3).flatten()
        tensor([2., 2., 2.])
    """
    m = torch.tensor(list(mean), dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(list(std), dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s
