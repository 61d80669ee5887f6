"""Models of the built-in classifier: a plain CNN and small CIFAR-style residual nets.

Both take ``width`` (channels of the first stage), ``depth``, ``dropout`` (before the classifier)
and ``activation``. Every model ends in a layer called ``head`` so transfer learning can swap it
when the class count changes. All are TorchScript-traceable.

>>> m = build_model("cnn", in_channels=1, num_classes=10, image_size=8, width=16, depth=2)
>>> m(torch.zeros(2, 1, 8, 8)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from tunelab.errors import SpecError
from tunelab.vision.config import TrainConfig

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


def _act(name: str) -> nn.Module:
    if name not in _ACTIVATIONS:
        raise SpecError.field("activation", f"one of {sorted(_ACTIVATIONS)}", name)
    return _ACTIVATIONS[name]()


class CNN(nn.Module):
    """``depth`` blocks of conv3x3-BN-activation; channels double and the map halves per block
    (while it is at least 4 pixels wide), then global average pooling, dropout and a linear head.
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: int, *, width: int,
                 depth: int, dropout: float, activation: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, c_out, size = in_channels, width, image_size
        for _ in range(depth):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                       _act(activation)]
            if size >= 4:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            c_in, c_out = c_out, c_out * 2
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.head(self.dropout(x))  # type: ignore[no-any-return]


class BasicBlock(nn.Module):
    """Two conv3x3-BN layers with an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, activation: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act = _act(activation)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.act(y + self.shortcut(x))  # type: ignore[no-any-return]


class ResNet(nn.Module):
    """CIFAR-style ResNet (He et al. 2016, section 4.2): a conv3x3 stem and three stages of
    ``depth`` basic blocks with ``width``, 2x and 4x channels; depth 3 is ResNet-20."""

    def __init__(self, in_channels: int, num_classes: int, image_size: int, *, width: int,
                 depth: int, dropout: float, activation: str) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), _act(activation))
        blocks: list[nn.Module] = []
        c_in, size = width, image_size
        for stage in range(3):
            c_out = width * 2**stage
            for i in range(depth):
                stride = 2 if stage > 0 and i == 0 and size >= 4 else 1
                size //= stride
                blocks.append(BasicBlock(c_in, c_out, stride, activation))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.blocks(self.stem(x))).flatten(1)
        return self.head(self.dropout(x))  # type: ignore[no-any-return]


def build_model(kind: str, *, in_channels: int, num_classes: int, image_size: int, width: int = 32,
                depth: int = 2, dropout: float = 0.0, activation: str = "relu") -> nn.Module:
    """Build a ``cnn`` or ``resnet`` for ``in_channels`` x ``image_size``^2 images."""
    classes = {"cnn": CNN, "resnet": ResNet}
    if kind not in classes:
        raise SpecError.field("model", f"one of {sorted(classes)}", kind)
    return classes[kind](in_channels, num_classes, image_size, width=width, depth=depth,
                         dropout=dropout, activation=activation)


def make_model(cfg: TrainConfig, channels: int, num_classes: int, image_size: int) -> nn.Module:
    """The model a config describes (the same call rebuilds it for export)."""
    return build_model(cfg.model, in_channels=channels, num_classes=num_classes,
                       image_size=image_size, width=cfg.width, depth=cfg.depth,
                       dropout=cfg.dropout, activation=cfg.activation)


def describe_model(cfg: TrainConfig) -> str:
    """``resnet width 16 depth 1``: the model a config builds, for messages."""
    return f"{cfg.model} width {cfg.width} depth {cfg.depth}"


@dataclass
class PretrainedLoad:
    """What :func:`load_pretrained` did: tensors loaded, and the head tensors it skipped."""

    loaded: list[str] = field(default_factory=list)
    skipped_head: list[str] = field(default_factory=list)


def load_pretrained(model: nn.Module, path: str | Path) -> PretrainedLoad:
    """Load local weights for transfer learning, with shape checks.

    ``path`` is a folder written by ``tunelab export`` (its TorchScript ``model.pt``, whose
    tensors are read), or holds a ``state_dict`` or a tunelab checkpoint (``{"model":
    state_dict, ...}``), read with ``torch.load(weights_only=True)`` so a file cannot run code.
    Head tensors whose shape differs (another class count) are skipped and stay freshly
    initialised; any other missing or mis-shaped tensor is an error, since it means another
    architecture.
    """
    p = Path(path)
    if p.is_dir() and (p / "model.pt").is_file():
        try:  # the exported TorchScript module holds the same named tensors
            obj: object = dict(torch.jit.load(str(p / "model.pt"), map_location="cpu")  # type: ignore[no-untyped-call]
                               .state_dict())
        except Exception as e:
            raise SpecError(f"`train.pretrained` {str(path)!r}: model.pt cannot be read as an "
                            f"exported model ({e}). Export it again with `tunelab export`."
                            ) from None
        return _load_state(model, obj, path)
    if not p.is_file():
        raise SpecError.field("train.pretrained", "a local weights file", str(path),
                              "Give the path of a .pt state_dict or a tunelab checkpoint.")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise SpecError(
            f"`train.pretrained` {str(path)!r} cannot be read as weights ({e}). Save it with "
            "torch.save(model.state_dict(), path)."
        ) from None
    return _load_state(model, obj, path)


def _load_state(model: nn.Module, obj: object, path: str | Path) -> PretrainedLoad:
    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SpecError.field("train.pretrained", "a state_dict of tensors", type(obj).__name__)
    own = model.state_dict()
    report = PretrainedLoad()
    problems: list[str] = []
    for name, tensor in own.items():
        src = state.get(name)
        if src is not None and src.shape == tensor.shape:
            report.loaded.append(name)
        elif name.startswith("head."):
            report.skipped_head.append(name)
        elif src is None:
            problems.append(f"{name} missing")
        else:
            problems.append(f"{name} has shape {tuple(src.shape)}, expected {tuple(tensor.shape)}")
    if problems:
        shown = "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3
                                           else "")
        raise SpecError(
            f"`train.pretrained` {str(path)!r} does not fit this model: {shown}. Use the same "
            "model, width, depth and channels as the run that saved the weights."
        )
    model.load_state_dict({k: state[k] for k in report.loaded}, strict=False)
    return report
