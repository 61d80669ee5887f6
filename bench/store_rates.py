"""Store rates: how far one tuner goes, and what a big job asks of its store (issue 22).

Runs the real ``Tuner`` on the simulated executor with ``--slots`` slots (1,000 by default: a
100-node cluster with 10 trials per node), whose trials cost nothing but a curve evaluation,
so the wall time is the tuner's own. ASHA over ``--trials`` trials of 10 steps; once on a
SQLite store in a temporary folder and once on PostgreSQL (a fresh schema of the shared
``test`` database, dropped afterwards). It prints, per store:

- reports per second the loop sustains (reports / wall time) — one tuner's ceiling;
- store transactions per report (the tuner batches the reports of one poll into one commit);
- PostgreSQL only: bytes and rows per report in the job's tables (indexes included).

docs/scaling.md turns these into what a 100-node, 1,000-trial job needs.

    .venv/bin/python bench/store_rates.py                       # 1,000 slots, 3,000 trials
    .venv/bin/python bench/store_rates.py --trials 1000 --stores sqlite
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STEPS = 10


@contextmanager
def pg_schema() -> Iterator[tuple[str, str]]:
    from sqlalchemy import create_engine, text

    schema = f"tunelab_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}",
               schema)
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def pg_usage(schema: str) -> tuple[int, int]:
    """(bytes, rows) of every table in ``schema``, indexes and TOAST included."""
    from sqlalchemy import create_engine, text

    eng = create_engine(PG)
    try:
        with eng.connect() as c:
            tables = [r[0] for r in c.execute(text(
                "select tablename from pg_tables where schemaname = :s"), {"s": schema})]
            size = rows = 0
            for t in tables:
                size += int(c.execute(text(
                    f"select pg_total_relation_size('\"{schema}\".\"{t}\"')")).scalar_one())
                rows += int(c.execute(text(f'select count(*) from "{schema}"."{t}"'))
                            .scalar_one())
    finally:
        eng.dispose()
    return size, rows


def run(url: str, trials: int, slots: int, artifacts: Path) -> dict[str, float]:
    from loop_scaling import METHODS, curve

    from tunelab.executors.simulated import SimulatedExecutor
    from tunelab.spec import spec_from_dict
    from tunelab.store import Store
    from tunelab.tuner import Tuner

    spec = spec_from_dict({
        "name": "rates", "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "loop_scaling:curve"}, "static": {"epochs": STEPS},
        "search_space": {"lr": {"type": "float", "low": 0.01, "high": 0.9, "scale": "log"},
                         "x": {"type": "float", "low": 0.0, "high": 1.0}},
        "strategy": dict(METHODS["asha"]), "limits": {"max_trials": trials, "max_parallel": slots},
    })
    store = Store.open(url, artifacts=artifacts)
    commits = [0]
    original = store.transaction

    @contextmanager
    def counted() -> Iterator[Any]:
        commits[0] += 1
        with original() as tx:
            yield tx

    store.transaction = counted  # type: ignore[method-assign]
    try:
        ex = SimulatedExecutor(slots, curve, max_steps=STEPS)
        t0 = time.perf_counter()
        status = Tuner.create(spec, store, executor=ex).run()
        wall = time.perf_counter() - t0
        tx = store.read()
        reports = sum(len(t.reports) for t in tx.trials(tx.job("rates").id))
    finally:
        store.close()
    return {"ok": float(status == "completed"), "reports": reports, "wall": wall,
            "commits": commits[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=3000)
    ap.add_argument("--slots", type=int, default=1000)
    ap.add_argument("--stores", default="sqlite,postgres")
    a = ap.parse_args()
    sys.path.insert(0, str(HERE))
    print(f"ASHA, {a.trials} trials x up to {STEPS} reports, {a.slots} slots (simulated); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="tunelab-rates-") as tmp:
        for kind in a.stores.split(","):
            if kind == "sqlite":
                r = run(str(Path(tmp) / "store"), a.trials, a.slots, Path(tmp) / "art")
                usage = ""
            else:
                with pg_schema() as (url, schema):
                    r = run(url, a.trials, a.slots, Path(tmp) / "art")
                    size, rows = pg_usage(schema)
                usage = (f"; {size / r['reports']:.0f} bytes and {rows / r['reports']:.2f} "
                         f"rows per report ({size / 1e6:.1f} MB for {int(r['reports'])})")
            print(f"{kind}: {int(r['reports'])} reports in {r['wall']:.1f} s = "
                  f"{r['reports'] / r['wall']:.0f} reports/s; "
                  f"{r['commits'] / r['reports']:.2f} transactions per report{usage}"
                  + ("" if r["ok"] else " (job did not complete)"), flush=True)


if __name__ == "__main__":
    main()
