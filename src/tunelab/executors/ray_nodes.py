"""Checks run on every node of a Ray cluster before a job's first trial.

A trial's worker writes its checkpoints into the job's artifact root and another node may read
them (an ASHA promotion, a PBT copy, a lost trial re-run elsewhere), so every node must reach
that folder at the same path. :func:`check_artifact_root` writes and removes a probe file there
from each live node (a zero-CPU task pinned to the node) and refuses the job in one line,
naming the node, when one cannot.
"""

from __future__ import annotations

import os
import uuid

from tunelab.errors import ClusterError
from tunelab.executors.ray_cluster import import_ray

_PROBE_TIMEOUT = 60.0  # seconds: a task on a busy node may wait for its worker to start


def probe_folder(root: str, name: str) -> str | None:
    """Create ``root`` if needed, write and remove ``name`` in it; None, or why it failed."""
    try:
        os.makedirs(root, exist_ok=True)
        path = os.path.join(root, name)
        with open(path, "wb") as f:
            f.write(b"tunelab artifact probe\n")
        os.remove(path)
    except OSError as e:
        return f"{e.__class__.__name__}: {e.strerror or e}"
    return None


def check_artifact_root(root: str) -> None:
    """Raise :class:`ClusterError` unless every live node can write the artifact ``root``."""
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if "://" in root and not root.startswith("file://"):
        raise ClusterError(f"the artifact location {root!r} is not a folder: the Ray executor "
                           "needs a shared folder every node mounts at the same path "
                           "(--artifacts /mnt/shared/runs)")
    folder = root[len("file://"):] if root.startswith("file://") else root
    here = probe_folder(folder, f".probe-{uuid.uuid4().hex}")
    if here is not None:
        raise ClusterError(f"the artifact folder {folder} cannot be written here ({here}); "
                           "fix its permissions or choose another with --artifacts")
    probe = ray.remote(num_cpus=0, max_retries=0)(probe_folder)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = {
        str(n["NodeID"]): probe.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
        ).remote(folder, f".probe-{uuid.uuid4().hex}")
        for n in nodes
    }
    for node, ref in refs.items():
        try:
            why = ray.get(ref, timeout=_PROBE_TIMEOUT)
        except Exception as e:
            why = f"the probe did not run ({e.__class__.__name__})"
        if why is not None:
            raise ClusterError(
                f"the artifact folder {folder} is not writable from Ray node {node[:8]} "
                f"({why}): mount the shared folder on every node at the same path, or "
                "choose one they all reach with --artifacts")
