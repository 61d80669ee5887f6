"""The `tunelab` command line: plan, tune, resume, stop, jobs, show, and the image commands.

Errors a user can cause print one clear message and exit with status 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from typer._click.exceptions import UsageError  # typer vendors click; its usage errors
from typer.core import TyperGroup

from tunelab import jsonout
from tunelab.data_job import (
    DataJobOptions,
    EpochsOpt,
    MaxParallelOpt,
    MaxRuntimeOpt,
    MaxTrialsOpt,
    RefitOpt,
    SeedOpt,
    SetOpt,
    StrategyOpt,
    auto_name,
    data_job_spec,
)
from tunelab.errors import SpecError, TunelabError

console = Console()
err = Console(stderr=True)
_DEBUG = {"on": False}


def _flags_as_flags(cmd: Any, ctx: Any) -> Any:
    """Typer's help writes ``<bool>`` after an on/off flag (``--help <bool>``, ``--yes
    <bool>``) as if it took a value: flags, ``--help`` included, get no metavar."""
    help_opt = cmd.get_help_option(ctx)
    for param in [*cmd.params, *([help_opt] if help_opt is not None else [])]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return cmd


class _Group(TyperGroup):
    def get_help_option(self, ctx: Any) -> Any:
        opt = super().get_help_option(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        return _flags_as_flags(cmd, ctx) if cmd is not None else None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TunelabError as e:
            if _DEBUG["on"]:
                raise
            err.print(f"[bold red]error:[/bold red] {escape(str(e))}", highlight=False)
            raise typer.Exit(2) from None
        except UsageError as e:
            # a mistyped command line starts like every other error: "error: ..."
            where = e.ctx.command_path if e.ctx is not None else ctx.command_path
            err.print(f"[bold red]error:[/bold red] {escape(e.format_message())} "
                      f"(`{escape(where)} --help` lists what it takes)", highlight=False)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Group, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Tune the hyperparameters of training jobs.",
)

StoreOpt = Annotated[
    str, typer.Option("--store", help="Store folder (SQLite) or postgresql:// URL.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.", metavar="")]
ArtifactsOpt = Annotated[
    str | None, typer.Option("--artifacts", help="Folder for checkpoints (default: beside a "
                             "SQLite store; needed with PostgreSQL: a folder every machine "
                             "that runs trials reaches, or s3://BUCKET/PREFIX with the s3 "
                             "extra). Recorded in the job.")
]
DataOpt = Annotated[str | None, typer.Option(
    "--data", help="Image folder, .csv or builtin:digits: the built-in classifier's job.")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Job name.")]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("tunelab")
        except PackageNotFoundError:  # run from a source tree without installing
            v = "unknown (not installed)"
        print(f"tunelab {v}")
        raise typer.Exit()
ExecutorOpt = Annotated[str | None, typer.Option(
    "--executor", help="Where trials run: local, ray (the spec's executor.address, else auto) "
                       "or ray:ADDRESS (ray:10.0.0.5:6380, ray:ray://head:10001).")]
GpusOpt = Annotated[str | None, typer.Option(
    "--gpus", help="GPUs the trials may use: all, none, or ids like 0,2 (default: "
                   "limits.gpus, else all found).")]


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.",
                                        metavar="")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                          callback=_version, is_eager=True, metavar="")] = False,
) -> None:
    _DEBUG["on"] = debug


def _store(url: str) -> Any:
    from tunelab.store import Store

    return Store.open(url)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# plan ---------------------------------------------------------------------------------------------
@app.command()
def plan(spec: Annotated[Path | None, typer.Argument(
             help="Spec: YAML, JSON or SageMaker JSON.")] = None,
         data: DataOpt = None, json_out: JsonOpt = False, store: StoreOpt = "tunelab-runs",
         name: NameOpt = None, max_trials: MaxTrialsOpt = None,
         max_parallel: MaxParallelOpt = None, max_runtime: MaxRuntimeOpt = None,
         strategy: StrategyOpt = None, epochs: EpochsOpt = None, set_: SetOpt = None,
         seed: SeedOpt = None, gpus: GpusOpt = None, executor: ExecutorOpt = None,
         refit: RefitOpt = None) -> None:
    """Print what a job will run: search space, strategy, training jobs, every limit and
    completion criterion, and an estimated duration. Runs nothing.

    ``--data DIR`` (with tune's flags) plans the job ``tunelab tune --data DIR`` would run.
    Otherwise it checks everything ``tune`` checks before it writes anything (the train section
    and its code included), so a spec that plans runs. A bare SageMaker request is planned
    without a train section (it names a container image), with a notice that running needs one.
    With ``warm_start``, the parent jobs are looked up in ``--store``; nothing is written."""
    from tunelab.sagemaker import is_sagemaker_config
    from tunelab.spec import check_runnable, load_spec, read_mapping, spec_from_dict

    _spec_or_data(spec, data, "plan")
    if data is not None:
        opts = DataJobOptions(max_trials, max_parallel, max_runtime, strategy, epochs,
                              set_ or [], seed, refit)
        js = spec_from_dict(data_job_spec(data, opts, name=name))
        layout, est = _plan_estimate(js, gpus)
        _describe(js, json_out=json_out, estimate=est)
        if not json_out:
            _plan_devices(layout, est)
        return
    assert spec is not None
    js, warnings = load_spec(spec)
    if refit is not None:
        js = js.model_copy(update={"refit": refit})
        js.validate_all()
    if executor is not None:  # as tune would run it: `--executor ray:ray://head:10001`
        from tunelab.executors.factory import executor_choice

        js = js.model_copy(update={"executor": executor_choice(executor, js.executor)})
    # a bare SageMaker request names a container image and SageMaker parent jobs: it is
    # planned as it is, and what running it needs is said in warnings instead of errors
    bare = is_sagemaker_config(read_mapping(spec))
    try:
        check_runnable(js)
    except SpecError:
        t = js.train
        if not bare or (t is not None and (t.function or t.command or t.builtin)):
            raise
        warnings = [*warnings, "this SageMaker request names a training image, which tunelab "
                    "cannot run: to tune it, write a YAML spec with `sagemaker: "
                    f"{spec.name}` and a `train:` section (docs/sagemaker.md)."]
    try:
        warm = _warm_coverage(js, store)
    except SpecError as e:
        if not bare:
            raise
        warm = None
        warnings = [*warnings, f"{e} Running it needs them."]
    for w in warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(str(w))}", highlight=False)
    if js.executor is not None and js.executor.type == "ray":
        from tunelab.executors.factory import cluster_plan

        cluster = cluster_plan(js)  # before any output: a trial no node fits is an error
        layout, est = None, None
    else:
        cluster = None
        layout, est = _plan_estimate(js, gpus)
    _describe(js, json_out=json_out, warnings=warnings, warm=warm, estimate=est)
    if not json_out:
        if layout is not None:
            _plan_devices(layout, est)
        for line in cluster or []:
            console.print(line, markup=False, highlight=False)


def _plan_estimate(js: Any, gpus: str | None) -> tuple[Any, Any]:
    """``plan``'s slot layout, and for a built-in image job what a short probe of real
    training steps measures (a :class:`~tunelab.vision.probe.JobEstimate`; None otherwise)."""
    from tunelab.devices import gpus_option, layout_for

    layout = layout_for(js.limits, gpus_option(gpus))
    if js.train is None or js.train.builtin != "image-classifier":
        return layout, None
    from tunelab.estimate import estimate_spec
    from tunelab.vision.probe import measure_costs, slot_threads

    costs = measure_costs(js.static_params(), device="cuda" if layout.gpus else "cpu",
                          threads=slot_threads(layout.slots))
    return layout, estimate_spec(js, costs, slots=layout.slots)


def _plan_devices(layout: Any, est: Any) -> None:
    """``plan``'s slot layout and, for a built-in image job, the probe's device-hours."""
    console.print(f"slots: {layout.describe()}", markup=False, highlight=False)
    if est is not None:
        per = max(layout.gpus_per_trial, 1.0) if layout.gpus else 1.0
        console.print(f"estimate: {est.describe(gpus_per_trial=per)}", markup=False,
                      highlight=False)


def _spec_or_data(spec: Path | None, data: str | None, command: str) -> None:
    if (spec is None) == (data is None):
        raise SpecError.field(command, "either a SPEC file or --data", "both" if spec else
                              "neither", f"Run `tunelab {command} spec.yaml` or "
                              f"`tunelab {command} --data ./images`.")


@app.command()
def init(data: Annotated[str, typer.Option("--data", help="Image folder, .csv or "
                                           "builtin:digits.")],
         name: NameOpt = None, max_trials: MaxTrialsOpt = None,
         max_parallel: MaxParallelOpt = None, max_runtime: MaxRuntimeOpt = None,
         strategy: StrategyOpt = None, epochs: EpochsOpt = None, set_: SetOpt = None,
         seed: SeedOpt = None, refit: RefitOpt = None) -> None:
    """Print the spec `tunelab tune --data DIR` would run, as YAML, to edit and run yourself:

        tunelab init --data ./images > spec.yaml; tunelab tune spec.yaml
    """
    import yaml

    from tunelab.spec import spec_from_dict

    opts = DataJobOptions(max_trials, max_parallel, max_runtime, strategy, epochs,
                          set_ or [], seed, refit)
    d = data_job_spec(data, opts, name=name or auto_name(data, stamp=False))
    spec_from_dict(d)  # what is printed is a valid spec
    print(f"# tunelab spec for {data}: `tunelab plan spec.yaml` shows what it runs, "
          "`tunelab tune spec.yaml` runs it.\n# Every trainer hyperparameter: "
          "`tunelab train --help`.")
    print(yaml.safe_dump(d, sort_keys=False), end="")


def _warm_coverage(js: Any, url: str) -> list[tuple[str, int, int]] | None:
    """(parent, trials inside the space, finished trials) per warm-start parent, checked as
    ``tune`` checks them; None without warm_start. A missing store is not created."""
    if js.warm_start is None:
        return None
    from tunelab.errors import SpecError
    from tunelab.strategies.bayes_encoding import SpaceEncoder
    from tunelab.strategies.warm_start import parent_coverage
    from tunelab.tuner import warm_start_parents

    if "://" not in url and not Path(url).exists():
        raise SpecError.field(
            "warm_start.parents", "names of finished jobs in the store",
            list(js.warm_start.parents),
            f"There is no store at {url!r}: pass the one that holds them with --store.",
        )
    st = _store(url)
    try:
        parents = warm_start_parents(js, st) or []
    finally:
        st.close()
    return parent_coverage(parents, SpaceEncoder(js.space()).fits)


def _fit_batch_size(js: Any, d: dict[str, Any]) -> bool:
    """A built-in job's searched batch_size range is capped at what fits in memory for its
    largest model (as `batch_size: auto` would choose), with a notice; True if it changed."""
    space = js.search_space
    if (js.train is None or js.train.builtin != "image-classifier"
            or not isinstance(space.get("batch_size"), dict)):
        return False
    from tunelab.vision.batch_size import cap_batch_size_space
    from tunelab.vision.prepare import batch_size_limit

    searched = js.space().to_dict()
    shaped = sorted(k for k in ("model", "width", "depth", "image_size") if k in searched)
    if shaped:  # each trial fits its own model (tunelab.vision.batch_size.fit_batch_size)
        err.print(f"notice: batch_size is searched with {', '.join(shaped)}: a trial whose "
                  "batch does not fit its own model in memory trains with the largest that "
                  "does, and says so", markup=False, highlight=False)
    limit = batch_size_limit(js.static_params(), searched, memory=not shaped)
    capped = cap_batch_size_space(searched, limit)["batch_size"]
    if capped == searched["batch_size"]:
        return False
    now = (", ".join(map(str, capped["values"])) if "values" in capped
           else f"{capped['low']}..{capped['high']}")
    why = ("the training set's size" if shaped else "the largest that fits in memory (and the "
           "training set) for this job's largest model")
    err.print(f"notice: batch_size capped at {limit}, {why}; searching {now}", markup=False,
              highlight=False)
    d["search_space"] = {**space, "batch_size": capped}
    return True


def _describe(js: Any, *, json_out: bool = False, warnings: list[str] | None = None,
              out: Console = console, warm: list[tuple[str, int, int]] | None = None,
              estimate: Any = None) -> None:
    """What a spec will run: its search space, static values, objective, strategy, job count;
    the duration from ``estimate``'s measured seconds per epoch when a probe ran (``plan``)."""
    from tunelab.composition import build_search
    from tunelab.report.plan import estimate_line, limit_lines
    from tunelab.strategies.warm_start import coverage_dicts, coverage_message

    space = js.space()
    strategy, scheduler = build_search(js, space)
    size = strategy.size()
    n = js.limits.max_trials or size or 20
    if size is not None:
        n = min(n, size)
    measured = ({"epoch_seconds": estimate.epoch_seconds,
                 "measured_on": f"on {estimate.device_name}"} if estimate is not None else {})
    if json_out:
        print(jsonout.dumps({
            "name": js.name, "objective": js.objective.model_dump(),
            "strategy": js.strategy.model_dump(), "search_space": space.to_dict(),
            "static": js.static_params(), "training_jobs": n, "grid_size": space.grid_size(),
            "warnings": warnings or [], "limits": js.limits.model_dump(),
            "completion": js.completion.model_dump(), "refit": js.refit,
            "estimate": estimate_line(js, n, **measured),
            **({"warm_start": coverage_dicts(warm)} if warm is not None else {})}))
        return
    t = Table(title=f"search space of {js.name}")
    for col in ("parameter", "type", "range / values", "scale"):
        t.add_column(col)
    for name, p in space.items():
        d = p.to_dict()
        rng = (", ".join(map(str, d["values"])) if "values" in d
               else f"[{_fmt(d['low'])}, {_fmt(d['high'])}]" + (
                   f" step {d['step']}" if "step" in d else ""))
        t.add_row(name, d["type"], escape(rng),
                  d.get("scale", "linear" if d["type"] != "choice" else ""))
    out.print(t)
    if js.static_params():
        out.print("static: " + ", ".join(f"{k}={v}" for k, v in js.static_params().items()),
                  markup=False, highlight=False)
    out.print(f"objective: {js.objective.goal} {js.objective.metric}", markup=False)
    out.print(f"strategy: {js.strategy.type} (seed {js.strategy.seed})"
              + (f", scheduler {scheduler.name}" if scheduler.name != "fifo" else ""),
              markup=False)
    if warm is not None:
        out.print(f"warm start: {coverage_message(js.warm_start.type, warm)}", markup=False)
    grid = f" (grid of {size})" if js.strategy.type == "grid" else ""
    on_ray = js.executor is not None and js.executor.type == "ray"
    at_once = (f"at most {js.limits.max_parallel} at a time" if js.limits.max_parallel
               else "as many at a time as the Ray cluster fits (below)" if on_ray
               else "one at a time per GPU slot (1 on the CPU)")
    out.print(f"training jobs: {n}{grid}, {at_once}", markup=False)
    for line in [*limit_lines(js, n), estimate_line(js, n, **measured)]:
        out.print(line, markup=False, highlight=False)


# tune / resume ------------------------------------------------------------------------------------
def _progress_runner(fn: Any) -> Any:
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), console=err, transient=False,
    ) as bar:
        task = bar.add_task("trials", total=None, info="starting workers…")

        def on_progress(p: Any) -> None:
            done = sum(v for k, v in p.counts.items()
                       if k in ("completed", "pruned", "failed", "timed_out", "stopped"))
            running = p.counts.get("running", 0)
            failed = p.counts.get("failed", 0) + p.counts.get("timed_out", 0)
            best = "—" if p.best_value is None else f"{p.best_value:.5g} (#{p.best_number})"
            eta = "" if p.remaining is None else f" · ~{_duration(p.remaining)} left"
            bar.update(task, total=p.max_trials, completed=done,
                       info=f"running {running} · failed {failed} · best {best} · "
                            f"{_duration(p.elapsed)}{eta}{_epochs(p.running)}")

        return fn(on_progress)


