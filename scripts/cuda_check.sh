#!/usr/bin/env bash
# The checks that need a GPU, in one run (CI has no GPU; run this on a CUDA machine):
# the CUDA tests, the whole fast suite on that machine's torch, every torchvision classification
# model counted on CUDA against its published GMACs, a training step, and the per-op benchmark.
# Logs and tables go to $OUT (default /tmp/opcount-cuda); a short summary is printed last.
set -u
OUT=${OUT:-/tmp/opcount-cuda}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."

python3 -m pip install -q --no-deps --no-build-isolation -e . >"$OUT/install.log" 2>&1 \
    || export PYTHONPATH="$PWD/src"
python3 -c "import torch, opcount; print('torch', torch.__version__, torch.cuda.get_device_name(), opcount.__file__)"

timeout 240 python3 -m pytest -p no:cacheprovider -m cuda tests/test_cuda.py -v -rs \
    >"$OUT/cuda_tests.log" 2>&1
echo "cuda tests: exit $?"

timeout 120 python3 -m pytest -p no:cacheprovider -m cuda tests/test_timing_cuda.py -v -rs \
    >"$OUT/timing_cuda_tests.log" 2>&1
echo "timing cuda tests: exit $?"

timeout 240 python3 -m opcount --all torchvision --device cuda --quiet \
    --csv "$OUT/torchvision_cuda.csv" >"$OUT/sweep.log" 2>&1
echo "torchvision sweep on cuda: exit $?"

timeout 120 python3 -m opcount torchvision:resnet18 --device cuda --optimizer adamw \
    >"$OUT/optimizer_step.log" 2>&1
echo "training step (--optimizer adamw) on cuda: exit $?"

workers=$(python3 -c "import xdist" 2>/dev/null && echo "-n 8")
timeout 180 python3 -m pytest -p no:cacheprovider -q $workers \
    --ignore=tests/test_cuda.py --ignore=tests/test_notebooks.py >"$OUT/suite.log" 2>&1
echo "fast suite: exit $?"

timeout 60 python3 -m benchmarks --quick --threads 1 --output "$OUT/per_op.md" per_op hooks \
    >"$OUT/bench.log" 2>&1
echo "per-op benchmark: exit $?"

echo "--- summary"
grep -E "passed|failed|error" "$OUT/cuda_tests.log" | tail -3
grep -E "^(FAILED|ERROR)|SKIPPED" "$OUT/cuda_tests.log" | head -20
grep -E "passed|failed|error" "$OUT/timing_cuda_tests.log" | tail -3
grep -E "^(FAILED|ERROR)|SKIPPED" "$OUT/timing_cuda_tests.log" | head -20
tail -4 "$OUT/sweep.log"
grep -E "^(optimizer|model FLOPs)" "$OUT/optimizer_step.log"
tail -3 "$OUT/suite.log"
grep -E "^(FAILED|ERROR)" "$OUT/suite.log" | head -20
tail -12 "$OUT/bench.log"
