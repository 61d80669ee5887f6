"""Built-in objectives, by name."""

from __future__ import annotations

from tunelab.errors import SpecError
from tunelab.objectives.function import FunctionObjective

BUILTINS: dict[str, str] = {"image-classifier": "tunelab.vision.train:train"}


def builtin_objective(name: str) -> FunctionObjective:
    if name not in BUILTINS:
        raise SpecError.field("train.builtin", f"one of {sorted(BUILTINS)}", name)
    return FunctionObjective(BUILTINS[name])
