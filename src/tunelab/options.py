"""Option models: how strategies and schedulers (and their spec sections) are validated.

Each strategy and scheduler declares its options as a pydantic model (``extra="forbid"``,
strict types, frozen) whose fields carry the plain-words ``expected`` text of the error
template; :func:`parse_options` turns a mapping into a validated model or raises one
:class:`~tunelab.errors.SpecError` line: "`strategy.quantile` must be a number in (0.0, 0.5];
got 0.9." The constructors of the strategies and schedulers take these validated models.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunelab.errors import SpecError

M = TypeVar("M", bound="Options")


class Options(BaseModel):
    """Base of every option model: unknown keys, wrong types and bad values are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def opt(default: Any = ..., *, expected: str, fix: str = "", **constraints: Any) -> Any:
    """A field with the ``expected`` text of its error message (and an optional ``fix``)."""
    extra: dict[str, Any] = {"expected": expected}
    if fix:
        extra["fix"] = fix
    return Field(default, json_schema_extra=extra, **constraints)


def parse_options(model: type[M], data: Mapping[str, Any], *, prefix: str, name: str) -> M:
    """Validate ``data`` (options without ``type``; None means absent) into ``model``.

    ``prefix`` is the spec section the options sit in (``strategy``, ``early_stopping``) and
    ``name`` the strategy or scheduler, for the messages.
    """
    clean = {k: v for k, v in data.items() if v is not None}
    try:
        return model.model_validate(clean)
    except ValidationError as e:
        raise SpecError(options_error(e, model, prefix=prefix, name=name)) from None


def options_error(err: ValidationError, model: type[BaseModel], *, prefix: str,
                  name: str) -> str:
    """The first error of ``err`` in the one-line template (what was expected, what was given,
    how to fix it)."""
    errors = err.errors()
    # an unknown key first: it is often a misspelt required one ("max_resourse")
    e = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
    loc = [str(p) for p in e["loc"]]
    key = loc[0] if loc else ""
    where = f"{prefix}.{key}" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
    allowed = sorted(k for k in model.model_fields if k != "type")
    if e["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = (f"Did you mean `{close[0]}`?" if close else
                f"Remove or rename it (an unknown or missing option); valid options: "
                f"{', '.join(allowed) or 'none'}.")
        return str(SpecError.field(f"{prefix}.{key}", f"an option of {name}", key, hint))
    field = model.model_fields.get(key)
    extra = field.json_schema_extra if field is not None else None
    meta = extra if isinstance(extra, dict) else {}
    expected = str(meta.get("expected") or e["msg"])
    given = None if e["type"] == "missing" else e.get("input")
    return str(SpecError.field(where, expected, given, str(meta.get("fix", ""))))


__all__ = ["Options", "opt", "options_error", "parse_options"]
