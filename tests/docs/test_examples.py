"""Every code example in README.md and docs/*.md runs exactly as printed.

Each document is replayed in a fresh folder, block by block, in order: a block that names a file
(``# mymodule.py`` on its first line, or ``json tune.json`` after the fence) is written there; a
``bash``/``console`` block runs line by line with the ``tunelab`` of this environment; a
``python`` block without a file name runs as a script. Blocks without a language are printed
output and are not run. The few lines that cannot run here are listed in :data:`NOT_RUN` with
the reason, so an example added later is run unless someone says why not.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.M | re.S)
NAMED = re.compile(r"^#\s*([\w.-]+\.(?:py|ya?ml|json|csv|txt))\b")

# lines of examples that are not run here, with why
NOT_RUN = {
    "make demo": "a tuning job of a few minutes on builtin:digits (python -m tunelab.demo), "
    "run by hand, not by the suite",
    "make test": "is this test suite itself (CI runs it)",
    "python3 -m venv .venv && . .venv/bin/activate": "the tests run in the .venv `make venv` "
    "built, with the same editable install",
    "pip install -e .": "as above (the `tunelab` command these tests call comes from it)",
    "tunelab ui": "a server that runs until stopped; tests/server run the dashboard and API",
    "tunelab ui --store tunelab-runs --data-root ./datasets": "a server that runs until "
    "stopped; tests/server run the training page in Chromium",
}
OUTPUT_LANGS = {"", "text"}
RUN_LANGS = {"bash", "console", "sh"}
FILE_LANGS = {"python", "yaml", "json"}


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    lang: str
    file: str | None
    text: str

    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """The fenced code blocks of ``doc`` in order, with the file each one names."""
    text = doc.read_text()
    out = []
    for m in FENCE.finditer(text):
        info = m.group(1).split()
        lang = info[0] if info else ""
        body = m.group(2)
        first = NAMED.match(body)
        file = info[1] if len(info) > 1 else first.group(1) if first else None
        out.append(Block(doc, text.count("\n", 0, m.start()) + 1, lang, file, body))
    return out


def commands(block: Block) -> list[str]:
    """The shell command lines of a bash/console block (``$ `` prompts removed)."""
    out = []
    for raw in block.text.splitlines():
        line = raw.strip()
        if block.lang == "console":
            if not line.startswith("$ "):
                continue  # printed output
            line = line[2:]
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _not_run(line: str) -> bool:
    return line.split("#")[0].strip() in NOT_RUN


def _run(cmd: str, cwd: Path, env: dict[str, str], where: str) -> None:
    proc = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, (
        f"{where}: `{cmd}` exited {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n"
        f"--- stderr\n{proc.stderr[-3000:]}"
    )


def _image(path: Path, value: int, rng: np.random.Generator) -> None:
    arr = np.clip(value + rng.integers(-25, 25, (16, 16, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "RGB").save(path)


def users_photos(folder: Path) -> None:
    """What the README's reader brings: ``photos/`` (one folder per class), a few unseen ones
    in ``test-photos/``, and two new photos to classify."""
    rng = np.random.default_rng(0)
    for k, cls in enumerate(("cat", "dog")):
        for i in range(12):
            _image(folder / "photos" / cls / f"{i}.jpg", 50 + 150 * k, rng)
        for i in range(3):
            _image(folder / "test-photos" / cls / f"{i}.png", 50 + 150 * k, rng)
    _image(folder / "new-photo.jpg", 60, rng)
    _image(folder / "other-photo.png", 190, rng)


FIXTURES = {"README.md": users_photos}


def replay(doc: Path, folder: Path) -> list[str]:
    """Run ``doc``'s examples in ``folder``; returns what ran (for the test's own check)."""
    if doc.name in FIXTURES:
        FIXTURES[doc.name](folder)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TUNELAB_CACHE_DIR": str(folder / ".cache"), "COLUMNS": "100"}
    env.pop("PYTHONPATH", None)
    ran: list[str] = []
    for b in blocks(doc):
        if b.lang in OUTPUT_LANGS:
            continue
        if b.file is not None:
            assert b.lang in FILE_LANGS, f"{b.where()}: a {b.lang!r} block cannot name a file"
            (folder / b.file).write_text(b.text)
            ran.append(f"wrote {b.file}")
        elif b.lang == "python":
            script = folder / f"snippet_{b.line}.py"
            script.write_text(b.text)
            _run(f"python {script.name}", folder, env, b.where())
            ran.append(f"ran {b.where()}")
        elif b.lang in RUN_LANGS:
            for cmd in commands(b):
                if not _not_run(cmd):
                    _run(cmd, folder, env, b.where())
                    ran.append(cmd)
        else:
            pytest.fail(f"{b.where()}: a {b.lang!r} block must name its file or be runnable")
    return ran


def test_every_block_is_run_written_or_output() -> None:
    # guards the harness itself: the README's examples are found and classified
    readme = blocks(ROOT / "README.md")
    assert {b.file for b in readme} >= {"mymodule.py", "spec.yaml", "example.py"}
    skipped = [c for b in readme if b.lang in RUN_LANGS for c in commands(b) if _not_run(c)]
    assert sorted(c.split("#")[0].strip() for c in skipped) == sorted(NOT_RUN)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the README runs two tuning jobs, a train and an image job
@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_examples_run_as_printed(doc: Path, tmp_path: Path) -> None:
    ran = replay(doc, tmp_path)
    if any(b.lang not in OUTPUT_LANGS for b in blocks(doc)):
        assert ran, f"{doc.name}: no example ran"
