"""Export, predict and evaluate: a round trip through TorchScript, and numbers on a known set."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tunelab.errors import DataError, SpecError
from tunelab.objectives.context import TrialContext
from tunelab.vision.config import TrainConfig
from tunelab.vision.data import load_image_data
from tunelab.vision.export import MODEL_FILE, evaluate, export_model, predict
from tunelab.vision.models import make_model
from tunelab.vision.train import train


def _write(folder: Path, name: str, rgb: tuple[int, int, int], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(rgb)[None, None, :] + rng.integers(-20, 20, (12, 12, 3)), 0, 255)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    Image.fromarray(arr.astype(np.uint8), "RGB").save(path)
    return path


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("colours")
    for i in range(10):
        _write(root / "red", f"r{i}", (200, 30, 30), i)
        _write(root / "blue", f"b{i}", (30, 30, 200), 100 + i)
    return root


def test_export_predict_round_trip(tmp_path: Path, colours: Path) -> None:
    params: dict[str, Any] = {"data": str(colours), "cache_dir": str(tmp_path / "cache"),
              "epochs": 2, "width": 8, "depth": 1, "batch_size": 8, "learning_rate": 0.01}
    ctx = TrialContext(params=params, number=0, checkpoint_dir=tmp_path / "ck")
    train(params, ctx)
    out = export_model(tmp_path / "ck" / "ckpt-000002.pt", tmp_path / "model")
    meta = json.loads((out / "model.json").read_text())
    assert meta["classes"] == ["blue", "red"] and meta["channels"] == 3
    assert meta["image_size"] == 12 and len(meta["mean"]) == len(meta["std"]) == 3
    # colour images train with flips (hflip auto); the job scored without test-time flips
    assert meta["trained_with_flips"] is True and meta["flip_test"] is False

    # The TorchScript model gives what the checkpoint's eager model gives on the same pixels.
    data = load_image_data(str(colours), cache_dir=tmp_path / "cache")
    state = torch.load(tmp_path / "ck" / "ckpt-000002.pt", weights_only=True)
    eager = make_model(TrainConfig.from_params(state["config"]), 3, 2, 12)
    eager.load_state_dict(state["model"])
    eager.eval()
    files = sorted(colours.glob("*/*.png"))
    preds = predict(out, files, top_k=5)
    x = torch.stack([torch.from_numpy(np.array(Image.open(f))).permute(2, 0, 1) for f in files])
    mean = torch.tensor(data.mean).view(1, 3, 1, 1)
    std = torch.tensor(data.std).view(1, 3, 1, 1)
    with torch.no_grad():
        probs = torch.softmax(eager(x.float().div(255).sub(mean).div(std)), 1)
    for p, row in zip(preds, probs, strict=True):
        assert len(p.top) == 2  # top_k is capped at the class count
        assert p.top[0][1] >= p.top[1][1]
        assert dict(p.top)["blue"] == pytest.approx(float(row[0]), abs=1e-5)
        assert dict(p.top)["red"] == pytest.approx(float(row[1]), abs=1e-5)


class _Brightness(nn.Module):
    """Class 'light' when the mean pixel is above 0.5, else 'dark'."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([0.5 - m, m - 0.5], dim=1) * 20


def _known_model(folder: Path) -> Path:
    folder.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(_Brightness()).save(  # type: ignore[no-untyped-call]
            str(folder / MODEL_FILE))
    (folder / "model.json").write_text(json.dumps({
        "format": 1, "classes": ["dark", "light"], "channels": 1, "image_size": 8,
        "mean": [0.0], "std": [1.0]}))
    return folder


def _grey(folder: Path, name: str, value: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8), "L").save(folder / f"{name}.png")


def test_evaluate_numbers_on_a_known_set(tmp_path: Path) -> None:
    model = _known_model(tmp_path / "model")
    test = tmp_path / "test"
    for i in range(3):
        _grey(test / "dark", f"d{i}", 20)
    _grey(test / "dark", "d_mislabelled", 230)  # predicted light
    for i in range(2):
        _grey(test / "light", f"l{i}", 240)
    ev = evaluate(model, test, cache_dir=tmp_path / "cache")
    assert ev.n == 6
    assert ev.confusion == [[3, 1], [0, 2]]
    assert ev.accuracy == pytest.approx(5 / 6)
    assert ev.precision == pytest.approx({"dark": 1.0, "light": 2 / 3})
    assert ev.recall == pytest.approx({"dark": 0.75, "light": 1.0})
    assert predict(model, [test / "light" / "l0.png"])[0].top[0][0] == "light"


def test_evaluate_a_one_class_test_folder(tmp_path: Path) -> None:
    # nothing is held out when evaluating, so a folder of one class (even one image) is a
    # test of the model's recall on that class
    model = _known_model(tmp_path / "model")
    _grey(tmp_path / "test" / "light", "l0", 240)
    _grey(tmp_path / "test" / "light", "l1", 10)  # predicted dark
    ev = evaluate(model, tmp_path / "test", cache_dir=tmp_path / "cache")
    assert ev.n == 2 and ev.accuracy == pytest.approx(0.5)
    assert ev.confusion == [[0, 0], [1, 1]]
    assert ev.recall == pytest.approx({"dark": 0.0, "light": 0.5})
    assert ev.precision == pytest.approx({"dark": 0.0, "light": 1.0})


