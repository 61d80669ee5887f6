"""Issue 16 items 1 and 10: a bad, replaced or code-carrying model file given to `export`,
`predict` or `evaluate` is refused with one line (exit 2), and never unpickled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.errors import CheckpointCorrupt, UnsafeCheckpoint
from tunelab.vision.export import export_model


class Evil:
    """Unpickling this creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def model_dir(tmp_path: Path, model: bytes | None, sha256: str | None) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    meta: dict[str, Any] = {"format": 1, "classes": ["a", "b"], "channels": 3,
                            "image_size": 8, "mean": [0.5] * 3, "std": [0.2] * 3}
    if sha256 is not None:
        meta["sha256"] = sha256
    (d / "model.json").write_text(json.dumps(meta))
    if model is not None:
        (d / "model.pt").write_bytes(model)
    return d


def image(tmp_path: Path) -> Path:
    p = tmp_path / "img" / "a" / "x.png"
    p.parent.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8), "RGB").save(p)
    return p


def one_line(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize("case", ["garbage", "pickle", "changed"])
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_predict_and_evaluate_refuse_a_bad_model_file_in_one_line(
        tmp_path: Path, case: str, command: str) -> None:
    marker = tmp_path / "code-ran"
    if case == "pickle":
        torch.save({"model": Evil(marker)}, tmp_path / "evil.pt")
        d = model_dir(tmp_path, (tmp_path / "evil.pt").read_bytes(), None)
    else:
        d = model_dir(tmp_path, b"\x00not a model\xff" * 10,
                      "0" * 64 if case == "changed" else None)
    img = image(tmp_path)
    args = ([command, str(d), str(img)] if command == "predict"
            else [command, str(d), "--data", str(img.parent.parent)])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    text = one_line(result.output)
    assert text.startswith("error: ") and "Traceback" not in result.output
    assert str(d / "model.pt") in text
    if case == "changed":
        assert "does not match the sha256 in model.json" in text
    else:
        assert "is not a TorchScript model written by `tunelab export`" in text
    assert not marker.exists()


@pytest.mark.parametrize("case", ["pickle", "truncated", "changed"])
def test_export_refuses_an_unsafe_or_corrupt_checkpoint(tmp_path: Path, case: str) -> None:
    marker = tmp_path / "code-ran"
    ck = tmp_path / "ckpt.pt"
    if case == "pickle":
        torch.save({"model": Evil(marker), "data": {}}, ck)
    else:
        torch.save({"model": {"w": torch.ones(100)}, "data": {}}, ck)
    if case == "truncated":
        ck.write_bytes(ck.read_bytes()[:200])
    expected: type[Exception] = UnsafeCheckpoint if case == "pickle" else CheckpointCorrupt
    with pytest.raises(expected) as e:
        export_model(ck, tmp_path / "out", sha256="0" * 64 if case == "changed" else None)
    assert str(ck) in str(e.value) and "\n" not in str(e.value)
    assert not marker.exists() and not (tmp_path / "out" / "model.pt").exists()
