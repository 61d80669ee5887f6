"""Jobs started from the training page: each runs ``tunelab tune`` (or ``resume``) in its own
process, which stays the only writer of its job; the server only starts it and watches.

The process is started in its own session (from a warm standby process with PyTorch already
imported when one is ready, see :mod:`tunelab.server.standby`), so stopping or restarting
``tunelab ui`` does not end it; a tuner that dies anyway leaves its job "interrupted" in the
store (its lease runs out, or at once when its process is found dead on this host),
and the job page offers to resume it. Each launch leaves, in the launch folder, the spec that
ran (``NAME.yaml``), the process's output (``NAME.log``) and a record (``NAME.json``: command,
pid, start time), so a launch that failed before its job existed is still explained after a
restart of the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tunelab.errors import JobBusyError, JobNotFound, SpecError
from tunelab.lease import dead_local_owner
from tunelab.server.form import spec_yaml
from tunelab.store.queries import Reader, job_status

#: How long a launch waits for its job to appear in the store before answering.
APPEAR_TIMEOUT = 60.0
LOG_TAIL = 4000
#: Seconds a resume waits for the job's previous tuner process to end: a stopped job's status
#: is written before its tuner has shut its workers down and exited.
EXIT_WAIT = 20.0


def default_launch_dir(reader: Reader) -> Path:
    """Beside a folder store's artifacts (``<store>/ui-launches``), else the user's cache."""
    if reader.artifacts is not None:
        return reader.artifacts.parent / "ui-launches"
    return Path.home() / ".cache" / "tunelab" / "ui-launches"


class Launcher:
    """Starts and watches the page's tuner processes for one store."""

    def __init__(self, reader: Reader, folder: Path | None = None) -> None:
        self.reader = reader
        self.folder = folder or default_launch_dir(reader)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._started: dict[str, float] = {}  # when this server started each one
        self._starting: set[str] = set()
        self._standby: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._lock = threading.Lock()

    def _store_args(self) -> list[str]:
        args = ["--store", self.reader.url]
        # the store's checkpoint location, a folder or object storage (s3://...)
        where = self.reader.artifact_url or self.reader.artifacts
        if where is not None:
            args += ["--artifacts", str(where)]
        return args

    def _exists(self, name: str) -> bool:
        try:
            self.reader.job(name)
            return True
        except JobNotFound:
            return False

    def launch(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Write ``spec`` (already valid) and start its tuner; answers once the job is in the
        store. A second launch of a name (running, starting, or in the store) is refused."""
        name = str(spec["name"])
        with self._lock:
            if name in self._starting or self._exists(name):
                raise SpecError.field("name", "a name no job in this store has", name,
                                      "A job of that name exists or is starting; pick another.")
            self._starting.add(name)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{name}.yaml"
            tmp = path.with_suffix(".yaml.tmp")
            tmp.write_text(spec_yaml(spec))
            os.replace(tmp, path)
            self._start(name, ["tune", str(path)], "launch")
            return self._wait_for_job(name)
        finally:
            with self._lock:
                self._starting.discard(name)

    def resume(self, name: str) -> dict[str, Any]:
        """Start ``tunelab resume NAME`` for a stopped, failed or interrupted job."""
        job = self.reader.job(name)
        status = job_status(job)
        if status == "running" and dead_local_owner(job.lease_owner):
            status = "interrupted"  # its tuner died moments ago; the lease is taken over
        if status in ("running", "completed"):
            raise SpecError.field(f"job {name}", "stopped, failed or interrupted", status,
                                  "Only a job that did not finish can be resumed.")
        self._await_exit(name, job, "resume")
        self._start(name, ["resume", name], "resume")
        return {"name": name, "resumed": True}

    def _await_exit(self, name: str, job: Any, action: str) -> None:
        """Wait (up to ``EXIT_WAIT``) for the tuner process this server started for ``job`` to
        exit when it ended the job (its final status is written before it has shut its
        workers down); refuse when a process started after the job ended is still running
        (a resume on its way)."""
        with self._lock:
            p = self._procs.get(name)
            started = self._started.get(name, 0.0)
        if p is None or p.poll() is not None:
            return
        if started > (job.ended_at or job.updated_at):
            raise JobBusyError(f"job {name!r} is already being resumed (process {p.pid}).")
        try:
            p.wait(EXIT_WAIT)
        except subprocess.TimeoutExpired:
            raise JobBusyError(
                f"job {name!r}'s tuner (process {p.pid}) is still running; {action} it once "
                "that process has ended (the Control box shows it).") from None

    def warm(self) -> None:
        """Have a warm tuner process ready (:mod:`tunelab.server.standby`) for the next launch;
        the training page calls this while its form is being filled."""
        with self._lock:
            if self._standby is not None and self._standby.poll() is None:
                return
            self._standby = subprocess.Popen(
                [sys.executable, "-m", "tunelab.server.standby"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
                close_fds=True)
            self._ready = False

    def standby(self) -> str:
        """``ready`` (a warm process has finished its imports), ``starting`` or ``none``."""
        import select

        with self._lock:
            p = self._standby
            if p is None or p.poll() is not None or p.stdout is None:
                return "none"
            if not self._ready and select.select([p.stdout], [], [], 0)[0]:
                self._ready = p.stdout.readline().strip() == b"ready"
            return "ready" if self._ready else "starting"

    def _take_standby(self, argv: list[str], log: Path) -> subprocess.Popen[bytes] | None:
        """Hand ``argv`` to the warm process, if one is ready; None if none is (or it died)."""
        with self._lock:
            proc, self._standby = self._standby, None
        if proc is None or proc.poll() is not None or proc.stdin is None:
            return None
        try:
            proc.stdin.write(json.dumps({"argv": argv, "log": str(log)}).encode() + b"\n")
            proc.stdin.close()
            if proc.stdout is not None:
                proc.stdout.close()
        except OSError:  # it died in between: start cold instead
            proc.kill()
            proc.wait()
            return None
        return proc

    def _start(self, name: str, args: list[str], kind: str) -> None:
        cmd = [sys.executable, "-m", "tunelab.cli", *args, *self._store_args(), "--json"]
        log_path = self.folder / f"{name}.log"
        proc = self._take_standby(cmd[3:], log_path)
        if proc is None:
            log = open(log_path, "ab")  # noqa: SIM115 (the child keeps it)
            try:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        start_new_session=True, close_fds=True)
            finally:
                log.close()
        with self._lock:
            self._procs[name] = proc
            self._started[name] = time.time()
        record = {"name": name, "kind": kind, "pid": proc.pid, "started_at": time.time(),
                  "command": cmd[1:]}
        (self.folder / f"{name}.json").write_text(json.dumps(record, indent=1))

    def _wait_for_job(self, name: str) -> dict[str, Any]:
        proc = self._procs[name]
        deadline = time.monotonic() + APPEAR_TIMEOUT
        while time.monotonic() < deadline:
            if self._exists(name):
                return {"name": name, "pid": proc.pid, "launched": True}
            if proc.poll() is not None:
                raise SpecError(self._failure(name) or
                                f"the tuner of {name!r} ended (exit {proc.returncode}) before "
                                "its job was created")
            time.sleep(0.05)
        raise SpecError(f"the tuner of {name!r} did not create its job within "
                        f"{APPEAR_TIMEOUT:.0f} s; its output is in {self.folder / name}.log")

    def log_tail(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        if not path.is_file():
            return ""
        data = path.read_bytes()[-LOG_TAIL:]
        return data.decode("utf-8", "replace")

    def _failure(self, name: str) -> str | None:
        """The CLI's own ``error: ...`` line from the process's output, if it printed one."""
        for line in reversed(self.log_tail(name).splitlines()):
            if line.startswith("error:"):
                return line[len("error:"):].strip()
        return None

    def process(self, name: str) -> dict[str, Any]:
        """The page's view of job ``name``'s tuner: ``tuner_gone`` when the job's status says
        running but its tuner process on this host has died (shown as interrupted at once,
        not after its lease runs out), and the last process this page started for it."""
        try:
            job = self.reader.job(name)
            gone = job_status(job) == "running" and dead_local_owner(job.lease_owner)
        except JobNotFound:
            gone = False
        rec_path = self.folder / f"{name}.json"
        if not rec_path.is_file():
            return {"name": name, "tuner_gone": gone, "kind": None}
        rec = json.loads(rec_path.read_text())
        with self._lock:
            proc = self._procs.get(name)
        if proc is not None:  # started by this server: its exit status is known
            code = proc.poll()
            alive = code is None
        else:  # started before a restart of the server
            code, alive = None, _alive(int(rec["pid"]))
        return {**rec, "tuner_gone": gone, "alive": alive, "returncode": code,
                "error": None if alive else self._failure(name), "log": self.log_tail(name)}

    def delete(self, name: str) -> str:
        """Delete a finished job with ``tunelab delete NAME --yes`` (its files under the
        artifact root too); the CLI refuses a running job."""
        job = self.reader.job(name)  # 404 for an unknown job
        if job_status(job) == "running" and not dead_local_owner(job.lease_owner):
            raise JobBusyError(f"job {name!r} is running; stop it first.")
        self._await_exit(name, job, "delete")
        cmd = [sys.executable, "-m", "tunelab.cli", "delete", name, *self._store_args()[:2],
               "--yes"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
            raise JobBusyError(lines[-1][len("error:"):].strip() if lines else done.stderr[-500:])
        for suffix in (".json", ".log", ".yaml"):
            (self.folder / f"{name}{suffix}").unlink(missing_ok=True)
        return done.stdout.strip()

    def close(self) -> None:
        """End the warm process and reap finished children (running tuners are left to
        finish their jobs)."""
        with self._lock:
            standby, self._standby = self._standby, None
            for p in self._procs.values():
                p.poll()
        if standby is not None:
            standby.kill()
            standby.wait(10)
            if standby.stdin is not None:
                standby.stdin.close()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a dead child not yet reaped counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True