class _LeftBright(nn.Module):
    """Class 'left' by how much brighter the left half is than the right: a mirror image
    gives the opposite logits, so flip averaging cancels them exactly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[3] // 2
        d = x[..., :half].mean(dim=(1, 2, 3)) - x[..., half:].mean(dim=(1, 2, 3))
        return torch.stack([d, -d], dim=1) * 20


def _flip_model(folder: Path, *, trained_with_flips: bool, flip_test: bool) -> Path:
    folder.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(_LeftBright()).save(  # type: ignore[no-untyped-call]
            str(folder / MODEL_FILE))
    (folder / "model.json").write_text(json.dumps({
        "format": 1, "classes": ["left", "right"], "channels": 1, "image_size": 8,
        "mean": [0.0], "std": [1.0], "trained_with_flips": trained_with_flips,
        "flip_test": flip_test}))
    return folder


def test_flip_averaging_in_predict_and_evaluate(tmp_path: Path) -> None:
    img = np.zeros((8, 8), np.uint8)
    img[:, :4] = 250  # bright on the left
    (tmp_path / "test" / "left").mkdir(parents=True)
    Image.fromarray(img, "L").save(tmp_path / "test" / "left" / "a.png")
    image = tmp_path / "test" / "left" / "a.png"
    plain = _flip_model(tmp_path / "plain", trained_with_flips=True, flip_test=False)
    [p] = predict(plain, [image])
    assert p.top[0][0] == "left" and p.top[0][1] > 0.99
    # with flips the image and its mirror image vote for opposite classes: a tie
    [p] = predict(plain, [image], flip=True)
    assert p.top[0][1] == pytest.approx(0.5, abs=1e-6)
    assert evaluate(plain, tmp_path / "test", cache_dir=tmp_path / "c").flip is False
    assert evaluate(plain, tmp_path / "test", cache_dir=tmp_path / "c", flip=True).flip is True
    # by default, as the job scored validation (its flip_test)
    job_flips = _flip_model(tmp_path / "jobflips", trained_with_flips=True, flip_test=True)
    [p] = predict(job_flips, [image])
    assert p.top[0][1] == pytest.approx(0.5, abs=1e-6)
    [p] = predict(job_flips, [image], flip=False)
    assert p.top[0][1] > 0.99
    # a model that never saw a mirror image is not averaged with one
    never = _flip_model(tmp_path / "never", trained_with_flips=False, flip_test=False)
    with pytest.raises(SpecError, match="trained with horizontal flips"):
        predict(never, [image], flip=True)
    with pytest.raises(SpecError, match="trained with horizontal flips"):
        evaluate(never, tmp_path / "test", cache_dir=tmp_path / "c", flip=True)


def test_evaluate_rejects_unknown_classes_and_bad_dirs(tmp_path: Path) -> None:
    model = _known_model(tmp_path / "model")
    for c in ("dark", "cat"):
        for i in range(2):
            _grey(tmp_path / "test" / c, f"{c}{i}", 20)
    with pytest.raises(DataError, match="classes the model does not know: \\['cat'\\]"):
        evaluate(model, tmp_path / "test", cache_dir=tmp_path / "cache")
    with pytest.raises(SpecError, match=r"model\.pt and model\.json"):
        predict(tmp_path / "nowhere", [])
    # an unreadable image is reported in its own prediction; the others are predicted
    (tmp_path / "bad.png").write_text("not an image")
    [bad] = predict(model, [tmp_path / "bad.png"])
    assert bad.top == [] and bad.error is not None and "Cannot read image" in bad.error


def test_predict_decodes_an_image_as_training_did(tmp_path: Path) -> None:
    """`predict` shares the cache's decoding: transparency on white, 16-bit grey by its range,
    EXIF rotation; a hand-rolled copy gave other pixels (e.g. transparent areas black)."""
    from tunelab.vision.data import load_image

    root = tmp_path / "imgs"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    rgba = np.zeros((12, 16, 4), np.uint8)
    rgba[2:8, 3:9] = (200, 30, 30, 255)  # an opaque red patch on a transparent background
    Image.fromarray(rgba, "RGBA").save(root / "a" / "rgba.png")
    deep = (np.arange(12 * 12, dtype=np.uint16).reshape(12, 12) * 400).astype(np.uint16)
    Image.fromarray(deep).save(root / "a" / "deep.png")  # mode I;16
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    arr = np.zeros((10, 14, 3), np.uint8)
    arr[:, :4] = 255
    Image.fromarray(arr, "RGB").save(root / "b" / "rotated.jpg", exif=exif)
    Image.fromarray(arr, "RGB").save(root / "b" / "plain.png")
    data = load_image_data(str(root), image_size=8, validation_percent=50,
                           cache_dir=tmp_path / "cache")
    assert data.channels == 3
    assert data.split_record is not None
    split = json.loads(data.split_record.read_text())
    rows = dict(zip(split["train"] + split["validation"],
                    torch.cat([data.train_x, data.val_x]), strict=True))
    for f, cached in rows.items():
        got = load_image(f, image_size=8, channels=3)
        assert torch.equal(got, cached), f
    corner = load_image(root / "a" / "rgba.png", image_size=8, channels=3)[:, -1, -1]
    assert corner.tolist() == [255, 255, 255]  # transparent: white, as in training


def test_colour_images_for_a_grey_model_are_luma_in_predict_and_evaluate(tmp_path: Path
                                                                         ) -> None:
    """One conversion for both: what `predict` sees for a file is what `evaluate` scores."""
    from tunelab.vision.data import load_image, match_channels

    path = tmp_path / "c.png"
    Image.new("RGB", (8, 8), (200, 40, 90)).save(path)
    expected = np.asarray(Image.open(path).convert("L"))  # PIL's own luma
    grey = load_image(path, image_size=8, channels=1)
    assert grey.shape == (1, 8, 8) and (grey[0].numpy() == expected).all()
    colour = load_image(path, image_size=8, channels=3).unsqueeze(0)
    assert torch.equal(match_channels(colour, 1)[0], grey)
