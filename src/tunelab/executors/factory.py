"""Which executor runs a job's trials: the spec's ``executor`` section, read in one place.

The local executor is built by the tuner itself (its slots follow the GPUs found, see
:mod:`tunelab.devices`); a cluster executor is opened here — *before* the job is written, so a
cluster that is not there, a trial no node fits or an artifact folder the nodes cannot write is
refused in one line with nothing in the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunelab.executors.base import Executor

if TYPE_CHECKING:
    from tunelab.recorder import JobRecorder
    from tunelab.spec import ExecutorSpec, JobSpec


def executor_choice(value: str, current: ExecutorSpec | None) -> ExecutorSpec | None:
    """The ``--executor`` option of ``tune`` and ``resume``: ``local``, ``ray`` (the spec's
    address, else ``auto``) or ``ray:ADDRESS`` (``ray:10.0.0.5:6380``, ``ray:ray://h:10001``)."""
    from tunelab.errors import SpecError
    from tunelab.spec import ExecutorSpec

    if value == "local":
        return None
    if value == "ray" or value.startswith("ray:"):
        base = current if current is not None and current.type == "ray" else ExecutorSpec()
        address = value[4:] if value.startswith("ray:") else base.address
        if not address:
            raise SpecError.field("--executor", "local, ray or ray:ADDRESS", value,
                                  "E.g. --executor ray:127.0.0.1:6380.")
        return base.model_copy(update={"type": "ray", "address": address})
    raise SpecError.field("--executor", "local, ray or ray:ADDRESS", value,
                          "E.g. --executor ray, or --executor ray:ray://head:10001.")


def open_for_spec(spec: JobSpec, artifact_root: str | None) -> Executor | None:
    """The cluster executor the spec asks for, connected and checked (None: local).

    An object-storage artifact root (``s3://bucket/prefix``) is probed first, whatever the
    executor: a probe object written and removed from here, so a bucket that does not exist or
    an endpoint that does not answer is refused in one line before the job is written."""
    ex = spec.executor
    if artifact_root is not None:
        check_remote_root(artifact_root)
    if ex is None or ex.type == "local":
        return None
    from tunelab.executors.ray_executor import RayExecutor
    from tunelab.executors.ray_nodes import check_artifact_root

    executor = RayExecutor(
        ex.address, max_parallel=spec.limits.max_parallel, cpus_per_trial=ex.cpus_per_trial,
        gpus_per_trial=spec.limits.gpus_per_trial or 0.0, resources=ex.resources)
    try:
        if artifact_root is not None:
            check_artifact_root(artifact_root)
        executor.warm_up()  # actor start-up is not charged to the first trials
    except BaseException:
        executor.shutdown()
        raise
    return executor


def check_remote_root(root: str) -> None:
    """Raise :class:`~tunelab.errors.StoreError` (one line) unless an object-storage ``root``
    takes a probe object from this machine; a folder is left to the executor."""
    from tunelab.errors import StoreError
    from tunelab.store.artifacts import is_remote, open_artifacts

    if not is_remote(root):
        return  # the local fast path: the worker creates the folder; the Ray probe checks it
    why = open_artifacts(root).probe()
    if why is not None:
        raise StoreError(f"the artifact location {root} cannot be written ({why}): check the "
                         "bucket's name, the endpoint (AWS_ENDPOINT_URL) and the credentials, "
                         "or choose another with --artifacts")


def record_executor(rec: JobRecorder, executor: Executor) -> None:
    """The job's event saying where its trials run (``tunelab show``, the dashboard)."""
    describe = getattr(executor, "describe", None)
    if describe is None:
        return
    with rec.unit() as u:
        u.event("executor", str(describe()))


def cluster_plan(spec: JobSpec) -> list[str]:
    """``tunelab plan``'s lines for a Ray job: the cluster's resources and how many trials fit
    at once (:class:`~tunelab.errors.ClusterError` when there is no cluster or not one trial
    fits)."""
    from tunelab.executors.ray_cluster import trial_need
    from tunelab.executors.ray_executor import check_cluster

    ex = spec.executor
    assert ex is not None
    need = trial_need(ex.cpus_per_trial, spec.limits.gpus_per_trial or 0.0, ex.resources)
    info, fit = check_cluster(ex.address, need)
    per = ", ".join(f"{v:g} {k}" for k, v in need.items()) or "nothing"
    cap = spec.limits.max_parallel
    at_once = min(fit, cap) if cap is not None else fit
    limit = f" (limits.max_parallel {cap})" if cap is not None and cap < fit else ""
    lines = [f"cluster: ray at {ex.address}: {info.describe()}",
             f"slots: {at_once} trials at once{limit}; the cluster fits {fit} of {per} each"]
    gpus = info.gpu_slots(need)
    return lines if gpus is None else [*lines, gpus]
