"""Search space: validation messages, scales, Int steps, grids and the JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tunelab.errors import SpecError
from tunelab.space import Choice, Float, Int, SearchSpace, param_from_dict


def test_low_not_below_high_names_the_field_and_the_values() -> None:
    with pytest.raises(SpecError) as e:
        Float(1.0, 1.0)
    msg = str(e.value)
    assert "`low`" in msg and "< high (1.0)" in msg and "got 1.0" in msg


def test_log_scale_needs_positive_low() -> None:
    with pytest.raises(SpecError) as e:
        Float(0, 1, scale="log")
    msg = str(e.value)
    assert "> 0 for a log scale" in msg and "got 0.0" in msg and "scale: linear" in msg


def test_empty_choice_is_rejected() -> None:
    with pytest.raises(SpecError, match="non-empty list"):
        Choice(())


def test_param_from_dict_names_the_parameter() -> None:
    with pytest.raises(SpecError) as e:
        param_from_dict("lr", {"type": "float", "low": 0.0, "high": 1.0, "scale": "log"})
    assert "search_space.lr" in str(e.value) and "log scale" in str(e.value)
    with pytest.raises(SpecError) as e:
        param_from_dict("lr", {"type": "float", "low": 0.0, "high": 1.0, "hihg": 2})
    assert "search_space.lr" in str(e.value) and "hihg" in str(e.value)
    with pytest.raises(SpecError, match=r"search_space\.opt"):
        param_from_dict("opt", {"type": "choice", "values": []})
    with pytest.raises(SpecError, match=r"search_space\.n\.type"):
        param_from_dict("n", {"type": "integer", "low": 1, "high": 3})


def test_log_scale_maps_the_unit_midpoint_to_the_geometric_mean() -> None:
    p = Float(1e-4, 1.0, scale="log")
    assert p.from_unit(0.5) == pytest.approx(1e-2)
    assert p.to_unit(1e-2) == pytest.approx(0.5)
    assert p.from_unit(0.0) == pytest.approx(1e-4) and p.from_unit(1.0) == pytest.approx(1.0)


def test_reverse_log_maps_into_low_high_dense_near_one() -> None:
    p = Float(0.0, 0.999, scale="reverse_log")
    us = np.linspace(0.0, 1.0, 1000, endpoint=False)
    xs = np.array([p.from_unit(u) for u in us])
    assert xs.min() >= 0.0 and xs.max() < 0.999
    assert np.all(np.diff(xs) > 0)  # monotone
    # dense near 1: half of the unit interval maps above 0.96 (a linear scale: above 0.4995)
    assert np.median(xs) > 0.96
    for x in (0.1, 0.5, 0.9, 0.99):
        assert p.from_unit(p.to_unit(x)) == pytest.approx(x)


def test_reverse_log_range_must_lie_inside_zero_one() -> None:
    with pytest.raises(SpecError, match="reverse_log"):
        Float(0.5, 1.0, scale="reverse_log")
    with pytest.raises(SpecError, match="reverse_log"):
        Int(1, 5, scale="reverse_log")


def test_int_step_values_only() -> None:
    p = Int(0, 10, step=5)
    assert p.grid() == [0, 5, 10]
    assert {p.from_unit(u) for u in np.linspace(0, 1, 101)} == {0, 5, 10}
    assert p.contains(5) and not p.contains(3) and not p.contains(15)
    assert p.clip(7) == 5 and p.clip(8) == 10
    with pytest.raises(SpecError, match="step"):
        Int(0, 10, step=0)
    with pytest.raises(SpecError, match="an integer"):
        Int(0.5, 10)  # type: ignore[arg-type]


def test_int_log_scale_covers_every_value() -> None:
    p = Int(1, 64, scale="log")
    vals = [p.from_unit(u) for u in np.linspace(0, 1, 2001)]
    assert min(vals) == 1 and max(vals) == 64
    assert all(p.contains(v) for v in vals)


def test_grid_enumerates_the_product_last_parameter_fastest() -> None:
    s = SearchSpace({"a": Int(1, 2), "b": Choice(("x", "y", "z"))})
    pts = list(s.grid())
    assert s.grid_size() == 6 == len(pts)
    assert pts[:3] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"}]
    assert pts[3] == {"a": 2, "b": "x"}


def test_grid_over_a_float_needs_grid_points() -> None:
    s = SearchSpace({"lr": Float(0.0, 1.0)})
    assert s.grid_size() is None
    with pytest.raises(SpecError) as e:
        list(s.grid())
    assert "search_space.lr" in str(e.value) and "grid_points" in str(e.value)
    g = SearchSpace({"lr": Float(1e-3, 1e-1, scale="log", grid_points=3)})
    assert [p["lr"] for p in g.grid()] == pytest.approx([1e-3, 1e-2, 1e-1])


def test_space_round_trips_through_json() -> None:
    s = SearchSpace({
        "lr": Float(1e-4, 1.0, scale="log"),
        "mom": Float(0.0, 0.99, scale="reverse_log"),
        "wd": Float(0.0, 0.1, values=(0.0, 0.01, 0.1)),
        "layers": Int(2, 8, step=2),
        "opt": Choice(("sgd", "adam", True, 3)),
    })
    back = SearchSpace.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s


def test_parameter_names_must_be_identifiers() -> None:
    with pytest.raises(SpecError, match="identifiers"):
        SearchSpace({"learning rate": Float(0, 1)})


def test_validate_names_the_bad_value() -> None:
    s = SearchSpace({"n": Int(1, 4)})
    s.validate({"n": 3})
    with pytest.raises(SpecError, match=r"params\.n"):
        s.validate({"n": 9})
    with pytest.raises(SpecError, match="a value for"):
        s.validate({})