def _duration(seconds: float) -> str:
    from tunelab.report.plan import fmt_duration

    return fmt_duration(seconds)


def _epochs(running: Any) -> str:
    """Per-trial epoch progress of the running trials: `#3 epoch 4/15`, the first four."""
    shown = [f"#{n} epoch {done}/{total}" if total else f"#{n} step {done}"
             for n, done, total in list(running)[:4]]
    more = f" +{len(running) - 4}" if len(running) > 4 else ""
    return (" · " + ", ".join(shown) + more) if shown else ""


@app.command()
def tune(
    spec: Annotated[Path | None, typer.Argument(help="Spec file (YAML/JSON/SageMaker).")] = None,
    data: DataOpt = None,
    store: StoreOpt = "tunelab-runs",
    name: NameOpt = None,
    max_trials: MaxTrialsOpt = None,
    max_parallel: MaxParallelOpt = None,
    max_runtime: MaxRuntimeOpt = None,
    strategy: StrategyOpt = None,
    epochs: EpochsOpt = None,
    set_: SetOpt = None,
    seed: SeedOpt = None,
    json_out: JsonOpt = False,
    artifacts: ArtifactsOpt = None,
    gpus: GpusOpt = None,
    executor: ExecutorOpt = None,
    refit: RefitOpt = None,
) -> None:
    """Run a tuning job in the foreground with live progress, then print the leaderboard.

    With ``--data DIR`` (no spec), tune the built-in image classifier: the default job is
    printed first; ``--strategy``, ``--epochs``, ``--set``, ``--max-runtime``, ``--seed``
    change it (``tunelab init --data DIR`` prints it as a spec to edit)."""
    from tunelab.spec import load_spec_dict, spec_from_dict
    from tunelab.store import Store
    from tunelab.tuner import Tuner

    _spec_or_data(spec, data, "tune")
    if spec is not None:
        data_only = [flag for flag, v in (("--strategy", strategy), ("--epochs", epochs),
                                          ("--set", set_), ("--seed", seed)) if v]
        if data_only:
            raise SpecError.field(
                ", ".join(data_only), "used with --data", str(spec),
                "With a spec file, change the spec itself (`tunelab init --data DIR` prints "
                "one to start from).")
        d, warnings = load_spec_dict(spec)
        if max_runtime is not None:
            from tunelab.spec import parse_duration

            d.setdefault("limits", {})["max_runtime"] = parse_duration(max_runtime,
                                                                       "--max-runtime")
    else:
        assert data is not None
        opts = DataJobOptions(max_trials, max_parallel, max_runtime, strategy, epochs,
                              set_ or [], seed, refit)
        d = data_job_spec(data, opts, name=name,
                          notify=lambda m: err.print(m, markup=False, highlight=False))
        warnings = []
    if name:
        d["name"] = name
    if refit is not None:
        d["refit"] = refit
    if max_trials is not None:
        d.setdefault("limits", {})["max_trials"] = max_trials
    if max_parallel is not None:
        d.setdefault("limits", {})["max_parallel"] = max_parallel
    if gpus is not None:
        from tunelab.devices import gpus_option

        d.setdefault("limits", {})["gpus"] = gpus_option(gpus)
    if executor is not None:
        from tunelab.executors.factory import executor_choice
        from tunelab.spec import ExecutorSpec

        current = d.get("executor")
        chosen = executor_choice(executor, ExecutorSpec.model_validate(current)
                                 if isinstance(current, dict) else None)
        d["executor"] = chosen.model_dump() if chosen is not None else None
    for w in warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(str(w))}", highlight=False)
    js = spec_from_dict(d)
    if spec is not None and _fit_batch_size(js, d):
        js = spec_from_dict(d)
    if spec is None:
        err.print(f"[bold]No spec given[/bold]: tuning the built-in image classifier on "
                  f"{escape(str(data))} with this default ({js.strategy.type}, "
                  f"{js.limits.max_trials} trials; `--strategy`, `--epochs`, `--set`, "
                  "`--max-trials`, `--max-runtime`, or `tunelab init --data DIR > spec.yaml` "
                  "for a spec to edit):", highlight=False)
        _describe(js, out=err)
    st = Store.open(store, artifacts=artifacts)
    tuner = Tuner.create(js, st) if not json_out else None

    def go(progress: Any) -> str:
        t = tuner or Tuner.create(js, st)
        t._progress = progress
        return t.run()

    # the handler stays until the command ends: a second press must not cut the summary short
    with _ctrl_c_once(js.name) as interrupted:
        status = go(None) if json_out else _progress_runner(go)
        _finish(st, js, store, status, interrupted, json_out)


