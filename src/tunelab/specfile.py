"""Reading a spec file safely: small, text, and no YAML alias that expands without bound.

A spec is a short YAML or JSON text. A file larger than :data:`MAX_SPEC_BYTES`, one that is not
UTF-8 text (an archive, an image, a model given by mistake), or YAML whose anchors and aliases
expand to more than :data:`MAX_SPEC_NODES` values (a "billion laughs" file, which PyYAML loads
as shared objects but which would be written out in full into the store) is refused with one
line before anything else reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunelab.errors import SpecError

#: Largest spec file read (bytes).
MAX_SPEC_BYTES = 1024 * 1024
#: Most values (scalars, lists, mappings) a spec may hold once its YAML aliases are expanded.
MAX_SPEC_NODES = 100_000
_MAX_DEPTH = 200


def read_spec_text(path: Path, what: str, kind: str = "file") -> str:
    """The text of a spec file; :class:`SpecError` (naming ``what``) if it is missing, larger
    than :data:`MAX_SPEC_BYTES` or not UTF-8 text."""
    if not path.is_file():
        raise SpecError.field(what, f"an existing {kind}", str(path), "Check the path.")
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise SpecError.field(
            what, f"a file of at most {MAX_SPEC_BYTES // 1024} KiB", f"{path} ({size:,} bytes)",
            "A spec is a short YAML or JSON file; check that this is the right file.",
        )
    raw = path.read_bytes()
    nul = raw.find(b"\0")
    try:
        if nul >= 0:
            raise UnicodeDecodeError("utf-8", raw, nul, nul + 1, "NUL byte")
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError.field(
            what, "a UTF-8 text file (YAML or JSON)", f"{path}, binary at byte {e.start}",
            "Pass the spec file itself, not an archive, image or model.",
        ) from None


def expanded_size(data: Any) -> int:
    """How many values ``data`` holds when written out in full (aliases expanded), capped at
    ``MAX_SPEC_NODES + 1``. Computed without expanding: a shared object's size is counted once
    and reused (memoised by id), so a billion-laughs file is measured at once.

    >>> a = [1, 2]; expanded_size({"x": [a, a, a]})
    11
    """
    memo: dict[int, int] = {}

    def size(x: Any, depth: int) -> int:
        if not isinstance(x, (dict, list)):
            return 1
        if depth > _MAX_DEPTH:  # a self-referencing alias (`&a [*a]`) or absurd nesting
            return MAX_SPEC_NODES + 1
        key = id(x)
        if key not in memo:
            total = 1
            for item in ([*x.keys(), *x.values()] if isinstance(x, dict) else x):
                total += size(item, depth + 1)
                if total > MAX_SPEC_NODES:
                    break
            memo[key] = min(total, MAX_SPEC_NODES + 1)
        return memo[key]

    return size(data, 0)


def check_expanded_size(data: Any, path: Path) -> None:
    """:class:`SpecError` if ``data`` written out would hold more than MAX_SPEC_NODES values."""
    n = expanded_size(data)
    if n > MAX_SPEC_NODES:
        raise SpecError.field(
            "spec", f"at most {MAX_SPEC_NODES:,} values once YAML aliases are expanded",
            f"{path}, more than {MAX_SPEC_NODES:,}",
            "Its anchors and aliases (&name / *name) multiply too much; write the values out.",
        )
