"""Tests for importing SageMaker tuning-job configs (tunelab.sagemaker)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tunelab.errors import SpecError
from tunelab.sagemaker import (
    SageMakerImport,
    convert_sagemaker_config,
    is_sagemaker_config,
    load_sagemaker_config,
    parse_value,
)
from tunelab.space import Float, Int, SearchSpace

DATA = Path(__file__).parent / "data" / "sagemaker"


def _bare() -> dict[str, Any]:
    return dict(json.loads((DATA / "bare_config.json").read_text()))


def _request() -> dict[str, Any]:
    return dict(json.loads((DATA / "xgboost_request.json").read_text()))


def _convert(data: dict[str, Any]) -> SageMakerImport:
    return convert_sagemaker_config(data, default_name="job")


# -- whole request ------------------------------------------------------------------------------


def test_full_request_maps_every_honoured_field() -> None:
    imp = load_sagemaker_config(DATA / "xgboost_request.json")
    spec = imp.spec
    assert spec["name"] == "xgb-churn-tune-01"
    assert spec["objective"] == {"metric": "validation:auc", "goal": "maximize"}
    assert spec["strategy"] == {"type": "bayesian", "seed": 42}
    assert spec["early_stopping"] == "auto"
    assert spec["limits"] == {
        "max_trials": 20,
        "max_parallel": 3,
        "max_runtime": 7200,
        "max_trial_runtime": 43200,
        "max_retries": 2,
    }
    assert spec["completion"] == {"target": 0.95, "no_improvement_trials": 8, "convergence": True}
    assert spec["warm_start"] == {
        "parents": ["xgb-churn-tune-00"],
        "type": "identical_data_and_algorithm",
    }
    assert [m["name"] for m in spec["train"]["metrics"]] == ["validation:auc", "train:auc"]
    assert set(spec["train"]) == {"metrics"}


def test_full_request_static_values_are_typed_and_sdk_internals_dropped() -> None:
    static = load_sagemaker_config(DATA / "xgboost_request.json").spec["static"]
    assert static == {
        "eval_metric": "auc",
        "objective": "binary:logistic",
        "rate_drop": 0.3,
        "tweedie_variance_power": 1.4,
        "verbosity": 1,
        "use_gpu": False,
    }
    assert type(static["verbosity"]) is int


def test_full_request_search_space_keeps_file_order_and_resolves_scales() -> None:
    space = load_sagemaker_config(DATA / "xgboost_request.json").spec["search_space"]
    assert list(space) == [
        "eta",
        "min_child_weight",
        "alpha",
        "lambda",
        "subsample",
        "max_depth",
        "num_round",
        "booster",
    ]
    assert space["eta"] == {"type": "float", "low": 0.0, "high": 1.0}  # Auto, low 0 -> linear
    assert "scale" not in space["min_child_weight"]  # Auto, 1 decade -> linear
    assert space["lambda"]["scale"] == "log"  # Auto, 4 decades -> log
    assert space["subsample"]["scale"] == "reverse_log"
    assert space["num_round"] == {"type": "int", "low": 10, "high": 1000, "scale": "log"}
    assert space["booster"] == {"type": "choice", "values": ["gbtree", "dart"]}
    # The produced space is valid for tunelab's own SearchSpace.
    built = SearchSpace.from_dict(space)
    assert isinstance(built["num_round"], Int)
    assert built["num_round"].scale == "log"


def test_full_request_lists_unhonoured_fields_in_one_warning() -> None:
    imp = load_sagemaker_config(DATA / "xgboost_request.json")
    for path in (
        "TrainingJobDefinition.ResourceConfig.InstanceType",
        "TrainingJobDefinition.ResourceConfig.InstanceCount",
        "TrainingJobDefinition.OutputDataConfig.S3OutputPath",
        "TrainingJobDefinition.AlgorithmSpecification.TrainingImage",
        "TrainingJobDefinition.RoleArn",
        "TrainingJobDefinition.InputDataConfig",
        "TrainingJobDefinition.StoppingCondition.MaxWaitTimeInSeconds",
        "TrainingJobDefinition.EnableManagedSpotTraining",
        "TrainingJobDefinition.StaticHyperParameters.sagemaker_submit_directory",
        "Tags",
    ):
        assert path in imp.ignored
    # Honoured fields are not reported as ignored.
    assert not any("MetricDefinitions" in p or "RetryStrategy" in p for p in imp.ignored)
    assert not any(p.startswith("HyperParameterTuningJobConfig") for p in imp.ignored)
    msg = imp.warning()
    assert msg is not None and msg.count("\n") == 0
    assert "ignored" in msg and "TrainingJobDefinition.ResourceConfig.InstanceType" in msg


# -- bare inner config --------------------------------------------------------------------------


def test_bare_inner_config_uses_file_stem_and_has_no_warning() -> None:
    imp = load_sagemaker_config(str(DATA / "bare_config.json"))
    assert imp.spec == {
        "name": "bare_config",
        "objective": {"metric": "loss", "goal": "minimize"},
        "search_space": {
            "x": {"type": "float", "low": -5.0, "high": 5.0},
            "lr": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
            "layers": {"type": "int", "low": 1, "high": 4},
            "opt": {"type": "choice", "values": ["sgd", "adam"]},
            "batch_size": {"type": "choice", "values": [32, 64, 128]},
        },
        "strategy": {"type": "random", "seed": 0},
        "early_stopping": "off",
        "limits": {"max_trials": 20, "max_parallel": 2},
    }
    assert imp.ignored == [] and imp.warning() is None


def test_bare_config_unknown_keys_are_warned_not_dropped() -> None:
    data = _bare()
    data["Autotune"] = {"Mode": "Enabled"}
    data["TrainingJobDefinition"] = {"RoleArn": "arn:aws:iam::1:role/r"}
    imp = _convert(data)
    assert imp.ignored == ["Autotune.Mode", "TrainingJobDefinition.RoleArn"]


def test_is_sagemaker_config() -> None:
    assert is_sagemaker_config(_request())
    assert is_sagemaker_config(_bare())
    assert not is_sagemaker_config({"name": "x", "strategy": {"type": "random"}})
    assert not is_sagemaker_config({"Strategy": "Random"})
    assert not is_sagemaker_config({"HyperParameterTuningJobConfig": "nope"})


# -- Hyperband and plural training definitions --------------------------------------------------


def test_hyperband_request_takes_first_definition_with_a_note() -> None:
    imp = load_sagemaker_config(DATA / "hyperband_request.json")
    assert imp.spec["strategy"] == {"type": "hyperband", "min_resource": 1, "max_resource": 27}
    assert imp.spec["static"] == {"epochs": 27, "arch": "resnet18"}
    assert imp.spec["limits"]["max_trial_runtime"] == 3600
    assert imp.spec["search_space"]["learning_rate"]["scale"] == "log"
    assert "scale" not in imp.spec["search_space"]["momentum"]
    assert "TrainingJobDefinitions[1]" in imp.ignored
    assert "TrainingJobDefinitions[0].ResourceConfig.InstanceType" in imp.ignored
    msg = imp.warning()
    assert msg is not None and "only the first (resnet18)" in msg


def test_hyperband_max_resource_inferred_from_epochs_like_sagemaker() -> None:
    data = json.loads((DATA / "hyperband_request.json").read_text())
    del data["HyperParameterTuningJobConfig"]["StrategyConfig"]
    assert _convert(data).spec["strategy"] == {"type": "hyperband", "max_resource": 27}
    for d in data["TrainingJobDefinitions"]:
        del d["StaticHyperParameters"]["epochs"]
    with pytest.raises(SpecError, match=r"HyperbandStrategyConfig\.MaxResource"):
        _convert(data)


def test_strategy_config_without_hyperband_is_an_error() -> None:
    data = _bare()
    data["StrategyConfig"] = {"HyperbandStrategyConfig": {"MaxResource": 9}}
    with pytest.raises(SpecError, match="`StrategyConfig` must be given only with Strategy"):
        _convert(data)


@pytest.mark.parametrize(
    ("sagemaker", "ours"),
    [("Bayesian", "bayesian"), ("Random", "random"), ("Grid", "grid"), ("Hyperband", "hyperband")],
)
def test_strategy_names_map_without_checking_availability(sagemaker: str, ours: str) -> None:
    data = _bare()
    data["Strategy"] = sagemaker
    if sagemaker == "Hyperband":
        data["StrategyConfig"] = {"HyperbandStrategyConfig": {"MaxResource": 9}}
    assert _convert(data).spec["strategy"]["type"] == ours


# -- value conversion ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("3", 3),
        ("-2", -2),
        ("0.1", 0.1),
        ("1e-3", 1e-3),
        (".5", 0.5),
        ("true", True),
        ("False", False),
        ("adam", "adam"),
        ('"train.py"', "train.py"),
        ("nan", "nan"),
        ("3 epochs", "3 epochs"),
        (7, 7),
    ],
)
def test_parse_value(raw: Any, value: Any) -> None:
    got = parse_value(raw)
    assert got == value and type(got) is type(value)


def test_auto_scaling_boundary_is_two_decades() -> None:
    data = _bare()
    data["ParameterRanges"] = {
        "ContinuousParameterRanges": [
            {"Name": "a", "MinValue": "0.01", "MaxValue": "1"},  # exactly 2 decades
            {"Name": "b", "MinValue": "0.011", "MaxValue": "1"},  # just under
            {"Name": "c", "MinValue": "-1", "MaxValue": "100"},  # not positive
        ],
        "IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "100"}],
    }
    space = _convert(data).spec["search_space"]
    assert space["a"]["scale"] == "log"
    assert "scale" not in space["b"] and "scale" not in space["c"]
    assert space["n"]["scale"] == "log"
    assert isinstance(SearchSpace.from_dict(space)["a"], Float)


def test_numbers_written_as_json_numbers_are_accepted() -> None:
    data = _bare()
    data["ParameterRanges"] = {
        "ContinuousParameterRanges": [{"Name": "x", "MinValue": -1, "MaxValue": 2.5}]
    }
    assert _convert(data).spec["search_space"]["x"] == {"type": "float", "low": -1.0, "high": 2.5}


# -- malformed input ----------------------------------------------------------------------------


def test_not_json_names_the_file_and_position() -> None:
    with pytest.raises(SpecError) as e:
        load_sagemaker_config(DATA / "malformed_trailing_comma.json")
    msg = str(e.value)
    assert "malformed_trailing_comma.json" in msg and "line 4" in msg and "must be" in msg


def test_missing_file() -> None:
    with pytest.raises(SpecError, match="an existing JSON file"):
        load_sagemaker_config(DATA / "no_such_file.json")


def test_missing_objective_names_the_path() -> None:
    with pytest.raises(SpecError) as e:
        load_sagemaker_config(DATA / "malformed_missing_objective.json")
    msg = str(e.value)
    assert msg.startswith("malformed_missing_objective.json: ")
    assert "`HyperParameterTuningJobConfig.HyperParameterTuningJobObjective` must be" in msg
    assert "Add HyperParameterTuningJobObjective" in msg


def test_bad_scaling_type_from_file() -> None:
    with pytest.raises(SpecError) as e:
        load_sagemaker_config(DATA / "malformed_ranges.json")
    msg = str(e.value)
    assert "`ParameterRanges.ContinuousParameterRanges[0].ScalingType`" in msg
    assert "Logarithmic" in msg and "got 'Log'" in msg


def _with_range(kind: str, entry: dict[str, Any]) -> dict[str, Any]:
    data = _bare()
    data["ParameterRanges"] = {kind: [entry]}
    return data


CONT = "ContinuousParameterRanges"
INT = "IntegerParameterRanges"
CAT = "CategoricalParameterRanges"


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        (
            _with_range(CONT, {"Name": "lr", "MinValue": "0.1", "MaxValue": "0.1"}),
            "ParameterRanges.ContinuousParameterRanges[0].MinValue",
            "< MaxValue",
        ),
        (
            _with_range(INT, {"Name": "n", "MinValue": "8", "MaxValue": "2"}),
            "ParameterRanges.IntegerParameterRanges[0].MinValue",
            "Swap the bounds",
        ),
        (
            _with_range(CONT, {"Name": "lr", "MinValue": "small", "MaxValue": "1"}),
            "ParameterRanges.ContinuousParameterRanges[0].MinValue",
            "got 'small'",
        ),
        (
            _with_range(INT, {"Name": "n", "MinValue": "1.5", "MaxValue": "4"}),
            "ParameterRanges.IntegerParameterRanges[0].MinValue",
            "Whole numbers only",
        ),
        (
            _with_range(
                CONT, {"Name": "lr", "MinValue": "0", "MaxValue": "1", "ScalingType": "Logarithmic"}
            ),
            "ParameterRanges.ContinuousParameterRanges[0].MinValue",
            "> 0 for ScalingType Logarithmic",
        ),
        (
            _with_range(
                CONT,
                {
                    "Name": "m",
                    "MinValue": "0.5",
                    "MaxValue": "1",
                    "ScalingType": "ReverseLogarithmic",
                },
            ),
            "ParameterRanges.ContinuousParameterRanges[0]",
            "ReverseLogarithmic",
        ),
        (
            _with_range(
                INT,
                {
                    "Name": "n",
                    "MinValue": "1",
                    "MaxValue": "9",
                    "ScalingType": "ReverseLogarithmic",
                },
            ),
            "ParameterRanges.IntegerParameterRanges[0].ScalingType",
            "only for continuous",
        ),
        (
            _with_range(CONT, {"Name": "lr", "MinValue": "0", "MaxValue": "1", "Scale": "Auto"}),
            "ParameterRanges.ContinuousParameterRanges[0]",
            "['Scale']",
        ),
        (
            _with_range(CONT, {"Name": "learning-rate", "MinValue": "0", "MaxValue": "1"}),
            "ParameterRanges.ContinuousParameterRanges[0].Name",
            "Python identifier",
        ),
        (
            _with_range(CAT, {"Name": "opt", "Values": []}),
            "ParameterRanges.CategoricalParameterRanges[0].Values",
            "non-empty",
        ),
        (
            _with_range(CAT, {"Name": "opt", "Values": ["sgd", "sgd"]}),
            "ParameterRanges.CategoricalParameterRanges[0].Values",
            "without duplicates",
        ),
        (
            _with_range("AutoParameters", {"Name": "lr", "ValueHint": "0.1"}),
            "ParameterRanges.AutoParameters",
            "ValueHint",
        ),
        (
            {**_bare(), "ParameterRanges": {"AutoParameters": 1}},
            "ParameterRanges.AutoParameters",
            "ValueHint",
        ),
    ],
)
def test_malformed_ranges(data: dict[str, Any], path: str, fragment: str) -> None:
    with pytest.raises(SpecError) as e:
        _convert(data)
    msg = str(e.value)
    assert msg.startswith(f"`{path}` must be"), msg
    assert fragment in msg


def _mutated(path: list[str], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(_request())
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DELETE = object()
CFG = "HyperParameterTuningJobConfig"
TJD = "TrainingJobDefinition"


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ([CFG, "Strategy"], "Evolutionary", "one of Bayesian, Random, Grid, Hyperband"),
        ([CFG, "Strategy"], "bayesian", "Did you mean 'Bayesian'?"),
        ([CFG, "Strategy"], _DELETE, "got None"),
        ([CFG, "HyperParameterTuningJobObjective", "Type"], "Max", "Minimize or Maximize"),
        ([CFG, "HyperParameterTuningJobObjective", "MetricName"], "", "non-empty metric"),
        ([CFG, "ResourceLimits", "MaxParallelTrainingJobs"], 0, "an integer >= 1"),
        ([CFG, "ResourceLimits", "MaxNumberOfTrainingJobs"], "20", "an integer >= 1"),
        ([CFG, "TrainingJobEarlyStoppingType"], "On", "Off or Auto"),
        ([CFG, "TuningJobCompletionCriteria", "TargetObjectiveMetricValue"], "high", "finite"),
        (
            [CFG, "TuningJobCompletionCriteria", "ConvergenceDetected", "CompleteOnConvergence"],
            True,
            "Enabled or Disabled",
        ),
        ([CFG, "RandomSeed"], -1, "an integer >= 0"),
        ([CFG, "ParameterRanges"], _DELETE, "at least one"),
        (
            [TJD, "AlgorithmSpecification", "MetricDefinitions"],
            [{"Name": "a", "Regex": "("}],
            "valid regular",
        ),
        ([TJD, "StaticHyperParameters", "eta"], "0.1", "not also a StaticHyperParameters key"),
        ([TJD, "StaticHyperParameters", "depth"], ["1"], 'a string such as "3"'),
        (
            ["WarmStartConfig", "WarmStartType"],
            "Transfer",
            "IdenticalDataAndAlgorithm or TransferLearning",
        ),
        (["WarmStartConfig", "ParentHyperParameterTuningJobs"], [], "non-empty list"),
        (["HyperParameterTuningJobName"], 7, "non-empty string"),
    ],
)
def test_malformed_request(path: list[str], value: Any, fragment: str) -> None:
    with pytest.raises(SpecError) as e:
        _convert(_mutated(path, value))
    msg = str(e.value)
    assert fragment in msg, msg
    assert msg.startswith("`"), msg  # names a JSON path


def test_malformed_messages_name_the_given_value_and_path() -> None:
    with pytest.raises(SpecError) as e:
        _convert(_mutated([CFG, "Strategy"], "Evolutionary"))
    assert str(e.value).startswith(
        "`HyperParameterTuningJobConfig.Strategy` must be one of Bayesian, Random, Grid, "
        "Hyperband; got 'Evolutionary'."
    )


@pytest.mark.parametrize("data", [[1, 2], "x", {"name": "quad", "search_space": {}}])
def test_not_a_sagemaker_config(data: Any) -> None:
    with pytest.raises(SpecError, match="must be"):
        convert_sagemaker_config(data, default_name="job")


def test_top_level_json_array_in_a_file(tmp_path: Path) -> None:
    f = tmp_path / "tune.json"
    f.write_text("[]")
    with pytest.raises(SpecError, match=r"^tune\.json: `\(top level\)` must be a JSON object"):
        load_sagemaker_config(f)


def test_nan_is_rejected(tmp_path: Path) -> None:
    f = tmp_path / "tune.json"
    f.write_text('{"Strategy": "Random", "ParameterRanges": {}, "RandomSeed": NaN}')
    with pytest.raises(SpecError, match="NaN is not valid JSON"):
        load_sagemaker_config(f)


# -- the objective and ranges can come from the training definition -----------------------------


def test_objective_and_ranges_from_training_definition() -> None:
    data = _request()
    cfg = data["HyperParameterTuningJobConfig"]
    tjd = data["TrainingJobDefinition"]
    tjd["TuningObjective"] = cfg.pop("HyperParameterTuningJobObjective")
    tjd["HyperParameterRanges"] = cfg.pop("ParameterRanges")
    imp = _convert(data)
    assert imp.spec["objective"] == {"metric": "validation:auc", "goal": "maximize"}
    assert "eta" in imp.spec["search_space"]
    assert not any("TuningObjective" in p or "HyperParameterRanges" in p for p in imp.ignored)


def test_warning_none_when_nothing_ignored() -> None:
    assert SageMakerImport(spec={}).warning() is None
    assert SageMakerImport(spec={}, notes=["x"]).warning() == "SageMaker config: x"


def test_file_stem_is_made_a_valid_job_name(tmp_path: Path) -> None:
    f = tmp_path / "my tune (v2).json"
    f.write_text((DATA / "bare_config.json").read_text())
    assert load_sagemaker_config(f).spec["name"] == "my-tune--v2-"
