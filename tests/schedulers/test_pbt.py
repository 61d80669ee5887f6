"""Population Based Training: explore, exploit, time-multiplexing, lineage, budget, crashes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sim_job import Crash, SimJob, exploited_at_resume

from tunelab.errors import SpecError
from tunelab.schedulers import make_scheduler
from tunelab.schedulers.base import FIFOScheduler, Scheduler
from tunelab.schedulers.pbt import PBTScheduler, explore, lineage
from tunelab.space import Choice, Float, Int, ParamValue, SearchSpace
from tunelab.strategies.random import RandomStrategy
from tunelab.trial import Action, History, TrialState, TrialView

SPACE = SearchSpace({
    "lr": Float(1e-4, 1.0, scale="log"),
    "opt": Choice(("sgd", "momentum", "adam")),
    "width": Int(1, 64),
})
EPOCHS = 12


def gain(p: Mapping[str, ParamValue], step: int) -> float:
    # the best learning rate falls from 1e-1 to 1e-3 halfway: a fixed lr cannot follow it
    target = -1.0 if step <= EPOCHS // 2 else -3.0
    g = math.exp(-((math.log10(float(p["lr"])) - target) ** 2))
    return g * {"sgd": 0.6, "momentum": 0.8, "adam": 1.0}[str(p["opt"])]


def curve(params: Mapping[str, ParamValue], step: int,
          path: Sequence[Mapping[str, ParamValue]]) -> dict[str, float]:
    return {"loss": 1.0 / (1.0 + sum(gain(p, i + 1) for i, p in enumerate(path)))}


SPACE_SPEC = {
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
    "opt": {"type": "choice", "values": ["sgd", "momentum", "adam"]},
    "width": {"type": "int", "low": 1, "high": 64},
}


def run(tmp: Path, sched: Scheduler, *, slots: int, seed: int = 0, trials: int = 8,
        on: SimJob | None = None, crash_when: Any = None) -> SimJob:
    """The real tuner loop on a temporary store (``on``: continue that job after a crash)."""
    j = on or SimJob(tmp, SPACE_SPEC, curve, slots=slots, max_steps=EPOCHS, trials=trials)
    j.run(sched, RandomStrategy(SPACE, seed=seed), crash=crash_when)
    return j


def pbt(**kw: Any) -> PBTScheduler:
    opts: dict[str, Any] = {"population": 8, "perturbation_interval": 2, "seed": 0, **kw}
    return PBTScheduler(SPACE, **opts)


# explore ---------------------------------------------------------------------------------------
def test_explore_perturbs_clips_and_moves_choices_to_neighbours() -> None:
    rng = np.random.default_rng(0)
    base: dict[str, ParamValue] = {"lr": 0.01, "opt": "momentum", "width": 2, "keep": "me"}
    seen_lr, seen_opt, seen_width = set(), set(), set()
    for _ in range(200):
        new = explore(base, SPACE, rng, resample_probability=0.0)
        seen_lr.add(round(float(new["lr"]), 6))
        seen_opt.add(new["opt"])
        seen_width.add(new["width"])
        assert new["keep"] == "me"
    assert seen_lr == {0.008, 0.012}
    assert seen_opt == {"sgd", "adam"}  # a neighbour, never the same value
    assert seen_width == {1, 3}  # rounding alone would leave 2: it moves one step
    # at the ends of a range: clipped, and a choice at the edge has one neighbour
    edge: dict[str, ParamValue] = {"lr": 1.0, "opt": "adam", "width": 64}
    for _ in range(50):
        new = explore(edge, SPACE, rng, resample_probability=0.0, perturbation_factors=(1.2,))
        assert new == {"lr": 1.0, "opt": "momentum", "width": 64}
    # resampling stays in range; the same generator state gives the same answer
    for _ in range(50):
        new = explore(base, SPACE, rng, resample_probability=1.0)
        assert SPACE["lr"].contains(new["lr"]) and SPACE["width"].contains(new["width"])
    a = explore(base, SPACE, np.random.default_rng(7))
    assert a == explore(base, SPACE, np.random.default_rng(7))


def test_explore_reverse_log_scales_the_distance_to_one() -> None:
    space = SearchSpace({"beta": Float(0.5, 0.999, scale="reverse_log")})
    rng = np.random.default_rng(1)
    vals = {round(float(explore({"beta": 0.9}, space, rng, resample_probability=0.0)["beta"]), 6)
            for _ in range(100)}
    assert vals == {0.88, 0.92}


# exploit ---------------------------------------------------------------------------------------
def member(n: int, value: float, step: int = 4, ckpt: bool = True,
           state: TrialState = TrialState.PAUSED) -> TrialView:
    return TrialView(n, {"lr": 0.01 * (n + 1), "opt": "sgd", "width": 8}, state, value,
                     tuple((s, value) for s in range(1, step + 1)),
                     (step,) if ckpt else ())


def test_bottom_quantile_copies_a_top_member_with_a_checkpoint() -> None:
    s = PBTScheduler(SPACE, population=4, perturbation_interval=4, quantile=0.25, seed=0,
                      synchronous=True)
    others = [member(0, 0.1), member(1, 0.5), member(2, 0.6)]
    worst = member(3, 0.9, state=TrialState.RUNNING)
    d = s.on_report(worst, 4, {}, History((*others, worst)))
    assert d.action is Action.EXPLOIT and d.donor == 0 and d.donor_step == 4
    assert d.params is not None and d.params["lr"] in (pytest.approx(0.008),
                                                     pytest.approx(0.012))
    # the same history gives the same decision
    assert s.on_report(worst, 4, {}, History((*others, worst))) == d
    # not due between intervals; not in the bottom: continue
    assert s.on_report(worst, 3, {}, History((*others, worst))).action is Action.CONTINUE
    mid = member(1, 0.5, state=TrialState.RUNNING)
    lockstep = PBTScheduler(SPACE, population=4, perturbation_interval=4, quantile=0.25,
                            seed=0, synchronous=True)
    assert lockstep.on_report(mid, 4, {}, History((others[0], mid, others[2], worst))).action \
        is Action.CONTINUE
    # a top member without a checkpoint is never a donor
    nock = [member(0, 0.1, ckpt=False), member(1, 0.5), member(2, 0.6)]
    assert s.on_report(worst, 4, {}, History((*nock, worst))).action is Action.CONTINUE
    # with the last step known: no exploit (nor pause) at it, and no donor already at it
    last = PBTScheduler(SPACE, population=4, perturbation_interval=4, quantile=0.25, seed=0,
                        max_steps=4, synchronous=True)
    assert last.on_report(worst, 4, {}, History((*others, worst))).action is Action.CONTINUE
    at8 = [member(0, 0.1, step=8), member(1, 0.5, step=8), member(2, 0.6, step=8)]
    worst8 = member(3, 0.9, step=8, state=TrialState.RUNNING)
    capped = PBTScheduler(SPACE, population=4, perturbation_interval=8, quantile=0.25, seed=0,
                          max_steps=8, synchronous=True)
    assert capped.decide(worst8, 7, History((*at8, worst8))) is None
    assert PBTScheduler(SPACE, population=4, perturbation_interval=8, quantile=0.25,
                        seed=0).decide(worst8, 7, History((*at8, worst8))) is not None
    # nor is a finished one: its copy would end at once, with nothing left to train
    done = [member(0, 0.1, state=TrialState.COMPLETED), member(1, 0.5), member(2, 0.6)]
    assert s.on_report(worst, 4, {}, History((*done, worst))).action is Action.CONTINUE
    # burn-in
    late = PBTScheduler(SPACE, population=4, perturbation_interval=4, burn_in=5, synchronous=True)
    assert late.on_report(worst, 4, {}, History((*others, worst))).action is Action.CONTINUE
    # maximize: the best is the highest
    d = s.on_report(worst, 4, {}, History((*others, worst), goal="maximize"))
    assert d.action is Action.CONTINUE


def test_waits_for_the_population_when_slots_are_short() -> None:
    s = PBTScheduler(SPACE, population=4, perturbation_interval=2, synchronous=True)
    first = member(0, 0.9, step=2, state=TrialState.RUNNING)
    # members still to start: pause so they get the slot, decide later
    d = s.on_report(first, 2, {}, History((first,)))
    assert d.action is Action.PAUSE
    assert not s.accepts_new_trials(History(tuple(member(i, 0.5) for i in range(4))))
    # resume: the least advanced paused member first, with its exploit decided then
    pop = (member(0, 0.1, 4), member(1, 0.2, 4), member(2, 0.9, 2), member(3, 0.5, 4))
    res = s.next_resume(History(pop))
    assert res is not None and res.number == 2 and res.donor == 0 and res.step == 4
    assert res.params is not None and res.params != pop[0].params
    # its donor's checkpoint and the paused members' are protected
    assert {(0, 4), (2, 2), (1, 4), (3, 4)} <= s.protected_checkpoints(History(pop))


def test_asynchronous_leaders_train_ahead() -> None:
    s = PBTScheduler(SPACE, population=4, perturbation_interval=2)
    assert not s.synchronous  # the default
    first = member(0, 0.9, step=2, state=TrialState.RUNNING)
    # the population starts first, in both modes
    assert s.on_report(first, 2, {}, History((first,))).action is Action.PAUSE
    # a member due to exploit goes first: it copies a leader's latest checkpoint (ahead)
    pop = (member(0, 0.1, 6), member(1, 0.2, 4), member(2, 0.9, 2), member(3, 0.5, 4))
    res = s.next_resume(History(pop))
    assert res is not None and res.number == 2 and res.donor == 0 and res.step == 6
    # else the best latest value, however far it has trained
    pop = (member(0, 0.3, 6), member(1, 0.2, 4), member(2, 0.22, 2), member(3, 0.25, 4))
    res = s.next_resume(History(pop))
    assert res is not None and (res.number, res.donor, res.step) == (1, None, 4)
    # at an interval, a leader keeps its slot; a member with a better one waiting yields it
    lead = member(0, 0.1, 6, state=TrialState.RUNNING)
    assert s.on_report(lead, 6, {}, History((lead, *pop[1:]))).action is Action.CONTINUE
    slow = member(3, 0.25, 6, state=TrialState.RUNNING)
    d = s.on_report(slow, 6, {}, History((pop[0], pop[1], pop[2], slow)))
    assert d.action is Action.PAUSE and "trial 1" in d.reason
    # nobody resumes before every member has trained its first interval: the first ranking
    # sees them all, whatever order their reports came in
    late = member(3, 0.5, 1, state=TrialState.RUNNING)
    assert s.next_resume(History((*pop[:3], late))) is None
    # a lockstep scheduler resumes the least advanced member instead
    sync = PBTScheduler(SPACE, population=4, perturbation_interval=2, synchronous=True)
    res = sync.next_resume(History(pop))
    assert res is not None and res.number == 2


# in a loop -------------------------------------------------------------------------------------
def check_run(j: SimJob) -> None:
    state = j.state()
    exploits = lineage(state.history())
    assert exploits, "no exploit happened"
    for e in exploits:
        SPACE.validate(e["params"])  # clipped to the declared ranges
    # each exploit's copy restored the donor's checkpoint as it was at the decision: what the
    # segment restored hashes to the sha256 the store recorded with that checkpoint
    copies = j.copies()
    assert copies
    for d in state.decisions:
        if d.action != "exploit":
            continue
        assert d.donor is not None and d.donor_step is not None
        recorded = next(c for c in state.trials[d.donor].checkpoints if c.step == d.donor_step)
        assert any(c.trial == d.trial_number and c.path == recorded.path for c in copies), d
    for c in copies:
        donor = int(c.path.split("trial-")[1][:4])
        recorded = next(k for k in state.trials[donor].checkpoints if k.path == c.path)
        assert c.digest() == recorded.sha256
        assert len(c.content) == c.step == recorded.step


def spent(j: SimJob) -> int:
    return sum(len(t.reports) for t in j.trials().values())


def test_pbt_beats_the_same_population_without_it(tmp_path: Path) -> None:
    j = run(tmp_path / "pbt", pbt(), slots=8)
    check_run(j)
    fifo = run(tmp_path / "fifo", FIFOScheduler(), slots=8)
    def best(s: SimJob) -> float:
        return min(t.value for t in s.trials().values() if t.value is not None)

    assert best(j) < best(fifo)
    trials = j.trials()
    assert all(t.state is TrialState.COMPLETED for t in trials.values())
    assert len(trials) == 8
    history = j.state().history()
    # an exploit goes back at most interval - 1 = 1 step (to the common comparison step)
    assert spent(j) <= 8 * EPOCHS + len(lineage(history))
    # and never exploits twice at the same step
    at = [(e["trial"], e["step"]) for e in lineage(history)]
    assert len(at) == len(set(at))


@pytest.mark.parametrize("synchronous", [True, False])
def test_time_multiplexed_population_is_deterministic(tmp_path: Path, synchronous: bool) -> None:
    a = run(tmp_path / "a", pbt(synchronous=synchronous), slots=2)
    check_run(a)
    assert a.log() == run(tmp_path / "b", pbt(synchronous=synchronous), slots=2).log()
    assert a.log() != run(tmp_path / "c", pbt(seed=1, synchronous=synchronous), slots=2).log()
    assert all(t.state is TrialState.COMPLETED for t in a.trials().values())
    decisions = a.decisions()
    assert any(d.action == "pause" for d in decisions) and exploited_at_resume(decisions)


def test_asynchronous_reaches_a_fully_trained_model_sooner(tmp_path: Path) -> None:
    """With 2 slots for 8 members, the leaders' lineage is fully trained long before the
    lockstep population's (epochs counted across the population)."""
    def first_full(j: SimJob) -> int:
        for spent, (_, step, _) in enumerate(j.reports(), 1):  # in the order reported
            if step == EPOCHS:
                return spent
        raise AssertionError("no member trained all its epochs")

    sync = run(tmp_path / "sync", pbt(synchronous=True), slots=2)
    asyn = run(tmp_path / "async", pbt(), slots=2)
    assert first_full(asyn) < first_full(sync) / 2


