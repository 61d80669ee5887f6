"""OpenMP wait policy (issues 18, 21): two-thread training steps spinning vs sleeping while they
wait, on an idle machine and beside one busy program.

For each image size (the 8 px digits model and a 32 px photo model) and each policy (the
default, spinning, and ``PASSIVE``, what ``devices.thread_env`` gives workers), a fresh process
times the trainer's own steps with 2 torch threads (``vision.probe.probe_training``, 3 probes,
microseconds per image), first alone, then beside a ``while True: pass`` process. Prints each
row's probes and the passive/spinning ratio of their medians.

    .venv/bin/python bench/thread_waits.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

PROBE = """
import json, torch
from tunelab.vision.config import TrainConfig
from tunelab.vision.probe import probe_training
torch.set_num_threads(2)
size = {size}
out = [probe_training(TrainConfig.from_params({{"epochs": 5}}), channels=1 if size == 8 else 3,
                      num_classes=10, image_size=size, device="cpu", min_seconds=1.0,
                      checkpoint=False).seconds_per_image * 1e6 for _ in range(3)]
print(json.dumps(out))
"""


def probe(size: int, policy: str | None) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, "-c", PROBE.format(size=size)], env=env, check=True,
                         capture_output=True, text=True, timeout=600).stdout
    return [float(x) for x in json.loads(out.strip().splitlines()[-1])]


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; 2 torch threads; "
          "microseconds per training image (3 probes)")
    for busy in (False, True):
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            for size in (8, 32):
                spin, passive = probe(size, None), probe(size, "PASSIVE")
                ratio = statistics.median(passive) / statistics.median(spin)
                print(f"{'beside a busy process' if busy else 'alone':22s} {size:2d} px  "
                      f"spinning {' '.join(f'{x:7.0f}' for x in spin)}   passive "
                      f"{' '.join(f'{x:7.0f}' for x in passive)}   passive/spinning {ratio:.2f}",
                      flush=True)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()


if __name__ == "__main__":
    main()
