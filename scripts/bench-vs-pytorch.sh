#!/usr/bin/env bash
# Runs `cyclegan bench` and the PyTorch reference (../shared/reference/bench_pytorch.py) in turn on
# this machine with the same settings, and prints both JSON lines and the time/memory ratios.
#
#   scripts/bench-vs-pytorch.sh [--venv DIR | --python PY] [--device cpu|cuda|wgpu] [--threads T]
#                               [--iters N] [--runs "WHAT:SIZE:BATCH ..."]
#
# PyTorch comes from DIR (default: ./venv, created with `pip install torch safetensors pillow
# numpy` when missing) or from PY. With `--device wgpu` PyTorch runs on cuda, the same GPU.
# `--runs` picks the pairs (default: forward 256² and train 128² and 256², batch 1).
# `CYCLEGAN_BIN` names the binary to time (default: target/debug/cyclegan). Never run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=venv device=cpu threads=$(nproc) iters=5 python=""
runs="forward:256:1 train:128:1 train:256:1"
while [ $# -gt 0 ]; do
    case "$1" in
        --venv) venv=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --iters) iters=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$python" ]; then
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv" && "$venv/bin/pip" install -q torch safetensors pillow numpy
    fi
    python=$venv/bin/python
fi
bin=${CYCLEGAN_BIN:-target/debug/cyclegan}
[ -x "$bin" ] || cargo build --all-targets
ref=$(dirname "$0")/bench_pytorch.py
torch_device=$device
[ "$device" = wgpu ] && torch_device=cuda

run_pair() { # what size batch
    local ours theirs
    ours=$("$bin" bench --what "$1" --size "$2" --batch-size "$3" --iters "$iters" --threads "$threads" --device "$device" --json)
    theirs=$("$python" "$ref" --what "$1" --size "$2" --batch "$3" --iters "$iters" --threads "$threads" --device "$torch_device")
    echo "cyclegan: $ours"
    echo "pytorch:  $theirs"
    python3 - "$ours" "$theirs" <<'PY'
import json, sys
a, b = (json.loads(s) for s in sys.argv[1:3])
for k in ("g_forward_s", "train_iter_s", "peak_rss_mib"):
    if k in a and k in b:
        print(f"  {k:>13}: cyclegan {a[k]:.4g} / pytorch {b[k]:.4g} = {a[k] / b[k]:.2f}x")
PY
}
for r in $runs; do
    IFS=: read -r what size batch <<<"$r"
    run_pair "$what" "$size" "$batch"
done
