"""Export a trained classifier, predict with it, and evaluate it on unseen data.

An exported model is a folder: ``model.pt`` (TorchScript, needs only ``torch.jit.load``) and
``model.json`` (class names, channels, image size, normalisation, how images are resized)::

    export_model("trials/3/ckpt-000020.pt", "out/")
    predict("out/", ["cat.jpg"])[0].top   # [("cat", 0.91), ("dog", 0.07), ...]
    evaluate("out/", "./test-images").accuracy
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tunelab.errors import CheckpointCorrupt, DataError, SpecError
from tunelab.vision.config import TrainConfig
from tunelab.vision.data import ImageData, load_image, load_labelled_images, match_channels
from tunelab.vision.models import make_model

MODEL_FILE = "model.pt"
META_FILE = "model.json"
FORMAT = 1


def export_model(checkpoint_path: str | Path, out_dir: str | Path, *,
                 sha256: str | None = None, refit: dict[str, Any] | None = None) -> Path:
    """Write ``model.pt`` (TorchScript) and ``model.json`` for a trainer checkpoint; return the
    folder. The checkpoint is read with ``torch.load(weights_only=True)`` (a file that could
    run code is refused), after checking its ``sha256`` when given; ``model.json`` records
    the sha256 of ``model.pt`` so :func:`predict` and :func:`evaluate` can check it, and, for
    a refit (see :mod:`tunelab.vision.refit`), ``refit``: its source job, trial and metrics."""
    from tunelab.store.artifacts import file_sha256, load_torch_file

    path = Path(checkpoint_path)
    if not path.is_file():
        raise SpecError.field("checkpoint", "an existing checkpoint file", str(path))
    if sha256 is not None and file_sha256(path) != sha256:
        raise CheckpointCorrupt(f"checkpoint {path} does not match its recorded sha256",
                                path=str(path))
    state = load_torch_file(path)
    if not isinstance(state, dict) or "model" not in state or "data" not in state:
        raise SpecError.field("checkpoint", "a checkpoint of the built-in image trainer",
                              str(path), "Export a job trained with `builtin: image-classifier`.")
    cfg = TrainConfig.from_params(state["config"])
    d = state["data"]
    flips = d["channels"] == 3 if cfg.hflip == "auto" else bool(cfg.hflip)
    model = make_model(cfg, d["channels"], len(d["classes"]), d["image_size"])
    model.load_state_dict(state["model"])
    model.eval()
    example = torch.zeros(1, d["channels"], d["image_size"], d["image_size"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # TorchScript is deprecated in recent torch, but it is the format users asked for:
        # one file that loads with torch.jit.load and no tunelab code.
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.trace(model, example)  # type: ignore[no-untyped-call]
        scripted.save(str(out / MODEL_FILE))
    meta = {
        "format": FORMAT, "classes": d["classes"], "channels": d["channels"],
        "image_size": d["image_size"], "mean": d["mean"], "std": d["std"],
        "resize": "EXIF orientation applied, transparency on white; shorter side to "
                  "image_size (bilinear), centre crop; colour to grey by ITU-R 601 luma (or "
                  "grey to 3 equal channels) to match channels; pixels/255, then "
                  "(x - mean) / std",
        "model": {k: cfg.to_dict()[k] for k in ("model", "width", "depth", "activation")},
        # test-time flips: allowed when the model learnt with mirror images; on by default
        # when the job scored its validation that way, so evaluate agrees with the job
        "trained_with_flips": flips, "flip_test": bool(cfg.flip_test and flips),
        "epoch": int(state["epoch"]), "metrics": state.get("metrics", {}),
        "sha256": file_sha256(out / MODEL_FILE),
        "trained_on_validation": bool(cfg.train_on_validation),
        **({"refit": refit} if refit is not None else {}),
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return out


@dataclass
class ExportedModel:
    """A loaded export: the TorchScript module and its ``model.json``."""

    module: torch.jit.ScriptModule
    classes: list[str]
    channels: int
    image_size: int
    mean: torch.Tensor
    std: torch.Tensor
    trained_with_flips: bool = False
    flip_test: bool = False

    @classmethod
    def load(cls, model_dir: str | Path) -> ExportedModel:
        """Load ``model_dir`` written by :func:`export_model`."""
        d = Path(model_dir)
        if not (d / MODEL_FILE).is_file() or not (d / META_FILE).is_file():
            raise SpecError.field("model_dir", f"a folder with {MODEL_FILE} and {META_FILE}",
                                  str(d), "Create one with `tunelab export NAME --out DIR`.")
        from tunelab.store.artifacts import file_sha256

        model_file = d / MODEL_FILE
        try:
            meta: dict[str, Any] = json.loads((d / META_FILE).read_text())
            c = int(meta["channels"])
            classes, size = [str(x) for x in meta["classes"]], int(meta["image_size"])
            mean = torch.tensor(meta["mean"], dtype=torch.float32).view(1, c, 1, 1)
            std = torch.tensor(meta["std"], dtype=torch.float32).view(1, c, 1, 1)
        except (ValueError, KeyError, TypeError, RuntimeError, UnicodeDecodeError) as e:
            raise SpecError.field(f"{d / META_FILE}", "the model.json `tunelab export` wrote",
                                  f"unreadable ({e.__class__.__name__}: {e})",
                                  "Export the model again with `tunelab export NAME --out DIR`."
                                  ) from None
        want = meta.get("sha256")
        if want is not None and file_sha256(model_file) != want:
            raise CheckpointCorrupt(
                f"{model_file} does not match the sha256 in {META_FILE}: it was changed or "
                "replaced after export. Export the model again with `tunelab export`.",
                path=str(model_file))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(  # type: ignore[no-untyped-call]
                    str(model_file), map_location="cpu")
        except Exception as e:  # torch raises RuntimeError/ValueError/... for a bad file
            first = (str(e).strip().splitlines() or [""])[0]
            raise CheckpointCorrupt(
                f"{model_file} is not a TorchScript model written by `tunelab export` "
                f"({e.__class__.__name__}: {first}). Export the model again.",
                path=str(model_file)) from None
        module.eval()
        return cls(module, classes, c, size, mean, std,
                   trained_with_flips=bool(meta.get("trained_with_flips", False)),
                   flip_test=bool(meta.get("flip_test", False)))

    def use_flips(self, flip: bool | None) -> bool:
        """Whether to average each image with its mirror image: ``None`` follows the job (on
        when it scored validation with ``flip_test``); ``True`` needs a model that learnt with
        flips (to one that never saw a mirror image, it is a different picture)."""
        if flip is None:
            return self.flip_test
        if flip and not self.trained_with_flips:
            raise SpecError.field(
                "flip", "a model trained with horizontal flips (hflip)", "a model trained "
                "without them", "Leave out --flip, or train with hflip: true.")
        return flip

    def probabilities(self, x_u8: torch.Tensor, batch: int = 256, *,
                      flip: bool = False) -> torch.Tensor:
        """Class probabilities [N, classes] for uint8 images [N, C, H, W]; with ``flip``, of
        the mean logits of each image and its mirror image (as the trainer's ``flip_test``)."""
        out = []
        with torch.no_grad():
            for i in range(0, len(x_u8), batch):
                x = x_u8[i:i + batch].to(torch.float32).div(255).sub(self.mean).div(self.std)
                logits = self.module(x)
                if flip:
                    logits = (logits + self.module(x.flip(3))) / 2
                out.append(torch.softmax(logits, dim=1))
        return torch.cat(out) if out else torch.zeros(0, len(self.classes))


@dataclass(frozen=True)
class Prediction:
    """The ``top`` classes with probabilities for one image, most likely first."""

    image: str
    top: list[tuple[str, float]]
    error: str | None = None  # why the image could not be read (``top`` is then empty)


def predict(model_dir: str | Path, images: Sequence[str | Path], *, top_k: int = 3,
            flip: bool | None = None) -> list[Prediction]:
    """Top-``top_k`` classes and probabilities for each image file, in the order given.

    An unreadable file gets a :class:`Prediction` with its ``error`` and no classes; the
    others are still predicted. ``flip``: test-time flip averaging (see
    :meth:`ExportedModel.use_flips`).
    """
    m = ExportedModel.load(model_dir)
    use_flip = m.use_flips(flip)
    out: list[Prediction] = [Prediction(str(p), []) for p in images]
    tensors: list[torch.Tensor] = []
    ok: list[int] = []
    for i, p in enumerate(images):
        try:
            tensors.append(load_image(p, image_size=m.image_size, channels=m.channels))
            ok.append(i)
        except DataError as e:
            out[i] = Prediction(str(p), [], error=str(e))
    if not tensors:
        return out
    probs = m.probabilities(torch.stack(tensors), flip=use_flip)
    k = min(max(top_k, 1), len(m.classes))
    values, idx = probs.topk(k, dim=1)
    for i, vs, js in zip(ok, values, idx, strict=True):
        out[i] = Prediction(str(images[i]), [(m.classes[int(j)], float(v))
                                              for v, j in zip(vs, js, strict=True)])
    return out


@dataclass(frozen=True)
class Evaluation:
    """Accuracy, per-class precision and recall, and the confusion matrix (rows: true class,
    columns: predicted class, both in ``classes`` order)."""

    n: int
    accuracy: float
    classes: list[str]
    precision: dict[str, float]
    recall: dict[str, float]
    confusion: list[list[int]]
    flip: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "accuracy": self.accuracy, "classes": self.classes,
                "precision": self.precision, "recall": self.recall, "confusion": self.confusion,
                "flip": self.flip}