def _finish(st: Any, js: Any, store: str, status: str, interrupted: list[bool],
            json_out: bool) -> None:
    """After ``tune`` or ``resume`` ran job ``js``: its summary, the refit its spec asks for,
    the command to run next, the exit code."""
    refit_done = None
    if not json_out:
        _show(st, js.name, json_out)
    if js.refit and not interrupted:
        refit_done = _refit_after(st, js.name, status, json_out)
    if json_out:
        summary = _summary(st, js.name)
        if refit_done is not None:
            summary["refit"] = refit_done.to_dict()
        _show_summary(summary, json_out)
    st.close()
    if interrupted and refit_done is not None and refit_done.job and not refit_done.skipped:
        _exit_for(refit_done.job, refit_done.status or "stopped", interrupted)  # in the refit
    if not json_out:
        _next_hint(js, store, refit_done)
    _exit_for(js.name, status, interrupted)


def _refit_after(st: Any, name: str, status: str, json_out: bool) -> Any:
    """Run the refit a ``refit: true`` job asks for once its search is over (live progress
    unless ``json_out``) and say what it did; the :class:`RefitAfter`."""
    from tunelab.vision.refit import refit_after_search

    if not json_out and status == "completed":
        err.print(f"refit: retraining the best configuration of {name} on the training and "
                  f"validation images together, as job {name}-refit", markup=False,
                  highlight=False)
    _RUNNING.append(f"{name}-refit")  # what a Ctrl-C now stops
    try:
        if json_out:
            done = refit_after_search(st, name, status)
        else:
            done = _progress_runner(lambda p: refit_after_search(st, name, status, progress=p))
    finally:
        _RUNNING.pop()
    if done.skipped and not json_out:
        err.print(f"refit: none run: {done.skipped}", markup=False, highlight=False)
    elif done.job and not json_out:
        err.print(f"refit: job {done.job} {done.status}: trial {done.trial}'s configuration, "
                  f"{done.epochs} epochs, {_duration(done.seconds or 0.0)}", markup=False,
                  highlight=False)
    return done


