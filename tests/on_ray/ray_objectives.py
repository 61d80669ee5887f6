"""Training functions for the Ray executor tests; imported by the Ray workers by path
(``on_ray.ray_objectives:steps``: the fixture puts ``tests`` on the nodes' ``PYTHONPATH``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def node_id() -> str:
    """This worker's Ray node (``local`` in a local worker process, which is no Ray worker:
    asking Ray there would start a whole local Ray instance in each worker)."""
    import ray

    if not ray.is_initialized():
        return "local"
    return str(ray.get_runtime_context().get_node_id())


def on_node_with(resource: str) -> bool:
    """True when this worker's node offers the custom ``resource`` (the second node's)."""
    import ray

    if not ray.is_initialized():
        return False
    me = node_id()
    return any(n["NodeID"] == me and resource in (n.get("Resources") or {})
               for n in ray.nodes())  # type: ignore[no-untyped-call]


def steps(params: dict[str, Any], trial: Any) -> float:
    """``epochs`` steps of a simulated curve, a checkpoint at each (with the writing node's id).

    Reports ``restored`` (the step it restored from), ``crossed`` (1.0 when it restored a
    checkpoint written on another node: a PBT copy or a lost trial crossing nodes) and
    ``node2`` (1.0 on the node with the ``node2`` resource). With ``params["marker"]`` (a
    folder), a trial on the second node drops ``<number>`` there after step 2 and slows down,
    so a test can kill that node mid-trial."""
    import torch

    state = trial.load_checkpoint()
    start = int(state["step"].item()) if state is not None else 0
    here = node_id()
    crossed = float(state is not None and state["node"] != here)
    second = float(on_node_with("node2"))
    x, lr = float(params["x"]), float(params.get("lr", 0.1))
    loss = 0.0
    for step in range(start + 1, int(params["epochs"]) + 1):
        time.sleep(float(params.get("sleep", 0.0)))
        loss = (x - 0.3) ** 2 + 1.0 / (step * (1.0 + lr))
        trial.save_checkpoint({"step": torch.tensor(step), "node": here})
        trial.report(step=step, loss=loss, restored=float(start), crossed=crossed,
                     node2=second)
        marker = params.get("marker")
        if marker and second and step == 2:
            (Path(str(marker)) / str(trial.number)).touch()
            time.sleep(30.0)  # the test kills this node now
    return loss


def gpu_seen(params: dict[str, Any], trial: Any) -> float:
    """Reports the GPU this trial was given: ``gpu`` from ``CUDA_VISIBLE_DEVICES`` (what Ray set
    in the actor's process), ``ray_gpu`` from ``ray.get_gpu_ids()``, ``pid`` (the actor's
    process) and ``on_gpu_node`` (1.0 on a node that offers GPUs); sleeps ``sleep`` seconds
    first, so the trials of one test run side by side."""
    import os

    import ray

    time.sleep(float(params.get("sleep", 0.0)))
    me = node_id()
    gpu_node = any(n["NodeID"] == me and (n.get("Resources") or {}).get("GPU", 0) > 0
                   for n in ray.nodes())  # type: ignore[no-untyped-call]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    ids = ray.get_gpu_ids()
    loss = float(params["x"])
    trial.report(step=1, loss=loss, gpu=float(visible) if visible.isdigit() else -1.0,
                 ray_gpu=float(ids[0]) if len(ids) == 1 else -1.0, pid=float(os.getpid()),
                 on_gpu_node=float(gpu_node), device_cuda=float(trial.device == "cuda"))
    return loss
