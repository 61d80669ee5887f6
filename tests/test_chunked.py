"""Chunked snapshots behave as tuples of the items at the time they were taken."""

from __future__ import annotations

import random

from tunelab.chunked import ChunkedBuilder


def test_snapshots_equal_tuples_taken_at_the_same_time() -> None:
    rng = random.Random(0)
    b: ChunkedBuilder[int] = ChunkedBuilder()
    model: list[int] = []
    snaps = []
    for i in range(3000):
        if model and rng.random() < 0.5:
            j = rng.randrange(len(model))
            b[j] = model[j] = -i
        else:
            b.append(i)
            model.append(i)
        if i % 97 == 0:
            snaps.append((b.snapshot(), tuple(model)))
    for snap, want in snaps:
        assert snap == want and len(snap) == len(want) and tuple(snap) == want
        n = len(want)
        for _ in range(20):
            lo, hi = rng.randrange(-n - 2, n + 2), rng.randrange(-n - 2, n + 2)
            assert snap[lo:hi] == want[lo:hi]
            assert snap[lo:] == want[lo:]
        assert snap[::3] == want[::3]
        if n:
            k = rng.randrange(-n, n)
            assert snap[k] == want[k]
    assert b.snapshot() != tuple(model[:-1])
