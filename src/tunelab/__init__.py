"""tunelab: tune the hyperparameters of training jobs.

    import tunelab
    space = {"lr": tunelab.Float(1e-4, 1.0, scale="log"), "layers": tunelab.Int(1, 4)}
    result = tunelab.tune(train, space, strategy="random", max_trials=20, max_parallel=2)
"""

from __future__ import annotations

from tunelab.api import AskedTrial, Optimizer, TuneResult, best_checkpoint, tune, tune_spec
from tunelab.errors import TunelabError
from tunelab.jobdata import JobData, load
from tunelab.objectives.context import TrialContext
from tunelab.space import Choice, Float, Int, SearchSpace

__version__ = "0.1.0"

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