def test_epoch_budget_across_the_population(tmp_path: Path) -> None:
    assert spent(run(tmp_path, pbt(max_epochs=50), slots=3)) <= 50


def exploits(j: SimJob) -> int:
    return sum(1 for d in j.decisions() if d.action == Action.EXPLOIT.value)


@pytest.mark.parametrize("nth", [1, 2, 3, 4])
@pytest.mark.parametrize("synchronous", [True, False])
def test_crash_around_an_exploit_resumes_with_the_same_decisions(
    tmp_path: Path, nth: int, synchronous: bool
) -> None:
    # lockstep: 4 members; asynchronous (fewer exploits: the leaders run ahead): 8, half copy
    kw: dict[str, Any] = ({"population": 4, "synchronous": True} if synchronous
                          else {"population": 8, "quantile": 0.5})
    slots, trials = 1, kw["population"]
    ref = run(tmp_path / "ref", pbt(**kw), slots=slots, trials=trials)
    assert exploits(ref) >= nth
    j = SimJob(tmp_path / "crash", SPACE_SPEC, curve, slots=slots, max_steps=EPOCHS,
               trials=trials)
    with pytest.raises(Crash):
        run(tmp_path, pbt(**kw), slots=slots, trials=trials, on=j,
            crash_when=lambda job: exploits(job) >= nth)
    run(tmp_path, pbt(**kw), slots=slots, trials=trials, on=j)
    assert j.log() == ref.log()
    # a segment restarted after the crash restores the same donor checkpoint once more
    def distinct(copies: list[Any]) -> list[str]:
        return list(dict.fromkeys(repr(c) for c in copies))

    assert distinct(j.copies()) == distinct(ref.copies())
    check_run(j)


