#!/usr/bin/env bash
# Runs on the GPU machine from the bundle scripts/device/bundle.sh made (no Rust needed):
# 1. parity: PyTorch's CycleGAN trace on the GPU with float32 convolutions (the fixtures'
#    README's tolerances; `tests/engine.rs`);
# 2. speed: the engine's iteration beside PyTorch's (its defaults: TF32 convolutions), train
#    128² and 256² at batch 1 and 4, alternated over rounds, medians as JSON lines.
# NVIDIA's libraries (NVRTC, cuDNN, cuBLAS) come from the machine's PyTorch install.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$here/out}
mkdir -p "$out"
py=${PYTHON:-python3}
nv=$("$py" -c "import nvidia, os; print(list(nvidia.__path__)[0])")
libs=$(ls -d "$nv"/*/lib 2>/dev/null | tr '\n' ':')
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
"$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())" | tee -a "$out/gpu.txt"

CYCLEGAN_TEST_DEVICE=cuda CYCLEGAN_FIXTURES="$here/fixtures" \
    timeout 300 "$here/engine-tests" --exact the_plan_on_the_gpu_follows_the_pytorch_trace --nocapture \
    > "$out/parity.txt" 2>&1
echo "parity rc $?" | tee -a "$out/parity.txt"
tail -5 "$out/parity.txt"

rounds=${ROUNDS:-2}
for round in $(seq "$rounds"); do
    for run in 128:1 256:1 256:4 128:4; do
        size=${run%:*} batch=${run#*:}
        timeout 120 "$here/engine_bench" --device cuda --size "$size" --batch "$batch" --iters 20 \
            --precision tf32 >> "$out/bench.jsonl" 2>> "$out/bench.err"
        (cd "$here/scripts" && timeout 120 "$py" bench_pytorch.py --what train --device cuda \
            --size "$size" --batch "$batch" --iters 20) >> "$out/bench.jsonl" 2>> "$out/bench.err"
    done
done
# The engine at exact float32 too, for the cost of --precision f32.
timeout 120 "$here/engine_bench" --device cuda --size 256 --batch 1 --iters 20 --precision f32 \
    >> "$out/bench.jsonl" 2>> "$out/bench.err"
cat "$out/bench.jsonl"
tail -20 "$out/bench.err"
