"""Defaults on real photos (issue 18): `tunelab train` defaults vs a hand-written recipe.

On a CIFAR-10 subset (real 32x32 colour photos, JPEG folders from ``../shared/data``) it runs,
one after the other in the same run, each as its own process with the same torch thread count:

* ``recipe``: a plain hand-written PyTorch script (below, independent of tunelab's code): PIL
  decoding, a small ResNet with batch norm (a 3x3 stem and three residual stages of 16, 32 and
  64 channels), SGD with Nesterov momentum, ``torch.optim.lr_scheduler.OneCycleLR`` (peak 0.1),
  label smoothing 0.1, random translation (4-pixel reflect padding and a random 32x32 crop) and
  horizontal flips, batch 128;
* ``tunelab``: ``tunelab train --data TRAIN --set epochs=E --set validation_data=HELD_OUT``
  with no other setting: the built-in trainer's defaults.

Both train on the same training folder for the same epochs and are scored on the same held-out
folder (CIFAR-10 test images). It prints each one's held-out accuracy and wall-clock time (process
start to exit, decoding included) and the ratios tunelab / recipe (goals: accuracy >= 1.0, time
<= 1.2).

``--tune-budget SECONDS`` also runs, each for that wall-clock budget: ``tunelab tune --data TRAIN
--max-runtime SECONDS`` with its defaults (its own 20 % validation split chooses the best trial),
and Optuna TPE with a median pruner over the same trainer (tunelab's ``train`` function, in its
own process) and the same search space and split; it prints each one's best model's held-out
accuracy against the recipe's single run. ``--side-by-side`` (with ``--tune-budget``) runs the
recipe, the tune and Optuna at the same time, each pinned to its own ``--threads`` cores (a
machine with at least 3x that many), and skips the train-defaults comparison.

    .venv/bin/python bench/photo_quality.py --per-class 300 --epochs 10
    .venv/bin/python bench/photo_quality.py --per-class 300 --epochs 10 --tune-budget 600
    python3 bench/photo_quality.py --per-class 1000 --epochs 10 --tune-budget 900 --side-by-side
    .venv/bin/python bench/photo_quality.py --per-class 500 --epochs 10 --tune-budget 900 \
        --skip-train --refit    # recipe, tune (+ refit after it), Optuna, one after the other
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARBALL = ROOT.parent / "shared" / "data" / "cifar10-jpg.tar.gz"
TL = [sys.executable, "-m", "tunelab"]  # the tunelab command of the interpreter running this


def subset(cifar: Path, out: Path, split: str, per_class: int) -> Path:
    """Copy the first ``per_class`` images of each class of ``cifar/split`` to ``out/split``."""
    dest = out / split
    for cls_dir in sorted((cifar / split).iterdir()):
        files = sorted(cls_dir.glob("*.jpg"))[:per_class]
        (dest / cls_dir.name).mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, dest / cls_dir.name / f.name)
    return dest


def find_cifar(arg: str | None, work: Path) -> Path:
    """The unpacked ``cifar10`` folder: given, or unpacked from the shared tarball."""
    if arg and not arg.endswith(".tar.gz"):
        p = Path(arg)
        return p / "cifar10" if (p / "cifar10").is_dir() else p
    with tarfile.open(arg or TARBALL) as tar:
        tar.extractall(work, filter="data")
    return work / "cifar10"


# --------------------------------------------------------------------------------------------
# The hand-written recipe (runs in its own process: `photo_quality.py recipe ...`)


def recipe(train_dir: str, test_dir: str, epochs: int, seed: int, threads: int) -> dict[str, Any]:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(seed)

    def load(folder: str) -> tuple[torch.Tensor, torch.Tensor]:
        classes = sorted(os.listdir(folder))
        xs, ys = [], []
        for label, c in enumerate(classes):
            for name in sorted(os.listdir(os.path.join(folder, c))):
                with Image.open(os.path.join(folder, c, name)) as im:
                    xs.append(np.asarray(im.convert("RGB").resize((32, 32))))
                ys.append(label)
        x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous()
        return x, torch.tensor(ys)

    xtr, ytr = load(train_dir)
    xte, yte = load(test_dir)
    mean = xtr.float().div(255).mean((0, 2, 3)).view(1, 3, 1, 1)
    std = xtr.float().div(255).std((0, 2, 3)).view(1, 3, 1, 1)

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.skip = (nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.relu(self.b1(self.c1(x)))
            return F.relu(self.b2(self.c2(y)) + self.skip(x))

    net = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                        Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    batch = 128
    steps = len(ytr) // batch
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=epochs * steps,
                                                pct_start=0.25)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(ytr))
        for i in range(steps):
            idx = perm[i * batch:(i + 1) * batch]
            x = F.pad(xtr[idx].float().div(255), (4, 4, 4, 4), mode="reflect")
            shifts = torch.randint(0, 9, (len(idx), 2)).tolist()  # RandomCrop(32, padding=4)
            x = torch.stack([im[:, dy:dy + 32, dx:dx + 32]
                             for im, (dy, dx) in zip(x, shifts, strict=True)])
            flip = torch.rand(len(idx)) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
            loss = F.cross_entropy(net((x - mean) / std), ytr[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net((xte[i:i + 500].float().div(255) - mean) / std).argmax(1)
                          for i in range(0, len(yte), 500)])
    return {"accuracy": float((pred == yte).float().mean())}


# --------------------------------------------------------------------------------------------
# Runs


CPU_SECONDS: dict[str, float] = {}  # CPU seconds (user + system) of each timed run, by label
NOTICES: dict[str, list[str]] = {}  # the tune's notices (population, batch cap)


def timed(cmd: list[str], env: dict[str, str], label: str = "") -> tuple[float, str]:
    """Run ``cmd``; its wall-clock seconds and stdout. Its CPU seconds go to ``CPU_SECONDS``:
    on a machine shared with other work, CPU time moves less with the load than wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    NOTICES[label] = [ln for ln in proc.stderr.splitlines()
                      if ln.startswith(("notice", "budget"))]
    if label:
        CPU_SECONDS[label] = (after.ru_utime - before.ru_utime) + (after.ru_stime
                                                                   - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"{cmd[:4]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                 f"{proc.stderr[-3000:]}")
    return wall, proc.stdout


def side_by_side(cmds: dict[str, list[str]], env: dict[str, str],
                 pins: dict[str, set[int]] | None = None) -> dict[str, tuple[float, str]]:
    """Start every command at once and wait for all: each one's wall seconds and stdout (its CPU
    seconds go to ``CPU_SECONDS``). Run together, they share whatever else loads the machine;
    ``pins`` gives a command its own cores (``sched_setaffinity``, inherited by its workers)."""
    procs = {}
    for label, cmd in cmds.items():
        cores = (pins or {}).get(label)
        pre = (lambda c=cores: os.sched_setaffinity(0, c)) if cores else None
        procs[label] = (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, env=env, cwd=ROOT, preexec_fn=pre),
                        time.perf_counter())
    out: dict[str, tuple[float, str]] = {}
    for label, (proc, t0) in procs.items():
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout = proc.stdout.read() if proc.stdout else ""
        stderr = proc.stderr.read() if proc.stderr else ""
        if proc.returncode != 0:
            sys.exit(f"{label} failed ({proc.returncode}):\n{stdout[-2000:]}\n{stderr[-3000:]}")
        CPU_SECONDS[label] = usage.ru_utime + usage.ru_stime
        out[label] = (wall, stdout)
    return out


