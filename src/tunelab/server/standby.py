"""A warm tuner process: Python with tunelab, PyTorch and the built-in trainer already imported,
waiting for the one ``tunelab`` command it will run.

Starting Python and importing PyTorch takes seconds; a job launched from the training page
should not wait for them. While the page is open the server keeps one of these ready
(:class:`tunelab.server.launcher.Launcher`); "Launch" writes one JSON line to its standard
input (``{"argv": [...], "log": "NAME.log"}``), and from then on it is exactly the
``tunelab tune`` (or ``resume``) process the launch would have started: its own session, the
only writer of its job, its output in the job's log. End of input without a line (the server
went away) ends it.

    python -m tunelab.server.standby
"""

from __future__ import annotations

import json
import os
import sys

#: What a ``tune`` of the built-in trainer imports before its first trial starts.
PRELOAD = ("tunelab.tuner", "tunelab.composition", "tunelab.preflight",
           "tunelab.executors.local", "tunelab.vision.train", "tunelab.vision.data",
           "tunelab.vision.prepare", "tunelab.vision.batch_size", "tunelab.vision.probe",
           "tunelab.report.summary", "sklearn.datasets", "tunelab.store",
           "alembic.runtime.migration")


def main() -> None:
    import importlib
    import pkgutil

    import torch  # noqa: F401  (the point: imported before the launch)

    import tunelab.cli
    import tunelab.schedulers
    import tunelab.strategies

    for pkg in (tunelab.strategies, tunelab.schedulers):  # scipy, BoTorch... behind them
        for mod in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
            importlib.import_module(mod.name)
    for name in PRELOAD:
        importlib.import_module(name)

    try:  # the launcher reads this to know the imports are done
        sys.stdout.write("ready\n")
        sys.stdout.flush()
    except OSError:  # it handed over a command before reading it (and closed the pipe)
        pass
    line = sys.stdin.readline()
    if not line.strip():
        return
    order = json.loads(line)
    fd = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.argv = ["tunelab", *order["argv"]]
    tunelab.cli.main()


if __name__ == "__main__":
    main()
