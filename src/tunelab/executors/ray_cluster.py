"""Reaching a Ray cluster and reading what it offers, with one clear line for each failure.

The Ray executor and ``tunelab plan`` both start here: :func:`connect` joins the cluster at an
address (``auto``, ``HOST:PORT`` or ``ray://HOST:10001``) or says in one line that there is none;
:func:`read_cluster` lists its live nodes and their resources; :meth:`ClusterInfo.fits` counts
how many trials fit at once for a per-trial request, and :meth:`ClusterInfo.check` refuses a
request no node can hold *before* any trial is written (a trial that asks for a resource no
node has would otherwise wait forever in Ray's queue).

    >>> connect("127.0.0.1:6380")                                           # doctest: +SKIP
    >>> info = read_cluster()                                               # doctest: +SKIP
    >>> info.fits({"CPU": 1.0, "GPU": 0.5})                                 # doctest: +SKIP
    4
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tunelab.errors import ClusterError

#: how long a silent GCS may keep the driver waiting before Ray ends the process; the executor
#: notices a gone cluster within seconds and stops the job cleanly long before that
_GCS_RECONNECT_S = "300"
_INTERNAL = ("memory", "object_store_memory")


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else e.__class__.__name__


def import_ray() -> Any:
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ClusterError("the ray executor needs Ray, which is not installed: "
                           "pip install 'tunelab[ray]'") from None
    return ray


def gcs_reachable(address: str, timeout: float = 3.0) -> bool:
    """True when something accepts a TCP connection at ``HOST:PORT``."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)),
                                      timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def client_endpoint(address: str) -> str | None:
    """``HOST:PORT`` of a Ray Client address (``ray://HOST[:PORT]``, port 10001 by default);
    None for any other address."""
    if not address.startswith("ray://"):
        return None
    hostport = address[len("ray://"):].split("/", 1)[0]
    return hostport if ":" in hostport.rpartition("]")[2] else f"{hostport}:10001"


#: Tries of ``ray.init`` before a cluster counts as unreachable (after the TCP probe passed).
CONNECT_ATTEMPTS = 2


def connect(address: str) -> bool:
    """Join the Ray cluster at ``address`` as a driver; False when this process already is
    one (then whoever connected it disconnects it, not tunelab).

    A ``HOST:PORT`` nobody listens on is refused at once (Ray itself would retry for minutes);
    so is a ``ray://HOST:PORT`` (Ray Client) where nothing listens (the client would retry for
    half a minute); ``auto`` with no local cluster, and a ``ray://`` server that does not speak
    Ray, are refused with Ray's reason. Nothing is written to the store before this
    succeeds."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    fix = ("Start one with `ray start --head --port PORT` and set executor.address to "
           "HOST:PORT (or ray://HOST:10001), or run with `--executor local`.")
    plain = address not in ("auto", "local") and "://" not in address
    probe = address if plain else client_endpoint(address)
    if probe is not None and not gcs_reachable(probe):
        raise ClusterError(f"no Ray cluster at {address!r}: nothing accepts connections "
                           f"there. {fix}")
    os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", _GCS_RECONNECT_S)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    for attempt in range(CONNECT_ATTEMPTS):
        try:
            with warnings.catch_warnings():  # Ray Client warns before it raises: one line, ours
                warnings.simplefilter("ignore")
                ray.init(address=address, logging_level="ERROR", log_to_driver=False,
                         include_dashboard=False if address == "local" else None)
            return True
        except (ConnectionError, RuntimeError, ValueError, TimeoutError, AssertionError) as e:
            # A failed init can leave this process's driver half set up, and every later init
            # then fails the same way: reset it. Ray's own AssertionError (its key-value client
            # not initialised, seen once in a CI run against a live cluster) is a race at
            # connect: try once more; anything else is the cluster's answer.
            with contextlib.suppress(Exception):
                ray.shutdown()
            if attempt + 1 == CONNECT_ATTEMPTS or not isinstance(e, AssertionError):
                raise ClusterError(f"no Ray cluster at {address!r} "
                                   f"({_first_line(e) or type(e).__name__}). {fix}") from None
            time.sleep(1.0)
    return True


def disconnect() -> None:
    ray = import_ray()
    if ray.is_initialized():
        ray.shutdown()


def gcs_address(address: str = "auto") -> str | None:
    """The ``HOST:PORT`` whose silence means the cluster went away: the Ray Client server of a
    ``ray://`` ``address`` (the GCS the head reports may not be reachable from a client
    outside the cluster), else the connected cluster's GCS (None when Ray does not say)."""
    client = client_endpoint(address)
    if client is not None:
        return client
    ray = import_ray()
    try:
        addr = ray.get_runtime_context().gcs_address
    except Exception:
        return None
    return str(addr) if addr else None


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    address: str
    resources: Mapping[str, float]

    def fits(self, need: Mapping[str, float]) -> int:
        """How many trials asking ``need`` fit on this node at once."""
        counts = [math.floor(self.resources.get(k, 0.0) / v + 1e-9)
                  for k, v in need.items() if v > 0]
        return min(counts) if counts else 10**6