def test_asynchronous_crash_with_concurrent_members_keeps_the_invariants(tmp_path: Path) -> None:
    """With 2 slots an asynchronous decision depends on the order reports arrive in, which a
    crash changes (the lost segments restart together); what was decided stands, no member
    exploits twice at a step, each copy restores its donor as of the decision, the budget
    holds."""
    ref = run(tmp_path / "ref", pbt(max_epochs=90, quantile=0.5), slots=2)
    for nth in (1, 2, 3):
        j = SimJob(tmp_path / f"crash{nth}", SPACE_SPEC, curve, slots=2, max_steps=EPOCHS,
                   trials=8)
        with pytest.raises(Crash):
            run(tmp_path, pbt(max_epochs=90, quantile=0.5), slots=2, on=j,
                crash_when=lambda job: exploits(job) >= nth)  # noqa: B023
        before = j.decided()
        run(tmp_path, pbt(max_epochs=90, quantile=0.5), slots=2, on=j)
        assert j.decided()[: len(before)] == before
        at = [(e["trial"], e["step"]) for e in lineage(j.state().history())]
        assert len(at) == len(set(at))
        assert spent(j) <= 90
        check_run(j)
    assert lineage(ref.state().history())


def test_make_scheduler_for_pbt() -> None:
    s = make_scheduler("pbt", SPACE, seed=1, goal="maximize", population=6,
                       perturbation_interval=3, burn_in=2, quantile=0.5,
                       resample_probability=0.1, perturbation_factors=[0.5, 2])
    assert isinstance(s, PBTScheduler)
    assert (s.population, s.interval, s.burn_in, s.quantile, s.factors, s.goal) == (
        6, 3, 2, 0.5, (0.5, 2.0), "maximize")
    with pytest.raises(SpecError, match=r"`strategy.quantile` must be a number in \(0.0, 0.5\]"):
        make_scheduler("pbt", SPACE, quantile=0.7)
    with pytest.raises(SpecError, match="perturbation_factors"):
        make_scheduler("pbt", SPACE, perturbation_factors=[])
    with pytest.raises(SpecError, match="population"):
        make_scheduler("pbt", SPACE, population=1)
    with pytest.raises(SpecError, match="Did you mean `perturbation_interval`"):
        make_scheduler("pbt", SPACE, perturbation_intervals=2)
    with pytest.raises(SpecError, match="search_space"):
        make_scheduler("pbt", SearchSpace({}))
