"""What must hold when the cluster breaks: a node dying mid-trial, the whole cluster going
away (and the job resumed on a new one), and bad input refused in one line before any write."""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from on_ray.conftest import Cluster, Node, free_port
from on_ray.test_ray_jobs import ray_spec
from tunelab.cli import app
from tunelab.errors import ClusterError, JobNotFound
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.tuner import Tuner

pytestmark = pytest.mark.slow
runner = CliRunner()


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_a_node_dies_mid_trial_its_trial_reruns_from_its_checkpoint(
        ray_cluster: Cluster, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    marker.mkdir()
    store = Store.open(tmp_path / "store")
    killed: list[str] = []

    def kill_when_marked() -> None:  # a trial on the second node passed step 2: kill it
        deadline = time.monotonic() + 120
        while not any(marker.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        killed.extend(p.name for p in marker.iterdir())
        ray_cluster.second.kill()

    watcher = threading.Thread(target=kill_when_marked, daemon=True)
    watcher.start()
    try:
        spec = ray_spec("dies", ray_cluster, {"type": "random", "seed": 2}, trials=4,
                        parallel=2, epochs=5, sleep=0.1, marker=str(marker))
        assert Tuner.create(spec_from_dict(spec), store).run() == "completed"
        watcher.join(timeout=5)
        assert len(killed) == 1, "no trial reached step 2 on the second node"
        number = int(killed[0])
        tx = store.read()
        job = tx.job("dies")
        trials = tx.trials(job.id)
        # no trial number repeats, nothing is lost: every trial completed its five steps
        assert sorted(t.number for t in trials) == [0, 1, 2, 3]
        assert all(t.state == "completed" for t in trials)
        lost = [e for e in tx.events(job.id, "lost") if e.trial_number == number]
        assert lost and "died" in (lost[0].message or "")
        t = next(t for t in trials if t.number == number)
        steps = [r.step for r in t.reports]
        assert steps == [1, 2, 3, 4, 5]  # it went on from step 2, not from the start
        after = t.reports[2].metrics
        # restored step 2's checkpoint, written on the dead node, on the head node
        assert after["restored"] == 2.0 and after["crossed"] == 1.0 and after["node2"] == 0.0
        assert t.worker is not None and "slot" in t.worker
    finally:
        store.close()
        ray_cluster.restart_second()  # the later tests want both nodes


@pytest.fixture
def lone_head() -> Iterator[tuple[Node, str]]:
    """A one-node cluster of this test's own, to take away."""
    tmp = Path(tempfile.mkdtemp(prefix="tlrg"))
    port = free_port()
    node = Node(["--head", "--port", str(port), "--num-cpus", "1", "--include-dashboard=false",
                 "--object-store-memory", str(80 * 1000 * 1000), "--disable-usage-stats",
                 "--ray-client-server-port", str(free_port()),
                 "--dashboard-agent-listen-port", "0", "--temp-dir", str(tmp)],
                tmp / "start.log")
    node.start()
    try:
        yield node, f"127.0.0.1:{port}"
    finally:
        node.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_cluster_goes_away_the_job_stops_and_resumes_elsewhere(
        lone_head: tuple[Node, str], ray_cluster: Cluster, tmp_path: Path) -> None:
    node, address = lone_head
    store = Store.open(tmp_path / "store")
    spec = ray_spec("gone", None, {"type": "random", "seed": 4}, trials=2, parallel=1,
                    epochs=6, sleep=0.3)
    spec["executor"] = {"type": "ray", "address": address}

    def kill_after_reports() -> None:
        reader = Store.open(tmp_path / "store")
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                try:
                    trials = reader.read().trials(reader.read().job("gone").id)
                except JobNotFound:
                    trials = []
                if any(len(t.reports) >= 2 for t in trials):
                    break
                time.sleep(0.1)
        finally:
            reader.close()
        node.kill()

    killer = threading.Thread(target=kill_after_reports, daemon=True)
    killer.start()
    try:
        t0 = time.monotonic()
        assert Tuner.create(spec_from_dict(spec), store).run() == "stopped"
        assert time.monotonic() - t0 < 60  # noticed in seconds, not after Ray's own timeouts
        killer.join(timeout=5)
        tx = store.read()
        job = tx.job("gone")
        assert "went away" in (job.status_reason or "")
        cut = [t for t in tx.trials(job.id) if t.state == "lost"]
        assert len(cut) == 1 and cut[0].reports
        done_before = len(cut[0].reports)
    finally:
        store.close()
    # the job continues on another cluster (here: the session's) from the cut trial's checkpoint
    res = runner.invoke(app, ["resume", "gone", "--store", str(tmp_path / "store"), "--json",
                              "--executor", f"ray:{ray_cluster.address}"])
    assert res.exit_code == 0, res.output
    store = Store.open(tmp_path / "store")
    try:
        tx = store.read()
        job = tx.job("gone")
        assert job.status == "completed"
        trials = {t.number: t for t in tx.trials(job.id)}
        assert sorted(trials) == [0, 1]
        again = trials[cut[0].number]
        assert again.state == "completed"
        assert [r.step for r in again.reports] == list(range(1, 7))
        assert again.reports[done_before].metrics["restored"] == float(done_before)
    finally:
        store.close()


def _spec_file(tmp_path: Path, **executor: object) -> Path:
    import yaml

    spec = ray_spec("bad", None, {"type": "random", "seed": 0}, trials=1, parallel=1)
    spec["executor"] = {"type": "ray", **executor}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _no_job(store: Path) -> None:
    st = Store.open(store)
    try:
        with pytest.raises(JobNotFound):
            st.read().job("bad")
    finally:
        st.close()


def test_no_cluster_at_the_address_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    res = runner.invoke(app, ["tune", str(_spec_file(tmp_path)), "--store",
                              str(tmp_path / "store"), "--executor", f"ray:{address}"])
    assert res.exit_code == 2
    out = _one_line(res.output)
    assert out.startswith("error: no Ray cluster at") and address in out, out
    assert "Traceback" not in res.output
    _no_job(tmp_path / "store")


def test_a_resource_no_node_has_is_refused_before_any_trial(ray_cluster: Cluster,
                                                            tmp_path: Path) -> None:
    spec = _spec_file(tmp_path, address=ray_cluster.address, resources={"tpu": 1})
    res = runner.invoke(app, ["tune", str(spec), "--store", str(tmp_path / "store")])
    assert res.exit_code == 2
    out = _one_line(res.output)
    assert "error: no node of the Ray cluster" in out and "1 tpu" in out, out
    _no_job(tmp_path / "store")
    # the plan says so too, before anything runs
    res = runner.invoke(app, ["plan", str(spec)])
    assert res.exit_code == 2 and "1 tpu" in _one_line(res.output)


def test_an_artifact_folder_nobody_can_write_is_refused(ray_cluster: Cluster,
                                                        tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    spec = spec_from_dict(ray_spec("bad", ray_cluster, {"type": "random"}, trials=1,
                                   parallel=1))
    store = Store.open(tmp_path / "store", artifacts=blocker / "artifacts")
    try:
        with pytest.raises(ClusterError, match="cannot be written"):
            Tuner.create(spec, store)
        with pytest.raises(JobNotFound):
            store.read().job("bad")
    finally:
        store.close()


def test_the_tuner_dies_and_resume_continues_on_the_cluster(ray_cluster: Cluster,
                                                            tmp_path: Path) -> None:
    """`kill -9` of the tuner (a `tunelab tune` process on the cluster) mid-trial: `tunelab
    resume` continues the job at once — the cut trials from their checkpoints, no number twice."""
    import os
    import signal
    import subprocess
    import sys

    import yaml

    from on_ray.conftest import ROOT, _env

    spec = ray_spec("tuner-dies", ray_cluster, {"type": "random", "seed": 6}, trials=3,
                    parallel=2, epochs=6, sleep=0.3)
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    store_dir = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "tunelab.cli", "tune", str(path), "--store",
                             str(store_dir), "--json"], env=_env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                st = Store.open(store_dir)
                try:
                    tx = st.read()
                    if any(len(t.reports) >= 2 for t in tx.trials(tx.job("tuner-dies").id)):
                        break
                finally:
                    st.close()
            except Exception:  # the store or the job is not there yet
                pass
            time.sleep(0.2)
        assert proc.poll() is None, "the tuner ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    res = runner.invoke(app, ["resume", "tuner-dies", "--store", str(store_dir), "--json"])
    assert res.exit_code == 0, res.output
    st = Store.open(store_dir)
    try:
        tx = st.read()
        job = tx.job("tuner-dies")
        trials = tx.trials(job.id)
        assert job.status == "completed"
        assert sorted(t.number for t in trials) == [0, 1, 2]
        assert all([r.step for r in t.reports] == list(range(1, 7)) for t in trials)
        lost = tx.events(job.id, "lost")
        assert lost, "no trial was running when the tuner died"
        cut = [t for t in trials if t.number in {e.trial_number for e in lost}]
        # the trial that had reported twice went on from a checkpoint, not from the start
        assert any(max(r.metrics["restored"] for r in t.reports) >= 2.0 for t in cut)
    finally:
        st.close()
