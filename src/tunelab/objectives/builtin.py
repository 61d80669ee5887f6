"""Built-in objectives, by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab.errors import SpecError
from tunelab.objectives.function import FunctionObjective

BUILTINS: dict[str, str] = {"image-classifier": "tunelab.vision.train:train"}

#: Run once per job by the tuner before any trial: ``fn(static params) -> (message, facts)``.
PREPARE: dict[str, str] = {"image-classifier": "tunelab.vision.prepare:describe_data"}


def builtin_objective(name: str) -> FunctionObjective:
    if name not in BUILTINS:
        raise SpecError.field("train.builtin", f"one of {sorted(BUILTINS)}", name)
    return FunctionObjective(BUILTINS[name])


def prepare_builtin(name: str, static: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Check and load what every trial of builtin ``name`` will need (its data), once."""
    import importlib

    module, _, fn = PREPARE[name].partition(":")
    result: tuple[str, dict[str, Any]] = getattr(importlib.import_module(module), fn)(static)
    return result
