"""The light commands start without importing torch or alembic (issue 17: start-up).

Each command runs in a fresh interpreter; an ``atexit`` hook prints whether ``torch`` (and the
other heavy libraries) ended up in ``sys.modules``. No timing is asserted: the start-up time is
measured by ``bench/cli_start.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tunelab.cli import app

TESTS = Path(__file__).resolve().parent
HEAVY = ("torch", "botorch", "gpytorch", "sklearn", "kornia", "alembic")

PROBE = """
import atexit, json, sys
def _report():
    sys.__stdout__.write("\\nHEAVY=" + json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
    sys.__stdout__.flush()
atexit.register(_report)
sys.argv = ["tunelab", *{args!r}]
from tunelab.cli import main
main()
"""


def _heavy_modules(args: list[str], cwd: Path) -> tuple[list[str], str]:
    """Run ``tunelab ARGS`` in a new interpreter; the heavy modules it imported, its output."""
    code = PROBE.format(heavy=HEAVY, args=args)
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                         env=env, timeout=120)
    out = res.stdout
    assert "HEAVY=" in out, (res.returncode, out, res.stderr)
    heavy: list[str] = json.loads(out.rsplit("HEAVY=", 1)[1].strip())
    return heavy, out + res.stderr


def _spec(tmp_path: Path, strategy: dict[str, object]) -> Path:
    spec = {
        "name": "light-job",
        "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "objectives_for_tests.fns:quadratic"},
        "search_space": {"x": {"type": "float", "low": -2, "high": 3, "grid_points": 3}},
        "strategy": strategy,
        "limits": {"max_parallel": 1, "max_trials": 3},
    }
    p = tmp_path / f"spec-{strategy['type']}.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def test_help_imports_no_torch_nor_alembic(tmp_path: Path) -> None:
    heavy, out = _heavy_modules(["--help"], tmp_path)
    assert "Usage" in out
    assert heavy == [], out


@pytest.mark.parametrize("strategy", [
    {"type": "grid"}, {"type": "random", "seed": 0},
    {"type": "hyperband", "max_resource": 9}, {"type": "pbt", "population": 4},
])
def test_plan_of_a_non_image_spec_imports_no_torch(tmp_path: Path,
                                                   strategy: dict[str, object]) -> None:
    heavy, out = _heavy_modules(["plan", str(_spec(tmp_path, strategy)), "--json"], tmp_path)
    assert '"search_space"' in out, out
    assert heavy == [], out


def test_jobs_and_show_import_no_torch_nor_alembic(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    res = CliRunner().invoke(app, ["tune", str(_spec(tmp_path, {"type": "grid"})),
                                   "--store", str(store), "--json"])
    assert res.exit_code == 0, res.output
    for args in (["jobs", "--store", str(store)], ["jobs", "--store", str(store), "--json"],
                 ["show", "light-job", "--store", str(store)],
                 ["show", "light-job", "--store", str(store), "--json"]):
        heavy, out = _heavy_modules(args, tmp_path)
        assert "light-job" in out, (args, out)
        assert heavy == [], (args, out)
