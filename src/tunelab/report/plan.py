"""What ``tunelab plan`` says about a job besides its space: every limit, every completion
criterion, the work it amounts to and an estimated duration.

The estimate is honest about what it knows: without a measured time per epoch (a probe of the
built-in trainer, or nothing for your own code) it gives the bound that ``max_runtime`` sets, or
says it has none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunelab.spec import JobSpec


def fmt_duration(seconds: float) -> str:
    """90 -> '1m30s', 5400 -> '1h30m', 12 -> '12s'."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{m}m{r:02d}s" if r else f"{m}m"
    h, r = divmod(s, 3600)
    return f"{h}h{r // 60:02d}m" if r >= 60 else f"{h}h"


def limit_lines(js: JobSpec, n_trials: int) -> list[str]:
    """One line for the limits and one for the completion criteria, every field named; one
    more for the refit when the spec asks for one."""
    lim = js.limits

    def dur(v: float | None) -> str:
        return "none" if v is None else fmt_duration(v)

    on_ray = js.executor is not None and js.executor.type == "ray"
    default = "as many as the cluster fits" if on_ray else "one per GPU slot, 1 on the CPU"
    limits = (f"limits: max_trials {lim.max_trials if lim.max_trials else f'none ({n_trials})'}"
              f" · max_parallel {lim.max_parallel or default}"
              f" · max_runtime {dur(lim.max_runtime)}"
              f" · max_trial_runtime {dur(lim.max_trial_runtime)}"
              f" · max_retries {lim.max_retries}")
    extra = getattr(lim, "max_failures", None)  # present once the spec has it
    if extra is not None:
        limits += f" · max_failures {extra}"
    c = js.completion
    crit = [f"target {c.target}" if c.target is not None else "",
            f"no_improvement_trials {c.no_improvement_trials}"
            if c.no_improvement_trials is not None else "",
            "convergence" if c.convergence else ""]
    given = [x for x in crit if x]
    completion = ("completion: " + " · ".join(given) if given
                  else "completion: none (the job ends when its trials or limits are used up)")
    if not js.refit:
        return [limits, completion]
    return [limits, completion, f"refit: once the search completes, job {js.name}-refit "
            "retrains the best configuration on the training and validation images together "
            "(`tunelab export` it for the model)"]


def epochs_per_trial(js: JobSpec) -> int | None:
    """Epochs (steps) a full trial trains, from static ``epochs`` or the scheduler's maximum."""
    opts: dict[str, Any] = js.strategy.options()
    for key in ("max_steps", "max_epochs", "max_resource"):
        if isinstance(opts.get(key), int):
            return int(opts[key])
    epochs = js.static_params().get("epochs")
    if isinstance(epochs, int) and not isinstance(epochs, bool):
        return epochs
    return None


def estimate_line(js: JobSpec, n_trials: int, *, epoch_seconds: float | None = None,
                  measured_on: str = "") -> str:
    """The estimated duration: trials × epochs × measured seconds per epoch over the slots,
    capped by ``max_runtime``; without a measurement only the ``max_runtime`` bound."""
    epochs = epochs_per_trial(js)
    parallel = max(1, min(js.limits.max_parallel or 1, n_trials))
    cap = js.limits.max_runtime
    bound = f"; max_runtime ends it by {fmt_duration(cap)}" if cap is not None else ""
    if epoch_seconds is None or epochs is None:
        what = f"{n_trials} trials" + (f" × {epochs} epochs" if epochs else "")
        if cap is not None:
            return (f"estimated duration: at most {fmt_duration(cap)} (max_runtime); "
                    f"{what}, time per epoch not known before a trial runs")
        return (f"estimated duration: unknown ({what}, time per epoch not known before a trial "
                "runs; set limits.max_runtime to bound it)")
    total = n_trials * epochs * epoch_seconds / parallel
    on = f" {measured_on}" if measured_on else ""
    est = f"~{fmt_duration(total)}"
    if cap is not None and total > cap:
        est = f"{fmt_duration(cap)} (max_runtime; the full plan needs ~{fmt_duration(total)})"
        bound = ""
    early = " at most" if js.strategy.type == "hyperband" or js.early_stopping == "auto" else ""
    return (f"estimated duration:{early} {est} ({n_trials} trials × {epochs} epochs at "
            f"{epoch_seconds:.2g} s/epoch measured{on}, {parallel} at a time){bound}")
