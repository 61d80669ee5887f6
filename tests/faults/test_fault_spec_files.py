"""Fault injection: spec files that are binary, huge, alias bombs or hold nonsense values.

Issue 16 items 9 (bad input that eats memory), 10 (raw tracebacks for a binary spec file and
``low: abc``) and 11 (a bad duration named only "duration"). Each case must end with one line
on stderr, exit status 2, and nothing written to the store.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from tunelab.cli import app

runner = CliRunner()


def _spec(**over: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "name": "faulty",
        "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "objectives_for_tests.fns:quadratic"},
        "search_space": {"x": {"type": "float", "low": -2, "high": 2}},
        "strategy": {"type": "random", "seed": 0},
        "limits": {"max_trials": 2},
    }
    spec.update(over)
    return spec


def _write(tmp_path: Path, spec: dict[str, object]) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def _one_line_exit_2(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), res.output
    return " ".join(ln.strip() for ln in lines)


def _no_store_jobs(store: Path) -> None:
    if not store.exists():
        return
    from tunelab.store import Store

    st = Store.open(store)
    try:
        assert st.read().jobs() == []
    finally:
        st.close()


def test_a_binary_spec_file_is_one_line_exit_2(tmp_path: Path) -> None:
    p = tmp_path / "model.yaml"
    p.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe\x00\x01binary")
    for cmd in ("plan", "tune"):
        out = _one_line_exit_2([cmd, str(p), "--store", str(tmp_path / "runs")])
        assert "UTF-8 text file" in out and "model.yaml" in out
    _no_store_jobs(tmp_path / "runs")


def test_a_non_utf8_spec_without_nul_bytes_is_refused_too(tmp_path: Path) -> None:
    p = tmp_path / "latin1.yaml"
    p.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert "UTF-8 text file" in _one_line_exit_2(["plan", str(p)])


def test_low_abc_names_the_field_in_one_line(tmp_path: Path) -> None:
    p = _write(tmp_path, _spec(search_space={"x": {"type": "float", "low": "abc", "high": 2}}))
    for cmd in ("plan", "tune"):
        out = _one_line_exit_2([cmd, str(p), "--store", str(tmp_path / "runs")])
        assert "search_space.x" in out and "`low` must be a number" in out and "'abc'" in out
    _no_store_jobs(tmp_path / "runs")


def test_float_values_that_are_not_numbers_are_one_line(tmp_path: Path) -> None:
    p = _write(tmp_path, _spec(search_space={"x": {"type": "float", "low": 0, "high": 1,
                                                   "values": [0.5, "half"]}}))
    assert "`values` must be a number" in _one_line_exit_2(["plan", str(p)])


def test_numeric_strings_still_work_as_yaml_writes_them(tmp_path: Path) -> None:
    # YAML reads 1e-3 (no dot) as a string; it has always been accepted as a number
    p = _write(tmp_path, _spec(search_space={"x": {"type": "float", "low": "1e-3", "high": 1,
                                                   "scale": "log"}}))
    res = runner.invoke(app, ["plan", str(p), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["search_space"]["x"]["low"] == 0.001


def test_an_oversized_spec_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    p = tmp_path / "huge.yaml"
    body = yaml.safe_dump(_spec())
    p.write_text(body + "# " + "x" * (1024 * 1024 + 1) + "\n")
    out = _one_line_exit_2(["plan", str(p)])
    assert "at most 1024 KiB" in out and "huge.yaml" in out


BOMB = """\
name: bomb
objective: {metric: loss, goal: minimize}
train: {function: "objectives_for_tests.fns:quadratic"}
search_space: {x: {type: float, low: -2, high: 2}}
static:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_a_yaml_alias_bomb_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    p = tmp_path / "bomb.yaml"
    p.write_text(BOMB)  # 9^9 (387 million) strings once written out; 1 KiB on disk
    store = tmp_path / "runs"
    for cmd in ("plan", "tune"):
        out = _one_line_exit_2([cmd, str(p), "--store", str(store)])
        assert "aliases are expanded" in out and "bomb.yaml" in out
    _no_store_jobs(store)


def test_a_few_honest_aliases_are_fine(tmp_path: Path) -> None:
    p = tmp_path / "anchors.yaml"
    p.write_text(
        "name: anchors\nobjective: {metric: loss}\n"
        "train: {function: 'objectives_for_tests.fns:quadratic'}\n"
        "search_space:\n  x: &r {type: float, low: -2, high: 2}\n  y: *r\n"
    )
    res = runner.invoke(app, ["plan", str(p), "--json"])
    assert res.exit_code == 0, res.output
    assert set(json.loads(res.stdout)["search_space"]) == {"x", "y"}


def test_grid_size_is_computed_never_enumerated(tmp_path: Path) -> None:
    # 10^12 + 1 values: enumerating them (the old plan) raised MemoryError at once
    p = _write(tmp_path, _spec(search_space={"n": {"type": "int", "low": 0,
                                                   "high": 10**12}}))
    res = runner.invoke(app, ["plan", str(p), "--json"])
    assert res.exit_code == 0, (res.output, res.exception)
    out = json.loads(res.stdout)
    assert out["grid_size"] == 10**12 + 1 and out["training_jobs"] == 2


def test_a_grid_search_above_the_limit_is_refused_in_one_line(tmp_path: Path) -> None:
    axes = {f"p{i}": {"type": "int", "low": 1, "high": 100} for i in range(10)}  # 10^20 points
    p = _write(tmp_path, _spec(search_space=axes, strategy={"type": "grid"}))
    for cmd in ("plan", "tune"):
        out = _one_line_exit_2([cmd, str(p), "--store", str(tmp_path / "runs")])
        assert "at most 1,000,000 points" in out
        assert "100,000,000,000,000,000,000 points" in out and "strategy: random" in out
    _no_store_jobs(tmp_path / "runs")


def test_a_large_grid_below_the_limit_decodes_points_by_index() -> None:
    from tunelab.space import SearchSpace
    from tunelab.strategies.grid import GridStrategy
    from tunelab.trial import History

    space = SearchSpace.from_dict({"a": {"type": "int", "low": 0, "high": 999},
                                   "b": {"type": "choice", "values": ["x", "y"]},
                                   "c": {"type": "int", "low": 0, "high": 499}})
    g = GridStrategy(space)
    assert g.size() == 1_000_000
    assert g.ask(History(), 3) == [
        {"a": 0, "b": "x", "c": 0}, {"a": 0, "b": "x", "c": 1}, {"a": 0, "b": "x", "c": 2}]
    assert space.grid_point(999_999) == {"a": 999, "b": "y", "c": 499}
    assert space.grid_point(1000) == {"a": 1, "b": "x", "c": 0}


def test_a_bad_duration_names_its_field_path(tmp_path: Path) -> None:
    for field in ("max_runtime", "max_trial_runtime"):
        p = _write(tmp_path, _spec(limits={field: "soon"}))
        out = _one_line_exit_2(["plan", str(p)])
        assert f"`limits.{field}` must be a duration" in out and "'soon'" in out
