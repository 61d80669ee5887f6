"""Which executor a job's trials run on: the cluster its spec names (opened and checked before
anything is written), or the local worker processes of its device layout.

A cluster's executor is opened by ``Tuner.create`` before the job is written (no cluster, or a
trial no node fits: nothing written) and by ``run`` on a resume before the lease is taken; the
local one is built after the lease, since its device layout is an event of the job.
"""

from __future__ import annotations

from tunelab.executors.base import Executor
from tunelab.recorder import JobRecorder
from tunelab.spec import JobSpec
from tunelab.store import Store


def open_cluster(spec: JobSpec, store: Store, job: str | None = None) -> Executor | None:
    """The cluster executor ``spec`` asks for, connected and checked against the artifact
    root of ``job`` (None: a new job); None for local trials."""
    from tunelab.executors.factory import open_for_spec

    root = store.artifact_root(store.read().job(job) if job is not None else None)
    return open_for_spec(spec, str(root))


def ready_executor(spec: JobSpec, rec: JobRecorder, opened: Executor | None,
                   gpus: str | list[int] | None) -> Executor:
    """The executor of a run that was not given one: the cluster's (``opened``), recorded as
    the job's ``executor`` event, else local workers, one per slot of the device layout
    (``gpus``: ``--gpus``, overriding ``limits.gpus``), recorded as the ``slots`` event
    device-hours are read back from, started before the first trial is charged."""
    if opened is not None:
        from tunelab.executors.factory import record_executor

        record_executor(rec, opened)
        return opened
    from tunelab.devices import layout_for, slot_names
    from tunelab.executors.local import LocalExecutor

    layout = layout_for(spec.limits, gpus)
    with rec.unit() as u:
        u.event("slots", layout.describe(),
                data={"visible": layout.visible, "names": slot_names(layout),
                      "gpus_per_trial": layout.gpus_per_trial})
    executor = LocalExecutor(layout.slots, devices=layout.visible)
    executor.warm_up()  # worker start-up is not charged to the first trials
    return executor
