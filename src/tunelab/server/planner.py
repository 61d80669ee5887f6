"""What the training page shows before launch: the job count, the device-hours estimate, the
largest batch that fits, and the spec YAML, or every error placed next to its field.

The estimate is ``tunelab plan``'s: :func:`tunelab.estimate.estimate_spec` over the costs
:func:`tunelab.vision.probe.measure_costs` measures (a short probe of real training steps of the
job's model on the device its trials use, a checkpoint write, a worker's start), cached per
model and data so that changing the number of jobs, epochs or the strategy updates it at once.
"""

from __future__ import annotations

import threading
from typing import Any

from tunelab.errors import JobNotFound, SpecError, TunelabError
from tunelab.estimate import TrialCosts
from tunelab.server.dataroot import DataRoot
from tunelab.server.form import check_spec, errors_by_field, form_spec, job_count, spec_yaml
from tunelab.store.queries import Reader

#: static hyperparameters that do not change the speed of one epoch
_NO_SPEED = frozenset({"epochs", "early_stop", "patience", "min_delta", "step_epochs", "gamma",
                       "learning_rate", "lr_schedule", "momentum", "weight_decay", "seed"})


class Planner:
    """Plans forms against one store (for the name check) and one data root."""

    def __init__(self, reader: Reader, root: DataRoot) -> None:
        self.reader = reader
        self.root = root
        self._probes: dict[str, TrialCosts] = {}
        self._batch: dict[str, int] = {}
        self._lock = threading.Lock()

    def spec(self, form: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """The spec dict and JobSpec of ``form``; :class:`SpecError` when it is not valid or its
        name is taken."""
        d = form_spec(form, self.root)
        js = check_spec(d)
        try:
            self.reader.job(js.name)
        except JobNotFound:
            return d, js
        raise SpecError.field("name", "a name no job in this store has", js.name,
                              "Pick another name (the job of that name is on the Jobs page).")

    def plan(self, form: dict[str, Any], *, estimate: bool = True) -> dict[str, Any]:
        """The page's "before launch" box for ``form`` (never raises a user error)."""
        try:
            d, js = self.spec(form)
        except TunelabError as e:
            msg = str(e)
            return {"ok": False, "errors": errors_by_field(msg), "message": msg}
        n, grid = job_count(js)
        out: dict[str, Any] = {"ok": True, "errors": {}, "name": js.name, "training_jobs": n,
                               "grid_size": grid, "strategy": js.strategy.type,
                               "yaml": spec_yaml(d), "spec": d}
        static = js.static_params()
        if estimate:
            from tunelab.devices import layout_for
            from tunelab.estimate import estimate_spec

            try:
                slots = layout_for(js.limits).slots
                costs = self._probe(static, js, slots)
                est = estimate_spec(js, costs, slots=slots)
                out["estimate"] = est.to_dict()
            except TunelabError as e:  # unusable data: shown, not raised
                out["estimate_error"] = str(e)
            if static.get("batch_size") == "auto":
                try:
                    out["batch_max"] = self._batch_max(static, js)
                except TunelabError as e:
                    out["estimate_error"] = str(e)
        return out

    def _device(self, js: Any) -> str:
        from tunelab.devices import layout_for

        return "cuda" if layout_for(js.limits).gpus else "cpu"

    def _probe(self, static: dict[str, Any], js: Any, slots: int) -> TrialCosts:
        from tunelab.vision.probe import measure_costs, slot_threads

        device = self._device(js)
        threads = slot_threads(slots)
        key = repr((device, threads, sorted((k, repr(v)) for k, v in static.items()
                                            if k not in _NO_SPEED)))
        with self._lock:  # one probe at a time: they measure speed, they must not compete
            hit = self._probes.get(key)
            if hit is None:
                hit = self._probes[key] = measure_costs(static, device=device,
                                                        threads=threads)
        return hit

    def _batch_max(self, static: dict[str, Any], js: Any) -> int:
        from tunelab.vision.prepare import batch_size_limit

        space = js.space().to_dict()
        key = repr((sorted((k, repr(v)) for k, v in static.items() if k not in _NO_SPEED),
                    sorted((k, repr(v)) for k, v in space.items())))
        with self._lock:
            if key not in self._batch:
                self._batch[key] = int(batch_size_limit(static, space))
            return self._batch[key]
