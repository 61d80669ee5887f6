"""A built-in training job's data, checked once by the tuner before any trial.

Skipped files are counted in the job's events (and shown by `tunelab show`), data no trial could
use ends the job with one clear error and no trial, and separate validation and test folders
flow through the spec to the trainer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tunelab import api
from tunelab.errors import DataError
from tunelab.report.summary import job_summary
from tunelab.store import Store


def _folder(root: Path, per_class: int = 6, classes: tuple[str, ...] = ("a", "b")) -> Path:
    for k, name in enumerate(classes):
        for i in range(per_class):
            (root / name).mkdir(parents=True, exist_ok=True)
            value = 40 + 150 * k
            Image.new("RGB", (12, 10), (value, 255 - value, 30 + 7 * i)).save(
                root / name / f"{i}.png")
    return root


def _spec(name: str, data: Path | str, cache: Path, **train: Any) -> dict[str, Any]:
    return {
        "name": name, "objective": {"metric": "val_accuracy", "goal": "maximize"},
        "train": {"builtin": "image-classifier", "data": str(data), "cache_dir": str(cache),
                  "epochs": 1, "image_size": 8, "batch_size": 4, "width": 8, "depth": 1,
                  **train},
        "strategy": {"type": "manual"}, "limits": {"max_trials": 1},
    }


def _summary(store: Path, name: str) -> dict[str, Any]:
    st = Store.open(store)
    try:
        out: dict[str, Any] = json.loads(json.dumps(job_summary(st, name)))
        return out
    finally:
        st.close()


def test_skipped_files_are_counted_in_the_job_events_and_shown(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    (root / "a" / "garbage.jpg").write_bytes(b"not an image")
    store = tmp_path / "store"
    result = api.tune_spec(_spec("skips", root, tmp_path / "cache"), store=str(store))
    assert result.status == "completed"
    data = _summary(store, "skips")["data"]
    assert data["skipped"] == 1 and data["classes"] == 2
    assert data["train"] + data["validation"] == 12
    assert "1 unreadable file(s) skipped" in data["message"]
    assert "garbage.jpg" in Path(data["skipped_log"]).read_text()

    from rich.console import Console

    from tunelab.report.render import render_summary

    console = Console(record=True, width=200)
    render_summary(console, _summary(store, "skips"))
    assert "1 unreadable file(s) skipped" in " ".join(console.export_text().split())


def test_strict_fails_the_job_before_any_trial_with_the_file_named(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    (root / "b" / "broken.png").write_bytes(b"\x89PNG nope")
    store = tmp_path / "store"
    with pytest.raises(DataError, match=r"strict(.|\n)*broken\.png"):
        api.tune_spec(_spec("strict", root, tmp_path / "cache", strict=True), store=str(store))
    s = _summary(store, "strict")
    assert s["status"] == "failed" and "broken.png" in s["status_reason"]
    assert s["trials"] == []


def test_one_class_fails_the_job_before_any_trial(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", classes=("only",))
    store = tmp_path / "store"
    with pytest.raises(DataError, match="at least 2 classes"):
        api.tune_spec(_spec("one", root, tmp_path / "cache"), store=str(store))
    s = _summary(store, "one")
    assert s["status"] == "failed" and s["trials"] == []


def test_validation_and_test_folders_reach_the_trainer(tmp_path: Path) -> None:
    train = _folder(tmp_path / "train", per_class=6)
    val = _folder(tmp_path / "val", per_class=2)
    test = _folder(tmp_path / "test", per_class=3)
    store = tmp_path / "store"
    spec = _spec("folders", train, tmp_path / "cache", epochs=2, validation_data=str(val),
                 test_data=str(test))
    assert api.tune_spec(spec, store=str(store)).status == "completed"
    s = _summary(store, "folders")
    assert (s["data"]["train"], s["data"]["validation"], s["data"]["test"]) == (12, 4, 6)
    assert "validation folder" in s["data"]["message"]
    st = Store.open(store)
    try:
        tx = st.read()
        reports = tx.trials(tx.job("folders").id)[0].reports
    finally:
        st.close()
    # test metrics once, with the last epoch; never during training
    assert [("test_accuracy" in r.metrics) for r in reports] == [False, True]
    assert 0.0 <= reports[-1].metrics["test_accuracy"] <= 1.0
