"""The :class:`Ledger` of one conversion: the fields it leaves unused and its notes."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from tunelab.errors import SpecError
from tunelab.sagemaker.values import as_mapping


class Ledger:
    """Collects the dotted JSON paths a conversion does not use, and notes for the user."""

    def __init__(self) -> None:
        self.ignored: list[str] = []
        self.notes: list[str] = []

    def ignore(self, value: Any, path: str) -> None:
        """Record ``path`` (or its leaves, for a non-empty mapping) as not used."""
        if isinstance(value, Mapping) and value:
            for k, v in value.items():
                self.ignore(v, f"{path}.{k}")
        else:
            self.ignored.append(path)

    def ignore_rest(self, obj: Mapping[str, Any], known: AbstractSet[str], prefix: str) -> None:
        """Record every key of ``obj`` outside ``known`` as not used."""
        for k, v in obj.items():
            if k not in known:
                self.ignore(v, f"{prefix}{k}")

    def section(self, value: Any, path: str, known: AbstractSet[str]) -> Mapping[str, Any]:
        """``value`` checked to be a JSON object, with its keys outside ``known`` recorded."""
        obj = as_mapping(value, path)
        self.ignore_rest(obj, known, f"{path}.")
        return obj

    def config_or_definition(
        self,
        cfg: Mapping[str, Any],
        cp: str,
        key: str,
        tjd: Mapping[str, Any] | None,
        tp: str,
        tjd_key: str,
        *,
        expected: str,
        fix: str,
        record_equal: bool,
    ) -> tuple[Mapping[str, Any], str]:
        """The object at ``key`` of the tuning config, else at ``tjd_key`` of the training job
        definition, and its JSON path; a :class:`SpecError` (``expected``, ``fix``) if neither
        has one.

        When both have one, the config's is used and the definition's is recorded as not used
        (only if the two differ, with ``record_equal=False``).
        """
        path = f"{cp}{key}"
        value = cfg.get(key)
        if tjd is not None and tjd_key in tjd:
            if value is None:
                path, value = f"{tp}{tjd_key}", tjd[tjd_key]
            elif record_equal or tjd[tjd_key] != value:
                self.ignore(tjd[tjd_key], f"{tp}{tjd_key}")
        if value is None:
            raise SpecError.field(path, expected, None, fix)
        return as_mapping(value, path), path
