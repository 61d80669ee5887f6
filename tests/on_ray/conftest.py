"""A real two-node Ray cluster for the tests of this folder, started and stopped here.

The head runs ``ray start --head`` on a free port (6379 is Redis's on these machines), with a
Ray Client server (``ray://``) on another; a second node joins it with ``ray start --address``
and the custom resource ``node2``. The GPU tests add a third node with two logical GPUs
(:func:`gpu_node`: Ray places GPU requests on it and sets ``CUDA_VISIBLE_DEVICES``, no real GPU
needed) and remove it after them, so the other tests see two nodes. Each node has one
CPU, a small object store, no dashboard and its own temp folder, and runs in a process group
of its own, so a test can kill every process of the second node (a node dying mid-trial) and
start it again, and the session ends by killing exactly the groups it started.

When the ``s3`` extra and moto are installed, a local S3-compatible server
(:mod:`on_ray.moto_s3`) starts first and its ``AWS_*`` variables go into the nodes'
environment, as credentials would on a real cluster: the object-storage tests use it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RAY = str(Path(sys.executable).parent / "ray")
OBJECT_STORE = str(80 * 1000 * 1000)  # bytes: Ray's minimum is about 75 MiB


#: a token in ~/.ray/auth_token (Ray writes one when a local ``ray.init()`` starts a cluster)
#: would switch drivers and nodes to token authentication; this cluster runs without
_RAY_ENV = {"RAY_AUTH_MODE": "disabled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # the workers import tunelab from this tree and the test objectives from this folder
    paths = [str(ROOT / "src"), str(ROOT / "tests")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.update(_RAY_ENV)
    env.pop("RAY_ADDRESS", None)
    return env


@dataclass
class Node:
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([RAY, "start", "--block", *self.args], stdout=out,
                                         stderr=subprocess.STDOUT, env=_env(),
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL every process of this node (its process group), as a dying machine."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.proc = None


@dataclass
class Cluster:
    address: str
    head: Node
    second: Node
    temp: list[Path] = field(default_factory=list)
    client: str = ""  # ray://HOST:PORT of the head's Ray Client server

    def restart_second(self) -> None:
        self.second.kill()
        self.second.start()
        _wait_nodes(self.address, 2)


def _wait_nodes(address: str, n: int, timeout: float = 60.0, exactly: bool = False) -> None:
    """Wait until ``n`` live nodes (at least, or ``exactly``) are registered (asked in a child:
    this process stays no Ray driver, so each test's executor connects afresh)."""
    op = "!=" if exactly else "<"
    code = ("import ray,sys,time\n"
            f"ray.init(address={address!r}, logging_level='ERROR', log_to_driver=False)\n"
            f"t=time.time()\n"
            f"while sum(1 for x in ray.nodes() if x['Alive']) {op} {n} and time.time()-t < "
            f"{timeout}: time.sleep(0.2)\n"
            f"sys.exit(1 if sum(1 for x in ray.nodes() if x['Alive']) {op} {n} else 0)\n")
    subprocess.run([sys.executable, "-c", code], env=_env(), check=True, timeout=timeout + 30)


@pytest.fixture(scope="package", autouse=True)
def _ray_driver_env() -> Iterator[None]:
    """This process is the tuner, a Ray driver: it joins the test clusters as they run."""
    saved = {k: os.environ.get(k) for k in _RAY_ENV}
    os.environ.update(_RAY_ENV)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


S3_BUCKET = "tunelab-ray"


@pytest.fixture(scope="package")
def s3_endpoint() -> Iterator[str | None]:
    """The local S3 server's endpoint (None when s3fs or moto is not installed)."""
    try:
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError:
        yield None
        return
    from on_ray.moto_s3 import s3_server

    with s3_server(S3_BUCKET) as endpoint:
        yield endpoint


_COMMON = ["--object-store-memory", OBJECT_STORE, "--disable-usage-stats",
           "--dashboard-agent-listen-port", "0"]


@pytest.fixture(scope="package")
def ray_cluster(s3_endpoint: str | None) -> Iterator[Cluster]:
    """Started at the first test that needs it, stopped after the last test of this folder
    (not at the end of the whole session: the rest of the suite runs without it)."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    client_port = free_port()
    common = ["--num-cpus", "1", *_COMMON]
    h_tmp = Path(tempfile.mkdtemp(prefix="tlrh"))  # short: Ray's socket paths must fit 107
    w_tmp = Path(tempfile.mkdtemp(prefix="tlrw"))
    head = Node(["--head", "--port", str(port), "--include-dashboard=false",
                 "--ray-client-server-port", str(client_port), "--temp-dir", str(h_tmp),
                 # a dead node is noticed in about two seconds, not fifteen
                 "--system-config",
                 '{"health_check_period_ms":500,"health_check_failure_threshold":4}',
                 *common], h_tmp / "start.log")
    second = Node(["--address", address, "--resources", '{"node2": 1}', "--temp-dir",
                   str(w_tmp), *common], w_tmp / "start.log")
    cluster = Cluster(address, head, second, [h_tmp, w_tmp], f"ray://127.0.0.1:{client_port}")
    try:
        head.start()
        second.start()
        _wait_nodes(address, 2)
        yield cluster
    finally:
        second.kill()
        head.kill()
        for p in cluster.temp:
            shutil.rmtree(p, ignore_errors=True)


@pytest.fixture(scope="module")
def gpu_node(ray_cluster: Cluster) -> Iterator[Node]:
    """A third node with two CPUs and two logical GPUs (``ray start --num-gpus 2``: Ray counts
    them, places GPU requests there and sets ``CUDA_VISIBLE_DEVICES``; no real GPU is needed),
    joined for the tests of one module and gone (Ray's GCS says so) before the next."""
    tmp = Path(tempfile.mkdtemp(prefix="tlrg"))
    node = Node(["--address", ray_cluster.address, "--num-cpus", "2", "--num-gpus", "2",
                 "--temp-dir", str(tmp), *_COMMON], tmp / "start.log")
    try:
        node.start()
        _wait_nodes(ray_cluster.address, 3)
        yield node
    finally:
        node.kill()
        _wait_nodes(ray_cluster.address, 2, exactly=True)
        shutil.rmtree(tmp, ignore_errors=True)
