"""`make demo`: tune the built-in image classifier on scikit-learn's handwritten digits.

Runs a small tuning job (a few minutes on 2 CPU cores) into ./tunelab-runs and prints the
leaderboard; `tunelab show NAME` shows it again later.
"""

from __future__ import annotations

import sys
import time

from tunelab.cli import app


def main() -> None:
    name = f"digits-demo-{time.strftime('%Y%m%d-%H%M%S')}"
    args = ["tune", "--data", "builtin:digits", "--name", name, "--max-trials", "6",
            "--max-parallel", "2", *sys.argv[1:]]
    print(f"tunelab demo: tuning the built-in image classifier on builtin:digits as {name}")
    app(args)


if __name__ == "__main__":
    main()
