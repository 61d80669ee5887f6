"""When failed trials make the whole job a failure.

* A job in which no trial succeeded (every trial that ended, ended failed or timed out) ends
  with status ``failed``, not ``completed``, and ``tunelab tune``/``resume`` exit non-zero.
* ``limits.max_failures`` ends a job early once that many trials have failed: a count
  (``max_failures: 5``) or a fraction of ``max_trials`` (``max_failures: 0.25`` with
  ``max_trials: 20`` stops at the 5th failure), so a broken training script does not burn the
  whole budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tunelab.trial import TrialState

if TYPE_CHECKING:
    from tunelab.spec import JobSpec
    from tunelab.store import TrialRecord

_FAILED = (TrialState.FAILED, TrialState.TIMED_OUT)
_SUCCEEDED = (TrialState.COMPLETED, TrialState.PRUNED)


def failure_limit(spec: JobSpec, max_trials: int) -> int | None:
    """How many failed trials end the job (None: no limit)."""
    m = spec.limits.max_failures
    if m is None:
        return None
    if isinstance(m, int):
        return m
    return max(1, math.ceil(m * max_trials))


def _last_error(failed: list[TrialRecord]) -> str:
    last = max(failed, key=lambda t: t.number)
    return f"trial {last.number}: {last.error}" if last.error else f"trial {last.number}"


def failure_limit_reason(spec: JobSpec, trials: Iterable[TrialRecord],
                         max_trials: int) -> str | None:
    """Why the job must stop now because of ``limits.max_failures`` (None: it need not)."""
    limit = failure_limit(spec, max_trials)
    if limit is None:
        return None
    failed = [t for t in trials if t.state in _FAILED]
    if len(failed) < limit:
        return None
    given = spec.limits.max_failures
    of = f" ({given} of {max_trials} trials)" if isinstance(given, float) else ""
    return (f"limits.max_failures reached: {len(failed)} trials failed, the limit is "
            f"{limit}{of}; last error, {_last_error(failed)}")


def no_success_reason(trials: Iterable[TrialRecord]) -> str | None:
    """Why a finished job counts as failed: trials ran and none succeeded (None otherwise)."""
    ended = [t for t in trials if t.state.is_terminal]
    failed = [t for t in ended if t.state in _FAILED]
    if not failed or any(t.state in _SUCCEEDED for t in ended):
        return None
    return (f"no trial succeeded ({len(failed)} failed); last error, {_last_error(failed)}. "
            "Fix the training code, then start the job again")
