"""Tests for tunelab.vision.augment: batch ops, determinism, monochrome handling."""

from __future__ import annotations

import logging

import pytest
import torch

from tunelab.errors import SpecError
from tunelab.vision.augment import AugmentConfig, build_augment, normalize, to_float

ALL_ON = AugmentConfig(hflip=True, random_resized_crop=True, brightness=0.3, contrast=0.3,
                       saturation=0.3, hue=0.1)


def _batch(b: int = 16, c: int = 3, s: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, s, s, generator=torch.Generator().manual_seed(seed))


def test_all_ops_keep_shape_dtype_and_range() -> None:
    x = _batch()
    y = build_augment(ALL_ON, 3)(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert not torch.equal(x, y)


def test_no_ops_is_identity() -> None:
    x = _batch()
    assert torch.equal(build_augment(AugmentConfig(), 3)(x), x)


def test_deterministic_under_manual_seed() -> None:
    x = _batch()
    aug = build_augment(ALL_ON, 3)
    torch.manual_seed(5)
    a = aug(x)
    torch.manual_seed(5)
    b = aug(x)
    torch.manual_seed(6)
    c = aug(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_hflip_flips_about_half_of_the_images() -> None:
    x = _batch(b=200)
    torch.manual_seed(0)
    y = build_augment(AugmentConfig(hflip=True), 3)(x)
    same = [torch.equal(y[i], x[i]) for i in range(200)]
    flipped = [torch.equal(y[i], x[i].flip(-1)) for i in range(200)]
    assert all(s or f for s, f in zip(same, flipped, strict=True))
    assert 70 < sum(flipped) < 130


def test_full_crop_at_ratio_one_is_identity() -> None:
    x = _batch()
    aug = build_augment(AugmentConfig(random_resized_crop=True, crop_scale=(1.0, 1.0),
                                      crop_ratio=(1.0, 1.0)), 3)
    assert torch.allclose(aug(x), x, atol=1e-5)


def test_crop_zooms_in() -> None:
    # A horizontal ramp: a crop of a quarter of the area spans a narrower range of values.
    ramp = torch.linspace(0, 1, 32).expand(8, 1, 32, 32).contiguous()
    aug = build_augment(AugmentConfig(random_resized_crop=True, crop_scale=(0.25, 0.25),
                                      crop_ratio=(1.0, 1.0)), 1)
    y = aug(ramp)
    spans = y[:, 0, 0, -1] - y[:, 0, 0, 0]
    assert torch.allclose(spans, torch.full((8,), 0.5), atol=0.05)


def test_brightness_scales_each_image_by_one_factor() -> None:
    x = _batch() * 0.5  # stays below 1 after scaling by at most 1.5: no clamping
    y = build_augment(AugmentConfig(brightness=0.5), 3)(x)
    ratio = y / x
    per_image = ratio.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-4)
    assert float(per_image.min()) >= 0.5 - 1e-4 and float(per_image.max()) <= 1.5 + 1e-4
    assert per_image[:, 0].std() > 0.01  # factors differ between images


def test_saturation_and_hue_leave_grey_pixels_grey() -> None:
    grey = _batch(c=1).expand(-1, 3, -1, -1).contiguous()
    y = build_augment(AugmentConfig(saturation=0.9, hue=0.5), 3)(grey)
    assert torch.allclose(y[:, 0], y[:, 1], atol=1e-5) and torch.allclose(y[:, 1], y[:, 2],
                                                                         atol=1e-5)
    assert torch.allclose(y, grey, atol=1e-5)


def test_hue_changes_colour() -> None:
    red = torch.zeros(64, 3, 4, 4)
    red[:, 0] = 1.0
    torch.manual_seed(0)
    y = build_augment(AugmentConfig(hue=0.5), 3)(red)
    assert float((y[:, 1] + y[:, 2]).max()) > 0.3  # some images are no longer pure red


def test_monochrome_switches_off_saturation_and_hue_with_one_notice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    x = _batch(c=1)
    with caplog.at_level(logging.WARNING, logger="tunelab.vision.augment"):
        aug = build_augment(AugmentConfig(saturation=0.5, hue=0.2), 1)
        for _ in range(3):
            assert torch.equal(aug(x), x)  # only saturation and hue were asked for: no-op
    notices = [r for r in caplog.records if "monochrome" in r.getMessage()]
    assert len(notices) == 1


def test_colour_data_gets_no_notice(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tunelab.vision.augment"):
        build_augment(ALL_ON, 3)
    assert not caplog.records


def test_monochrome_keeps_brightness_and_contrast() -> None:
    x = _batch(c=1) * 0.5
    y = build_augment(AugmentConfig(brightness=0.4, contrast=0.4), 1)(x)
    assert y.shape == x.shape and not torch.equal(x, y)


def test_to_float_and_normalize() -> None:
    u8 = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1)
    assert torch.allclose(to_float(u8).flatten(), torch.tensor([0.0, 0.2, 1.0]))
    z = to_float(u8, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]).flatten()
    assert torch.allclose(z, torch.tensor([-1.0, -0.6, 1.0]))
    assert torch.allclose(normalize(to_float(u8), [0.0] * 3, [0.5] * 3).flatten(),
                          torch.tensor([0.0, 0.4, 2.0]))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"crop_scale": (0.0, 1.0)}, "crop_scale"), ({"crop_scale": (0.9, 0.5)}, "crop_scale"),
     ({"crop_ratio": (2.0, 1.0)}, "crop_ratio"), ({"brightness": -0.1}, "brightness"),
     ({"contrast": 1.5}, "contrast"), ({"hue": 0.7}, "hue")],
)
def test_bad_config(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(SpecError, match=f"`{field}` must be"):
        AugmentConfig(**kwargs)  # type: ignore[arg-type]


def test_bad_batch_and_channels() -> None:
    with pytest.raises(SpecError, match="`channels` must be"):
        build_augment(AugmentConfig(), 2)
    aug = build_augment(AugmentConfig(hflip=True), 3)
    with pytest.raises(SpecError, match="float tensor"):
        aug(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(SpecError, match="uint8"):
        to_float(torch.zeros(1, 1, 2, 2))
