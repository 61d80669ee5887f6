"""Training functions defined in the script being run (or a notebook) run in the workers.

The scripts here have no ``if __name__ == "__main__":`` guard, like the ones Optuna and Ray Tune
users write; before the fix every trial failed with "worker process died" because each spawned
worker ran the script's top level again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tunelab import Float, api
from tunelab.errors import ObjectiveError, SpecError
from tunelab.objectives.function import FunctionObjective

SCRIPT = textwrap.dedent("""
    import json, sys
    import tunelab

    OFFSET = 1.0

    def shift(x):
        return x - OFFSET

    def train(params, trial):
        loss = shift(params["x"]) ** 2
        trial.report(step=1, loss=loss)
        return loss

    print("TOP LEVEL RAN", flush=True)
    space = {"x": tunelab.Float(-5, 5)}
    result = tunelab.tune(train, space, max_trials=3, max_parallel=2, name="by-value",
                          store=sys.argv[1])
    print(json.dumps({"status": result.status,
                      "states": [t["state"] for t in result.trials]}))
""")


def _run(cmd: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=240, check=False)


def _result(out: str) -> dict[str, object]:
    last = out.strip().splitlines()[-1]
    return dict(json.loads(last))


@pytest.mark.slow
def test_script_without_main_guard_runs_every_trial(tmp_path: Path) -> None:
    (tmp_path / "example.py").write_text(SCRIPT)
    proc = _run([sys.executable, "example.py", str(tmp_path / "store")], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the workers never ran the script's top level again
    assert proc.stdout.count("TOP LEVEL RAN") == 1, proc.stdout
    res = _result(proc.stdout)
    assert res["status"] == "completed"
    assert res["states"] == ["completed"] * 3


@pytest.mark.slow
def test_function_typed_into_an_interactive_session_runs(tmp_path: Path) -> None:
    # `python -` reading stdin has no __main__.__file__, like a notebook or a REPL
    proc = _run([sys.executable, "-", str(tmp_path / "store")], tmp_path, stdin=SCRIPT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _result(proc.stdout)["states"] == ["completed"] * 3


def test_function_that_cannot_be_sent_is_refused_before_any_job(tmp_path: Path) -> None:
    lock = threading.Lock()

    def train(params: dict[str, float], trial: object) -> float:
        with lock:
            return params["x"]

    with pytest.raises(SpecError, match=r"cannot be serialised.*Create those inside the function"):
        api.tune(train, {"x": Float(0, 1)}, max_trials=1, store=tmp_path / "store")
    assert not (tmp_path / "store").exists()  # refused before anything was written


def test_importable_function_goes_by_reference_and_local_one_by_value() -> None:
    from objectives_for_tests.fns import quadratic

    assert FunctionObjective.from_callable(quadratic).payload is None

    def local(params: dict[str, float]) -> float:
        return params["x"]

    obj = FunctionObjective.from_callable(local)
    assert obj.payload is not None
    assert obj.resolve()({"x": 2.5}) == 2.5


def test_module_whose_top_level_starts_a_job_is_refused_with_the_fix(tmp_path: Path) -> None:
    # `train.function` names a script whose top level calls tunelab.tune without a guard
    (tmp_path / "selfstart.py").write_text(textwrap.dedent(f"""
        import tunelab

        def train(params, trial):
            return params["x"]

        tunelab.tune("selfstart:train", {{"x": tunelab.Float(0, 1)}}, max_trials=1,
                     store={str(tmp_path / "inner")!r})
    """))
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ObjectiveError, match=r"if __name__ == \"__main__\":"):
            api.tune("selfstart:train", {"x": Float(0, 1)}, max_trials=1,
                     store=tmp_path / "store")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("selfstart", None)
    assert not (tmp_path / "inner").exists()
