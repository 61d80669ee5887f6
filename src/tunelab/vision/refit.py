"""Refit: retrain a tuned image job's best configuration on all its labelled images.

A tuning job holds out ``validation_percent`` of the images to compare trials. Once the
comparison is made, those images are worth more as training data: ``tunelab refit NAME`` runs a
one-trial job (``NAME-refit``) with the best trial's hyperparameters on the training and
validation images together (``train_on_validation``), for as many epochs as the best trial's
best checkpoint had trained, and exports its last epoch. The practice of Keras Tuner's "retrain
on the full data" and of scikit-learn's ``refit=True``.

The refit model has no held-out score of its own (a ``test_data`` folder still is scored); its
``model.json`` records the source job, trial and the validation metrics that chose it.

    spec = refit_spec("photos", store=None)        # the one-trial job it runs
    refit_command("photos", out=Path("model/"))     # run it and export
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.errors import SpecError

if TYPE_CHECKING:
    from tunelab.store import Store, Tx


@dataclass(frozen=True)
class RefitSource:
    """What a refit takes from its source job: the best trial and the epoch it peaked at."""

    job: str
    trial: int
    step: int
    params: dict[str, Any]
    metrics: dict[str, float]
    objective: str


def refit_source(name: str, *, store: str | Path | None = None) -> RefitSource:
    """The best trial of job ``name`` (the one ``show`` names best) with its parameters
    (static merged in), the step of its best checkpoint and the metrics reported there.

    Refused in one line: a job that does not train the built-in image classifier, one with no
    trial with a value yet, a best trial without a checkpoint, a job that is itself a refit."""
    from tunelab.store import Store

    st = Store.open(store)
    try:
        return source_in(st.read(), name)
    finally:
        st.close()


def source_in(tx: Tx, name: str) -> RefitSource:
    """:func:`refit_source` read through ``tx`` (a store's, or the dashboard's read-only
    snapshot: ``Tx(conn)``)."""
    from tunelab.jobstate import JobState
    from tunelab.spec import spec_from_dict

    job = tx.job(name)
    js = spec_from_dict(job.spec)
    if js.train is None or js.train.builtin != "image-classifier":
        raise SpecError.field("job", "a job of the built-in image trainer "
                              "(`train: {builtin: image-classifier}`)", name,
                              "Refit retrains the built-in trainer; retrain your own "
                              "objective with its best parameters (`tunelab show NAME`).")
    static = js.static_params()
    if static.get("train_on_validation"):
        raise SpecError.field("job", "a tuning job (this one is already a refit)", name,
                              "Export it with `tunelab export NAME --out DIR`.")
    state = JobState.load(tx, job)
    best = state.leader()
    if best is None:
        raise SpecError(f"job {name!r} has no trial with a value yet: nothing to refit. "
                        f"Wait for a trial to finish (`tunelab show {name}`).")
    ck = state.best_checkpoint(best)
    if ck is None:
        raise SpecError(f"the best trial ({best.number}) of job {name!r} kept no "
                        "checkpoint, so the epoch it peaked at is unknown; refit with "
                        "--epochs N.")
    metrics = next((dict(r.metrics) for r in best.reports if r.step == ck.step), {})
    params = {**static, **best.params}
    return RefitSource(name, best.number, ck.step, params,
                       {k: float(v) for k, v in metrics.items()
                        if isinstance(v, int | float)}, js.objective.metric)


def refit_spec(source: RefitSource, *, name: str | None = None, epochs: int | None = None,
               seed: int = 0) -> dict[str, Any]:
    """The one-trial job that retrains ``source``'s configuration on train + validation:
    ``epochs`` (default: the step of the source's best checkpoint) with its learning-rate
    schedule spread over them, judged by training loss (no image is held out)."""
    from tunelab.vision.config import TrainConfig

    n_epochs = source.step if epochs is None else epochs
    if n_epochs < 1:
        raise SpecError.field("--epochs", "a positive number of epochs", n_epochs)
    train = {k: v for k, v in source.params.items() if k != "builtin"}
    train |= {"epochs": n_epochs, "train_on_validation": True}
    train.pop("early_stop", None)  # nothing held out to stop on; the epochs are chosen
    TrainConfig.from_params(train)  # a value the trainer would refuse fails here
    return {"name": name or f"{source.job}-refit",
            "objective": {"metric": "train_loss", "goal": "minimize"},
            "train": {"builtin": "image-classifier", **train},
            "strategy": {"type": "manual", "seed": seed},
            "limits": {"max_trials": 1, "max_parallel": 1}}


def is_refit(name: str, *, store: str | Path | None = None) -> bool:
    """Whether job ``name`` trains on its validation images (a refit: its model is its last
    epoch, since no held-out value can pick a better one)."""
    from tunelab.spec import spec_from_dict
    from tunelab.store import Store

    st = Store.open(store)
    try:
        js = spec_from_dict(st.read().job(name).spec)
        return bool(js.train and js.train.builtin and
                    js.static_params().get("train_on_validation"))
    finally:
        st.close()


def last_checkpoint(name: str, *, store: str | Path | None = None) -> Path:
    """The last checkpoint of the only trial of refit job ``name``, verified by its sha256."""
    from tunelab.jobstate import JobState
    from tunelab.store import Store

    st = Store.open(store)
    try:
        tx = st.read()
        job = tx.job(name)
        state = JobState.load(tx, job)
        done = [t for t in state.trials.values() if t.live_checkpoints()]
        if not done:
            raise SpecError(f"refit job {name!r} wrote no checkpoint; see `tunelab show {name}`.")
        ck = max(done, key=lambda t: t.number).live_checkpoints()[-1]
        arts = st.artifacts_for(job)
        arts.verify(ck.path, ck.sha256)
        return arts.resolve(ck.path)
    finally:
        st.close()


@dataclass(frozen=True)
class RefitAfter:
    """What :func:`refit_after_search` did: the refit job it ran (``job``, its final
    ``status``, the ``epochs`` and ``seconds`` it took), or why it ran none (``skipped``)."""

    source: str
    job: str | None = None
    status: str | None = None
    trial: int | None = None
    epochs: int | None = None
    seconds: float | None = None
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def refit_after_search(st: Store, name: str, status: str, *, progress: Any = None) -> RefitAfter:
    """The refit a spec with ``refit: true`` asks for once its search (job ``name``, ended
    with ``status``) is over: :func:`refit_spec` of its best trial run as job NAME-refit in
    the same store, reporting to ``progress`` (a tuner's progress callback). None is run when
    the search did not complete (stopped, failed: ``resume`` continues it and refits then),
    the refit job exists already (a refit cut short is resumed as its own job), or there is
    nothing to refit; ``skipped`` says which."""
    import time

    from tunelab.errors import JobNotFound, TunelabError
    from tunelab.spec import spec_from_dict
    from tunelab.trial import JobStatus
    from tunelab.tuner import Tuner

    if status != JobStatus.COMPLETED.value:
        return RefitAfter(name, skipped=f"the search is {status}, not completed")
    try:
        source = source_in(st.read(), name)
    except TunelabError as e:
        return RefitAfter(name, skipped=str(e))
    spec = refit_spec(source)
    try:
        done = st.read().job(spec["name"]).status
    except JobNotFound:
        done = None
    if done is not None:  # refit already, or cut short: that job is resumed as any job is
        again = "" if done == JobStatus.COMPLETED.value else \
            f": `tunelab resume {spec['name']}` continues it"
        return RefitAfter(name, spec["name"], done, source.trial,
                          skipped=f"job {spec['name']} exists ({done}){again}")
    t0 = time.monotonic()
    tuner = Tuner.create(spec_from_dict(spec), st, progress=progress)
    end = tuner.run()
    return RefitAfter(name, spec["name"], end, source.trial, int(spec["train"]["epochs"]),
                      time.monotonic() - t0)
