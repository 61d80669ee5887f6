"""Spec loading: every bad input gets one clear error naming the field, expected and given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import job_spec

from tunelab.errors import ObjectiveError, SpecError
from tunelab.objectives.function import FunctionObjective
from tunelab.spec import JobSpec, load_spec, parse_duration, spec_from_dict


def _spec(**sections: Any) -> dict[str, Any]:
    return job_spec("spec-test", **sections)


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as e:
        spec_from_dict(data)
    return str(e.value)


def test_valid_spec_builds_every_derived_object(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(
        "objective: {metric: loss}\n"
        "train: {function: 'objectives_for_tests.fns:quadratic'}\n"
        "search_space:\n  lr: {type: float, low: 1.0e-4, high: 1.0, scale: log}\n"
        "limits: {max_trials: 4, max_runtime: 30m, max_trial_runtime: 90s}\n"
    )
    spec, warnings = load_spec(path)
    assert warnings == [] and spec.name == "job"
    assert spec.limits.max_runtime == 1800 and spec.limits.max_trial_runtime == 90
    assert spec.space()["lr"].scale == "log"  # type: ignore[union-attr]
    assert isinstance(spec.objective_spec(), FunctionObjective)


def test_unknown_top_level_key_suggests_the_right_one() -> None:
    data = _spec()
    data["limit"] = data.pop("limits")
    msg = _error(data)
    assert "unknown key `limit`" in msg and "did you mean `limits`" in msg


def test_unknown_nested_key_suggests_the_right_one() -> None:
    msg = _error(_spec(limits={"max_trails": 3}))
    assert "`max_trails`" in msg and "did you mean `max_trials`" in msg and "`limits`" in msg


def test_unknown_train_key_suggests_the_right_one() -> None:
    msg = _error(_spec(train={"function": "objectives_for_tests.fns:quadratic", "metircs": []}))
    assert "`metircs`" in msg and "did you mean `metrics`" in msg


@pytest.mark.parametrize(
    ("param", "needles"),
    [
        ({"type": "float", "low": 2.0, "high": 1.0}, ["search_space.x", "`low`", "got 2.0"]),
        ({"type": "float", "low": 0, "high": 1, "scale": "log"},
         ["search_space.x", "> 0 for a log scale", "got 0"]),
        ({"type": "choice", "values": []}, ["search_space.x", "non-empty list", "got []"]),
        ({"type": "int", "low": 5, "high": 5}, ["search_space.x", "< high", "got 5"]),
    ],
)
def test_bad_search_space_names_the_parameter(param: dict[str, Any], needles: list[str]) -> None:
    msg = _error(_spec(search_space={"x": param}))
    for n in needles:
        assert n in msg, (n, msg)


def test_unknown_strategy_lists_the_known_ones() -> None:
    msg = _error(_spec(strategy={"type": "randomm"}))
    assert "`strategy.type`" in msg and "'randomm'" in msg and "random" in msg and "grid" in msg


def test_unknown_strategy_option_is_an_error() -> None:
    msg = _error(_spec(strategy={"type": "random", "sampler": "halton"}))
    assert "strategy.sampler" in msg and "halton" in msg


@pytest.mark.parametrize(("strategy", "needle"), [
    ({"type": "hyperband", "max_resource": 9, "max_resourse": 3}, "Did you mean `max_resource`?"),
    ({"type": "bayesian", "seeed": 1}, "Did you mean `seed`?"),
    ({"type": "pbt", "populaton": 4}, "Did you mean `population`?"),
    ({"type": "random", "searcher": "bayesian"}, "valid options: sampler, seed."),
])
def test_unknown_strategy_keys_are_refused_by_the_spec_model(
        strategy: dict[str, Any], needle: str) -> None:
    """Refused when the spec is read (the pydantic model), before any search is built."""
    data = _spec(strategy=strategy)
    with pytest.raises(SpecError) as e:
        JobSpec.model_validate(data)
    key = next(k for k in strategy if k not in ("type", "max_resource"))
    msg = str(e.value)
    assert msg.startswith(f"`strategy.{key}` must be an option of {strategy['type']}; got ")
    assert needle in msg and "\n" not in msg
    assert _error(data) == msg  # spec_from_dict says the same


def test_a_scheduler_takes_its_searcher_key() -> None:
    spec = JobSpec.model_validate(_spec(strategy={"type": "hyperband", "max_resource": 9,
                                                  "searcher": "bayesian"}))
    assert spec.strategy.options() == {"max_resource": 9, "searcher": "bayesian"}


def test_command_placeholder_must_name_a_parameter() -> None:
    msg = _error(_spec(train={
        "command": ["python", "train.py", "--lr", "{lrr}"],
        "metrics": [{"name": "loss", "regex": r"loss=([0-9.]+)"}],
    }))
    assert "`train.command`" in msg and "'lrr'" in msg and "'x'" in msg


def test_command_without_a_regex_for_the_objective_metric() -> None:
    msg = _error(_spec(train={
        "command": ["python", "train.py", "{x}"],
        "metrics": [{"name": "acc", "regex": r"acc=([0-9.]+)"}],
    }))
    assert "`train.metrics`" in msg and "'loss'" in msg and "acc" in msg


@pytest.mark.parametrize("regex", [r"loss=[0-9.]+", r"(loss)=([0-9.]+)", r"loss=(["])
def test_metric_regex_needs_exactly_one_group(regex: str) -> None:
    msg = _error(_spec(train={
        "command": ["python", "train.py", "{x}"],
        "metrics": [{"name": "loss", "regex": regex}],
    }))
    assert "train.metrics[loss].regex" in msg and repr(regex) in msg


def test_train_needs_exactly_one_kind() -> None:
    msg = _error(_spec(train={"function": "a:b", "command": ["x"]}))
    assert "`train`" in msg and "exactly one of function, command, builtin" in msg


def test_static_and_searched_keys_must_not_overlap() -> None:
    msg = _error(_spec(static={"x": 1.0}))
    assert "`static`" in msg and "['x']" in msg


def test_bad_durations_and_limits() -> None:
    assert parse_duration("2h") == 7200 and parse_duration(90) == 90
    with pytest.raises(SpecError, match="duration like 90s"):
        parse_duration("soon", "limits.max_runtime")
    msg = _error(_spec(limits={"max_runtime": "soon"}))
    assert "duration" in msg and "soon" in msg
    msg = _error(_spec(limits={"max_parallel": 0}))
    assert "limits.max_parallel" in msg and "got 0" in msg


def test_bad_job_name_and_missing_objective() -> None:
    data = _spec()
    data["name"] = "has space"
    msg = _error(data)
    assert "`name`" in msg and "has space" in msg
    data = _spec()
    del data["objective"]
    assert "`objective` is missing" in _error(data)


@pytest.mark.parametrize(
    ("target", "needles"),
    [
        ("no_such_module_xyz:train", ["`train.function`", "'no_such_module_xyz'"]),
        ("objectives_for_tests.fns:no_such_fn", ["`train.function`", "'no_such_fn'",
                                                 "quadratic"]),
    ],
)
def test_function_path_that_does_not_import(target: str, needles: list[str]) -> None:
    with pytest.raises(ObjectiveError) as e:
        FunctionObjective(target).resolve()
    for n in needles:
        assert n in str(e.value), (n, str(e.value))


def test_function_path_without_colon() -> None:
    with pytest.raises(SpecError, match="'module:function'"):
        FunctionObjective("objectives_for_tests.fns.quadratic").resolve()


def test_a_builtin_trainer_spec_gets_its_objective_and_hyperparameter_checks() -> None:
    train = {"builtin": "image-classifier", "data": "builtin:digits", "epochs": 1}
    manual = {"type": "manual"}
    spec = spec_from_dict({"name": "b", "train": train, "strategy": manual})
    assert (spec.objective.metric, spec.objective.goal) == ("val_accuracy", "maximize")
    # one named explicitly wins
    spec = spec_from_dict({"name": "b", "train": train, "strategy": manual,
                           "objective": {"metric": "val_loss", "goal": "minimize"}})
    assert spec.objective.metric == "val_loss"
    # a typo'd searched hyperparameter fails the spec (API and CLI alike), not every trial
    with pytest.raises(SpecError, match=r"search_space.learning_rat.*Did you mean `learning_rate`"):
        spec_from_dict({"name": "b", "train": train, "search_space": {
            "learning_rat": {"type": "float", "low": 1e-3, "high": 0.1}}})
    with pytest.raises(SpecError, match="optimizer"):
        spec_from_dict({"name": "b", "train": {**train, "optimizer": "sgdd"},
                        "strategy": manual})
    # a function objective still needs one
    with pytest.raises(SpecError, match="objective"):
        spec_from_dict({"name": "f", "train": {"function": "m:f"}, "strategy": manual})
