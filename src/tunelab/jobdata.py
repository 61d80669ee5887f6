"""A finished or running job as data: ``tunelab.load(NAME).trials_dataframe()``.

Tables come from the read side (never the writer's lock). pandas (and pyarrow for parquet) are
optional: ``pip install 'tunelab[data]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.errors import SpecError

if TYPE_CHECKING:
    from tunelab.store.queries import Reader
    from tunelab.store.read_models import JobSummary

FORMATS = ("csv", "json", "parquet")


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise SpecError("pandas is needed for data frames: pip install 'tunelab[data]' "
                        "(pandas and pyarrow).") from None
    return pandas


class JobData:
    """One job of a store, read-only."""

    def __init__(self, name: str, reader: Reader) -> None:
        self.name = name
        self._reader = reader
        reader.job(name)  # an unknown name fails here, naming the known ones

    def summary(self) -> JobSummary:
        return self._reader.job_summary(self.name)

    def trials_dataframe(self, curves: bool = False) -> Any:
        """One row per trial: number, state, value, attempt, steps, device_seconds, times,
        error, ``params.<name>`` and ``metrics.<name>`` (what it returned or last reported).
        With ``curves=True``, the per-step curves in long form instead: trial, step, metric,
        value, at (one row per reported metric)."""
        pd = _pandas()
        if curves:
            return self.curves_dataframe()
        rows = []
        page = self._reader.trials(self.name, sort="number", limit=1_000_000)
        times = {p.number: p for p in self._reader.points(self.name)}
        for r in page.rows:
            row: dict[str, Any] = {
                "number": r.number, "state": r.state, "value": r.value, "attempt": r.attempt,
                "retry_of": r.retry_of, "steps": r.steps, "device_seconds": r.device_seconds,
                "ended_at": times[r.number].ended_at if r.number in times else None,
                "error": r.error, "checkpoint_bytes": r.checkpoint_bytes,
            }
            row.update({f"params.{k}": v for k, v in r.params.items()})
            row.update({f"metrics.{k}": v for k, v in r.metrics.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def curves_dataframe(self) -> Any:
        """Every report's metrics in long form: trial, step, metric, value, at."""
        pd = _pandas()
        rows: list[dict[str, Any]] = []
        cursor = 0
        while True:
            page = self._reader.reports_after(self.name, cursor, limit=10_000)
            for r in page.reports:
                rows.extend({"trial": r.trial, "step": r.step, "metric": k, "value": v,
                             "at": r.at} for k, v in r.metrics.items())
            if len(page.reports) < 10_000:
                break
            cursor = page.cursor
        return pd.DataFrame(rows, columns=["trial", "step", "metric", "value", "at"])

    def close(self) -> None:
        self._reader.close()


def load(name: str, store: str | Path | None = None) -> JobData:
    """Open job ``name`` of a store (default ``./tunelab-runs``) for reading."""
    from tunelab.store.queries import Reader

    return JobData(name, Reader.open(store))


def write_table(frame: Any, fmt: str, out: Path | None) -> str | None:
    """Write ``frame`` as csv / json (records) / parquet to ``out``; without ``out`` (csv and
    json only) return the text."""
    if fmt not in FORMATS:
        raise SpecError.field("--format", f"one of {', '.join(FORMATS)}", fmt)
    if fmt == "parquet":
        if out is None:
            raise SpecError.field("--out", "a file path for parquet output", None,
                                  "Parquet is binary: pass -o trials.parquet.")
        try:
            frame.to_parquet(out, index=False)
        except ImportError:
            raise SpecError("pyarrow is needed for parquet: pip install 'tunelab[data]'.") \
                from None
        return None
    text: str = (frame.to_csv(index=False) if fmt == "csv"
                 else frame.to_json(orient="records", indent=None))
    if out is None:
        return text
    out.write_text(text)
    return None