def recipe_cmd(train: Path, test: Path, epochs: int, seed: int, threads: int) -> list[str]:
    return [sys.executable, __file__, "recipe", str(train), str(test), str(epochs), str(seed),
            str(threads)]


def tunelab_train_cmd(train: Path, test: Path, epochs: int, seed: int, work: Path) -> list[str]:
    return [*TL, "train", "--data", str(train), "--set",
            f"epochs={epochs}", "--set", f"validation_data={test}", "--store",
            str(work / "store-train"), "--name", "defaults", "--seed", str(seed)]


def run_recipe(train: Path, test: Path, epochs: int, seed: int, threads: int,
               env: dict[str, str]) -> tuple[float, float]:
    wall, out = timed(recipe_cmd(train, test, epochs, seed, threads), env, "recipe")
    return json.loads(out.strip().splitlines()[-1])["accuracy"], wall


def job_test_accuracy(store: Path, name: str, test: Path, work: Path, env: dict[str, str]
                      ) -> float:
    """Export the job's best model and score it on the held-out folder (`tunelab evaluate`)."""
    model = work / f"{name}-model"
    timed([*TL, "export", name, "--out", str(model), "--store", str(store)], env)
    _w, out = timed([*TL, "evaluate", str(model), "--data", str(test), "--json"], env)
    return float(json.loads(out)["accuracy"])


