"""The dashboard in real headless Chromium (Debian's chromium + chromium-driver, via selenium):
a finished and a really running job (a tuner process), live updates without a reload, every
chart drawn, the stop button, compare, the token rule, and the offline report.

Screenshots go to ./screenshots (ignored by git) for a person to look at.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.live import browser, chromium_missing, serve, shot
from server.synth import synth_job
from tunelab.store import Store
from tunelab.store.queries import Reader

pytestmark = pytest.mark.skipif(chromium_missing() is not None,
                                reason=chromium_missing() or "")
TESTS = Path(__file__).resolve().parents[1]


def wait_for(cond: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def drawn(d: Any) -> bool:
    return bool(d.execute_script("return document.body.dataset.drawn || ''"))


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ui") / "runs"
    st = Store.open(root)
    synth_job(st, "done", trials=16)
    synth_job(st, "other", trials=10, seed=3)
    st.close()
    return root


@pytest.fixture(scope="module")
def live_job(store_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """A real tuner running job "live" (slow epochs) in its own process."""
    spec = {
        "name": "live", "objective": {"metric": "val_accuracy", "goal": "maximize"},
        "train": {"function": "objectives_for_tests.fns:epochs"},
        "static": {"steps": 4, "sleep": 0.25},
        "search_space": {"x": {"type": "float", "low": -2.0, "high": 3.0}},
        "strategy": {"type": "random", "seed": 0},
        "limits": {"max_trials": 400, "max_parallel": 2},  # outlives the tests; they stop it
    }
    path = store_dir.parent / "live.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    proc = subprocess.Popen([sys.executable, "-m", "tunelab.cli", "tune", str(path), "--store",
                             str(store_dir), "--json"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)

    def running() -> bool:
        try:
            with Reader.open(store_dir) as r:
                return any(j.name == "live" and j.status == "running" and j.trials >= 1
                           for j in r.jobs())
        except Exception:
            return False

    try:
        wait_for(running, "the live job to start", 90)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def site(store_dir: Path, live_job: subprocess.Popen[str]) -> Iterator[tuple[str, Any]]:
    with serve(store_dir) as (url, _access), browser() as d:
        yield url, d


def test_jobs_page_lists_a_finished_and_a_running_job(site: tuple[str, Any]) -> None:
    url, d = site
    d.get(url + "/")
    status = wait_for(lambda: d.execute_script(
        "const rows = document.querySelectorAll('#jobs-table tbody tr[data-job]');"
        "return rows.length ? Object.fromEntries([...rows].map(r => "
        "[r.dataset.job, r.querySelector('.badge').textContent])) : null"), "the job rows")
    assert status["done"] == "completed" and status["live"] == "running"
    shot(d, "jobs")


def test_every_chart_of_the_job_page_renders(site: tuple[str, Any]) -> None:
    url, d = site
    d.get(url + "/jobs/done")
    wait_for(lambda: drawn(d), "the job page")
    wait_for(lambda: d.execute_script(
        "const el = document.getElementById('chart-importance');"
        "return el.data && el.data.length"), "the importance chart")
    charts = d.execute_script(
        "return [...document.querySelectorAll('.chart')].map(el => "
        "[el.id, el.data ? el.data.filter(t => (t.x || t.dimensions || []).length).length : 0])")
    assert len(charts) == 7 + 3  # 7 charts + one slice plot per parameter
    assert all(n > 0 for _, n in charts), charts
    rows = d.find_elements("css selector", "#leaderboard tbody tr")
    assert len(rows) == 16 and "best" in (rows[0].get_attribute("class") or "")
    assert "underfitting" in d.find_element("id", "diagnosis").text or \
        "fit" in d.find_element("id", "diagnosis").text
    shot(d, "job-done")
    d.get(url + "/jobs/done/trials/3")
    wait_for(lambda: drawn(d), "the trial page")
    assert "RuntimeError: loss is NaN" in d.find_element("css selector", "pre.traceback").text
    for chart in ("chart-loss", "chart-acc"):
        assert d.execute_script(f"return document.getElementById('{chart}').data.length") == 2
    shot(d, "trial-failed")


def test_running_job_updates_without_a_reload_then_the_stop_button_stops_it(
        site: tuple[str, Any], store_dir: Path, live_job: subprocess.Popen[str]) -> None:
    url, d = site
    d.get(url + "/jobs/live")
    wait_for(lambda: drawn(d), "the live job page")
    d.execute_script("window.__same_page = 42")  # gone if the page reloads
    state = ("return [document.getElementById('leaderboard').dataset.total,"
             " document.getElementById('trial-counts').textContent]")
    before = d.execute_script(state)
    wait_for(lambda: all(a != b for a, b in zip(d.execute_script(state), before, strict=True)),
             "the leaderboard to change by itself", 30)
    assert d.execute_script("return window.__same_page") == 42
    shot(d, "job-live")
    stop_text = "return document.getElementById('stop-btn').textContent"
    d.execute_script("document.getElementById('stop-btn').click()")
    assert d.execute_script(stop_text) == "Confirm stop"
    time.sleep(2.5)  # live redraws in between keep the armed button armed
    assert d.execute_script(stop_text) == "Confirm stop"
    d.execute_script("document.getElementById('stop-btn').click()")
    wait_for(lambda: d.execute_script(
        "return document.querySelector('#head .badge').textContent") == "stopped",
        "the page to show the job stopped", 60)
    assert d.execute_script("return window.__same_page") == 42
    live_job.wait(60)
    with Reader.open(store_dir) as r:
        job = r.job("live")
        assert job.status == "stopped" and job.stop_requested
        assert "stop requested from the dashboard" in [e.message for e in
                                                       r.events("live").events]
    shot(d, "job-stopped")


def test_compare_shows_two_jobs(site: tuple[str, Any]) -> None:
    url, d = site
    d.get(url + "/")
    wait_for(lambda: d.find_elements("css selector", ".pick"), "the job list")
    for name in ("done", "other"):  # by script: the list redraws every 2 s
        d.execute_script(f"document.querySelector(\".pick[value='{name}']\").click()")
    d.execute_script("document.getElementById('compare-btn').click()")
    wait_for(lambda: drawn(d), "the compare page")
    assert len(d.find_elements("css selector", "#compare-best tr")) == 1 + 2
    for chart in ("chart-cmp-trials", "chart-cmp-hours"):
        assert d.execute_script(f"return document.getElementById('{chart}').data.length") == 2
    assert "strategy.seed" in d.find_element("id", "compare-diff").text
    shot(d, "compare")


def test_token_protected_server_refuses_a_browser_without_the_token(store_dir: Path) -> None:
    with serve(store_dir, host="0.0.0.0", token="s3cret-token-for-tests") as (url, _), \
            browser() as d:
        d.get(url + "/")
        err = wait_for(lambda: d.find_elements("css selector", ".error"), "the refusal")
        assert "401" in err[0].text and "token" in err[0].text
        assert not d.find_elements("css selector", "#jobs-table tbody tr[data-job]")
        shot(d, "token-refused")
        d.get(url + "/#token=s3cret-token-for-tests")
        n = wait_for(lambda: d.execute_script(
            "return document.querySelectorAll('#jobs-table tbody tr[data-job]').length"),
            "the jobs with the token")
        assert n >= 2 and "token" not in d.current_url


def test_the_html_report_opens_offline(store_dir: Path, tmp_path: Path) -> None:
    from tunelab.report.html import write_report

    out = tmp_path / "report.html"
    with Reader.open(store_dir) as r:
        write_report(r, "done", out)
    with browser() as d:
        d.get(out.as_uri())
        wait_for(lambda: drawn(d), "the report")
        wait_for(lambda: d.execute_script(
            "const el = document.getElementById('chart-importance');"
            "return el.data && el.data.length"), "the report's importance chart")
        n = d.execute_script("return [...document.querySelectorAll('.chart')]"
                             ".filter(el => el.data && el.data.length).length")
        assert n == 10
        assert not d.find_elements("id", "stop-btn")
        shot(d, "report")
