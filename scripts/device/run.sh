#!/usr/bin/env bash
# Runs on the GPU machine from the bundle scripts/device/bundle.sh made (no Rust needed):
# 1. parity: PyTorch's CycleGAN trace on the GPU with float32 convolutions (the fixtures'
#    README's tolerances; `tests/engine.rs`);
# 2. speed: `cyclegan bench --device cuda` beside PyTorch's (its defaults: TF32 convolutions)
#    through scripts/bench-vs-pytorch.sh.
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

# Beside PyTorch with its defaults, alternated: the generator forward 256², training 128² and
# 256² at batch 1 and 4 (medians of the rounds and their ratios, as BENCHMARKS.md reports).
CYCLEGAN_BIN="$here/cyclegan" timeout 420 bash "$here/scripts/bench-vs-pytorch.sh" --python "$py" \
    --device cuda --iters 20 --rounds "${ROUNDS:-2}" \
    --runs "forward:256:1 train:256:1 train:128:1 train:256:4 train:128:4" \
    > "$out/bench.txt" 2>&1
echo "bench rc $?" >> "$out/bench.txt"
# The cost of exact float32 convolutions (--precision f32) at 256², batch 1.
timeout 60 "$here/cyclegan" bench --device cuda --precision f32 --what train --size 256 --iters 20 --json \
    >> "$out/bench.txt" 2>&1
cat "$out/bench.txt"

# A real run through the whole CLI (loader, pools of 50, samples, checkpoints) on the maps
# thumbnails the repository ships: its seconds per iteration.
timeout 180 "$here/cyclegan" train --device cuda --dataroot "$here/maps" --name gpu \
    --checkpoints-dir "$out/checkpoints" --load-size 143 --crop-size 128 --max-steps 300 \
    > "$out/train.txt" 2>&1
echo "train rc $?" >> "$out/train.txt"
cat "$out/train.txt"
