"""Models: shapes for every kind and activation, dropout, pretrained loading with shape checks."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from tunelab.errors import SpecError
from tunelab.vision.models import build_model, load_pretrained


@pytest.mark.parametrize("kind", ["cnn", "resnet"])
@pytest.mark.parametrize("activation", ["relu", "gelu", "silu"])
@pytest.mark.parametrize(("channels", "size"), [(1, 8), (3, 32)])
def test_output_shape(kind: str, activation: str, channels: int, size: int) -> None:
    m = build_model(kind, in_channels=channels, num_classes=5, image_size=size, width=8, depth=2,
                    activation=activation)
    assert m(torch.rand(3, channels, size, size)).shape == (3, 5)
    acts = {type(a) for a in m.modules() if isinstance(a, (nn.ReLU, nn.GELU, nn.SiLU))}
    assert acts == {{"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}[activation]}


def test_depth_and_width_change_the_model() -> None:
    def n_params(width: int, depth: int) -> int:
        m = build_model("resnet", in_channels=3, num_classes=10, image_size=32, width=width,
                        depth=depth)
        return sum(p.numel() for p in m.parameters())

    assert n_params(width=8, depth=1) < n_params(width=8, depth=3) < n_params(width=16, depth=3)
    # depth 3 is ResNet-20: 3 stages x 3 blocks x 2 convs + stem + head
    m = build_model("resnet", in_channels=3, num_classes=10, image_size=32, width=16, depth=3)
    assert sum(isinstance(x, nn.Conv2d) and x.kernel_size == (3, 3) for x in m.modules()) == 19


def test_dropout_is_applied_in_training_only() -> None:
    m = build_model("cnn", in_channels=1, num_classes=3, image_size=8, width=8, depth=1,
                    dropout=0.9)
    x = torch.rand(4, 1, 8, 8)
    m.eval()
    assert torch.equal(m(x), m(x))
    m.train()
    torch.manual_seed(0)
    assert not torch.equal(m(x), m(x))


def test_unknown_model_or_activation() -> None:
    with pytest.raises(SpecError, match="model"):
        build_model("vgg", in_channels=1, num_classes=2, image_size=8)
    with pytest.raises(SpecError, match="activation"):
        build_model("cnn", in_channels=1, num_classes=2, image_size=8, activation="tanh")


def _cnn(classes: int = 4, width: int = 8) -> nn.Module:
    return build_model("cnn", in_channels=3, num_classes=classes, image_size=16, width=width,
                       depth=2)


def test_pretrained_loads_all_weights_of_the_same_model(tmp_path: Path) -> None:
    src = _cnn()
    torch.save(src.state_dict(), tmp_path / "w.pt")
    dst = _cnn()
    rep = load_pretrained(dst, tmp_path / "w.pt")
    assert not rep.skipped_head
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(),
                                                  dst.state_dict().values(), strict=True))


def test_pretrained_from_a_checkpoint_with_another_class_count_keeps_a_fresh_head(
        tmp_path: Path) -> None:
    src = _cnn(classes=10)
    torch.save({"model": src.state_dict(), "epoch": 3}, tmp_path / "ck.pt")
    dst = _cnn(classes=4)
    head_before = dst.state_dict()["head.weight"].clone()
    rep = load_pretrained(dst, tmp_path / "ck.pt")
    assert sorted(rep.skipped_head) == ["head.bias", "head.weight"]
    assert torch.equal(dst.state_dict()["head.weight"], head_before)
    assert torch.equal(dst.state_dict()["features.0.weight"], src.state_dict()["features.0.weight"])


def test_pretrained_of_another_architecture_is_rejected(tmp_path: Path) -> None:
    torch.save(_cnn(width=16).state_dict(), tmp_path / "w.pt")
    with pytest.raises(SpecError, match=r"does not fit this model: features\.0\.weight has shape"):
        load_pretrained(_cnn(width=8), tmp_path / "w.pt")


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("code ran",))


def test_pretrained_never_unpickles_code(tmp_path: Path) -> None:
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"model": _Evil()}, f, protocol=2)
    with pytest.raises(SpecError, match="cannot be read as weights"):
        load_pretrained(_cnn(), tmp_path / "evil.pt")
    with pytest.raises(SpecError, match="a local weights file"):
        load_pretrained(_cnn(), tmp_path / "missing.pt")