def _next_hint(js: Any, store: str, refit_done: Any) -> None:
    """The command to run next: export the refit model, or refit/export the best trial."""
    where = "" if store == "tunelab-runs" else f" --store {store}"
    if refit_done is not None and refit_done.status == "completed":
        err.print(f"next: `tunelab export {refit_done.job} --out model{where}` exports the "
                  f"refit model (trained on every image); `tunelab export {js.name} --out "
                  f"model{where}` the best trial as it is.", markup=False, highlight=False)
    elif js.train is not None and js.train.builtin and \
            not js.static_params().get("train_on_validation") and \
            _refittable(js.name, store):
        err.print(f"next: `tunelab refit {js.name} --out model{where}` retrains the best "
                  "configuration on every image (validation included) and exports it; "
                  f"`tunelab export {js.name} --out model{where}` exports the best trial "
                  "as it is.", markup=False, highlight=False)


def _refittable(name: str, store: str) -> bool:
    """Whether job ``name`` has a best trial with a checkpoint (what refit and export need)."""
    from tunelab.vision.refit import refit_source

    try:
        refit_source(name, store=store)
    except TunelabError:
        return False
    return True


@app.command()
def resume(name: str, store: StoreOpt = "tunelab-runs", json_out: JsonOpt = False,
           artifacts: ArtifactsOpt = None, gpus: GpusOpt = None,
           executor: ExecutorOpt = None, max_runtime: MaxRuntimeOpt = None) -> None:
    """Continue a stopped or crashed job: interrupted trials re-run from their checkpoints.

    A job that ended at its max_runtime continues the trials it cut, given a longer
    ``--max-runtime`` (a new total, recorded in the job's spec). The job's checkpoints are
    found in the artifact folder it recorded, from any working directory; ``--artifacts``
    points elsewhere (the shared folder is mounted at another path here) and is recorded."""
    from tunelab.devices import gpus_option
    from tunelab.spec import parse_duration, spec_from_dict
    from tunelab.store import Store
    from tunelab.tuner import Tuner

    chosen = gpus_option(gpus)
    st = Store.open(store, artifacts=artifacts)

    def go(progress: Any) -> str:
        t = Tuner.resume(name, st, progress=progress, gpus=chosen,
                         max_runtime=parse_duration(max_runtime, "--max-runtime"))
        if executor is not None:  # this run only: the job's recorded spec stays as it was
            from tunelab.executors.factory import executor_choice

            t.spec = t.spec.model_copy(
                update={"executor": executor_choice(executor, t.spec.executor)})
        return t.run()

    with _ctrl_c_once(name) as interrupted:
        status = go(None) if json_out else _progress_runner(go)
        _finish(st, spec_from_dict(st.read().job(name).spec), store, status, interrupted,
                json_out)


