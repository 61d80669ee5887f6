"""The training page's form turned into a spec, and that spec checked as `tunelab plan` checks it.

One source of truth: the form never runs anything itself. :func:`form_spec` builds the same
spec dict a user could write (``train: {builtin: image-classifier, ...}``), :func:`check_spec`
validates it with :func:`tunelab.spec.spec_from_dict` and :func:`tunelab.spec.check_runnable`
(the code behind ``tunelab plan`` and ``tunelab tune``), and a :class:`SpecError` is placed
next to the form field its message names (``train.learning_rate`` -> the learning-rate row),
word for word as the CLI prints it.

Form values arrive as the text typed in the page and are read like ``--set KEY=VALUE`` (a YAML
scalar), so ``1e-3``, ``true`` and ``auto`` mean what they mean on the command line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from tunelab.errors import SpecError
from tunelab.server.dataroot import DataRoot

STRATEGIES = ("manual", "grid", "random", "bayesian", "hyperband", "pbt")
#: The built-in trainer's hyperparameters the page offers: name -> kind (float, int, choice).
PARAMS: dict[str, str] = {
    "learning_rate": "float", "lr_schedule": "choice", "step_epochs": "int", "gamma": "float",
    "weight_decay": "float", "momentum": "float", "optimizer": "choice", "dropout": "float",
    "image_size": "int", "width": "int", "depth": "int",
}
AUGMENT = ("brightness", "contrast", "saturation", "hue")
#: spec keys (``train.X``/``limits.X``) whose errors belong to a form field of the same name
_FIELDS = {"epochs", "batch_size", "validation_percent", "validation_data", "data", "patience",
           "early_stop", "hflip", "random_resized_crop", "crop_scale", *AUGMENT, "max_trials",
           "max_parallel", "max_runtime", "max_trial_runtime", "name", "refit"}


def scalar(v: Any) -> Any:
    """A typed value from the page's text, read as ``--set`` reads it."""
    if not isinstance(v, str):
        return v
    text = v.strip()
    if text == "":
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _param(name: str, kind: str, row: Mapping[str, Any], strategy: str) -> tuple[str, Any]:
    """``("fixed", value)`` or ``("search", search-space entry)`` for one hyperparameter row."""
    mode = row.get("mode", "value")
    if mode == "value" or strategy == "manual":
        if mode != "value":
            raise SpecError.field(f"train.{name}", "one value with Manual tuning (a single "
                                  "training job)", row.get("mode"),
                                  "Give one value, or pick another tuning type.")
        return "fixed", scalar(row.get("value"))
    if mode == "values" or kind == "choice":
        raw = row.get("values")
        items = raw if isinstance(raw, list) else [
            scalar(x) for x in str(raw or "").split(",") if x.strip()]
        return "search", {"type": "choice", "values": items}
    entry: dict[str, Any] = {"type": kind, "low": scalar(row.get("low")),
                             "high": scalar(row.get("high"))}
    if row.get("scale") == "log":
        entry["scale"] = "log"
    points = scalar(row.get("points"))
    if kind == "float" and strategy == "grid" and points is not None:
        entry["grid_points"] = points
    return "search", entry


