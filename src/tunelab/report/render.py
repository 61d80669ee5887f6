"""Rich rendering of a job summary: leaderboard, counts, best, diagnosis, lineage, cost."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "—" if v is None else str(v)


def _params(p: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in p.items())


def render_summary(console: Console, s: dict[str, Any], *, top: int = 20) -> None:
    obj = s["objective"]
    reason = f" — {escape(s['status_reason'])}" if s.get("status_reason") else ""
    console.print(f"[bold]{s['name']}[/bold]: {s['status']}{reason}", highlight=False)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(s["counts"].items()))
    console.print(f"objective: {obj['goal']} {obj['metric']} · trials: {counts or 'none'} · "
                  f"device time {s['device_seconds']:.1f}s ({s['device_hours']:.4f} h)"
                  + (f" · {s['epochs']} epochs" if s.get("epochs") else "")
                  + (f" · checkpoints {s['checkpoint_bytes'] / 1e6:.1f} MB"
                     if s.get("checkpoint_bytes") else ""), highlight=False)
    data = s.get("data")
    if data:
        colour = "yellow" if data.get("skipped") else "dim"
        console.print(f"[{colour}]data: {escape(data['message'])}[/{colour}]", highlight=False)
    warm = s.get("warm_start")
    if warm:
        console.print(f"[dim]warm start: {escape(warm['message'])}[/dim]", highlight=False)
    trials = s["trials"][:top]
    names = sorted({k for tr in trials for k in tr["params"]})
    inline = len(names) <= 3
    t = Table(title="leaderboard")
    cols = ["rank", "trial", "state", obj["metric"], *(["params"] if inline else []),
            "steps", "secs", "note"]
    for col in cols:
        t.add_column(col, overflow="fold")
    for tr in trials:
        note = tr.get("error") or ""
        if tr.get("attempt", 1) > 1:
            note = f"attempt {tr['attempt']} of #{tr['retry_of']} " + note
        rank = "" if tr.get("rank") is None else str(tr["rank"])  # failed trials get none
        t.add_row(rank, str(tr["number"]), tr["state"], _fmt(tr["value"]),
                  *([escape(_params(tr["params"]))] if inline else []), _fmt(tr.get("steps")),
                  f"{tr['device_seconds']:.1f}", escape(note[:80]))
    console.print(t)
    if not inline and trials:
        shown = trials[:5]
        pt = Table(title=f"parameters of the top {len(shown)}")
        pt.add_column("parameter", no_wrap=True)
        for tr in shown:
            pt.add_column(f"#{tr['number']}", justify="right")
        for n in names:
            pt.add_row(n, *(_fmt(tr["params"].get(n)) for tr in shown))
        console.print(pt)
    if len(s["trials"]) > top:
        console.print(f"… {len(s['trials']) - top} more (use --top)")
    best = s.get("best")
    if best:
        searched = (f" with {escape(_params(best['params']))}" if best["params"]
                    else " (nothing searched)")
        console.print(f"[bold green]best[/bold green]: trial {best['number']} "
                      f"{obj['metric']}={_fmt(best['value'])}{searched}", highlight=False)
    if s.get("static"):
        console.print(f"fixed: {_params(s['static'])}", markup=False, highlight=False)
    _diagnosis(console, s)
    _lineage(console, s)


def _diagnosis(console: Console, s: dict[str, Any]) -> None:
    diag = s.get("diagnosis")
    if not diag:
        return
    best = diag.get("best")
    if best:
        console.print(f"[bold]diagnosis of the best trial[/bold]: {escape(best['summary'])}",
                      highlight=False)
        for a in best.get("advice", []):
            console.print(f"  • {a}", markup=False, highlight=False)
    per = diag.get("trials", {})
    kinds: dict[str, list[str]] = {}
    for number, d in per.items():
        kinds.setdefault(d["kind"], []).append(str(number))
    if kinds:
        console.print("per trial: " + "; ".join(f"{k}: #{', #'.join(v)}"
                                                for k, v in sorted(kinds.items())))


def _lineage(console: Console, s: dict[str, Any]) -> None:
    decisions = s.get("decisions", [])
    rows = [d for d in decisions if d["action"] == "exploit"]
    counts: dict[str, int] = {}
    for d in decisions:
        if d["action"] != "exploit":
            counts[d["action"]] = counts.get(d["action"], 0) + 1
    if counts:
        console.print("scheduler decisions: " + ", ".join(
            f"{n} {a}" for a, n in sorted(counts.items())) + " (all of them: show --json)")
    if not rows:
        return
    t = Table(title="PBT lineage: who copied whom (weights and hyperparameters)")
    for col in ("trial", "step", "action", "donor", "new params", "reason"):
        t.add_column(col, overflow="fold")
    for d in rows[-30:]:
        t.add_row(str(d["trial"]), str(d["step"]), d["action"],
                  "" if d["donor"] is None else f"#{d['donor']}@{d['donor_step']}",
                  _params(d["params"]) if d.get("params") else "", d.get("reason") or "")
    console.print(t)