#: The job a Ctrl-C stops when it is not the one the command named (the refit after a search).
_RUNNING: list[str] = []


@contextlib.contextmanager
def _ctrl_c_once(name: str) -> Iterator[list[bool]]:
    """The first Ctrl-C stops the job (the tuner stops and records the running trials); the
    ones after it are answered, not obeyed, so a quick second press cannot leave trials
    recorded as running. Yields a flag list: ``[True]`` once Ctrl-C was pressed."""
    import signal
    import threading

    pressed: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return

    def on_sigint(_signum: int, _frame: Any) -> None:
        if pressed:
            err.print("Ctrl-C again: ignored while the job is stopped and recorded; "
                      "this ends by itself", markup=False, highlight=False)
            return
        pressed.append(True)
        job = _RUNNING[-1] if _RUNNING else name  # the refit, once it runs
        err.print(f"Ctrl-C: stopping job {job}; its running trials are stopped and recorded "
                  f"(`tunelab resume {job}` continues it)", markup=False, highlight=False)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield pressed
    finally:
        # After a Ctrl-C the command is ending: a second press that lands between here and the
        # process's exit (the stop can take well under the 50 ms between two presses) must not
        # turn exit 130 into a death by SIGINT. In-process callers get their handler back.
        ending = pressed and _ENTRY_POINT
        signal.signal(signal.SIGINT, signal.SIG_IGN if ending else previous)


