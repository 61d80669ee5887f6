"""The result of an import: :class:`SageMakerImport` (spec dict, ignored fields, notes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SageMakerImport:
    """The result of importing a SageMaker tuning-job config.

    Attributes:
        spec: a dict in tunelab's spec format (``name``, ``objective``, ``search_space``,
            ``strategy``, ...). It holds ``train`` only when the file has
            ``AlgorithmSpecification.MetricDefinitions``, and then only ``{"metrics": [...]}``,
            to be merged with the user's own ``train:`` section.
        ignored: dotted JSON paths of fields present in the file that tunelab does not use,
            e.g. ``"TrainingJobDefinition.ResourceConfig.InstanceType"``.
        notes: other things the user must know about the import (e.g. only the first of
            several ``TrainingJobDefinitions`` was used).
    """

    spec: dict[str, Any]
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def warning(self) -> str | None:
        """One message listing every ignored field and note, or None if there is nothing.

        >>> SageMakerImport({}, ["Tags"]).warning().endswith("container images: Tags.")
        True
        """
        if not self.ignored and not self.notes:
            return None
        parts: list[str] = []
        if self.ignored:
            n = len(self.ignored)
            parts.append(
                f"SageMaker config: {n} field{'s are' if n != 1 else ' is'} ignored; tunelab "
                "runs trials with its own executors, not on SageMaker instances, S3 or "
                "container images: " + ", ".join(self.ignored) + "."
            )
        parts.extend(f"SageMaker config: {note}" for note in self.notes)
        return "\n".join(parts)
