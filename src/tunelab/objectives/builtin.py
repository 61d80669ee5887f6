"""Built-in objectives, by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab.errors import SpecError
from tunelab.objectives.function import FunctionObjective

BUILTINS: dict[str, str] = {"image-classifier": "tunelab.vision.train:train"}

#: Run once per job by the tuner before any trial: ``fn(static params) -> (message, facts)``.
PREPARE: dict[str, str] = {"image-classifier": "tunelab.vision.prepare:describe_data"}

#: Checks a job's static and searched hyperparameters before it runs (raises SpecError).
CHECK: dict[str, str] = {"image-classifier": "tunelab.vision.prepare:check_hyperparameters"}

#: The objective a spec with this builtin gets when it names none.
DEFAULT_OBJECTIVES: dict[str, dict[str, str]] = {
    "image-classifier": {"metric": "val_accuracy", "goal": "maximize"},
}


def check_builtin(name: str, static: Mapping[str, Any],
                  search_space: Mapping[str, Mapping[str, Any]]) -> None:
    """Check builtin ``name``'s hyperparameters (a typo fails the job once, not every trial)."""
    if name in CHECK:
        _function(CHECK[name])(static, search_space)


def _function(ref: str) -> Any:
    """The function named ``module:function`` (imported on first use: vision imports torch)."""
    import importlib

    module, _, fn = ref.partition(":")
    return getattr(importlib.import_module(module), fn)


def builtin_objective(name: str) -> FunctionObjective:
    if name not in BUILTINS:
        raise SpecError.field("train.builtin", f"one of {sorted(BUILTINS)}", name)
    return FunctionObjective(BUILTINS[name])


def prepare_builtin(name: str, static: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Check and load what every trial of builtin ``name`` will need (its data), once."""
    result: tuple[str, dict[str, Any]] = _function(PREPARE[name])(static)
    return result