def _exit_for(name: str, status: str, interrupted: list[bool]) -> None:
    """Exit 130 after Ctrl-C (the shell's convention), 1 when the job failed, else 0."""
    if interrupted:
        err.print(f"interrupted: job {name} is {status}; `tunelab resume {name}` continues it",
                  markup=False, highlight=False)
        raise typer.Exit(130)
    if status == "failed":
        raise typer.Exit(1)


@app.command()
def stop(name: str, store: StoreOpt = "tunelab-runs") -> None:
    """Ask a running job to stop: running trials are stopped and recorded as stopped."""
    from tunelab.store.queries import Reader

    with Reader.open(store) as reader:
        reader.request_stop(name, "the command line")
    console.print(f"stop requested for {name}; its tuner stops the running trials now.")


@app.command()
def delete(
    name: str, store: StoreOpt = "tunelab-runs",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a job: its rows in the store and its files under the artifact root.

    A running job (live lease) is refused. Only paths inside the artifact root are removed."""
    from tunelab.errors import JobBusyError
    from tunelab.jobdelete import delete_job_files, job_folder

    st = _store(store)
    try:
        job = st.read().job(name)
        if job.lease_owner is not None and (job.lease_until or 0) > time.time():
            raise JobBusyError(f"job {name!r} is running (held by {job.lease_owner}); stop it "
                               f"with `tunelab stop {name}` first, then delete it.")
        n = len(st.read().trials(job.id, with_reports=False))
        if not yes and not typer.confirm(
                f"Delete job {name!r} ({job.status}, {n} trials) and its files under "
                f"{job_folder(st, name) or 'no artifact folder'}?", err=True):
            err.print("nothing deleted.")
            raise typer.Exit(1)
        removed = delete_job_files(st, name)  # files first: a rerun finishes a cut-off delete
        with st.transaction() as tx:
            tx.delete_job(tx.job(name).id)
    finally:
        st.close()
    console.print(f"deleted job {name} ({n} trials" + (", its artifact folder" if removed
                  else "") + ")", markup=False, highlight=False)


# jobs / show --------------------------------------------------------------------------------------
@app.command()
def jobs(store: StoreOpt = "tunelab-runs", json_out: JsonOpt = False) -> None:
    """List the tuning jobs in the store."""
    from tunelab.store.queries import Reader

    with Reader.open(store) as reader:
        listed = reader.jobs()
    if json_out:
        print(jsonout.dumps([{"name": j.name, "status": j.status, "metric": j.metric,
                              "goal": j.goal, "trials": j.trials, "best": j.best,
                              "strategy": j.strategy, "created_at": j.created_at,
                              "counts": j.counts, "device_hours": j.device_hours}
                             for j in listed]))
        return
    from tunelab.report.render import render_jobs

    render_jobs(console, [{"name": j.name, "status": j.status, "strategy": j.strategy,
                           "trials": j.trials, "best": j.best, "goal": j.goal,
                           "metric": j.metric, "created_at": j.created_at} for j in listed])


@app.command()
def show(name: str, store: StoreOpt = "tunelab-runs", json_out: JsonOpt = False,
         top: Annotated[int, typer.Option("--top", help="Rows in the leaderboard.")] = 20
         ) -> None:
    """Print a job's leaderboard, state counts, best parameters, diagnosis and cost."""
    from tunelab.store.queries import Reader

    with Reader.open(store) as reader:
        _show_summary(reader.job_summary(name).model_dump(), json_out, top=top)


def _show(st: Any, name: str, json_out: bool, *, top: int = 20) -> None:
    _show_summary(_summary(st, name), json_out, top=top)


def _summary(st: Any, name: str) -> dict[str, Any]:
    from tunelab.report.summary import job_summary

    return job_summary(st, name)


def _show_summary(summary: dict[str, Any], json_out: bool, *, top: int = 20) -> None:
    from tunelab.report.render import render_summary

    if json_out:
        print(jsonout.dumps(summary))
        return
    render_summary(console, summary, top=top)


def _register_vision() -> None:
    from tunelab.vision.commands import register

    register(app)


_register_vision()


def _register_server() -> None:
    from tunelab.server.commands import register

    register(app)


_register_server()


_ENTRY_POINT = False  # True when this process is the `tunelab` command itself (main())


def main() -> None:
    """Entry point of the `tunelab` script."""
    global _ENTRY_POINT
    _ENTRY_POINT = True
    # The tuner's own PyTorch (the Bayesian strategy's model fits) with threads that sleep
    # while they wait, as the workers' (devices.thread_env), before anything loads OpenMP:
    # beside one busy program, ask(8) at 128 observations took 15.5 s spinning, 0.97 s passive.
    if not os.environ.get("OMP_WAIT_POLICY"):
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        app()
    except TunelabError as e:  # raised outside a command (e.g. while parsing)
        if "--debug" in sys.argv:
            raise
        err.print(f"[bold red]error:[/bold red] {escape(str(e))}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
