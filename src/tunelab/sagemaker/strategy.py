"""``Strategy`` and its ``StrategyConfig``, early stopping and ``WarmStartConfig``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab.errors import SpecError
from tunelab.sagemaker.ledger import Ledger
from tunelab.sagemaker.values import as_int, as_mapping, int_fields

STRATEGIES: dict[str, str] = {
    "Bayesian": "bayesian",
    "Random": "random",
    "Grid": "grid",
    "Hyperband": "hyperband",
}
WARM_START_TYPES: dict[str, str] = {
    "IdenticalDataAndAlgorithm": "identical_data_and_algorithm",
    "TransferLearning": "transfer_learning",
}
# SageMaker infers Hyperband's MaxResource from these static hyperparameters when it is absent.
_EPOCH_KEYS: tuple[str, ...] = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
_HYPERBAND_FIELDS: dict[str, tuple[str, int]] = {
    "MinResource": ("min_resource", 1),
    "MaxResource": ("max_resource", 1),
}


def strategy(
    cfg: Mapping[str, Any], cp: str, static: Mapping[str, Any], ledger: Ledger
) -> dict[str, Any]:
    """tunelab's ``strategy`` section: type, seed and Hyperband's resources."""
    name = cfg.get("Strategy")
    if not isinstance(name, str) or name not in STRATEGIES:
        hint = next(
            (s for s in STRATEGIES if isinstance(name, str) and s.lower() == name.lower()),
            None,
        )
        raise SpecError.field(
            f"{cp}Strategy",
            "one of " + ", ".join(STRATEGIES),
            name,
            f"Did you mean {hint!r}?" if hint else "Use one of SageMaker's strategy names.",
        )
    out: dict[str, Any] = {"type": STRATEGIES[name]}
    if "RandomSeed" in cfg:
        out["seed"] = as_int(cfg["RandomSeed"], f"{cp}RandomSeed", minimum=0)
    sc = cfg.get("StrategyConfig")
    if sc is not None:
        sp = f"{cp}StrategyConfig"
        sc = ledger.section(sc, sp, {"HyperbandStrategyConfig"})
        if name != "Hyperband":
            raise SpecError.field(
                sp,
                "given only with Strategy: Hyperband",
                dict(sc),
                "Remove StrategyConfig or set Strategy to Hyperband.",
            )
        hp = f"{sp}.HyperbandStrategyConfig"
        hb = ledger.section(sc.get("HyperbandStrategyConfig", {}), hp, set(_HYPERBAND_FIELDS))
        out.update(int_fields(hb, hp, _HYPERBAND_FIELDS))
    if name == "Hyperband" and "max_resource" not in out:
        # SageMaker's documented fallback: infer MaxResource from an epochs-like static.
        key = next((k for k in _EPOCH_KEYS if k in static), None)
        value = static.get(key) if key else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SpecError.field(
                f"{cp}StrategyConfig.HyperbandStrategyConfig.MaxResource",
                "present, or inferable from a static hyperparameter " + "/".join(_EPOCH_KEYS),
                value,
                "Add MaxResource (e.g. the number of epochs) to HyperbandStrategyConfig.",
            )
        out["max_resource"] = value
    # Only Hyperband gets here with min_resource, and then max_resource is always set.
    if "min_resource" in out and out["min_resource"] >= out["max_resource"]:
        raise SpecError.field(
            f"{cp}StrategyConfig.HyperbandStrategyConfig.MinResource",
            f"< MaxResource ({out['max_resource']})",
            out["min_resource"],
            "Lower MinResource or raise MaxResource.",
        )
    return out


def early_stopping(cfg: Mapping[str, Any], cp: str) -> str:
    """``TrainingJobEarlyStoppingType`` as tunelab's ``early_stopping`` (``off`` or ``auto``)."""
    # SageMaker's default is Off; say so explicitly so tunelab's default cannot differ.
    value = cfg.get("TrainingJobEarlyStoppingType", "Off")
    if value not in ("Off", "Auto"):
        raise SpecError.field(f"{cp}TrainingJobEarlyStoppingType", "Off or Auto", value)
    return str(value).lower()


def warm_start(ws: Any, ledger: Ledger) -> dict[str, Any]:
    """``WarmStartConfig`` as tunelab's ``warm_start``: parent job names and type."""
    p = "WarmStartConfig"
    ws = ledger.section(ws, p, {"ParentHyperParameterTuningJobs", "WarmStartType"})
    parents_raw = ws.get("ParentHyperParameterTuningJobs")
    if not isinstance(parents_raw, list) or not parents_raw:
        raise SpecError.field(
            f"{p}.ParentHyperParameterTuningJobs",
            'a non-empty list of {"HyperParameterTuningJobName": ...}',
            parents_raw,
        )
    parents: list[str] = []
    for i, item in enumerate(parents_raw):
        ip = f"{p}.ParentHyperParameterTuningJobs[{i}]"
        name = as_mapping(item, ip).get("HyperParameterTuningJobName")
        if not isinstance(name, str) or not name:
            raise SpecError.field(f"{ip}.HyperParameterTuningJobName", "a tuning job name", name)
        parents.append(name)
    kind = ws.get("WarmStartType")
    if not isinstance(kind, str) or kind not in WARM_START_TYPES:
        raise SpecError.field(
            f"{p}.WarmStartType", "IdenticalDataAndAlgorithm or TransferLearning", kind
        )
    return {"parents": parents, "type": WARM_START_TYPES[kind]}