def form_spec(form: Mapping[str, Any], root: DataRoot) -> dict[str, Any]:
    """The spec dict the form describes (``form["advanced"]``, when given, replaces it)."""
    if str(form.get("advanced") or "").strip():
        return advanced_spec(str(form["advanced"]), form, root)
    strategy = str(form.get("strategy") or "pbt")
    if strategy not in STRATEGIES:
        raise SpecError.field("strategy.type", f"one of {', '.join(STRATEGIES)}", strategy)
    train: dict[str, Any] = {"builtin": "image-classifier", "data": root.resolve(
        str(form.get("data") or ""), "train.data")}
    epochs = scalar(form.get("epochs"))
    train["epochs"] = epochs
    train["batch_size"] = scalar(form.get("batch_size"))
    if form.get("validation_mode") == "folder":
        train["validation_data"] = root.resolve(str(form.get("validation_data") or ""),
                                                "train.validation_data")
    else:
        train["validation_percent"] = scalar(form.get("validation_percent"))
    space: dict[str, Any] = {}
    rows = form.get("params") or {}
    for name, kind in PARAMS.items():
        row = rows.get(name)
        if not row:
            continue
        how, value = _param(name, kind, row, strategy)
        if how == "fixed":
            if value is not None:
                train[name] = value
        else:
            space[name] = value
    if form.get("early_stop"):
        train["early_stop"] = True
        train["patience"] = scalar(form.get("patience"))
    train["hflip"] = bool(form.get("hflip"))
    if form.get("random_resized_crop"):
        train["random_resized_crop"] = True
        train["crop_scale"] = [scalar(form.get("crop_scale_low")),
                               scalar(form.get("crop_scale_high"))]
    for k in AUGMENT:
        v = scalar(form.get(k))
        if v not in (None, 0, 0.0):
            train[k] = v
    limits: dict[str, Any] = {}
    for k in ("max_trials", "max_parallel", "max_runtime", "max_trial_runtime"):
        v = scalar(form.get(k))
        if v is not None:
            limits[k] = v
    strat: dict[str, Any] = {"type": strategy, "seed": scalar(form.get("seed")) or 0}
    if strategy == "manual":
        limits["max_trials"] = 1
    if strategy == "hyperband":
        strat["max_resource"] = epochs
    if strategy == "pbt":
        strat["population"] = limits.get("max_trials")
        strat["perturbation_interval"] = max(1, epochs // 5) if isinstance(epochs, int) else 1
    return {"name": str(form.get("name") or "").strip(),
            "objective": {"metric": "val_accuracy", "goal": "maximize"},
            "train": train, "search_space": space, "strategy": strat, "limits": limits,
            **({"refit": True} if form.get("refit") else {})}


def advanced_spec(text: str, form: Mapping[str, Any], root: DataRoot) -> dict[str, Any]:
    """A pasted YAML spec, or a SageMaker tuning-job JSON (its ranges, strategy, objective and
    limits; the training itself is the built-in trainer on the data chosen in the form)."""
    from tunelab.sagemaker import convert_sagemaker_config, is_sagemaker_config
    from tunelab.specfile import MAX_SPEC_BYTES, check_expanded_size

    if len(text.encode()) > MAX_SPEC_BYTES:
        raise SpecError.field("advanced", f"at most {MAX_SPEC_BYTES // 1024} KiB of YAML or "
                              "JSON", f"{len(text.encode()):,} bytes")
    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as e:
        raise SpecError(f"the advanced box is not valid YAML or JSON: {e}") from None
    check_expanded_size(data, "the advanced box")  # type: ignore[arg-type]
    if not isinstance(data, dict):
        raise SpecError.field("advanced", "a mapping (a YAML spec or a SageMaker JSON object)",
                              type(data).__name__)
    if is_sagemaker_config(data):
        name = str(form.get("name") or "").strip() or "sagemaker-job"
        imp = convert_sagemaker_config(data, default_name=name)
        spec = dict(imp.spec)
        static = dict(spec.pop("static", None) or {})
        spec["train"] = {"builtin": "image-classifier",
                         "data": root.resolve(str(form.get("data") or ""), "train.data"),
                         **static}
        if form.get("name"):
            spec["name"] = name
        return spec
    train = data.get("train")
    if isinstance(train, dict):
        for key in ("data", "validation_data", "test_data"):
            if train.get(key) is not None:
                train[key] = root.resolve(str(train[key]), f"train.{key}")
    return data


def check_spec(d: dict[str, Any]) -> Any:
    """The :class:`~tunelab.spec.JobSpec` of ``d``, checked as ``tunelab plan`` checks it; the
    page runs only the built-in trainer (code from a browser is never run)."""
    from tunelab.spec import check_runnable, spec_from_dict

    train = d.get("train")
    if not isinstance(train, dict) or train.get("builtin") != "image-classifier":
        raise SpecError.field("train", "the built-in image classifier (train: {builtin: "
                              "image-classifier, data: ...})", train,
                              "The training page runs only the built-in trainer; run other "
                              "training code with `tunelab tune spec.yaml`.")
    for key, fix in (("pretrained", "Use `tunelab tune` for fine-tuning."),
                     ("cache_dir", "The server uses its own decode cache.")):
        if train.get(key):  # a path the server would read or write outside the data root
            raise SpecError.field(f"train.{key}", "left out on the training page", train[key],
                                  fix)
    js = spec_from_dict(d)
    check_runnable(js)
    return js


def field_of(message: str) -> str:
    """The form field a spec error message is about (``"spec"`` when none fits)."""
    m = re.match(r"^`([^`]+)`", message.strip())
    if not m:
        return "spec"
    path = m.group(1).split(" ")[0]
    parts = path.split(".")
    head, key = parts[0], parts[1] if len(parts) > 1 else ""
    key = key.split("[")[0]
    if head in ("train", "search_space") and key in PARAMS:
        return f"param.{key}"
    if head in ("train", "limits") and key in _FIELDS:
        return key
    if head == "train" and key == "color_jitter":
        return "brightness"
    if head == "strategy":
        return "strategy"
    if head == "name":
        return "name"
    return "spec"


def errors_by_field(message: str) -> dict[str, str]:
    """A spec error (one line per problem, as the CLI prints it) placed by form field."""
    out: dict[str, str] = {}
    for line in [ln for ln in message.splitlines() if ln.strip()] or [message]:
        key = field_of(line)
        out[key] = f"{out[key]} {line}" if key in out else line
    return out


def job_count(js: Any) -> tuple[int, int | None]:
    """(training jobs, grid size or None) as ``tunelab plan`` counts them."""
    from tunelab.estimate import trial_count

    return trial_count(js), (js.space().grid_size() if js.strategy.type == "grid" else None)


def spec_yaml(d: Mapping[str, Any]) -> str:
    """The spec as the page shows it: the YAML ``tunelab tune spec.yaml`` runs."""
    return yaml.safe_dump(json.loads(json.dumps(d)), sort_keys=False)
