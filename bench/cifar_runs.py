"""Shared by the photo benchmarks (``transfer.py``, ``refit.py``): the CIFAR-10 JPEG folders
from ``../shared/data``, subsets of them, and ``tunelab`` commands run as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARBALL = ROOT.parent / "shared" / "data" / "cifar10-jpg.tar.gz"
TL = [sys.executable, "-m", "tunelab"]  # the tunelab command of the interpreter running this


def unpack_cifar(arg: str | None, work: Path) -> Path:
    """The ``cifar10`` folder (``train/``, ``test/``): ``arg`` when it is a folder, else the
    tarball ``arg`` (default: the shared one) unpacked into ``work``."""
    if arg and not arg.endswith(".tar.gz"):
        cifar = Path(arg)
    else:
        with tarfile.open(arg or TARBALL) as tar:
            tar.extractall(work, filter="data")
        cifar = work / "cifar10"
    return cifar / "cifar10" if (cifar / "cifar10").is_dir() else cifar


def copy_classes(cifar: Path, split: str, classes: Iterable[str] | None, per_class: int,
                 dest: Path, skip: int = 0) -> Path:
    """``per_class`` images (after the first ``skip``) of each of ``classes`` (None: every
    class) of ``cifar/split``, copied to ``dest/CLASS/``."""
    names = sorted(p.name for p in (cifar / split).iterdir()) if classes is None else classes
    for c in names:
        (dest / c).mkdir(parents=True, exist_ok=True)
        for f in sorted((cifar / split / c).glob("*.jpg"))[skip:skip + per_class]:
            shutil.copyfile(f, dest / c / f.name)
    return dest


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run ``cmd`` from the repository root: its wall seconds and stdout (exit on failure)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:6])} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                 f"{proc.stderr[-2000:]}")
    return time.perf_counter() - t0, proc.stdout


def accuracy(model: Path, test: Path, env: dict[str, str]) -> float:
    """``tunelab evaluate``'s accuracy of an exported model on a held-out folder."""
    _w, out = run([*TL, "evaluate", str(model), "--data", str(test), "--json"], env)
    return float(json.loads(out)["accuracy"])
