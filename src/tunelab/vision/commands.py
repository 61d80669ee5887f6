"""CLI commands of the built-in image classifier: ``train``, ``refit``, ``export``, ``predict``,
``evaluate``.

``register(app)`` adds them to the main Typer app. ``train`` runs one manual training job through
the tuner (stored like any tuning job) and prints a row per epoch as reports reach the store;
:func:`default_image_spec` is what ``tunelab tune --data DIR`` without a spec runs.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tunelab.errors import ObjectiveError, SpecError
from tunelab.vision.budget import MIN_POPULATION
from tunelab.vision.config import TrainConfig, default_search_space, default_static_params

console = Console()
err_console = Console(stderr=True)

EPOCH_COLUMNS = (("step", "epoch", "{:.0f}"), ("train_loss", "train loss", "loss"),
                 ("train_accuracy", "train acc", "{:.2%}"), ("val_loss", "val loss", "loss"),
                 ("val_accuracy", "val acc", "{:.2%}"), ("lr", "lr", "{:.3g}"),
                 ("epoch_seconds", "seconds", "{:.1f}"), ("images_per_second", "images/s",
                                                          "{:,.0f}"))


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """``["learning_rate=0.01", "hflip=true"]`` → typed values (YAML scalars), validated."""
    out: dict[str, Any] = {}
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SpecError.field("--set", "KEY=VALUE", item, "Write e.g. --set epochs=20.")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = raw
    TrainConfig.from_params(out)  # unknown keys and bad values fail here, before anything runs
    return out


def train_spec(data: str, params: dict[str, Any], *, name: str, seed: int = 0) -> dict[str, Any]:
    """The spec of a one-trial manual training job on ``data`` with fixed ``params``."""
    return {"name": name, "objective": {"metric": "val_accuracy", "goal": "maximize"},
            "train": {"builtin": "image-classifier", "data": data, **params},
            "strategy": {"type": "manual", "seed": seed},
            "limits": {"max_trials": 1, "max_parallel": 1}}


#: The time ``tunelab tune --data`` is given by default: what a laptop can spare in one sitting.
DEFAULT_BUDGET_SECONDS = 15 * 60


def default_image_spec(data: str, *, name: str, max_trials: int | None = None,
                       max_parallel: int | None = None, seed: int = 0,
                       cache_dir: str | None = None,
                       budget_seconds: float = DEFAULT_BUDGET_SECONDS,
                       epochs: int | None = None, refit: bool = True,
                       notify: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The spec ``tunelab tune --data DIR`` runs without a spec: Population Based Training over
    :func:`default_search_space` around the trainer's defaults (:func:`default_static_params`),
    maximising val_accuracy, then (``refit``) the best configuration retrained on the training
    and validation images together, all within ``budget_seconds``.

    Loads (and caches) the data once, then measures for the model and image size the trials
    will train: the largest batch that fits (searched batch sizes above it are dropped, with a
    notice through ``notify``), and, from a short probe of real training steps at each searched
    batch size, how long an epoch takes. :func:`~tunelab.vision.budget.size_to_budget` turns
    that into the epochs (unless given), the population (``max_trials``, unless given) and the
    search's ``limits.max_runtime``: the budget less the refit's own time. Without ``refit``
    and with ``max_trials`` given, nothing is probed.
    """
    import torch

    from tunelab.vision.batch_size import cap_batch_size_space, fit_batch_size
    from tunelab.vision.budget import describe_plan, size_to_budget
    from tunelab.vision.data import load_image_data
    from tunelab.vision.models import describe_model, make_model
    from tunelab.vision.probe import probe_batch_sizes

    say = notify or (lambda _msg: None)
    t0 = time.monotonic()  # the budget counts from here: loading and probing spend it too
    d = load_image_data(data, cache_dir=cache_dir)
    static = default_static_params()
    cfg = TrainConfig.from_params(static)
    space = default_search_space(image_size=d.image_size)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    largest = max(space["batch_size"]["values"])
    limit, _why = fit_batch_size(
        largest, lambda: make_model(cfg, d.channels, len(d.classes), d.image_size),
        (d.channels, d.image_size, d.image_size), len(d.classes), device=device,
        n_train=len(d.train_y), memory_mb=cfg.auto_batch_memory_mb)
    space = cap_batch_size_space(space, limit)
    if limit < largest:
        say(f"notice: batch_size capped at {limit}, the largest that fits "
            f"auto_batch_memory_mb={cfg.auto_batch_memory_mb} for {describe_model(cfg)} at "
            f"{d.channels}x{d.image_size}x{d.image_size}; searching "
            f"{', '.join(map(str, space['batch_size']['values']))}")
    train: dict[str, Any] = {"builtin": "image-classifier", "data": data, **static}
    if cache_dir is not None:
        train["cache_dir"] = cache_dir
    n_epochs = int(epochs if epochs is not None else train.get("epochs", cfg.epochs))
    runtime = float(budget_seconds)
    if max_trials is None or refit:
        probe = probe_batch_sizes(cfg, space["batch_size"]["values"], channels=d.channels,
                                  num_classes=len(d.classes), image_size=d.image_size,
                                  device=device)
        from tunelab.devices import layout_for
        from tunelab.spec import LimitsSpec

        n_all = len(d.train_y) + len(d.val_y)
        epoch_s = probe.epoch_seconds(len(d.train_y), len(d.val_y))
        plan = size_to_budget(
            budget_seconds, epoch_seconds=epoch_s,
            refit_epoch_seconds=probe.epoch_seconds(n_all, 0),
            slots=layout_for(LimitsSpec(max_parallel=max_parallel)).slots,
            default_epochs=cfg.epochs, epochs=epochs, population=max_trials, refit=refit)
        n_epochs, max_trials = plan.epochs, plan.population
        runtime = float(max(1, int(plan.search_seconds - (time.monotonic() - t0))))
        refit = plan.refit
        msg = describe_plan(plan, budget_seconds=budget_seconds, device=probe.device_name,
                            trial_seconds=epoch_s * n_epochs, refit_images=n_all)
        if plan.shortened:
            msg += (f"; each trains {n_epochs} epoch{'s' if n_epochs > 1 else ''} so its "
                    "learning-rate schedule ends within the budget (a longer --max-runtime "
                    "trains longer and searches more)")
        elif plan.fits < MIN_POPULATION:
            msg += (f"; the budget will cut them before their {n_epochs} epochs end (fewer "
                    "--epochs or a longer --max-runtime let their schedule finish)")
        elif not plan.refit and epochs is None:
            msg += "; no time is left to refit the best on every image within the budget"
        say(msg)
    train["epochs"] = n_epochs
    return {"name": name, "objective": {"metric": "val_accuracy", "goal": "maximize"},
            "train": train, "search_space": space,
            "strategy": {"type": "pbt", "seed": seed, "population": max_trials,
                         "perturbation_interval": max(1, n_epochs // 5)},
            "limits": {"max_trials": max_trials, "max_runtime": runtime,
                       **({"max_parallel": max_parallel} if max_parallel else {})},
            **({"refit": True} if refit else {})}


def epoch_row(step: int, metrics: dict[str, float]) -> list[str]:
    """One table row: the columns of :data:`EPOCH_COLUMNS` (blank where not reported)."""
    values = {"step": float(step), **metrics}
    return ["" if k not in values else _loss(values[k]) if fmt == "loss"
            else fmt.format(values[k]) for k, _, fmt in EPOCH_COLUMNS]


def _loss(v: float) -> str:
    # A diverging loss (1e14) in fixed point would push every later column out of line.
    return f"{v:.4f}" if abs(v) < 1e4 else f"{v:.3e}"


def _follow(store: str | None, name: str, done: threading.Event) -> None:
    """Print each new report of job ``name`` as a table row until ``done`` (polls the store)."""
    from tunelab.errors import StoreError
    from tunelab.store.queries import Reader

    header = "  ".join(f"{title:>10}" for _, title, _ in EPOCH_COLUMNS)
    printed = 0
    cursor = 0
    while True:  # the tuner may be creating the store (a lock) or have failed before it did
        try:
            reader = Reader.open(store)
            break
        except StoreError:
            if done.wait(0.5):
                return  # the job ended; the command reports why
    try:
        while True:
            finished = done.is_set()
            try:  # only the reports since the last poll, read without the writer's lock
                page = reader.reports_after(name, cursor)
                cursor, reports = page.cursor, page.reports
            except Exception:  # the job may not be created yet
                reports = []
            for r in reports:
                if printed == 0:
                    console.print(header, style="bold", soft_wrap=True)
                metrics = {k: math.nan if v is None else v for k, v in r.metrics.items()}
                console.print("  ".join(f"{c:>10}" for c in epoch_row(r.step, metrics)),
                              soft_wrap=True)
                printed += 1
            if finished:
                return
            done.wait(0.5)
    finally:
        reader.close()


def run_one_trial_job(spec: dict[str, Any], store: str | None, what: str) -> None:
    """Run the one-trial job ``spec``, printing a row per epoch as its reports reach the store;
    :class:`ObjectiveError` with the trial's error when it ends without a result."""
    from tunelab import api

    name = spec["name"]
    done = threading.Event()
    follower = threading.Thread(target=_follow, args=(store, name, done), daemon=True)
    follower.start()
    try:
        result = api.tune_spec(spec, store=store)
    finally:
        done.set()
        follower.join(timeout=10)
    if result.best is None:
        errors = [t["error"] for t in result.trials if t.get("error")]
        if errors:
            raise ObjectiveError(f"{what} job {name!r} failed: {errors[0]}")
        raise ObjectiveError(f"{what} job {name!r} ended {result.status} without a result.")


def train_command(
    data: Annotated[str, typer.Option("--data", help="Image folder, .csv manifest or "
                                                      "builtin:digits.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE hyperparameter; "
                                                   "repeat for more.")] = None,
    name: Annotated[str | None, typer.Option(help="Job name (default train-DATE-TIME).")] = None,
    store: Annotated[str | None, typer.Option(help="Store folder or URL.")] = None,
    out: Annotated[Path | None, typer.Option(help="Export the model here too.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the run.")] = 0,
    gpus: Annotated[str | None, typer.Option(
        "--gpus", help="GPUs it may use: all, none, or ids like 0,2 (default: all found; "
                       "it trains on the first).")] = None,
) -> None:
    """Train one image classifier with fixed hyperparameters (stored as a one-trial job)."""
    from tunelab import api
    from tunelab.vision.prepare import describe_data

    params = parse_sets(set_ or [])
    # unusable data (a missing folder, one class) is refused before a job is written; the
    # cache this fills is what the job's own load reads
    describe_data({**params, "data": data})
    name = name or time.strftime("train-%Y%m%d-%H%M%S")
    spec = train_spec(data, params, name=name, seed=seed)
    if gpus is not None:
        from tunelab.devices import gpus_option

        spec["limits"]["gpus"] = gpus_option(gpus)
    console.print(f"training job {name} (a one-trial job in the store; "
                  f"`tunelab show {name}` for its summary)", markup=False, highlight=False)
    run_one_trial_job(spec, store, "Training")
    _params, checkpoint = api.best_checkpoint(name, store=store)
    console.print(f"model saved: {checkpoint} (the best epoch by val_accuracy)", markup=False,
                  highlight=False)
    if out is not None:
        from tunelab.vision.export import export_model

        console.print(f"model exported to {export_model(checkpoint, out)}", markup=False,
                      highlight=False)
    else:
        where = f" --store {store}" if store else ""
        console.print(f"export it with `tunelab export {name} --out DIR{where}`", markup=False,
                      highlight=False)


def refit_command(
    name: Annotated[str, typer.Argument(help="Tuning job whose best configuration to retrain.")],
    out: Annotated[Path | None, typer.Option(help="Export the refit model here.")] = None,
    epochs: Annotated[int | None, typer.Option(
        help="Epochs to train (default: the epoch the best trial peaked at).")] = None,
    new_name: Annotated[str | None, typer.Option(
        "--name", help="Name of the refit job (default NAME-refit).")] = None,
    store: Annotated[str | None, typer.Option(help="Store folder or URL.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the run.")] = 0,
) -> None:
    """Retrain the best configuration of a job on all its images (training + validation).

    The tuning job held out validation images to compare trials; the refit trains on them too,
    for the epochs the best trial needed, as a one-trial job NAME-refit, then exports it."""
    from tunelab.vision.refit import last_checkpoint, refit_source, refit_spec

    source = refit_source(name, store=store)
    spec = refit_spec(source, name=new_name, epochs=epochs, seed=seed)
    n_epochs = spec["train"]["epochs"]
    console.print(f"refit job {spec['name']}: trial {source.trial} of {name} "
                  f"({source.objective} {source.metrics.get(source.objective, float('nan')):.4g}"
                  f" at epoch {source.step}), retrained for {n_epochs} epochs on the training "
                  "and validation images together", markup=False, highlight=False)
    run_one_trial_job(spec, store, "Refit")
    checkpoint = last_checkpoint(spec["name"], store=store)
    console.print(f"model saved: {checkpoint} (epoch {n_epochs}, trained on every labelled "
                  "image: no held-out score of its own)", markup=False, highlight=False)
    if out is not None:
        from tunelab.vision.export import export_model

        meta = {"source_job": name, "source_trial": source.trial,
                "source_epoch": source.step, "source_metrics": source.metrics}
        console.print(f"model exported to {export_model(checkpoint, out, refit=meta)}",
                      markup=False, highlight=False)
    else:
        where = f" --store {store}" if store else ""
        console.print(f"export it with `tunelab export {spec['name']} --out DIR{where}`",
                      markup=False, highlight=False)


def export_command(
    name: Annotated[str, typer.Argument(help="Job name.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for model.pt and model.json.")],
    store: Annotated[str | None, typer.Option(help="Store folder or URL.")] = None,
) -> None:
    """Export the best model of a job: TorchScript model.pt plus model.json."""
    from tunelab import api
    from tunelab.vision.export import export_model
    from tunelab.vision.refit import is_refit, last_checkpoint

    if is_refit(name, store=store):  # nothing held out: its model is its last epoch
        checkpoint = last_checkpoint(name, store=store)
    else:
        _params, checkpoint = api.best_checkpoint(name, store=store)
    folder = export_model(checkpoint, out)
    console.print(f"exported {checkpoint} to {folder} (model.pt, model.json)", markup=False,
                  highlight=False)


def predict_command(
    model_dir: Annotated[Path, typer.Argument(help="Folder written by `tunelab export`.")],
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    top: Annotated[int, typer.Option(help="How many classes to show.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.", metavar="")] = False,
    flip: Annotated[bool | None, typer.Option(
        "--flip/--no-flip", help="Average each image with its mirror image (models trained "
        "with hflip). Default: as the job scored validation (its flip_test).")] = None,
) -> None:
    """Print the top classes with probabilities for each image.

    An unreadable image is reported (and the exit status is 1); the others are predicted.
    """
    from tunelab.vision.export import predict

    preds = predict(model_dir, [str(p) for p in images], top_k=top, flip=flip)
    if as_json:
        typer.echo(json.dumps([
            {"image": p.image, "error": p.error} if p.error else
            {"image": p.image, "top": [{"class": c, "probability": v} for c, v in p.top]}
            for p in preds], indent=2))
    else:
        for p in preds:
            if p.error:
                err_console.print(f"{p.image}: skipped: {p.error}", markup=False,
                                  highlight=False)
            else:
                console.print(f"{p.image}: " + ", ".join(f"{c} {v:.1%}" for c, v in p.top),
                              markup=False, highlight=False)
    bad = sum(1 for p in preds if p.error)
    if bad:
        if not as_json:
            err_console.print(f"{bad} of {len(preds)} image(s) could not be read", markup=False)
        raise typer.Exit(1)


def evaluate_command(
    model_dir: Annotated[Path, typer.Argument(help="Folder written by `tunelab export`.")],
    data: Annotated[str, typer.Option("--data", help="Unseen images: folder or .csv.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.", metavar="")] = False,
    flip: Annotated[bool | None, typer.Option(
        "--flip/--no-flip", help="Average each image with its mirror image (models trained "
        "with hflip). Default: as the job scored validation (its flip_test).")] = None,
) -> None:
    """Accuracy, per-class precision and recall, and the confusion matrix on unseen data."""
    from tunelab.vision.export import evaluate

    ev = evaluate(model_dir, data, flip=flip)
    if as_json:
        typer.echo(json.dumps(ev.to_dict(), indent=2))
        return
    console.print(f"accuracy {ev.accuracy:.2%} on {ev.n} images"
                  + (" (each averaged with its mirror image)" if ev.flip else ""))
    per_class = Table("class", "precision", "recall", "images")
    for i, c in enumerate(ev.classes):
        if c in ev.recall:
            per_class.add_row(escape(c), f"{ev.precision[c]:.2%}", f"{ev.recall[c]:.2%}",
                              str(sum(ev.confusion[i])))
    console.print(per_class)
    conf = Table("true \\ predicted", *map(escape, ev.classes), title="confusion matrix")
    for c, row in zip(ev.classes, ev.confusion, strict=True):
        conf.add_row(escape(c), *map(str, row))
    console.print(conf)


def hyperparameter_help() -> str:
    """Every hyperparameter ``--set`` (and a spec's ``train:`` section) accepts, with its
    default: the epilog of ``tunelab train --help``."""
    import dataclasses

    skip = {"data", "cache_dir"}
    items = []
    for f in dataclasses.fields(TrainConfig):
        if f.name in skip:
            continue
        default = f.default
        if default is None:
            shown = "the data's" if f.name == "image_size" else "none"
        elif isinstance(default, tuple):
            shown = "-".join(f"{v:.3g}" for v in default)
        else:
            shown = str(default)
        items.append(f"{f.name}={shown}")
    return ("Hyperparameters --set accepts (default): " + ", ".join(items)
            + ", color_jitter (shorthand for brightness, contrast, saturation). "
            "The same names go in a spec's train: section and search_space.")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``refit``, ``export``, ``predict`` and ``evaluate`` to ``app``."""
    app.command("train", epilog=hyperparameter_help())(train_command)
    app.command("export")(export_command)
    app.command("refit")(refit_command)
    app.command("predict")(predict_command)
    app.command("evaluate")(evaluate_command)