def evaluate(model_dir: str | Path, data: str | Path | ImageData, *,
             cache_dir: str | Path | None = None, flip: bool | None = None) -> Evaluation:
    """Evaluate an exported model on unseen data: every image of ``data`` (a folder, a .csv
    manifest, or loaded :class:`ImageData`, whose splits are all used).

    Classes are matched by name; the data may hold a subset of the model's classes, one class
    included. Precision of a class never predicted is 0. ``flip``: test-time flip averaging
    (see :meth:`ExportedModel.use_flips`).
    """
    m = ExportedModel.load(model_dir)
    use_flip = m.use_flips(flip)
    if isinstance(data, ImageData):
        if data.image_size != m.image_size:
            raise DataError(f"The data's image size is {data.image_size}; the model expects "
                            f"{m.image_size}. Load it with image_size={m.image_size}.")
        parts = [(data.train_x, data.train_y), (data.val_x, data.val_y)]
        if data.test_x is not None and data.test_y is not None:
            parts.append((data.test_x, data.test_y))
        x, labels = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        classes = list(data.classes)
    else:
        x, labels, classes = load_labelled_images(str(data), image_size=m.image_size,
                                                  cache_dir=cache_dir)
    unknown = [c for c in classes if c not in m.classes]
    if unknown:
        raise DataError(f"The data has classes the model does not know: {unknown}; the model's "
                        f"classes are {m.classes}. Rename or remove those folders.")
    remap = torch.tensor([m.classes.index(c) for c in classes])
    y = remap[labels]
    x = match_channels(x, m.channels)  # grey data for a colour model, or the other way round
    pred = m.probabilities(x, flip=use_flip).argmax(1)
    k = len(m.classes)
    conf = torch.bincount(y * k + pred, minlength=k * k).view(k, k)
    tp = conf.diag().double()
    predicted, actual = conf.sum(0).double(), conf.sum(1).double()
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(actual > 0, tp / actual.clamp(min=1), torch.zeros_like(tp))
    present = [i for i in range(k) if actual[i] > 0 or predicted[i] > 0]
    return Evaluation(
        n=len(y), accuracy=float(tp.sum() / max(len(y), 1)), classes=list(m.classes),
        precision={m.classes[i]: float(precision[i]) for i in present},
        recall={m.classes[i]: float(recall[i]) for i in present},
        confusion=conf.tolist(), flip=use_flip,
    )
