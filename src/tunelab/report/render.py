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


def _params_folded(p: dict[str, Any]) -> str:
    """One ``name=value`` a line, so a narrow column folds between parameters, never inside a
    number."""
    return "\n".join(f"{k}={_fmt(v)}" for k, v in p.items())


def _widest(param_sets: list[dict[str, Any]]) -> int:
    return max((len(f"{k}={_fmt(v)}") for p in param_sets for k, v in p.items()), default=6)


def failure_note(error: str, *, width: int = 160) -> str:
    """A trial's error for a table cell that ends with the actual error line: the first line
    (what failed, where its log is) and the last (the exception), never cut before it."""
    lines = [ln.strip() for ln in error.splitlines() if ln.strip()]
    if not lines:
        return ""
    if len(lines) == 1:
        one = lines[0]
        return one if len(one) <= width else one[: width // 3] + " … " + one[-(width * 2 // 3):]
    head, last = lines[0], lines[-1]
    if len(last) > width:
        last = "…" + last[-width:]
    if len(head) > width // 2:
        head = head[: width // 2] + "…"
    return f"{head} … {last}"


def render_jobs(console: Console, rows: list[dict[str, Any]]) -> None:
    """The `tunelab jobs` table: names are never cut (every other command needs them). The
    columns that do not fit the terminal are left out, least needed first, and named."""
    import time

    cells: dict[str, list[str]] = {
        "name": [r["name"] for r in rows],
        "status": [r["status"] for r in rows],
        "trials": [str(r["trials"]) for r in rows],
        "best": ["—" if r["best"] is None else f"{r['best']:.5g}" for r in rows],
        "strategy": [str(r["strategy"]) for r in rows],
        "objective": [f"{r['goal']} {r['metric']}" for r in rows],
        "created": [time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"]))
                    for r in rows],
    }
    order = ["name", "status", "trials", "best", "strategy", "objective", "created"]
    shown: list[str] = []
    used = 1  # the table's left border
    for col in order:
        need = max([len(col), *map(len, cells[col])]) + 3  # padding and border
        if col == "name" or used + need <= console.width:
            shown.append(col)
            used += need
    left_out = [c for c in order if c not in shown]
    t = Table(title="tuning jobs", caption=(
        f"not shown at this width: {', '.join(left_out)} (`tunelab jobs --json` has them)"
        if left_out else None))
    for col in shown:
        t.add_column(col, no_wrap=True)
    for i in range(len(rows)):
        t.add_row(*(escape(cells[c][i]) for c in shown))
    console.print(t)


def render_summary(console: Console, s: dict[str, Any], *, top: int = 20) -> None:
    obj = s["objective"]
    reason = f" — {escape(s['status_reason'])}" if s.get("status_reason") else ""
    console.print(f"[bold]{s['name']}[/bold]: {s['status']}{reason}", highlight=False)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(s["counts"].items()))
    console.print(f"objective: {obj['goal']} {obj['metric']} · trials: {counts or 'none'} · "
                  f"device time {s['device_seconds']:.1f}s ({s['device_hours']:.4f} h"
                  + "".join(f"; {escape(k)}: {v:.4g} h"
                            for k, v in (s.get("device_hours_by_type") or {}).items())
                  + ")"
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
        if col == "params":
            t.add_column(col, overflow="fold", no_wrap=_widest(
                [tr["params"] for tr in trials]) <= console.width // 2)
        else:
            t.add_column(col, overflow="fold", no_wrap=col != "note",
                         ratio=1 if col == "note" else None)
    failures: list[tuple[int, str]] = []
    for tr in trials:
        note = ""
        if tr.get("attempt", 1) > 1:
            note = f"try {tr['attempt']} of #{tr['retry_of']}"
        if tr.get("error"):
            failures.append((tr["number"], failure_note(tr["error"])))
            note = f"{note} error".strip()  # the error itself is printed under the table
        rank = "" if tr.get("rank") is None else str(tr["rank"])  # failed trials get none
        t.add_row(rank, str(tr["number"]), tr["state"], _fmt(tr["value"]),
                  *([escape(_params_folded(tr["params"]))] if inline else []),
                  _fmt(tr.get("steps")), f"{tr['device_seconds']:.1f}", escape(note))
    console.print(t)
    # errors go under the table at full width: a narrow column would cut or shred them
    for number, text in failures:
        console.print(f"[red]#{number}[/red]: {escape(text)}", highlight=False)
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
    for col in ("trial", "step", "action", "donor"):
        t.add_column(col, no_wrap=True)
    shown = rows[-30:]
    # one name=value a line, kept whole unless one alone is wider than half the screen
    t.add_column("new params", overflow="fold", no_wrap=_widest(
        [d["params"] or {} for d in shown]) <= console.width // 2)
    t.add_column("reason", overflow="fold")
    for d in shown:
        t.add_row(str(d["trial"]), str(d["step"]), d["action"],
                  "" if d["donor"] is None else f"#{d['donor']}@{d['donor_step']}",
                  escape(_params_folded(d["params"])) if d.get("params") else "",
                  escape(d.get("reason") or ""))
    console.print(t)
