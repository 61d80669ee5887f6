"""Python-function objectives: ``train(params, trial)`` importable as ``"module:function"``."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tunelab.errors import ObjectiveError, SpecError

TrainFn = Callable[..., Any]


@dataclass(frozen=True)
class FunctionObjective:
    """A training function, by import path (``"pkg.module:train"``) or by reference.

    A reference must be importable by the worker process (a module-level function), because
    trials run in worker processes of their own.
    """

    target: str
    checkpointing: bool = True  # functions get load/save_checkpoint through the TrialContext
    sys_path: tuple[str, ...] = ()

    @classmethod
    def from_callable(cls, fn: TrainFn) -> FunctionObjective:
        module = getattr(fn, "__module__", None)
        qualname = getattr(fn, "__qualname__", "")
        if not module or "<" in qualname:
            raise SpecError.field(
                "train", "a module-level function (trials run in worker processes)",
                qualname or fn, "Define the function at the top level of a module.",
            )
        if module == "__main__":
            main = sys.modules["__main__"]
            path = getattr(main, "__file__", None)
            if not path:
                raise SpecError.field(
                    "train", "a function defined in an importable file", qualname,
                    "Functions typed into an interactive session cannot run in worker "
                    "processes; put it in a .py file.",
                )
            module = inspect.getmodulename(path) or module
            return cls(f"{module}:{qualname}", sys_path=(str(_dir_of(path)),))
        return cls(f"{module}:{qualname}")

    def resolve(self) -> TrainFn:
        """Import and return the function, or raise a clear error."""
        for p in self.sys_path:
            if p not in sys.path:
                sys.path.insert(0, p)
        mod_name, sep, attr = self.target.partition(":")
        if not sep or not mod_name or not attr:
            raise SpecError.field(
                "train.function", "'module:function'", self.target,
                "Write it like 'mymodule:train' (module importable from the working directory).",
            )
        if "" not in sys.path and "." not in sys.path:
            sys.path.insert(0, "")
        try:
            mod = importlib.import_module(mod_name)
        except Exception as e:
            raise ObjectiveError(
                f"`train.function`: cannot import module {mod_name!r} ({e.__class__.__name__}: "
                f"{e}). Check the module name and that it is importable from the working "
                "directory (or on PYTHONPATH)."
            ) from None
        obj: Any = mod
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                names = sorted(n for n in dir(mod) if not n.startswith("_"))[:15]
                raise ObjectiveError(
                    f"`train.function`: module {mod_name!r} has no attribute {attr!r}. "
                    f"Names it defines: {', '.join(names)}."
                )
        if not callable(obj):
            raise ObjectiveError(f"`train.function`: {self.target!r} is not callable.")
        return obj  # type: ignore[no-any-return]


def _dir_of(path: str) -> str:
    from pathlib import Path

    return str(Path(path).resolve().parent)
