"""The job ``tunelab tune/plan/init --data DIR`` runs: the default image spec plus the flags.

``tune --data``, ``plan --data`` and ``init --data`` share one set of options and build the
spec the same way, so what ``plan`` shows and ``init`` prints is what ``tune`` would run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from tunelab.errors import SpecError
from tunelab.spec import parse_duration

STRATEGIES = ("pbt", "random", "bayesian", "hyperband", "grid")

MaxTrialsOpt = Annotated[int | None, typer.Option(
    "--max-trials", help="Trials (for pbt: the population).")]
MaxParallelOpt = Annotated[int | None, typer.Option(
    "--max-parallel", help="Trials at a time.")]
MaxRuntimeOpt = Annotated[str | None, typer.Option(
    "--max-runtime", help="End the job after this long: 90s, 30m, 2h.")]
StrategyOpt = Annotated[str | None, typer.Option(
    "--strategy", help=f"Search strategy: {', '.join(STRATEGIES)} (default pbt).")]
EpochsOpt = Annotated[int | None, typer.Option(
    "--epochs", help="Epochs per trial.", min=1)]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="KEY=VALUE: fix a hyperparameter of the trainer (and stop searching it); "
    "repeat for more. `tunelab train --help` lists them.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed of the search.")]
RefitOpt = Annotated[bool | None, typer.Option(
    "--refit/--no-refit", help="After the search, retrain the best configuration on the "
    "training and validation images together, as job NAME-refit (default: on with --data, "
    "within its --max-runtime; with a spec, its `refit:`).")]


@dataclass(frozen=True)
class DataJobOptions:
    """The command line's choices for a ``--data`` job (None: the default)."""

    max_trials: int | None = None
    max_parallel: int | None = None
    max_runtime: str | None = None
    strategy: str | None = None
    epochs: int | None = None
    sets: list[str] = field(default_factory=list)
    seed: int | None = None
    refit: bool | None = None


def auto_name(data: str, *, stamp: bool = True) -> str:
    """A job name from the data folder's name (and the time, so each run gets its own)."""
    import re

    base = re.sub(r"[^A-Za-z0-9._-]", "-", Path(data.replace("builtin:", "")).name or "images")
    base = base.lstrip("-._") or "images"
    return f"{base}-{time.strftime('%Y%m%d-%H%M%S')}" if stamp else base


def data_job_spec(data: str, opts: DataJobOptions, *, name: str | None = None,
                  notify: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The spec of the ``--data`` job: :func:`~tunelab.vision.commands.default_image_spec`
    with ``opts`` applied. Every flag is checked here, before any data is loaded."""
    from tunelab.vision.commands import default_image_spec, parse_sets

    strategy = opts.strategy
    if strategy is not None and strategy not in STRATEGIES:
        raise SpecError.field("--strategy", f"one of {', '.join(STRATEGIES)}", strategy)
    runtime = parse_duration(opts.max_runtime, "--max-runtime")
    fixed = parse_sets(opts.sets)
    if opts.epochs is not None:
        fixed["epochs"] = opts.epochs
    kw: dict[str, Any] = {"name": name or auto_name(data),
                          "max_parallel": opts.max_parallel, "notify": notify,
                          "seed": 0 if opts.seed is None else opts.seed,
                          # a refit of a job that trains on its validation images is refused
                          "refit": opts.refit is not False and
                          not fixed.get("train_on_validation")}
    if opts.max_trials is not None:
        kw["max_trials"] = opts.max_trials
    if runtime is not None:  # the population is sized to the time given
        kw["budget_seconds"] = runtime
    if "epochs" in fixed:  # ... and to the epochs asked for (--epochs, --set: kept as given)
        kw["epochs"] = int(fixed["epochs"])
    d = default_image_spec(data, **kw)
    train, space = d["train"], d["search_space"]
    for key, value in fixed.items():
        train[key] = value
        space.pop(key, None)
    limits = d.setdefault("limits", {})  # max_runtime: the search's share of the budget
    if opts.max_trials is not None:
        limits["max_trials"] = opts.max_trials
    epochs = int(train.get("epochs", 10))
    strat = d["strategy"]
    if strategy is not None and strategy != strat["type"]:
        strat = {"type": strategy, "seed": strat.get("seed", 0)}
        if strategy == "hyperband":
            strat["max_resource"] = epochs
        d["strategy"] = strat
    if strat["type"] == "pbt":
        strat["population"] = limits.get("max_trials") or strat.get("population")
        strat["perturbation_interval"] = max(1, epochs // 5)
    if strat["type"] == "grid":
        # a grid needs finite values: floats searched on a range are fixed at their defaults
        for key in [k for k, p in space.items() if p.get("type") == "float"]:
            space.pop(key)
    return d
