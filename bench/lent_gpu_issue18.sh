#!/usr/bin/env bash
# Issue 18's measurements on a lent GPU machine (one H200, 16 cores), all in one run, each on its
# own cores so they do not disturb each other (figures in BENCHMARKS.md):
#   cores 0-5  bench/photo_quality.py --side-by-side: `tunelab tune --data` defaults vs Optuna TPE
#              + median pruner vs the hand-written recipe, each pinned to 2 CPU cores (no GPU)
#   cores 6-7  bench/trainer_overhead.py --photos: trainer vs bare loop at 64 and 100 px on CPU
#   cores 8-15 bench/transfer.py on the GPU, then a fp16 resume check
# Usage there (the tarball and the wheels carried in ignored folders .devdata and .whl):
#   bash bench/lent_gpu_issue18.sh BUDGET_SECONDS
set -uo pipefail
BUDGET=${1:-420}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD/src:/tmp/site PYTHONUNBUFFERED=1
mkdir -p /tmp/cif && tar -xzf .devdata/cifar10-jpg.tar.gz -C /tmp/cif || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/env.txt"
python3 -c "import torch, optuna, sklearn, numpy; print('torch', torch.__version__, 'optuna', \
optuna.__version__, 'sklearn', sklearn.__version__, 'numpy', numpy.__version__)" | tee -a "$OUT/env.txt"
git rev-parse --short HEAD 2>/dev/null | tee -a "$OUT/env.txt"

taskset -c 0-5 python3 bench/photo_quality.py --cifar /tmp/cif --per-class 1000 \
    --test-per-class 300 --epochs 10 --threads 2 --tune-budget "$BUDGET" --side-by-side \
    > "$OUT/tune.log" 2>&1 &
TUNE=$!
taskset -c 6-7 env CUDA_VISIBLE_DEVICES= python3 bench/trainer_overhead.py --photos \
    --cifar /tmp/cif --per-class 100 --sizes 64,100 --rounds 3 --epochs 2 --threads 2 \
    > "$OUT/cpu_throughput.log" 2>&1 &
CPU=$!
(
  taskset -c 8-15 python3 bench/transfer.py --cifar /tmp/cif --source-per-class 5000 \
      --source-epochs 20 --target-per-class 60 --test-per-class 500 --epochs 15 --seeds 3
  # fp16: the grad scaler's state is in the checkpoint and a resumed segment starts from it
  taskset -c 8-15 python3 - <<'EOF'
import tempfile, torch
from tunelab.objectives.context import TrialContext
from tunelab.vision.train import train
with tempfile.TemporaryDirectory() as d:
    p = {"data": "builtin:digits", "image_size": 32, "precision": "fp16", "epochs": 2,
         "batch_size": 128, "cache_dir": d + "/c"}
    train(p, TrialContext(params=p, number=0, checkpoint_dir=d + "/a", device="cuda"))
    ck = torch.load(d + "/a/ckpt-000002.pt", weights_only=True)
    print("fp16 checkpoint scaler state:", {k: ck["scaler"][k] for k in ("scale", "_growth_tracker")})
EOF
) > "$OUT/transfer.log" 2>&1 &
XFER=$!
wait $CPU; echo "cpu_throughput exit $?"
wait $XFER; echo "transfer exit $?"
wait $TUNE; echo "tune exit $?"
tail -n 30 "$OUT"/*.log
