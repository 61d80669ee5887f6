"""Ray executor: trial segments run in warm Ray actors anywhere on a cluster.

Each slot is one :class:`~tunelab.executors.ray_actor.TrialActor` asking Ray for the resources
of one trial (``cpus_per_trial``, ``gpus_per_trial`` — fractions pack trials on a GPU — and
custom resources), reused between segments like the local executor's worker processes. The
worker's typed messages come back through Ray (a long-polling ``messages`` call per busy actor)
and the tuner stays the only writer of the store. Checkpoints go to the job's artifact root,
which every node must reach (a shared folder).

What happens when things break, as events for the tuner:

- the actor's node dies, or its process does (``ActorDiedError``/``ActorUnavailableError``):
  ``LOST`` — the trial re-runs from its last checkpoint on another slot, under the same number;
  a trial lost :data:`MAX_LOSSES` times in a row is ``FAILED`` instead (it kills its worker);
- the whole cluster goes away (its GCS stops answering): ``CLUSTER_GONE`` for every running
  trial — the tuner stops the job cleanly and ``tunelab resume`` continues it;
- a stop or a time limit first stops a ``command`` objective's child (SIGTERM to its process
  group, SIGKILL after ``grace`` seconds, in the actor), then kills the actor
  (``STOPPED``/``TIMED_OUT``), which a fresh one replaces on the next start.

Slots follow the cluster: the slot of an actor that died unasked *cools* (takes no trial)
until Ray says whether its node is dead — then the slot goes (a fresh actor would wait forever
for resources the cluster no longer has, while the warm actors hold the rest) — or alive; and
slots come back, up to ``max_parallel``, when nodes join again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tunelab.devices import thread_env
from tunelab.errors import ClusterError
from tunelab.executors.base import Event, EventKind, Executor, SegmentSpec
from tunelab.executors.messages import (
    DiskFull,
    Ended,
    Failed,
    Finished,
    Reply,
    Reported,
    Started,
    WorkerMessage,
    final_event,
)
from tunelab.executors.ray_actor import FINAL, TrialActor
from tunelab.executors.ray_cluster import (
    ClusterInfo,
    connect,
    disconnect,
    gcs_address,
    gcs_reachable,
    import_ray,
    read_cluster,
    trial_need,
)
from tunelab.trial import Decision

MAX_LOSSES = 3  # a trial whose worker dies this often in a row is failed, not re-run again
_LONG_POLL = 5.0  # seconds a messages() call waits in the actor before it returns empty
_HEALTH_EVERY = 1.0  # seconds between two looks at the cluster's GCS
_STARTUP_ALLOWANCE = 120.0  # seconds an actor may take to be placed and start
_COOL_MAX = 60.0  # seconds a dead actor's slot waits for Ray to declare its node dead
_RESIZE_EVERY = 2.0  # seconds between two looks at the cluster's size


@dataclass
class _Slot:
    index: int
    actor: Any = None
    where: str | None = None
    node: str | None = None  # the actor's Ray node id
    cooling: float | None = None  # since when its actor died unasked (monotonic)
    trial_id: int | None = None
    msg_ref: Any = None  # the outstanding messages() call while busy
    run_ref: Any = None
    deadline: float | None = None
    time_limit: float | None = None
    kill_reason: str | None = None  # "stop" | "timeout"
    stop_ref: Any = None  # the actor's stop_command() call, before the actor is killed
    kill_at: float | None = None  # when to kill the actor whatever stop_command says


class RayExecutor(Executor):
    """Runs segments on a Ray cluster.

    Args:
        address: ``auto``, ``HOST:PORT`` of the head's GCS, or ``ray://HOST:10001``.
        max_parallel: slots (None: as many trials as the cluster fits at once).
        cpus_per_trial, gpus_per_trial, resources: what each trial asks of Ray.
        grace: seconds a stopped ``command`` objective gets between SIGTERM and SIGKILL.

    Raises :class:`~tunelab.errors.ClusterError` at construction when there is no cluster at
    ``address`` or no node fits one trial — before the tuner starts any.
    """

    def __init__(
        self, address: str = "auto", *, max_parallel: int | None = None,
        cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0,
        resources: Mapping[str, float] | None = None, grace: float = 5.0,
    ) -> None:
        self.address = address
        self.grace = grace
        self.need = trial_need(cpus_per_trial, gpus_per_trial, resources or {})
        self._owns_driver = connect(address)  # else the caller's ray.init() stays theirs
        self._ray = import_ray()
        try:
            self.cluster: ClusterInfo = read_cluster(address)
            fit = self.cluster.check(self.need)
        except BaseException:
            if self._owns_driver:
                disconnect()
            raise
        self._gcs = gcs_address(address)
        n = min(max_parallel, fit) if max_parallel is not None else fit
        threads = max(1, int(cpus_per_trial))
        self._env = {**thread_env(threads),
                     # a command the scheduler stops gets the same grace as one stopped here
                     "TUNELAB_STOP_GRACE": f"{grace:g}"}
        self._actor_class = self._ray.remote(
            num_cpus=cpus_per_trial, num_gpus=gpus_per_trial,
            resources={k: v for k, v in self.need.items() if k not in ("CPU", "GPU")},
            max_concurrency=4, max_restarts=0)(TrialActor)
        self._target = max(1, n)
        self._slots = [_Slot(i) for i in range(self._target)]
        self._next_index = self._target
        self._last_resize = 0.0
        self._dead_nodes: set[str] = set()
        self._by_trial: dict[int, _Slot] = {}
        self._losses: dict[int, int] = {}
        self._gone: str | None = None
        self._pending: list[Event] = []  # events decided outside poll (a start on a gone cluster)
        self._last_health = 0.0

    def describe(self) -> str:
        need = ", ".join(f"{v:g} {k}" for k, v in self.need.items()) or "nothing"
        return (f"ray at {self.address}: {len(self._slots)} slots of {need} each on "
                f"{self.cluster.describe()}")

    # the contract -------------------------------------------------------------------------------
    @property
    def slots(self) -> int:
        return len(self._slots)

    def free_slots(self) -> int:
        if self._gone is not None:
            return 0
        return sum(1 for s in self._slots if s.trial_id is None and s.cooling is None)

    def now(self) -> float:
        return time.time()

    def warm_up(self) -> None:
        """Start every slot's actor now, so the first trials do not wait for them."""
        for s in self._slots:
            if s.actor is None:
                s.actor = self._actor_class.remote(self._env)

    def start(self, segment: SegmentSpec) -> None:
        free = [s for s in self._slots if s.trial_id is None and s.cooling is None]
        # a warm actor first; a fresh one may wait for Ray to place it
        slot = next((s for s in free if s.actor is not None), free[0] if free else None)
        if slot is None:
            raise RuntimeError("no free slot")
        slot.trial_id = segment.trial_id
        slot.time_limit = segment.time_limit
        slot.kill_reason = None
        slot.deadline = (time.monotonic() + segment.time_limit + _STARTUP_ALLOWANCE
                         if segment.time_limit is not None else None)
        self._by_trial[segment.trial_id] = slot
        if self._gone is not None:
            self._pending.append(self._gone_event(slot))
            return
        try:
            if slot.actor is None:
                slot.node = slot.where = None
                slot.actor = self._actor_class.remote(self._env)
            slot.run_ref = slot.actor.run.remote(segment)
            slot.msg_ref = slot.actor.messages.remote(_LONG_POLL)
        except Exception as e:  # the cluster went away between two polls
            self._gone = f"the Ray cluster at {self.address} went away ({e.__class__.__name__})"
            self._pending.append(self._gone_event(slot))

    def reply(self, trial_id: int, decision: Decision) -> None:
        slot = self._by_trial.get(trial_id)
        if slot is None or slot.actor is None or self._gone is not None:
            return
        try:
            slot.actor.reply.remote(Reply(trial_id, decision))
        except Exception:
            pass  # the actor or the cluster is gone; poll() says which

    def stop(self, trial_id: int, reason: str = "") -> None:
        slot = self._by_trial.get(trial_id)
        if slot is not None and slot.kill_reason is None:
            self._kill(slot, "stop")

    def _kill(self, slot: _Slot, reason: str) -> None:
        """Stop the slot's segment: its command's child first (in the actor, which answers
        when the child is gone), then the actor (:meth:`_check_clocks`)."""
        slot.kill_reason = reason
        if self._gone is None and slot.actor is not None:
            try:
                slot.stop_ref = slot.actor.stop_command.remote(self.grace)
                slot.kill_at = time.monotonic() + self.grace + 5.0
            except Exception:
                self._kill_actor(slot)

    def _kill_actor(self, slot: _Slot) -> None:
        slot.stop_ref = slot.kill_at = None
        if self._gone is None and slot.actor is not None:
            try:
                self._ray.kill(slot.actor, no_restart=True)
            except Exception:
                pass

    # polling ------------------------------------------------------------------------------------
    def poll(self, timeout: float) -> list[Event]:
        events, self._pending = self._pending, []
        self._check_health()
        self._check_clocks()
        self._resize()
        busy = {s.msg_ref: s for s in self._slots
                if s.trial_id is not None and s.msg_ref is not None}
        if self._gone is not None:
            for s in list(self._slots):
                if s.trial_id is not None:
                    events.append(self._gone_event(s))
            return events
        if not busy:
            if not events and (timeout > 0 or len(self._slots) < self._target):
                time.sleep(0.05 if timeout <= 0 else min(timeout, 0.05))
            return events
        wait = 0.0 if events else max(0.0, min(timeout, _HEALTH_EVERY))
        try:
            ready, _ = self._ray.wait(list(busy), num_returns=1, timeout=wait)
            if ready:
                ready, _ = self._ray.wait(list(busy), num_returns=len(busy), timeout=0)
        except Exception as e:
            self._gone = f"the Ray cluster at {self.address} went away ({e.__class__.__name__})"
            return events + self.poll(0)
        for ref in ready:
            events.extend(self._collect(busy[ref], ref))
        return events

    def _collect(self, slot: _Slot, ref: Any) -> list[Event]:
        ray = self._ray
        try:
            msgs: list[WorkerMessage] = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as e:
            return [self._death_event(slot, e)]
        except Exception as e:
            if self._cluster_alive():
                return [self._death_event(slot, e)]
            self._gone = f"the Ray cluster at {self.address} went away ({e.__class__.__name__})"
            return [self._gone_event(slot)]
        out = [ev for m in msgs if (ev := self._to_event(slot, m)) is not None]
        if slot.trial_id is not None:
            slot.msg_ref = slot.actor.messages.remote(_LONG_POLL)
        return out

    def _worker(self, slot: _Slot) -> str:
        if slot.where is None and slot.actor is not None:
            try:
                node, pid = self._ray.get(slot.actor.where.remote(), timeout=10)
                slot.node, slot.where = str(node), f"node {str(node)[:8]} pid {pid}"
            except Exception:
                slot.where = "node ?"
        return f"ray {slot.where} slot {slot.index}"

    def _to_event(self, slot: _Slot, msg: WorkerMessage) -> Event | None:
        tid = msg.trial_id
        if tid != slot.trial_id:
            return None
        worker = self._worker(slot)
        if isinstance(msg, Reported):
            return Event(EventKind.REPORT, tid, msg.at, step=msg.step, metrics=msg.metrics,
                         checkpoint=msg.checkpoint, worker=worker)
        if isinstance(msg, Started):
            if slot.time_limit is not None and slot.kill_reason is None:
                slot.deadline = time.monotonic() + slot.time_limit
            return Event(EventKind.STARTED, tid, msg.at, worker=worker)
        if slot.kill_reason is not None or not isinstance(msg, FINAL):
            return None  # being killed: the death event says why
        self._free(slot)
        self._losses.pop(tid, None)
        assert isinstance(msg, Finished | Ended | Failed | DiskFull)
        return final_event(msg, tid, worker)

    def _free(self, slot: _Slot) -> None:
        if slot.trial_id is not None:
            self._by_trial.pop(slot.trial_id, None)
        slot.trial_id = slot.deadline = slot.kill_reason = None
        slot.msg_ref = slot.run_ref = slot.stop_ref = slot.kill_at = None

    def _death_event(self, slot: _Slot, e: BaseException) -> Event:
        assert slot.trial_id is not None
        tid, reason, worker = slot.trial_id, slot.kill_reason, self._worker(slot)
        slot.actor = slot.where = None  # a fresh actor (on any node that fits) next time
        self._free(slot)
        if reason is None:  # died unasked: its node may be gone (see _resize)
            slot.cooling = time.monotonic()
        now = time.time()
        if reason == "timeout":
            return Event(EventKind.TIMED_OUT, tid, now, worker=worker,
                         error="ran past max_trial_runtime; stopped")
        if reason == "stop":
            return Event(EventKind.STOPPED, tid, now, worker=worker, error="stopped")
        why = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        losses = self._losses[tid] = self._losses.get(tid, 0) + 1
        if losses >= MAX_LOSSES:
            return Event(EventKind.FAILED, tid, now, worker=worker,
                         error=f"its Ray worker died {losses} times in a row (last: {why})")
        return Event(EventKind.LOST, tid, now, worker=worker,
                     error=f"its Ray worker or node died ({why[:200]})")

    def _gone_event(self, slot: _Slot) -> Event:
        assert slot.trial_id is not None
        tid = slot.trial_id
        self._free(slot)
        slot.actor = slot.where = None
        msg = (f"{self._gone or 'the Ray cluster went away'}: the job stopped; its running "
               "trials re-run from their checkpoints on `tunelab resume` once the cluster is "
               "back")
        return Event(EventKind.CLUSTER_GONE, tid, time.time(), error=msg)

    # clocks and health ----------------------------------------------------------------------------
    def _cluster_alive(self) -> bool:
        return self._gcs is None or gcs_reachable(self._gcs, timeout=2.0)

    def _check_health(self) -> None:
        now = time.monotonic()
        if self._gone is not None or now - self._last_health < _HEALTH_EVERY:
            return
        self._last_health = now
        if not self._cluster_alive():
            self._gone = (f"the Ray cluster at {self.address} went away (its head at "
                          f"{self._gcs} stopped answering)")

    def _resize(self) -> None:
        """Drop the slots whose actor's node died; add slots when the cluster grows back.

        Ray's GCS takes a while (its health checks) to declare a node dead; the node's raylet
        refusing connections says so at once, so a dead actor's node is probed there."""
        now = time.monotonic()
        cooling = [s for s in self._slots if s.cooling is not None]
        if self._gone is not None or (not cooling and len(self._slots) >= self._target) \
                or now - self._last_resize < (0.2 if cooling else _RESIZE_EVERY):
            return
        self._last_resize = now
        try:
            nodes = {str(n["NodeID"]): n for n in self._ray.nodes() if n.get("Alive")}
            info = read_cluster(self.address)
        except Exception:
            return  # the health check says whether the cluster went away
        for s in cooling:
            assert s.cooling is not None
            n = nodes.get(s.node or "")
            raylet = f"{n.get('NodeManagerAddress')}:{n.get('NodeManagerPort')}" if n else ""
            if s.node is not None and (n is None or not gcs_reachable(raylet, timeout=1.0)):
                self._dead_nodes.add(s.node)
                self._slots.remove(s)  # its node is dead: the cluster is smaller now
            elif s.node is not None or now - s.cooling > 5.0:
                s.cooling = None  # the node lives: a worker crash; the slot stays
        fit = sum(nd.fits(self.need) for nd in info.nodes if nd.node_id not in self._dead_nodes)
        while len(self._slots) < min(self._target, fit):
            self._slots.append(_Slot(self._next_index))
            self._next_index += 1

    def _check_clocks(self) -> None:
        now = time.monotonic()
        for s in self._slots:
            if s.trial_id is not None and s.kill_reason is None and s.deadline is not None \
                    and now >= s.deadline:
                self._kill(s, "timeout")
            if s.stop_ref is not None:
                try:
                    done, _ = self._ray.wait([s.stop_ref], timeout=0)
                except Exception:
                    done = [s.stop_ref]
                if done or (s.kill_at is not None and now >= s.kill_at):
                    self._kill_actor(s)

    def shutdown(self) -> None:
        if self._gone is None:
            self._stop_commands()
            for s in self._slots:
                if s.actor is not None:
                    try:
                        self._ray.kill(s.actor, no_restart=True)
                    except Exception:
                        pass
        for s in self._slots:
            s.actor = None
            self._free(s)
        if self._owns_driver:
            try:
                disconnect()
            except Exception:
                pass


    def _stop_commands(self) -> None:
        """Stop the commands of the running segments (SIGTERM, SIGKILL after ``grace``) before
        their actors are killed; waits ``grace`` plus a little at most."""
        refs = []
        for s in self._slots:
            if s.actor is not None and s.trial_id is not None:
                try:
                    refs.append(s.stop_ref or s.actor.stop_command.remote(self.grace))
                except Exception:
                    pass
        if refs:
            try:
                self._ray.wait(refs, num_returns=len(refs), timeout=self.grace + 5.0)
            except Exception:
                pass


def check_cluster(address: str, need: Mapping[str, float]) -> tuple[ClusterInfo, int]:
    """Connect, read the cluster and count the trials that fit (``tunelab plan``); raises
    :class:`ClusterError` in one line when there is no cluster or no node fits a trial."""
    owns = connect(address)
    try:
        info = read_cluster(address)
        return info, info.check(need)
    finally:
        if owns:
            disconnect()


__all__ = ["MAX_LOSSES", "ClusterError", "RayExecutor", "check_cluster"]
