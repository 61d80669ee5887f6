"""A job of many trials: the job page draws the best trials' learning curves first, then every
trial's (issue 20: the all-trials curves answer is megabytes on a 2,000-trial job)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.live import browser, chromium_missing, serve, shot
from server.synth import synth_job
from server.test_browser import drawn, wait_for
from tunelab.store import Store

pytestmark = pytest.mark.skipif(chromium_missing() is not None,
                                reason=chromium_missing() or "")

COUNT = ("const d = document.getElementById('chart-curves').data || [];"
         "return d.length ? d[0].x.filter(v => v === null).length + (d.length > 1 ? 1 : 0) : 0")


def test_best_curves_first_then_all(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    st = Store.open(store)
    synth_job(st, "many", trials=150, steps=4)
    st.close()
    with serve(store) as (url, _access), browser() as d:
        d.get(url + "/jobs/many")
        wait_for(lambda: drawn(d), "the job page")
        wait_for(lambda: d.execute_script("return document.body.dataset.curvesAll"),
                 "every trial's curves")
        assert d.execute_script(COUNT) == 150  # every trial, the best one highlighted
        title = d.execute_script(
            "return document.getElementById('chart-curves').layout.title.text")
        assert title == ""
        shot(d, "job-many-curves")
        # the first paint asked for the best 100 only
        asked = d.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".filter(n => n.includes('/curves'))")
        assert any(n.count("trials=") == 100 for n in asked), asked
        assert any("trials=" not in n for n in asked), asked


def test_leaderboard_filters_by_parameter_range(tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import Select

    from tunelab.store.queries import Reader

    store = tmp_path / "runs"
    st = Store.open(store)
    synth_job(st, "ranges", trials=40, steps=3)
    st.close()
    with Reader.open(store) as r:
        pts = r.points("ranges")
    want = [p.number for p in pts if 0.001 <= p.params["lr"] <= 0.1
            and p.params["optimizer"] == "adam"]
    with serve(store) as (url, _access), browser() as d:
        d.get(url + "/jobs/ranges")
        wait_for(lambda: drawn(d), "the job page")
        d.find_element("css selector", '[data-p="lr"][data-b="lo"]').send_keys("0.001")
        d.find_element("css selector", '[data-p="lr"][data-b="hi"]').send_keys("0.1")
        Select(d.find_element("css selector", '[data-p="optimizer"]')).select_by_visible_text(
            "adam")
        wait_for(lambda: d.execute_script(
            "return document.getElementById('leaderboard').dataset.total") == str(len(want)),
            "the filtered leaderboard")
        shown = d.execute_script(
            "return [...document.querySelectorAll('#leaderboard tbody tr td:nth-child(2)')]"
            ".map(td => Number(td.textContent))")
        assert sorted(shown) == sorted(want)[:50] and 0 < len(want) < 40
        shot(d, "leaderboard-filtered")