@dataclass(frozen=True)
class ClusterInfo:
    address: str
    nodes: tuple[NodeInfo, ...] = field(default_factory=tuple)

    def total(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for n in self.nodes:
            for k, v in n.resources.items():
                out[k] = out.get(k, 0.0) + v
        return out

    def fits(self, need: Mapping[str, float]) -> int:
        return sum(n.fits(need) for n in self.nodes)

    def describe(self) -> str:
        """``2 nodes: 2 CPU, 1 node2`` (the resources a trial can ask for)."""
        tot = self.total()
        first = sorted(tot.items(), key=lambda kv: (kv[0] != "CPU", kv[0] != "GPU"))
        parts = [f"{_num(v)} {k}" for k, v in first
                 if k not in _INTERNAL and not k.startswith("node:") and v > 0]
        nodes = len(self.nodes)
        return f"{nodes} node{'s' if nodes != 1 else ''}: {', '.join(parts) or 'no resources'}"

    def check(self, need: Mapping[str, float]) -> int:
        """The number of trials that fit at once; raises :class:`ClusterError` (one line)
        when not even one does, naming what no node has."""
        n = self.fits(need)
        if n > 0:
            return n
        most = {k: max((nd.resources.get(k, 0.0) for nd in self.nodes), default=0.0)
                for k in need}
        short = [f"{_num(v)} {k}" for k, v in need.items() if v > 0 and most[k] < v]
        largest = "; one node has at most " + ", ".join(
            f"{_num(most[k])} {k}" for k, v in need.items() if v > 0 and most[k] < v) \
            if short else ""
        how = ("`ray start --num-gpus N`" if any(most["GPU"] < v for k, v in need.items()
                                                 if k == "GPU")
               else "`ray start --resources`")
        raise ClusterError(
            f"no node of the Ray cluster at {self.address!r} can run a trial: each trial asks "
            f"for {', '.join(short) or _need_text(need)}, and the cluster has "
            f"{self.describe()}{largest}. Lower executor.cpus_per_trial / "
            "limits.gpus_per_trial / executor.resources, or add a node that has them "
            f"({how}).")


    def gpu_slots(self, need: Mapping[str, float]) -> str | None:
        """``GPU slots: node 1a2b3c4d 4 (2 GPU, 2 trials per GPU)`` — where trials that ask
        for GPUs go (None when they ask for none)."""
        gpus = need.get("GPU", 0.0)
        if gpus <= 0:
            return None
        per = f", {_num(math.floor(1 / gpus + 1e-9))} trials per GPU" if gpus < 1 else ""
        parts = [f"node {n.node_id[:8]} {n.fits(need)} ({_num(n.resources.get('GPU', 0.0))} "
                 f"GPU{per})" for n in self.nodes if n.fits(need) > 0]
        return "GPU slots: " + ("; ".join(parts) or "none")


def _num(v: float) -> str:
    return f"{v:g}"


def _need_text(need: Mapping[str, float]) -> str:
    return ", ".join(f"{_num(v)} {k}" for k, v in need.items() if v > 0) or "nothing"


_FIELD = {"CPU": "executor.cpus_per_trial", "GPU": "limits.gpus_per_trial"}


def trial_need(cpus: float, gpus: float, resources: Mapping[str, float]) -> dict[str, float]:
    """The Ray resources one trial asks for; :class:`~tunelab.errors.SpecError` (one line) for
    a quantity Ray cannot place: above 1 it must be whole (1.5 GPU is refused by Ray, 0.5 packs
    two trials on one)."""
    from tunelab.errors import SpecError

    need = {"CPU": float(cpus), "GPU": float(gpus)}
    need.update({k: float(v) for k, v in resources.items()})
    for k, v in need.items():
        if v > 1 and not float(v).is_integer():
            raise SpecError.field(_FIELD.get(k, f"executor.resources.{k}"),
                                  "a fraction of 1 or a whole number on Ray", v,
                                  f"Use e.g. 0.5 (two trials per {k}) or {math.ceil(v)}.")
    return {k: v for k, v in need.items() if v > 0}


def read_cluster(address: str) -> ClusterInfo:
    """The live nodes of the connected cluster and their resources."""
    ray = import_ray()
    nodes = tuple(
        NodeInfo(str(n["NodeID"]), str(n.get("NodeManagerAddress", "")),
                 {str(k): float(v) for k, v in (n.get("Resources") or {}).items()})
        for n in ray.nodes() if n.get("Alive"))
    return ClusterInfo(address, nodes)
