"""Python-function objectives: ``train(params, trial)`` by import path or by value.

A function that lives in an importable module travels to the worker processes as its import
path (``"pkg.module:train"``). One defined in the script being run (``__main__``), in a notebook
or inside another function is serialised by value with cloudpickle, so the workers never import
the user's script: it works with or without an ``if __name__ == "__main__":`` guard, the way
Optuna and Ray Tune users expect.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.errors import ObjectiveError, SpecError

TrainFn = Callable[..., Any]

# set while resolve() imports the user's module: a tune() call made by that import is the
# module's top level running again (no __main__ guard), refused with a message instead of
# recursing into a second job
_importing: list[str] = []


@dataclass(frozen=True)
class FunctionObjective:
    """A training function, by import path (``"pkg.module:train"``) or by value (``payload``).

    ``target`` names the function (for the record and messages); ``payload`` holds the function
    pickled by value when it cannot be imported by the workers.
    """

    target: str
    checkpointing: bool = True  # functions get load/save_checkpoint through the TrialContext
    sys_path: tuple[str, ...] = ()
    payload: bytes | None = None

    @classmethod
    def from_callable(cls, fn: TrainFn) -> FunctionObjective:
        """The objective for a function object: by reference when importable, else by value.

        Refused (before any trial) with what to do when the function cannot be serialised.
        """
        if not callable(fn):
            raise SpecError.field("train", "a function train(params, trial)", fn)
        module = getattr(fn, "__module__", None) or "__main__"
        qualname = getattr(fn, "__qualname__", "") or getattr(fn, "__name__", "train")
        if module != "__main__" and _importable(fn, module, qualname):
            return cls(f"{module}:{qualname}")
        name = module
        sys_path: tuple[str, ...] = ()
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        if module == "__main__" and main_file:
            name = inspect.getmodulename(main_file) or module
            sys_path = (str(Path(main_file).resolve().parent),)
        return cls(f"{name}:{qualname}", sys_path=sys_path, payload=_pickle_by_value(fn))

    @property
    def cache_key(self) -> str:
        """Names this function in a worker's cache (two by-value functions may share a name)."""
        if self.payload is None:
            return self.target
        return f"{self.target}#{hashlib.sha256(self.payload).hexdigest()[:16]}"

    def resolve(self) -> TrainFn:
        """Import (or unpickle) and return the function, or raise a clear error."""
        for p in self.sys_path:
            if p not in sys.path:
                sys.path.insert(0, p)
        if self.payload is not None:
            return _unpickle(self.payload, self.target)
        mod_name, sep, attr = self.target.partition(":")
        if not sep or not mod_name or not attr:
            raise SpecError.field(
                "train.function", "'module:function'", self.target,
                "Write it like 'mymodule:train' (module importable from the working directory).",
            )
        if "" not in sys.path and "." not in sys.path:
            sys.path.insert(0, "")
        try:
            with _importing_module(mod_name):
                mod = importlib.import_module(mod_name)
        except ObjectiveError:
            raise
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


def refuse_tune_during_import() -> None:
    """Raise when a tuning job is started by the import of a training function's module.

    That is a script's top level running again because ``train.function`` names the script
    itself and its ``tunelab.tune(...)`` call has no ``if __name__ == "__main__":`` guard.
    """
    if _importing:
        mod = _importing[-1]
        raise ObjectiveError(
            f"`train.function`: importing module {mod!r} to find the training function started "
            "another tuning job (its top level calls tunelab.tune). Put that call under "
            "`if __name__ == \"__main__\":`, or pass the function itself: "
            "tunelab.tune(train, space, ...)."
        )


@contextlib.contextmanager
def _importing_module(name: str) -> Iterator[None]:
    _importing.append(name)
    try:
        yield
    finally:
        _importing.pop()


def _importable(fn: TrainFn, module: str, qualname: str) -> bool:
    """Whether ``module:qualname`` imports back to ``fn`` itself (not a local or a lambda)."""
    if "<" in qualname:
        return False
    mod = sys.modules.get(module)
    if mod is None or getattr(mod, "__spec__", None) is None:
        return False
    obj: Any = mod
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj is fn


def _pickle_by_value(fn: TrainFn) -> bytes:
    import cloudpickle

    try:
        return bytes(cloudpickle.dumps(fn))
    except Exception as e:
        name = getattr(fn, "__qualname__", repr(fn))
        raise SpecError.field(
            "train", "a function the worker processes can receive", name,
            f"It cannot be serialised ({e.__class__.__name__}: {e}); it probably uses an open "
            "file, lock or connection from its surroundings. Create those inside the function, "
            "or move the function to a .py module and pass 'module:function'.",
        ) from None


def _unpickle(payload: bytes, target: str) -> TrainFn:
    import cloudpickle

    try:
        fn = cloudpickle.loads(payload)
    except Exception as e:
        raise ObjectiveError(
            f"`train`: the function {target!r} could not be rebuilt in the worker "
            f"({e.__class__.__name__}: {e}). Make the modules it uses importable by the workers "
            "(installed or on PYTHONPATH), or move it to a .py module and pass 'module:function'."
        ) from None
    return fn  # type: ignore[no-any-return]
