"""tunelab: tune the hyperparameters of training jobs.

    import tunelab
    space = {"lr": tunelab.Float(1e-4, 1.0, scale="log"), "layers": tunelab.Int(1, 4)}
    result = tunelab.tune(train, space, strategy="random", max_trials=20, max_parallel=2)

The names below are loaded on first use (PEP 562), so the command line (``tunelab --help``,
``jobs``, ``show``) does not pay for numpy and the strategies it does not need.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunelab.api import AskedTrial, Optimizer, TuneResult, best_checkpoint, tune, tune_spec
    from tunelab.errors import TunelabError
    from tunelab.jobdata import JobData, load
    from tunelab.objectives.context import TrialContext
    from tunelab.space import Choice, Float, Int, SearchSpace

__version__ = "0.1.0"

_LAZY = {
    "AskedTrial": "tunelab.api",
    "Optimizer": "tunelab.api",
    "TuneResult": "tunelab.api",
    "best_checkpoint": "tunelab.api",
    "tune": "tunelab.api",
    "tune_spec": "tunelab.api",
    "TunelabError": "tunelab.errors",
    "JobData": "tunelab.jobdata",
    "load": "tunelab.jobdata",
    "TrialContext": "tunelab.objectives.context",
    "Choice": "tunelab.space",
    "Float": "tunelab.space",
    "Int": "tunelab.space",
    "SearchSpace": "tunelab.space",
}

__all__ = [
    "AskedTrial",
    "Choice",
    "Float",
    "Int",
    "JobData",
    "Optimizer",
    "SearchSpace",
    "TrialContext",
    "TuneResult",
    "TunelabError",
    "best_checkpoint",
    "load",
    "tune",
    "tune_spec",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    if not name.startswith("_") and importlib.util.find_spec(f"tunelab.{name}") is not None:
        return importlib.import_module(f"tunelab.{name}")  # tunelab.space, tunelab.trial, ...
    raise AttributeError(f"module 'tunelab' has no attribute {name!r}")
