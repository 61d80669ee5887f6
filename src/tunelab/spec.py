"""The tuning-job spec: one validated object per job, loaded from YAML, JSON or SageMaker JSON.

    name: quad-grid
    objective: {metric: loss, goal: minimize}
    train: {function: "mymodule:train"}
    static: {epochs: 3}
    search_space:
      lr: {type: float, low: 1.0e-4, high: 1.0, scale: log}
    strategy: {type: random, seed: 0}
    limits: {max_trials: 20, max_parallel: 2, max_runtime: 30m}

Every error names the field, what was expected, what was given, and how to fix it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tunelab.errors import SpecError
from tunelab.objectives.builtin import DEFAULT_OBJECTIVES, builtin_objective, check_builtin
from tunelab.objectives.command import CommandObjective, MetricRegex
from tunelab.objectives.function import FunctionObjective
from tunelab.space import SearchSpace
from tunelab.specfile import check_expanded_size, read_spec_text

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNIT = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(v: Any, field: str = "duration") -> float | None:
    """'90s', '30m', '2h', '1d' or a number of seconds -> seconds."""
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if v <= 0:
            raise SpecError.field(field, "a positive duration", v)
        return float(v)
    m = _DURATION.match(str(v))
    if not m:
        raise SpecError.field(field, "a duration like 90s, 30m, 2h or a number of seconds", v)
    return float(m.group(1)) * _UNIT[m.group(2)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectiveSpec(_Model):
    metric: str = Field(min_length=1)
    goal: Literal["minimize", "maximize"] = "minimize"


class MetricDef(_Model):
    name: str = Field(min_length=1)
    regex: str


class TrainSpec(BaseModel):
    """How to train: exactly one of ``function``, ``command`` or ``builtin``.

    With ``builtin``, any other key is a static hyperparameter of the built-in trainer.
    """

    model_config = ConfigDict(extra="allow")
    function: str | None = None
    command: list[str] | None = None
    metrics: list[MetricDef] = []
    checkpointing: bool = False
    cwd: str | None = None
    env: dict[str, str] = {}
    builtin: str | None = None

    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StrategySpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = "random"
    seed: int | None = 0

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _known_keys(self) -> StrategySpec:
        """A key the strategy (or scheduler) does not take is refused with the spec, in the
        one-line template, not first when the search is built. Values are checked there."""
        from tunelab.composition import SCHEDULER_TYPES
        from tunelab.schedulers.options import SCHEDULER_OPTIONS
        from tunelab.strategies.options import STRATEGY_OPTIONS

        if self.type in SCHEDULER_TYPES:
            model, allowed = SCHEDULER_OPTIONS[self.type], {"searcher"}
        elif self.type in STRATEGY_OPTIONS:
            model, allowed = STRATEGY_OPTIONS[self.type], set()
        else:
            return self  # an unknown type is said by build_search, with the known ones
        allowed |= set(model.model_fields) - {"type"}
        for key in self.options():
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed | {"seed", "type"}), n=1)
                hint = (f"Did you mean `{close[0]}`?" if close else
                        "Remove or rename it; valid options: "
                        f"{', '.join(sorted(allowed | {'seed'}))}.")
                raise SpecError.field(f"strategy.{key}", f"an option of {self.type}", key, hint)
        return self


class LimitsSpec(_Model):
    max_trials: int | None = Field(default=None, ge=1)
    #: None: 1 on the CPU, the number of GPU slots with GPUs (see tunelab.devices).
    max_parallel: int | None = Field(default=None, ge=1)
    #: GPUs per trial: None is 1 when GPUs exist, else 0; a fraction packs trials on a GPU.
    gpus_per_trial: float | None = Field(default=None, ge=0)
    #: Which GPUs the job may use: None (all found), "none", or a list of ids.
    gpus: list[int] | Literal["all", "none"] | None = None
    max_runtime: float | None = None
    max_trial_runtime: float | None = None
    max_retries: int = Field(default=0, ge=0)
    #: failed trials that end the job: a count (>= 1) or a fraction of max_trials (0 < f < 1)
    max_failures: int | float | None = None

    @field_validator("max_failures", mode="before")
    @classmethod
    def _failures(cls, v: Any) -> int | float | None:
        if v is None:
            return None
        ok = not isinstance(v, bool) and (
            (isinstance(v, int) and v >= 1) or (isinstance(v, float) and 0 < v < 1))
        if not ok:
            raise SpecError.field(
                "limits.max_failures", "a count of failed trials (an integer >= 1) or a "
                "fraction of max_trials (a number between 0 and 1)", v,
                "E.g. max_failures: 5, or max_failures: 0.25.",
            )
        count: int | float = v
        return count

    @field_validator("max_runtime", "max_trial_runtime", mode="before")
    @classmethod
    def _dur(cls, v: Any, info: ValidationInfo) -> float | None:
        return parse_duration(v, f"limits.{info.field_name}")


class ExecutorSpec(_Model):
    """Where trials run: ``local`` worker processes (the default) or a ``ray`` cluster at
    ``address`` (``auto``, ``HOST:PORT``, ``ray://HOST:10001``), each trial asking Ray for
    ``cpus_per_trial`` CPUs, ``limits.gpus_per_trial`` GPUs and the custom ``resources``
    (docs/ray.md)."""

    type: Literal["local", "ray"] = "local"
    address: str = Field(default="auto", min_length=1)
    cpus_per_trial: float = Field(default=1.0, ge=0)
    resources: dict[str, float] = {}


class CompletionSpec(_Model):
    target: float | None = None
    no_improvement_trials: int | None = Field(default=None, ge=1)
    convergence: bool = False


class WarmStartSpec(_Model):
    parents: list[str] = Field(min_length=1, max_length=5)
    type: Literal["identical_data_and_algorithm", "transfer_learning"] = (
        "identical_data_and_algorithm"
    )


class JobSpec(_Model):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    objective: ObjectiveSpec
    train: TrainSpec | None = None
    static: dict[str, Any] = {}
    search_space: dict[str, Any] = {}
    strategy: StrategySpec = StrategySpec()
    early_stopping: Literal["off", "auto"] = "off"
    limits: LimitsSpec = LimitsSpec()
    completion: CompletionSpec = CompletionSpec()
    warm_start: WarmStartSpec | None = None
    executor: ExecutorSpec | None = None  # None: local worker processes
    #: After the search, retrain the best configuration on the training and validation images
    #: together as job NAME-refit (built-in image trainer only; :mod:`tunelab.vision.refit`).
    refit: bool = False

    @model_validator(mode="before")
    @classmethod
    def _builtin_objective(cls, data: Any) -> Any:
        """A built-in trainer has a natural objective (the image classifier: maximise
        val_accuracy), used when the spec names none."""
        if isinstance(data, dict) and "objective" not in data:
            train = data.get("train")
            builtin = train.get("builtin") if isinstance(train, dict) else None
            if isinstance(builtin, str) and builtin in DEFAULT_OBJECTIVES:
                return {**data, "objective": dict(DEFAULT_OBJECTIVES[builtin])}
        return data

    # derived objects --------------------------------------------------------------------------
    def space(self) -> SearchSpace:
        return SearchSpace.from_dict(self.search_space)

    def static_params(self) -> dict[str, Any]:
        """Static hyperparameters, with a builtin trainer's own keys merged in."""
        out = dict(self.train.extras()) if self.train and self.train.builtin else {}
        out.update(self.static)
        return out

    def objective_spec(self) -> FunctionObjective | CommandObjective:
        t = self.train
        if t is None:
            raise SpecError.field(
                "train", "a train section (function, command or builtin)", None,
                "Add e.g. `train: {function: 'mymodule:train'}`.",
            )
        given = [k for k in ("function", "command", "builtin") if getattr(t, k)]
        if not t.builtin and t.extras():
            raise SpecError(_unknown_keys("train", list(t.extras()), TrainSpec))
        if len(given) != 1:
            raise SpecError.field(
                "train", "exactly one of function, command, builtin", given or "none",
                "Add e.g. `function: 'mymodule:train'`." if not given else "Keep one.",
            )
        if t.function:
            return FunctionObjective(t.function, checkpointing=True)
        if t.builtin:
            return builtin_objective(t.builtin)
        assert t.command is not None
        obj = CommandObjective(
            argv=tuple(t.command), metrics=tuple(MetricRegex(m.name, m.regex) for m in t.metrics),
            checkpointing=t.checkpointing, cwd=t.cwd, env=dict(t.env),
        )
        obj.check([*self.search_space, *self.static_params()], self.objective.metric)
        return obj

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def validate_all(self) -> None:
        """Build every derived object once, so a bad spec fails before anything runs."""
        space = self.space()
        overlap = set(space) & set(self.static_params())
        if overlap:
            raise SpecError.field(
                "static", "keys that are not also searched", sorted(overlap),
                "Remove them from static: or from search_space:.",
            )
        from tunelab.composition import build_search

        warm = None
        if self.warm_start is not None:  # can the strategy use one at all? (parents: at run)
            from tunelab.strategies.warm_start import WarmStart

            warm = WarmStart(type=self.warm_start.type, parents=[])
        build_search(self, space, warm_start=warm)
        t = self.train
        # a train section with no kind yet (a SageMaker request's metric regexes) is checked
        # by check_runnable, when the job is to run
        if t is not None and (t.function or t.command or t.builtin or t.extras()):
            self.objective_spec()
            if t.builtin:  # its hyperparameters, static and searched, before any trial
                check_builtin(t.builtin, self.static_params(), space.to_dict())
        if self.refit and (t is None or t.builtin != "image-classifier"):
            raise SpecError.field(
                "refit", "true only for the built-in image trainer "
                "(`train: {builtin: image-classifier}`)", self.refit,
                "Remove `refit: true`, or retrain your own objective with the best parameters "
                "(`tunelab show NAME`).")
        if self.refit and self.static_params().get("train_on_validation"):
            raise SpecError.field(
                "refit", "false for a job that already trains on its validation images",
                self.refit, "Remove `refit: true` (or `train_on_validation`).")


def check_runnable(spec: JobSpec) -> None:
    """What running a spec needs beyond :meth:`JobSpec.validate_all`: a train section naming
    exactly one kind of training code, and a ``train.function`` that imports. ``tunelab
    plan`` and :meth:`tunelab.tuner.Tuner.create` both call it, so a spec that cannot run is
    refused before its job is written."""
    obj = spec.objective_spec()
    if isinstance(obj, FunctionObjective):
        obj.resolve()


def _unknown_keys(where: str, keys: list[str], model: type[BaseModel]) -> str:
    allowed = sorted(model.model_fields)
    parts = []
    for k in keys:
        close = difflib.get_close_matches(k, allowed, n=1)
        parts.append(f"`{k}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
    return (f"unknown key {', '.join(parts)} in `{where}`; expected one of "
            f"{', '.join(allowed)}. Remove or rename it.")


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = JobSpec
    for part in loc:
        f = model.model_fields.get(str(part))
        if f is None:
            return model
        ann = f.annotation
        nxt = next((a for a in getattr(ann, "__args__", (ann,))
                    if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nxt is None:
            return None
        model = nxt
    return model


def _format(err: ValidationError) -> str:
    msgs = []
    for e in err.errors()[:5]:
        loc = tuple(e["loc"])
        where = ".".join(str(p) for p in loc) or "spec"
        if e["type"] == "extra_forbidden":
            parent = ".".join(str(p) for p in loc[:-1]) or "spec"
            model = _model_at(loc[:-1]) or JobSpec
            msgs.append(_unknown_keys(parent, [str(loc[-1])], model))
        elif e["type"] == "missing":
            msgs.append(f"`{where}` is missing. Add it to the spec.")
        else:
            given = e.get("input")
            msg = e["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            msgs.append(f"`{where}`: {msg}; got {given!r}.")
    return "\n".join(msgs)


def spec_from_dict(data: Mapping[str, Any], *, default_name: str | None = None) -> JobSpec:
    """Validate a spec mapping (the YAML/JSON form) into a :class:`JobSpec`."""
    if not isinstance(data, Mapping):
        raise SpecError.field("spec", "a mapping (YAML/JSON object)", type(data).__name__)
    data = dict(data)
    if "name" not in data and default_name:
        data["name"] = re.sub(r"[^A-Za-z0-9._-]", "-", default_name)
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(_format(e)) from None
    except SpecError:
        raise
    spec.validate_all()
    return spec


def read_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON file into a mapping, with clear errors (and the checks of
    :func:`tunelab.specfile.read_spec_text`: size, text, YAML alias expansion)."""
    text = read_spec_text(path, "spec")
    kind = "JSON" if path.suffix == ".json" else "YAML"
    try:
        data = json.loads(text) if kind == "JSON" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, RecursionError) as e:
        raise SpecError(f"{path} is not valid {kind}: {e}") from None
    check_expanded_size(data, path)
    if not isinstance(data, dict):
        raise SpecError.field(str(path), "a mapping at the top level", type(data).__name__)
    return data


def load_spec_dict(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """Read a spec file (YAML, JSON, or a SageMaker tuning-job JSON) into our dict form.

    Returns the dict and warnings (e.g. SageMaker fields tunelab cannot honour).
    """
    from tunelab import sagemaker

    p = Path(path)
    data = read_mapping(p)
    warnings: list[str] = []
    if sagemaker.is_sagemaker_config(data):
        imp = sagemaker.load_sagemaker_config(p)
        data = dict(imp.spec)
        w = imp.warning()
        if w:
            warnings.append(w)
    elif "sagemaker" in data:
        ref = Path(str(data.pop("sagemaker")))
        imp = sagemaker.load_sagemaker_config(ref if ref.is_absolute() else p.parent / ref)
        merged = dict(imp.spec)
        own_train = data.pop("train", None)
        if own_train is not None or "train" in merged:
            train = dict(merged.get("train") or {})
            train.update(own_train or {})
            merged["train"] = train
        for k, v in data.items():
            if isinstance(v, dict) and isinstance(merged.get(k), dict):
                merged[k] = {**merged[k], **v}
            else:
                merged[k] = v
        data = merged
        w = imp.warning()
        if w:
            warnings.append(w)
    data.setdefault("name", re.sub(r"[^A-Za-z0-9._-]", "-", p.stem))
    return data, warnings


def load_spec(path: str | Path) -> tuple[JobSpec, list[str]]:
    data, warnings = load_spec_dict(path)
    return spec_from_dict(data), warnings