def run_tunelab_train(train: Path, test: Path, epochs: int, seed: int, work: Path,
                      env: dict[str, str]) -> tuple[float, float]:
    wall, _out = timed(tunelab_train_cmd(train, test, epochs, seed, work), env, "tunelab")
    return job_test_accuracy(work / "store-train", "defaults", test, work, env), wall


def tune_cmd(train: Path, budget: float, work: Path, seed: int = 0) -> list[str]:
    """`tunelab tune --data` with its defaults, cut at ``budget`` seconds: its own validation
    split picks the best trial; the held-out folder is only used to score that trial's model."""
    return [*TL, "tune", "--data", str(train), "--max-runtime", f"{budget:g}s", "--store",
            str(work / "store-tune"), "--name", "tune-defaults", "--json", "--seed", str(seed)]


def optuna_cmd(train: Path, test: Path, budget: float, threads: int,
               epochs: int = 0, seed: int = 0) -> list[str]:
    return [sys.executable, __file__, "optuna", str(train), str(test), str(budget), str(threads),
            str(epochs), str(seed)]


def run_optuna(train: str, test: str, budget: float, threads: int,
               epochs: int = 0, seed: int = 0) -> dict[str, Any]:
    """Optuna TPE + median pruner over the same trainer, space and validation split, same wall
    clock; the best trial (by its val_accuracy) is scored on ``test`` (the trainer's
    test_data, scored once after its last epoch). ``epochs``: the tune's (0: what the default
    spec chooses for this budget, from this process's own probe)."""
    sys.path.insert(0, str(ROOT / "src"))
    import optuna
    import torch

    from tunelab.vision.commands import default_image_spec
    from tunelab.vision.train import train as tl_train

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    deadline = t0 + budget
    spec = default_image_spec(train, name="optuna", budget_seconds=budget)
    static = {k: v for k, v in spec["train"].items() if k != "builtin"}
    static |= {"test_data": test}
    if epochs:
        static["epochs"] = epochs
    space = spec["search_space"]

    class Ctx:
        """The parts of TrialContext the trainer uses, reporting to Optuna's pruner."""

        def __init__(self, trial: optuna.Trial) -> None:
            self.t, self.number, self.seed = trial, trial.number, 1000 * seed + trial.number
            self.device, self.restore_from = "cpu", None

        def load_checkpoint(self) -> None:
            return None

        def save_checkpoint(self, state: Any, *, step: int | None = None) -> None:
            pass

        def report(self, step: int | None = None, **m: float) -> None:
            self.t.report(m["val_accuracy"], step or 0)
            # Optuna's timeout is only checked between trials; like tunelab's max_runtime, a
            # trial still running at the end of the budget is cut (it does not count)
            if self.t.should_prune() or time.perf_counter() > deadline:
                raise optuna.TrialPruned()

    def objective(trial: optuna.Trial) -> float:
        params = dict(static)
        for k, p in space.items():
            if p["type"] == "float":
                params[k] = trial.suggest_float(k, p["low"], p["high"],
                                                log=p.get("scale") == "log")
            else:
                params[k] = trial.suggest_categorical(k, p["values"])
        m = tl_train(params, Ctx(trial))  # type: ignore[arg-type]
        trial.set_user_attr("test_accuracy", m.get("test_accuracy", 0.0))
        return m["val_accuracy"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner(n_warmup_steps=2))
    # the same wall clock as the tune, counted from the start (the probe included)
    study.optimize(objective, timeout=max(1.0, budget - (time.perf_counter() - t0)))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        return {"accuracy": 0.0, "trials": len(study.trials), "complete": 0}
    best = max(done, key=lambda t: t.value or 0.0)
    return {"accuracy": float(best.user_attrs["test_accuracy"]), "trials": len(study.trials),
            "complete": len(done)}


