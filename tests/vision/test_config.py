"""TrainConfig: the color_jitter shorthand the issue and show's advice name, and the hints."""

from __future__ import annotations

import pytest

from tunelab.errors import SpecError
from tunelab.report.diagnosis import diagnose
from tunelab.vision.config import TrainConfig


def _jitter(cfg: TrainConfig) -> tuple[float, float, float, float]:
    return cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue


def test_color_jitter_number_sets_brightness_contrast_saturation() -> None:
    assert _jitter(TrainConfig.from_params({"color_jitter": 0.3})) == (0.3, 0.3, 0.3, 0.0)
    assert _jitter(TrainConfig.from_params({"color_jitter": True})) == (0.2, 0.2, 0.2, 0.0)
    assert _jitter(TrainConfig.from_params({"color_jitter": "0.1"})) == (0.1, 0.1, 0.1, 0.0)
    assert _jitter(TrainConfig.from_params({"color_jitter": False})) == (0.0, 0.0, 0.0, 0.0)


def test_color_jitter_mapping_and_explicit_keys_win() -> None:
    cfg = TrainConfig.from_params({"color_jitter": {"brightness": 0.1, "hue": 0.05},
                                   "brightness": 0.4})
    assert _jitter(cfg) == (0.4, 0.0, 0.0, 0.05)
    cfg = TrainConfig.from_params({"color_jitter": 0.2, "contrast": 0.0})
    assert _jitter(cfg) == (0.2, 0.0, 0.2, 0.0)


@pytest.mark.parametrize(("value", "match"), [
    (2, "`train.color_jitter` must be a number from 0 to 1"),
    ("lots", "`train.color_jitter` must be a number from 0 to 1"),
    ({"hues": 0.1}, "`train.color_jitter.hues` must be brightness or contrast"),
    ({"hue": 0.9}, r"`train.hue` must be in \[0, 0.5\]"),
])
def test_bad_color_jitter(value: object, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        TrainConfig.from_params({"color_jitter": value})


def test_every_hyperparameter_shows_advice_names_exists() -> None:
    # show's advice tells users to set these; each must be a name the trainer accepts
    d = diagnose([{"train_accuracy": 0.99, "val_accuracy": 0.7, "val_loss": v,
                   "train_loss": 0.1} for v in (0.5, 0.9)])
    advice = " ".join(d.advice)
    for name in ("weight_decay", "dropout", "hflip", "random_resized_crop", "color_jitter",
                 "early_stop"):
        assert name in advice and name in TrainConfig.names()


def test_unknown_name_without_a_close_match_lists_the_names() -> None:
    with pytest.raises(SpecError, match=r"The names are activation, .*learning_rate"):
        TrainConfig.from_params({"zzz": 1})
    with pytest.raises(SpecError, match="Did you mean `color_jitter`"):
        TrainConfig.from_params({"colour_jitter": 0.2})


def test_image_size_range_is_named_as_a_train_key() -> None:
    with pytest.raises(SpecError, match=r"`train.image_size` must be an integer from 4 to 1024"):
        TrainConfig.from_params({"image_size": 2})


def test_every_field_reads_its_own_default_back_from_its_annotation() -> None:
    # the coercion is driven by the dataclass's annotations: a field added with a type the
    # reader does not know would come back as a string here
    import dataclasses

    from tunelab.vision.config import _coerce

    for f in dataclasses.fields(TrainConfig):
        assert _coerce(f.name, f.default) == f.default, f.name
        if f.default is not None and not isinstance(f.default, (str, tuple)):
            assert type(_coerce(f.name, str(f.default).lower())) is type(f.default), f.name
