"""Scheduler bookkeeping kept in step with the history equals a recomputation from scratch.

A random job is changed one fact at a time through the tuner's own mirror (:class:`JobState`,
whose histories carry the change feed). After every change, ASHA's rungs and the epoch budget
followed incrementally must equal (a) the same bookkeeping built from scratch on a feed-less
copy of the history and (b) a plain scan of every trial (the code they replaced), and the
schedulers' decisions must be the same on both histories.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest

from tunelab.jobstate import JobState
from tunelab.schedulers.asha import HyperbandScheduler
from tunelab.schedulers.bookkeeping import Budget
from tunelab.schedulers.pbt import PBTScheduler
from tunelab.space import Float, SearchSpace
from tunelab.store import CheckpointRecord, DecisionRow, JobRecord, ReportRecord, TrialRecord
from tunelab.trial import Action, History, TrialState, TrialView

_IGNORED = (TrialState.FAILED, TrialState.TIMED_OUT)
_IN_FLIGHT = (TrialState.PENDING, TrialState.RUNNING, TrialState.LOST)
STATES = list(TrialState)


# the reference: scans of every trial, as the schedulers did before ----------------------------
def rung_values(s: HyperbandScheduler, h: History, bracket: int, m: int) -> dict[int, float]:
    out: dict[int, float] = {}
    for t in h.trials:
        if t.state in _IGNORED or s.bracket_of(t.number) != bracket:
            continue
        for step, v in t.values:
            if step == m:
                out[t.number] = v
    return out


def top(s: HyperbandScheduler, values: Mapping[int, float], sign: float) -> list[int]:
    return sorted(values, key=lambda n: (sign * values[n], n))[: len(values) // s.eta]


def promotable(s: HyperbandScheduler, h: History) -> list[tuple[int, float, int, int, int]]:
    out = []
    for b in range(s.brackets):
        for m in s.rungs(b)[:-1]:
            values = rung_values(s, h, b, m)
            for n in top(s, values, h.sign()):
                t = h.by_number(n)
                if t.state is TrialState.PAUSED and t.last_step == m:
                    out.append((-m, h.sign() * values[n], n, m, len(values)))
    return sorted(out)


def epochs_spent(h: History) -> int:
    return sum(len(t.values) for t in h.trials)


def in_flight(h: History, besides: int | None = None) -> int:
    last = {d.trial: d.decision for d in h.decisions}
    return sum(1 for t in h.trials if t.number != besides and (
        t.state in _IN_FLIGHT or (t.state is TrialState.PAUSED and t.number in last
                                  and last[t.number].action is Action.EXPLOIT)))


def protected(h: History) -> set[tuple[int, int]]:
    out = set()
    for t in h.trials:
        if t.state is TrialState.PAUSED and t.last_step is not None:
            ck = max((c for c in t.checkpoints if c <= t.last_step), default=None)
            if ck is not None:
                out.add((t.number, ck))
    return out


# a random job, changed one fact at a time -------------------------------------------------------
def new_trial(n: int) -> TrialRecord:
    return TrialRecord(id=100 + n, number=n, attempt=1, retry_of=None, source="strategy",
                       params={"x": n}, state=TrialState.PENDING, value=None, last_step=None,
                       segments=0, error=None, traceback=None, worker=None, created_at=0.0,
                       started_at=None, ended_at=None, device_seconds=0.0)


def change(state: JobState, rng: random.Random) -> None:
    """One random change of the kind the recorder makes: a new trial, a report (maybe with a
    checkpoint, maybe a repeated step), a state, a deleted checkpoint or a decision."""
    kind = rng.random()
    if kind < 0.1 or not state.trials:
        tr = new_trial(len(state.trials))
        state.trials[tr.number] = tr
        state.changed(tr)
        return
    tr = state.trials[rng.randrange(len(state.trials))]
    if kind < 0.6:
        step = (tr.last_step or 0) + 1 if rng.random() < 0.8 else rng.randint(1, 9)
        value = None if rng.random() < 0.05 else rng.choice([rng.random(), 0.5])  # ties too
        tr.reports.append(ReportRecord(step, value, {}, 0.0))
        tr.last_step = step
        if value is not None:
            tr.value = value
        if rng.random() < 0.7:
            tr.checkpoints.append(CheckpointRecord(len(tr.checkpoints), step, f"c{step}", "", 1))
        state.changed(tr)
    elif kind < 0.85:
        tr.state = rng.choice(STATES)
        state.changed(tr)
    elif kind < 0.9:
        if tr.checkpoints:
            rng.choice(tr.checkpoints).deleted = True
            state.changed(tr)
    else:
        action = rng.choice(["pause", "stop", "exploit", "resume"])
        state.add_decision(DecisionRow(tr.number, tr.last_step or 0, action, "", 0, 1,
                                       {"x": 1} if action == "exploit" else None, 0.0))


def job(goal: str) -> JobState:
    rec = JobRecord(id=1, name="j", status="running", status_reason=None, metric="loss",
                    goal=goal, spec={}, created_at=0.0, updated_at=0.0, ended_at=None,
                    lease_owner=None, lease_until=None, stop_requested=False, data={})
    return JobState(rec)


def scratch(h: History) -> History:
    """The same history without the feed: bookkeeping rebuilds from every trial."""
    return History(tuple(h.trials), h.goal, tuple(h.decisions))


@pytest.mark.parametrize(("seed", "goal", "brackets"),
                         [(0, "minimize", 1), (1, "maximize", 1), (2, "minimize", 3)])
def test_incremental_rungs_and_budget_equal_a_recomputation(seed: int, goal: str,
                                                            brackets: int) -> None:
    rng = random.Random(seed)
    state = job(goal)
    follow = HyperbandScheduler(min_resource=1, max_resource=9, reduction_factor=2,
                                brackets=brackets, seed=seed, max_epochs=400)
    budget = Budget()
    checked = 0
    for i in range(900):
        change(state, rng)
        if i % 3:  # several changes between two histories too
            continue
        h = state.history()
        assert h.feed is not None
        fresh = HyperbandScheduler(min_resource=1, max_resource=9, reduction_factor=2,
                                   brackets=brackets, seed=seed, max_epochs=400)
        follow._rungs.sync(h)
        fresh._rungs.sync(scratch(h))
        for b in range(brackets):
            for m in follow.rungs(b)[:-1]:
                ref = rung_values(follow, h, b, m)
                assert follow._rungs.values.get((b, m), {}) == ref
                assert fresh._rungs.values.get((b, m), {}) == ref
                assert sorted(follow._rungs.ranked.get((b, m), [])) == \
                    follow._rungs.ranked.get((b, m), [])
                tops = set(top(follow, ref, h.sign()))
                assert {n for n in ref if follow._rungs.in_top((b, m), n)} == tops
        assert follow.protected_checkpoints(h) == protected(h) \
            == fresh.protected_checkpoints(scratch(h))
        want = promotable(follow, h)
        got = follow.next_resume(h)
        assert got == fresh.next_resume(scratch(h))
        if want and follow._budget.allows(h, 400):
            assert got is not None and got.number == want[0][2]
            checked += 1
        assert budget.epochs_of(h) == epochs_spent(h)
        for t in h.trials[:20]:
            assert budget.in_flight(h, besides=t.number) == in_flight(h, t.number)
        assert budget.allows(h, 400) == (epochs_spent(h) + in_flight(h) + 1 <= 400)
        for t in h.trials[-5:]:
            if t.values:
                s = t.values[-1][0]
                assert follow.on_report(t, s, {}, h) == fresh.on_report(t, s, {}, scratch(h))
    assert checked > 10  # promotions were actually compared, not only "none on either side"


def test_the_mirrors_best_and_first_attempts_equal_a_scan() -> None:
    """The loop asks these at every poll; they follow the feed instead of scanning."""
    for goal in ("minimize", "maximize"):
        rng = random.Random(7)
        state = job(goal)
        sign = 1.0 if goal == "minimize" else -1.0
        for i in range(1500):
            change(state, rng)
            if i == 700:
                state.changed()  # a full rebuild (a new feed) on the way
            done = [t for t in state.trials.values()
                    if t.state.is_finished_ok and t.value is not None]
            want = min(done, key=lambda t: (sign * float(t.value or 0.0), t.number),
                       default=None)
            assert state.best() is want
            assert state.first_attempts() == sum(1 for t in state.trials.values()
                                                 if t.attempt == 1)


def test_an_older_history_is_taken_in_from_scratch() -> None:
    """Asked about an older snapshot after a newer one, the bookkeeping answers for the older."""
    state = job("minimize")
    rng = random.Random(5)
    for _ in range(200):
        change(state, rng)
    old = state.history()
    for _ in range(200):
        change(state, rng)
    new = state.history()
    b = Budget()
    assert b.epochs_of(new) == epochs_spent(new)
    assert b.epochs_of(old) == epochs_spent(old) != epochs_spent(new)
    assert b.epochs_of(new) == epochs_spent(new)


def test_a_feed_history_finds_trials_by_number_and_views_each_change_once() -> None:
    state = job("minimize")
    for n in range(5):
        tr = new_trial(n)
        state.trials[n] = tr
        state.changed(tr)
    h = state.history()
    assert [h.by_number(n).number for n in range(5)] == list(range(5))
    cur = h.cursor()
    state.trials[3].state = TrialState.RUNNING
    state.changed(state.trials[3])
    state.changed(state.trials[3])
    state.changed(state.trials[1])
    h2 = state.history()
    changed = h2.changed_since(cur)
    assert changed is not None
    assert [(v.number, v.state) for v in changed] == [(3, TrialState.RUNNING),
                                                     (1, TrialState.PENDING)]
    assert h.changed_since(cur) is None  # h is no longer the newest history
    assert isinstance(h2.by_number(3), TrialView) and h2.by_number(3).state is TrialState.RUNNING


# PBT ------------------------------------------------------------------------------------------
def pbt_reference(s: PBTScheduler, h: History) -> dict[str, object]:
    """The population facts by a scan of every trial (the code Population replaced)."""
    members = [t for t in h.trials if t.state not in _IGNORED]
    last = {d.trial: d for d in h.decisions}
    prot: set[tuple[int, int]] = set()
    for t in members:
        if t.checkpoints and not t.state.is_terminal:
            prot.add((t.number, max(t.checkpoints)))
        if t.state is TrialState.PAUSED and t.last_step is not None:
            ck = max((c for c in t.checkpoints if c <= t.last_step), default=None)
            if ck is not None:
                prot.add((t.number, ck))
    for number, rec in last.items():
        d = rec.decision
        if d.action is not Action.EXPLOIT or d.donor is None or d.donor_step is None:
            continue
        t = h.by_number(number)
        if not (t.state.is_terminal or (t.last_step is not None and t.last_step != rec.step)):
            prot.add((d.donor, d.donor_step))
    return {
        "started": sum(1 for t in h.trials if t.attempt == 1),
        "unformed": {t.number for t in members
                     if not t.state.is_terminal and (t.last_step or 0) < s._first},
        "reached": {t.number: max(x for x, _ in t.values) for t in members if t.values},
        "waiting": {t.number for t in h.trials if t.state is TrialState.PAUSED and t.last_step
                    and not (t.number in last
                             and last[t.number].decision.action is Action.EXPLOIT)},
        "exploited": {(d.trial, d.step) for d in h.decisions
                      if d.decision.action is Action.EXPLOIT},
        "protected": prot,
    }


@pytest.mark.parametrize(("seed", "synchronous"), [(3, False), (4, True)])
def test_incremental_population_equals_a_recomputation(seed: int, synchronous: bool) -> None:
    rng = random.Random(seed)
    state = job("minimize")
    space = SearchSpace({"x": Float(0.0, 100.0)})

    def pbt() -> PBTScheduler:
        return PBTScheduler(space, population=60, perturbation_interval=2, seed=seed,
                            max_steps=9, synchronous=synchronous)

    follow = pbt()
    decided = 0
    for i in range(900):
        change(state, rng)
        if i % 3:
            continue
        h = state.history()
        fresh, ref = pbt(), pbt_reference(follow, h)
        follow._pop.sync(h)
        fresh._pop.sync(scratch(h))
        for sched in (follow, fresh):
            pop = sched._pop
            assert len(pop.started) == ref["started"]
            assert pop.unformed == ref["unformed"]
            assert pop.reached == ref["reached"]
            assert set(pop.waiting) == ref["waiting"]
            assert pop.exploited == ref["exploited"]
            assert pop.protected() == ref["protected"]
        for t in h.trials[:10]:
            assert follow.protected_steps(h, t.number) == \
                {s for n, s in ref["protected"] if n == t.number}  # type: ignore[attr-defined]
        assert follow.next_resume(h) == fresh.next_resume(scratch(h))
        for t in h.trials[-5:]:
            if t.values:
                s = t.values[-1][0]
                got = follow.on_report(t, s, {}, h)
                assert got == fresh.on_report(t, s, {}, scratch(h))
                decided += got.action is not Action.CONTINUE
    assert decided > 5  # pauses and exploits were compared, not only "continue"


def ranking_reference(s: PBTScheduler, t: TrialView, step: int,
                      h: History) -> tuple[int, list[int], list[int]] | None:
    """PBT's comparison of ``t`` at ``step`` by a scan (the code the sorted lists replaced):
    the common step, the members ranked there (best first) and the eligible donors among the
    top ``k`` if ``t`` is in the bottom ``k``."""
    members = [x for x in h.trials if x.state not in _IGNORED and x.values]
    reached = {x.number: max(st for st, _ in x.values) for x in members}
    if t.number not in reached:
        return None
    pool = [n for n, r in reached.items() if r > step - s.interval or n == t.number]
    at = min(min(reached[n] for n in pool), step)

    def score(x: TrialView) -> float | None:
        best: tuple[int, float] | None = None
        for st, v in x.values:
            if st <= at and (best is None or st >= best[0]):
                best = (st, v)
        return None if best is None else best[1]

    scores = {n: v for n in pool if (v := score(h.by_number(n))) is not None}
    ranked = sorted(scores, key=lambda n: (h.sign() * scores[n], n))
    k = min(-(-len(scores) * s.quantile // 1), len(scores) // 2)
    donors: list[int] = []
    if t.number in scores and len(scores) >= 2 and k and t.number in ranked[-int(k):]:
        floor = max(at, 1) if s.synchronous else max(step, 1)
        last = s.max_steps if s.max_steps is not None else float("inf")
        donors = [n for n in ranked[:int(k)]
                  if floor <= max(h.by_number(n).checkpoints, default=0) < last
                  and not h.by_number(n).state.is_terminal]
    return at, ranked, donors


@pytest.mark.parametrize(("seed", "synchronous", "goal"),
                         [(3, False, "minimize"), (4, True, "minimize"), (6, False, "maximize")])
def test_pbt_rankings_by_sorted_lists_equal_a_scan(seed: int, synchronous: bool,
                                                   goal: str) -> None:
    """The per-step sorted lists (reports out of order, repeated steps, copies that jump
    ahead, members that fail) rank exactly as a scan, and so decide the same exploits; the
    waiting members come in the scan's orders, and the one to resume with an exploit is the
    first a pass over all of them finds."""
    rng = random.Random(seed)
    state = job(goal)
    s = PBTScheduler(SearchSpace({"x": Float(0.0, 100.0)}), population=60,
                     perturbation_interval=2, seed=seed, max_steps=9, synchronous=synchronous)
    compared = exploits = found = 0
    for i in range(700):
        change(state, rng)
        h = state.history()
        if i % 2:
            continue
        s._pop.sync(h)
        for t in h.trials:
            for step in {t.last_step or 0, *(st for st, _ in t.values[-2:])} - {0}:
                ref = ranking_reference(s, t, step, h)
                if ref is None:
                    assert t.number not in s._pop.reached
                    continue
                at, ranked = s._pop.ranked_at(step, s.interval, t.number)
                assert (at, [n for _, n in ranked]) == ref[:2]
                d = s.decide(t, step, h)
                assert (d is not None) == bool(ref[2])
                if d is not None:
                    assert d[0] in ref[2]
                    exploits += 1
                compared += 1
        # the first waiting member due to exploit, found step by step from the bottom of
        # each ranking, is the one a pass over every waiting member finds
        first = next((n for _, n in s._pop.waiting_order
                      if s._exploit(s._pop.waiting[n], h) is not None), None)
        assert s._first_to_exploit(h) == first
        found += first is not None
        waiting = [t for t in h.trials if t.number in s._pop.waiting]
        assert [n for _, n in s._pop.waiting_order] == [
            t.number for t in sorted(waiting, key=lambda t: (t.last_step or 0, t.number))]
        latest = {t.number: (float("inf") if not t.values else h.sign() * t.values[-1][1])
                  for t in waiting}
        assert [n for _, n in s._pop.waiting_rank] == sorted(latest, key=lambda n: (latest[n], n))
    assert compared > 1000 and exploits > 20 and found >= 3
