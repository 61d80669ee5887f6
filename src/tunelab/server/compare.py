"""Comparing 2 to 5 jobs: best so far against trials and device-hours, each job's best
parameters, and the settings that differ (as SageMaker's "compare tuning jobs")."""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel

from tunelab.errors import SpecError
from tunelab.store.queries import Reader
from tunelab.store.read_models import BestTrial, TrialPoint


class CompareSeries(BaseModel):
    """One job's best value so far after each finished trial (in finishing order)."""

    name: str
    status: str
    goal: str
    metric: str
    strategy: str | None
    best: BestTrial | None
    device_hours: float
    trials: list[int]
    best_so_far: list[float]
    device_hours_at: list[float]


class SettingDiff(BaseModel):
    key: str
    values: list[Any]


class Comparison(BaseModel):
    jobs: list[CompareSeries]
    differences: list[SettingDiff]


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def _series(points: list[TrialPoint], goal: str) -> tuple[list[int], list[float], list[float]]:
    ended = sorted((p for p in points if p.ended_at is not None),
                   key=lambda p: (p.ended_at or 0.0, p.number))
    xs: list[int] = []
    best: list[float] = []
    hours: list[float] = []
    spent = 0.0
    cur: float | None = None
    for p in ended:
        spent += p.device_seconds
        if p.state in ("completed", "pruned") and p.value is not None and math.isfinite(p.value):
            if cur is None or (p.value < cur if goal == "minimize" else p.value > cur):
                cur = p.value
        if cur is not None:
            xs.append(len(xs) + 1)
            best.append(cur)
            hours.append(round(spent / 3600, 6))
    return xs, best, hours


def compare_jobs(reader: Reader, names: list[str]) -> Comparison:
    if not 2 <= len(names) <= 5 or len(set(names)) != len(names):
        raise SpecError.field("jobs", "2 to 5 different job names", names)
    series = []
    specs = []
    for name in names:
        head = reader.job_header(name)
        xs, best, hours = _series(reader.points(name), head.goal)
        series.append(CompareSeries(
            name=name, status=head.status, goal=head.goal, metric=head.metric,
            strategy=head.strategy, best=head.best_trial, device_hours=head.device_hours,
            trials=xs, best_so_far=best, device_hours_at=hours))
        specs.append(_flatten({k: v for k, v in reader.job(name).spec.items() if k != "name"}))
    keys = sorted({k for s in specs for k in s})
    diffs = [SettingDiff(key=k, values=[s.get(k) for s in specs]) for k in keys
             if len({json.dumps(s.get(k), sort_keys=True, default=str) for s in specs}) > 1]
    return Comparison(jobs=series, differences=diffs)