def compare_tuning(train: Path, test: Path, args: argparse.Namespace, work: Path,
                   env: dict[str, str], acc_r: float | None) -> None:
    """tunelab tune --data vs Optuna TPE + median (and the recipe, when ``acc_r`` is None:
    run beside them), each on its own ``--threads`` cores when ``--side-by-side``."""
    b, th = args.tune_budget, args.threads
    ts = args.tune_seed
    cmds = {"tune": tune_cmd(train, b, work, ts), "optuna": optuna_cmd(train, test, b, th, 0, ts)}
    if acc_r is None:
        cmds["recipe"] = recipe_cmd(train, test, args.epochs, args.seed, th)
    pins = None
    if args.side_by_side:
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < th * len(cmds):
            sys.exit(f"--side-by-side needs {th * len(cmds)} cores; this process has "
                     f"{len(cores)}")
        pins = {label: set(cores[i * th:(i + 1) * th]) for i, label in enumerate(cmds)}
        res = side_by_side(cmds, env, pins)
    else:  # one after the other: Optuna trains the epochs the tune chose
        res = {"tune": timed(cmds["tune"], env, "tune")}
        cmds["optuna"] = optuna_cmd(train, test, b, th, tune_epochs(work / "store-tune", env), ts)
        res |= {label: timed(cmd, env, label) for label, cmd in cmds.items() if label != "tune"}
    if acc_r is None:
        acc_r = json.loads(res["recipe"][1].strip().splitlines()[-1])["accuracy"]
        print(f"recipe (hand-written, {args.epochs} epochs): {acc_r:.2%} in "
              f"{res['recipe'][0]:.0f} s")
    store = work / "store-tune"
    summary = json.loads(res["tune"][1])
    n = len(summary.get("trials", []))
    refit = summary.get("refit", {})
    acc_best = job_test_accuracy(store, "tune-defaults", test, work, env)
    epochs = tune_epochs(store, env)
    for line in NOTICES.get("tune", []):
        print(f"  tune: {line}")
    opt = json.loads(res["optuna"][1].strip().splitlines()[-1])
    if refit.get("status") == "completed":  # what tune --data delivers: the refit model
        acc_tune = job_test_accuracy(store, refit["job"], test, work, env)
        what = (f"refit model {acc_tune:.2%} held out (its search's best trial as it is: "
                f"{acc_best:.2%}; refit {refit.get('seconds', 0):.0f} s of the wall time)")
    else:
        acc_tune = acc_best
        what = f"best model {acc_tune:.2%} held out (no refit: {refit or 'not planned'})"
    print(f"tunelab tune --data defaults ({n} trials of {epochs} epochs, {res['tune'][0]:.0f} s "
          f"wall, {CPU_SECONDS['tune']:.0f} CPU s): {what}; vs recipe {acc_tune / acc_r:.3f} "
          "(goal > 1)")
    if args.refit and refit.get("status") != "completed":
        # after the budget: the best configuration retrained on every photo (`tunelab refit`)
        model = work / "tune-refit-model"
        wall, _ = timed([*TL, "refit", "tune-defaults", "--out", str(model), "--store",
                         str(store)], env, "refit")
        _w, out = timed([*TL, "evaluate", str(model), "--data", str(test), "--json"], env)
        acc_refit = float(json.loads(out)["accuracy"])
        print(f"  + tunelab refit after the budget ({wall:.0f} s wall, "
              f"{CPU_SECONDS['refit']:.0f} CPU s more): {acc_refit:.2%} held out; vs recipe "
              f"{acc_refit / acc_r:.3f}")
    print(f"Optuna TPE + median pruner ({opt['trials']} trials, {opt['complete']} complete, "
          f"{res['optuna'][0]:.0f} s wall, {CPU_SECONDS['optuna']:.0f} CPU s): best "
          f"{opt['accuracy']:.2%} held out; tunelab/optuna "
          f"{acc_tune / max(opt['accuracy'], 1e-9):.3f} (goal > 1)")
    if epochs and epochs != args.epochs:
        # the tune chose its schedule from the budget: the recipe at those epochs too, so a
        # longer schedule alone is not mistaken for what the search found
        wall, out = timed(recipe_cmd(train, test, epochs, args.seed, th), env, "recipe-long")
        acc_long = json.loads(out.strip().splitlines()[-1])["accuracy"]
        print(f"recipe at the tune's {epochs} epochs (one run, {wall:.0f} s): {acc_long:.2%}; "
              f"tunelab/recipe at equal epochs {acc_tune / acc_long:.3f}")


