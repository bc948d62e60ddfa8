#!/usr/bin/env bash
# One bounded training run on a lent GPU machine: installs the carried wheels, trains with
# configs/gpu.toml until SECONDS (SIGINT makes the trainer save), exports the model to $OUT.
set -euo pipefail
SECONDS_LIMIT=${1:-400}
ITERATIONS=${2:-120}
python3 -m pip install -q --no-deps --target /tmp/pp .whl/*.whl
python3 -c "import google.protobuf, packaging" 2>/dev/null || python3 -m pip install -q --no-deps --target /tmp/pp .whl/extra/*.whl
export PYTHONPATH=$PWD:/tmp/pp
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import jax; print(jax.devices())"
if [ -n "${BENCH_SIZES:-}" ]; then
  python3 -m portunus.cli bench selfplay --config configs/gpu.toml --envs-per-fight "$BENCH_SIZES" --json "$OUT/selfplay-gpu.json"
fi
timeout -s INT "$SECONDS_LIMIT" python3 -m portunus.cli train --config configs/gpu.toml --run /tmp/gpurun --iterations "$ITERATIONS" || true
cp /tmp/gpurun/metrics.jsonl /tmp/gpurun/config.json "$OUT"/
python3 -m portunus.cli export /tmp/gpurun "$OUT/model"
python3 -m portunus.cli plot /tmp/gpurun --out "$OUT/curves.png"
