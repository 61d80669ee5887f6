"""Checks run on every node of a Ray cluster before a job's first trial.

A trial's worker writes its checkpoints into the job's artifact root and another node may read
them (an ASHA promotion, a PBT copy, a lost trial re-run elsewhere), so every node must reach
that root: a folder mounted at the same path, or object storage (``s3://bucket/prefix``, with
credentials on every node). :func:`check_artifact_root` writes and removes a probe file there
from each live node (a zero-CPU task pinned to the node) and refuses the job in one line,
naming the node, when one cannot.
"""

from __future__ import annotations

from tunelab.errors import ClusterError, StoreError
from tunelab.executors.ray_cluster import import_ray
from tunelab.store.artifacts import is_remote, open_artifacts

_PROBE_TIMEOUT = 60.0  # seconds: a task on a busy node may wait for its worker to start


def probe_location(root: str) -> str | None:
    """Write and remove a probe file at the artifact ``root`` (creating a folder if needed):
    None, or why it failed (one line)."""
    try:
        return open_artifacts(root).probe()
    except StoreError as e:  # e.g. the s3 extra is missing on this node
        return str(e)


def check_artifact_root(root: str) -> None:
    """Raise :class:`ClusterError` unless every live node can write the artifact ``root``."""
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    what = "artifact location" if is_remote(root) else "artifact folder"
    where = root[len("file://"):] if root.startswith("file://") else root
    here = probe_location(root)
    if here is not None:
        raise ClusterError(f"the {what} {where} cannot be written here ({here}); "
                           "fix its permissions or choose another with --artifacts")
    probe = ray.remote(num_cpus=0, max_retries=0)(probe_location)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = {
        str(n["NodeID"]): probe.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
        ).remote(root)
        for n in nodes
    }
    fix = ("give every node its credentials and endpoint (the AWS_* variables or ~/.aws of "
           "the `ray start` environment)" if is_remote(root)
           else "mount the shared folder on every node at the same path")
    for node, ref in refs.items():
        try:
            why = ray.get(ref, timeout=_PROBE_TIMEOUT)
        except Exception as e:
            why = f"the probe did not run ({e.__class__.__name__})"
        if why is not None:
            raise ClusterError(
                f"the {what} {where} is not writable from Ray node {node[:8]} ({why}): {fix}, "
                "or choose one they all reach with --artifacts")