def tune_epochs(store: Path, env: dict[str, str]) -> int:
    """The epochs per trial the tune's default spec chose (from its stored spec)."""
    _w, out = timed([*TL, "show", "tune-defaults", "--store", str(store), "--json"], env)
    static = json.loads(out).get("static") or {}
    return int(static.get("epochs", 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cifar", help="unpacked CIFAR-10 JPEG folder (default: unpack the tarball)")
    ap.add_argument("--per-class", type=int, default=300, help="training images per class")
    ap.add_argument("--test-per-class", type=int, default=100, help="held-out images per class")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of every run")
    ap.add_argument("--together", action="store_true",
                    help="run the recipe and tunelab train at the same time (a busy machine: "
                         "both then see the same load)")
    ap.add_argument("--tune-seed", type=int, default=0,
                    help="seed of the tune's search and of Optuna's sampler and trials")
    ap.add_argument("--tune-budget", type=float, default=0.0,
                    help="seconds for tunelab tune --data and Optuna each (0: skip)")
    ap.add_argument("--skip-train", action="store_true",
                    help="with --tune-budget: run the recipe (the reference) but not the "
                         "tunelab train defaults comparison")
    ap.add_argument("--refit", action="store_true",
                    help="with --tune-budget, when the tune did not refit: retrain its best on "
                         "every photo after the budget (`tunelab refit`) and score it")
    ap.add_argument("--side-by-side", action="store_true",
                    help="with --tune-budget: recipe, tune and Optuna at once, each pinned to "
                         "its own --threads cores; skips the train-defaults comparison")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="photo_quality-"))
    try:
        cifar = find_cifar(args.cifar, work)
        train = subset(cifar, work / "data", "train", args.per_class)
        test = subset(cifar, work / "data", "test", args.test_per_class)
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "CUDA_VISIBLE_DEVICES": "",
               "TUNELAB_CACHE_DIR": str(work / "cache"),
               "COLUMNS": "400"}  # the tune's notices on one line each
        load = os.getloadavg()[0]
        print(f"CIFAR-10 subset: {args.per_class}/class train, {args.test_per_class}/class "
              f"held out; {args.epochs} epochs; {args.threads} torch threads; load {load:.1f} "
              f"on {os.cpu_count()} CPUs; {'together' if args.together else 'one after the other'}")
        if args.side_by_side and args.tune_budget > 0:
            compare_tuning(train, test, args, work, env, None)
            return
        if args.together:
            res = side_by_side({
                "recipe": recipe_cmd(train, test, args.epochs, args.seed, args.threads),
                "tunelab": tunelab_train_cmd(train, test, args.epochs, args.seed, work)}, env)
            t_r, t_t = res["recipe"][0], res["tunelab"][0]
            acc_r = json.loads(res["recipe"][1].strip().splitlines()[-1])["accuracy"]
            acc_t = job_test_accuracy(work / "store-train", "defaults", test, work, env)
        elif args.skip_train and args.tune_budget > 0:
            acc_r, t_r = run_recipe(train, test, args.epochs, args.seed, args.threads, env)
            print(f"recipe (hand-written, {args.epochs} epochs): {acc_r:.2%} in {t_r:.0f} s "
                  f"wall, {CPU_SECONDS['recipe']:.0f} CPU s", flush=True)
            compare_tuning(train, test, args, work, env, acc_r)
            return
        else:
            acc_r, t_r = run_recipe(train, test, args.epochs, args.seed, args.threads, env)
            acc_t, t_t = run_tunelab_train(train, test, args.epochs, args.seed, work, env)
        c_r, c_t = CPU_SECONDS["recipe"], CPU_SECONDS["tunelab"]
        print(f"{'run':<28}{'held-out acc':>14}{'wall s':>10}{'CPU s':>10}")
        print(f"{'recipe (hand-written)':<28}{acc_r:>14.2%}{t_r:>10.1f}{c_r:>10.1f}")
        print(f"{'tunelab train (defaults)':<28}{acc_t:>14.2%}{t_t:>10.1f}{c_t:>10.1f}")
        print(f"accuracy ratio tunelab/recipe {acc_t / acc_r:.3f} (goal >= 1.0); "
              f"time ratio {t_t / t_r:.3f} wall, {c_t / c_r:.3f} CPU (goal <= 1.2); load now "
              f"{os.getloadavg()[0]:.1f}")
        if args.tune_budget > 0:
            compare_tuning(train, test, args, work, env, acc_r)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "recipe":
        a = sys.argv[2:]
        print(json.dumps(recipe(a[0], a[1], int(a[2]), int(a[3]), int(a[4]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "optuna":
        a = sys.argv[2:]
        print(json.dumps(run_optuna(a[0], a[1], float(a[2]), int(a[3]), int(a[4]), int(a[5]))))
    else:
        main()
