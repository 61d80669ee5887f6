"""Command objectives: run a program per trial and read its metrics from its output.

    train:
      command: ["python", "train.py", "--lr", "{lr}", "--epochs", "{epochs}"]
      metrics: [{name: loss, regex: "loss=([0-9.eE+-]+)"}]

``{name}`` placeholders are filled from the trial's parameters; all parameters also arrive as a
JSON file whose path is in ``TUNELAB_PARAMS_FILE``. Every output line is matched against the
regexes (SageMaker's MetricDefinitions); each time the objective metric appears, the metrics seen
since the last report are reported. A command that declares ``checkpointing: true`` saves its
state in ``TUNELAB_CHECKPOINT_DIR`` and restores from ``TUNELAB_RESTORE_FROM`` when set.
"""

from __future__ import annotations

import json
import os
import re
import signal
import string
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunelab.errors import ObjectiveError, SpecError
from tunelab.objectives.context import TrialContext
from tunelab.space import ParamValue


@dataclass(frozen=True)
class MetricRegex:
    name: str
    regex: str

    def __post_init__(self) -> None:
        try:
            groups = re.compile(self.regex).groups
        except re.error as e:
            raise SpecError.field(
                f"train.metrics[{self.name}].regex", "a valid regular expression", self.regex,
                f"({e})",
            ) from None
        if groups != 1:
            raise SpecError.field(
                f"train.metrics[{self.name}].regex", "a regex with exactly one capture group",
                self.regex, "Wrap the number in one group, e.g. 'loss=([0-9.eE+-]+)'.",
            )


def placeholders(argv: Sequence[str]) -> set[str]:
    names: set[str] = set()
    for arg in argv:
        for _, name, _, _ in string.Formatter().parse(arg):
            if name is not None:
                names.add(name)
    return names


@dataclass(frozen=True)
class CommandObjective:
    """A command line per trial; metrics come from its output via regexes."""

    argv: tuple[str, ...]
    metrics: tuple[MetricRegex, ...]
    checkpointing: bool = False
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def check(self, names: Sequence[str], objective_metric: str) -> None:
        """Raise if a placeholder names no parameter or the objective metric has no regex."""
        if not self.argv:
            raise SpecError.field("train.command", "a non-empty argv list", list(self.argv))
        unknown = placeholders(self.argv) - set(names)
        if unknown:
            raise SpecError.field(
                "train.command", f"placeholders that name parameters ({sorted(names)})",
                sorted(unknown), "Fix the placeholder or add the parameter to static: or "
                "search_space:.",
            )
        if objective_metric not in {m.name for m in self.metrics}:
            raise SpecError.field(
                "train.metrics", f"a regex for the objective metric {objective_metric!r}",
                [m.name for m in self.metrics],
                f"Add {{name: {objective_metric}, regex: '...'}} to train.metrics.",
            )

    def render(self, params: Mapping[str, ParamValue]) -> list[str]:
        return [arg.format(**params) for arg in self.argv]


def run_command(obj: CommandObjective, ctx: TrialContext) -> dict[str, float]:
    """Run the command for one segment, reporting metrics as they appear."""
    metric = ctx.metric or obj.metrics[0].name
    ctx.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    params_file = ctx.checkpoint_dir / "params.json"
    params_file.write_text(json.dumps(ctx.params, indent=2, default=str))
    env = dict(os.environ)
    env.update(obj.env)
    env.update(
        TUNELAB_PARAMS_FILE=str(params_file),
        TUNELAB_CHECKPOINT_DIR=str(ctx.checkpoint_dir),
        TUNELAB_TRIAL_NUMBER=str(ctx.number),
        TUNELAB_START_STEP=str(ctx.start_step),
    )
    if ctx.restore_from:
        env["TUNELAB_RESTORE_FROM"] = str(ctx.restore_path)
    compiled = [(m.name, re.compile(m.regex)) for m in obj.metrics]
    log_path = ctx.checkpoint_dir / f"output-{ctx.attempt}.log"
    tail: deque[str] = deque(maxlen=30)
    seen: set[str] = set()
    pending: dict[str, float] = {}
    last: dict[str, float] = {}
    try:
        proc = subprocess.Popen(
            obj.render(ctx.params), cwd=obj.cwd, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True,
        )
    except OSError as e:
        raise ObjectiveError(f"cannot start command {list(obj.argv)}: {e}") from None
    _CHILD[0] = proc
    try:
        assert proc.stdout is not None
        with open(log_path, "a") as log:
            for line in proc.stdout:
                log.write(line)
                tail.append(line.rstrip("\n"))
                for name, rx in compiled:
                    for m in rx.finditer(line):
                        try:
                            pending[name] = float(m.group(1))
                        except ValueError:
                            continue
                        seen.add(name)
                if metric in pending:
                    last.update(pending)
                    batch, pending = pending, {}
                    ctx.report_metrics(batch)  # may raise TrialInterrupted; finally kills it
        code = proc.wait()
    finally:
        if proc.poll() is None:
            _kill_group(proc)
        _CHILD[0] = None
    if code != 0:
        raise ObjectiveError(
            f"command exited with code {code} (log: {log_path}). Last output lines:\n"
            + "\n".join(tail)
        )
    last.update(pending)
    if metric not in seen:
        raise ObjectiveError(
            f"the objective metric {metric!r} never appeared in the command's output; "
            f"metrics seen: {sorted(seen) or 'none'}. Check train.metrics regexes against "
            f"the output (log: {log_path})."
        )
    return last


_CHILD: list[subprocess.Popen[Any] | None] = [None]

#: seconds a stopped command gets between SIGTERM and SIGKILL; the worker's executor sets
#: ``TUNELAB_STOP_GRACE`` below its own grace, so the worker outlives the wait and the child's
#: process group gets its SIGKILL before the worker itself may be killed
DEFAULT_GRACE = 5.0


def stop_grace() -> float:
    try:
        return max(0.0, float(os.environ.get("TUNELAB_STOP_GRACE", DEFAULT_GRACE)))
    except ValueError:
        return DEFAULT_GRACE


def _kill_group(proc: subprocess.Popen[Any], grace: float | None = None) -> None:
    """SIGTERM to the command's process group (it runs in a session of its own, so its own
    children get it too), then SIGKILL to the group after ``grace`` seconds if the command has
    not exited — or, once it has, if any other process of its group is still there."""
    wait = stop_grace() if grace is None else grace
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        proc.kill()
        return
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # what is left of the group, if anything
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def kill_running_child(grace: float | None = None) -> bool:
    """Stop the command of the running segment: SIGTERM to its process group, SIGKILL after
    ``grace`` seconds (default :func:`stop_grace`). Called from the worker's SIGTERM handler
    and, in a Ray actor, before the executor kills the actor. True if there was one."""
    proc = _CHILD[0]
    if proc is not None and proc.poll() is None:
        _kill_group(proc, grace)
        return True
    return False
