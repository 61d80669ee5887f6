"""The built-in trainer as an objective: determinism, resume, exploit, early stop, config."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from tunelab.checkpoint import Checkpoint
from tunelab.errors import SpecError
from tunelab.objectives.context import TrialContext, TrialInterrupted
from tunelab.trial import Decision
from tunelab.vision.batch_size import cap_batch_size_space, largest_power_of_two
from tunelab.vision.config import TrainConfig, default_search_space
from tunelab.vision.train import lr_at, train

TIMING = {"images_per_second", "epoch_seconds"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cache"))


def small(cache: str, **over: Any) -> dict[str, Any]:
    return {"data": "builtin:digits", "cache_dir": cache, "epochs": 2, "width": 8, "depth": 1,
            "batch_size": 64, **over}


class Recorder:
    """A reporter that records metrics and answers CONTINUE, or ``decision`` at ``at_step``."""

    def __init__(self, at_step: int | None = None, decision: Decision | None = None) -> None:
        self.rows: list[tuple[int, dict[str, float]]] = []
        self.at_step, self.decision = at_step, decision

    def __call__(self, step: int, metrics: dict[str, float], ck: Checkpoint | None) -> Decision:
        self.rows.append((step, metrics))
        if step == self.at_step and self.decision is not None:
            return self.decision
        return Decision.cont()

    def curves(self) -> list[dict[str, float]]:
        return [{k: v for k, v in m.items() if k not in TIMING} for _, m in self.rows]


def ctx(tmp: Path, rec: Recorder, *, number: int = 0, seed: int = 0,
        restore: Path | None = None, step: int | None = None) -> TrialContext:
    # the artifact root holds every trial folder of a test (a donor's too)
    return TrialContext(params={}, number=number, checkpoint_dir=tmp, seed=seed,
                        restore_from=str(restore) if restore else None, restore_step=step,
                        artifact_root=tmp.parent, reporter=rec)


def test_each_epoch_reports_the_documented_metrics(tmp_path: Path, cache: str) -> None:
    rec = Recorder()
    out = train(small(cache), ctx(tmp_path, rec))
    assert [s for s, _ in rec.rows] == [1, 2]
    assert set(rec.rows[0][1]) == {"train_loss", "train_accuracy", "val_loss", "val_accuracy",
                                   "lr", "images_per_second", "epoch_seconds"}
    assert out["val_accuracy"] == rec.rows[-1][1]["val_accuracy"]
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.pt")) == ["ckpt-000001.pt",
                                                                   "ckpt-000002.pt"]


def test_same_seed_same_metrics_other_seed_differs(tmp_path: Path, cache: str) -> None:
    runs = []
    for i, seed in enumerate((7, 7, 8)):
        rec = Recorder()
        train(small(cache, hflip=True, dropout=0.2), ctx(tmp_path / str(i), rec, seed=seed))
        runs.append(rec.curves())
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_resume_continues_exactly(tmp_path: Path, cache: str) -> None:
    params = small(cache, hflip=True, dropout=0.2, lr_schedule="cosine", warmup_epochs=0.5)
    straight = Recorder()
    train(params, ctx(tmp_path / "a", straight, seed=3))

    first = Recorder(at_step=1, decision=Decision.pause("asha"))
    with pytest.raises(TrialInterrupted):
        train(params, ctx(tmp_path / "b", first, seed=3))
    rest = Recorder()
    train(params, ctx(tmp_path / "b", rest, seed=3, restore=tmp_path / "b" / "ckpt-000001.pt",
                      step=1))
    assert [s for s, _ in rest.rows] == [2]
    assert first.curves() + rest.curves() == straight.curves()
    a = torch.load(tmp_path / "a" / "ckpt-000002.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "ckpt-000002.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_exploit_applies_new_hyperparameters_on_donor_state(tmp_path: Path, cache: str) -> None:
    donor = small(cache, optimizer="adamw", learning_rate=0.002, weight_decay=0.0,
                  lr_schedule="constant")
    train(donor, ctx(tmp_path / "donor", Recorder(), number=0))
    donor_state = torch.load(tmp_path / "donor" / "ckpt-000001.pt", weights_only=True)

    new = {**donor, "learning_rate": 0.02, "weight_decay": 0.05, "dropout": 0.25}
    rec = Recorder()
    train(new, ctx(tmp_path / "t1", rec, number=1, restore=tmp_path / "donor" / "ckpt-000001.pt",
                   step=1))
    assert [s for s, _ in rec.rows] == [2]
    assert rec.rows[0][1]["lr"] == pytest.approx(0.02)  # the new lr, not the donor's
    state = torch.load(tmp_path / "t1" / "ckpt-000002.pt", weights_only=True)
    groups = state["optimizer"]["param_groups"]
    assert groups[0]["weight_decay"] == 0.05 and groups[1]["weight_decay"] == 0.0
    assert state["config"]["dropout"] == 0.25 and state["trial"] == 1
    # The donor's optimizer state was carried on: Adam's step count kept growing from it.
    donor_steps = float(donor_state["optimizer"]["state"][0]["step"])
    assert float(state["optimizer"]["state"][0]["step"]) == 2 * donor_steps


def test_exploit_with_another_architecture_is_a_clear_error(tmp_path: Path, cache: str) -> None:
    from tunelab.errors import ObjectiveError

    train(small(cache, epochs=1), ctx(tmp_path / "donor", Recorder()))
    with pytest.raises(ObjectiveError, match="does not fit this model"):
        train(small(cache, width=16), ctx(tmp_path / "t", Recorder(), number=1,
                                          restore=tmp_path / "donor" / "ckpt-000001.pt", step=1))


def test_early_stop_after_patience_epochs_without_improvement(tmp_path: Path, cache: str) -> None:
    rec = Recorder()
    # min_delta larger than any possible improvement: epoch 1 sets the best, 2 and 3 don't beat it.
    train(small(cache, epochs=6, early_stop={"patience": 2, "min_delta": 100.0}),
          ctx(tmp_path, rec))
    assert [s for s, _ in rec.rows] == [1, 2, 3]


def test_auto_batch_size_is_a_power_of_two_within_the_training_set(tmp_path: Path,
                                                                     cache: str) -> None:
    train(small(cache, epochs=1, batch_size="auto"), ctx(tmp_path, Recorder()))
    bs = torch.load(tmp_path / "ckpt-000001.pt", weights_only=True)["batch_size"]
    assert bs == largest_power_of_two(bs) and 2 <= bs <= 1437


def test_divergence_stops_and_reports_non_finite_loss(tmp_path: Path, cache: str) -> None:
    rec = Recorder()
    train(small(cache, epochs=4, optimizer="sgd", learning_rate=1e12, lr_schedule="constant"),
          ctx(tmp_path, rec))
    assert len(rec.rows) < 4
    assert not math.isfinite(rec.rows[-1][1]["train_loss"])


def test_lr_schedules() -> None:
    c = TrainConfig(learning_rate=0.1, epochs=10, lr_schedule="step", step_epochs=3, gamma=0.5)
    assert [lr_at(e, c) for e in (0.5, 2.9, 3.0, 6.5)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    c = c.replace(lr_schedule="cosine", warmup_epochs=2.0)
    assert lr_at(1.0, c) == pytest.approx(0.05)
    assert lr_at(2.0, c) == pytest.approx(0.1)
    assert lr_at(6.0, c) == pytest.approx(0.05)
    assert lr_at(10.0, c) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(7.3, c.replace(lr_schedule="constant")) == 0.1


def test_config_rejects_unknown_keys_with_a_suggestion() -> None:
    with pytest.raises(SpecError, match=r"learning_rat.*Did you mean `learning_rate`"):
        TrainConfig.from_params({"learning_rat": 0.1})
    with pytest.raises(SpecError, match="optimizer"):
        TrainConfig.from_params({"optimizer": "adagrad"})
    with pytest.raises(SpecError, match="batch_size"):
        TrainConfig.from_params({"batch_size": "big"})


def test_config_coerces_spec_values() -> None:
    c = TrainConfig.from_params({"builtin": "image-classifier", "hflip": "true",
                                 "batch_size": 64.0, "crop_scale": 0.3, "epochs": "5"})
    assert (c.hflip, c.batch_size, c.crop_scale, c.epochs) == (True, 64, (0.3, 1.0), 5)
    assert TrainConfig.from_params(c.to_dict()) == c


def test_default_search_space_is_valid_and_capped() -> None:
    from tunelab.space import SearchSpace

    space = default_search_space(image_size=64)
    SearchSpace.from_dict(space)
    assert set(space) <= set(TrainConfig.names())
    capped = cap_batch_size_space(space, 128)
    assert capped["batch_size"]["values"] == [64, 128]


def test_cli_sets_are_typed_and_checked_and_make_a_valid_one_trial_spec() -> None:
    from tunelab.spec import spec_from_dict
    from tunelab.vision.commands import parse_sets, train_spec

    sets = parse_sets(["learning_rate=0.01", "hflip=true", "crop_scale=[0.3, 1]", "epochs=20"])
    assert sets == {"learning_rate": 0.01, "hflip": True, "crop_scale": [0.3, 1], "epochs": 20}
    with pytest.raises(SpecError, match="Did you mean `epochs`"):
        parse_sets(["epoch=3"])
    with pytest.raises(SpecError, match="KEY=VALUE"):
        parse_sets(["epochs"])
    js = spec_from_dict(train_spec("builtin:digits", sets, name="t1"))
    js.validate_all()
    assert js.static_params()["learning_rate"] == 0.01
