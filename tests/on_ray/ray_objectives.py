"""Training functions for the Ray executor tests; imported by the Ray workers by path
(``on_ray.ray_objectives:steps``: the fixture puts ``tests`` on the nodes' ``PYTHONPATH``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


def on_node_with(resource: str) -> bool:
    """True when this worker's node offers the custom ``resource`` (the second node's)."""
    import ray

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
