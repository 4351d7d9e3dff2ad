#!/usr/bin/env bash
# Runs `cyclegan bench` and the PyTorch reference (scripts/bench_pytorch.py) in turn on
# this machine with the same settings, and prints both JSON lines and the time/memory ratios.
#
#   scripts/bench-vs-pytorch.sh [--venv DIR | --python PY] [--device cpu|cuda|wgpu] [--threads T]
#                               [--iters N] [--rounds R] [--runs "WHAT:SIZE:BATCH ..."]
#                               [--baseline BIN] [--model cycle_gan|pix2pix]
#
# Each pair runs R rounds (default 1), cyclegan then PyTorch in each, and the ratio is of the
# two sides' medians over the rounds: on a machine whose speed drifts over minutes (a shared
# host), alternating puts both sides in the same slow and fast phases. With `--baseline BIN`
# each round first runs that other cyclegan binary too (an earlier commit's), and its ratio to
# PyTorch is printed beside.
#
# PyTorch comes from DIR (default: ./venv, created with `pip install torch safetensors pillow
# numpy` when missing) or from PY. With `--device wgpu` PyTorch runs on cuda, the same GPU.
# `--runs` picks the pairs (default: forward 256² and train 128² and 256², batch 1).
# `CYCLEGAN_BIN` names the binary to time (default: target/debug/cyclegan). Never run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=venv device=cpu threads=$(nproc) iters=5 rounds=1 python="" baseline="" model=cycle_gan
runs="forward:256:1 train:128:1 train:256:1"
while [ $# -gt 0 ]; do
    case "$1" in
        --venv) venv=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        --device) device=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --iters) iters=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --baseline) baseline=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
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
    local ours=() theirs=() base=() i
    local args=(bench --model "$model" --what "$1" --size "$2" --batch-size "$3" --iters "$iters" --threads "$threads" --device "$device" --json)
    for ((i = 0; i < rounds; i++)); do
        if [ -n "$baseline" ]; then
            base+=("$("$baseline" "${args[@]}")")
            echo "baseline: ${base[-1]}"
        fi
        ours+=("$("$bin" "${args[@]}")")
        theirs+=("$("$python" "$ref" --model "$model" --what "$1" --size "$2" --batch "$3" --iters "$iters" --threads "$threads" --device "$torch_device")")
        echo "cyclegan: ${ours[-1]}"
        echo "pytorch:  ${theirs[-1]}"
    done
    python3 - "$rounds" "${ours[@]}" "${theirs[@]}" "${base[@]}" <<'PY'
import json, statistics, sys
n = int(sys.argv[1])
ours = [json.loads(s) for s in sys.argv[2:2 + n]]
theirs = [json.loads(s) for s in sys.argv[2 + n:2 + 2 * n]]
base = [json.loads(s) for s in sys.argv[2 + 2 * n:]]
for k in ("g_forward_s", "train_iter_s", "peak_rss_mib"):
    if k in ours[0] and k in theirs[0]:
        a = statistics.median(o[k] for o in ours)
        b = statistics.median(t[k] for t in theirs)
        over = f" (median of {n} rounds)" if n > 1 else ""
        rounds = " ".join(f"{o[k] / t[k]:.2f}" for o, t in zip(ours, theirs)) if n > 1 else ""
        rounds = f"; rounds {rounds}" if rounds else ""
        print(f"  {k:>13}: cyclegan {a:.4g} / pytorch {b:.4g} = {a / b:.2f}x{over}{rounds}")
        if base:
            c = statistics.median(o[k] for o in base)
            print(f"  {'':>13}  baseline {c:.4g} / pytorch {b:.4g} = {c / b:.2f}x")
PY
}
for r in $runs; do
    IFS=: read -r what size batch <<<"$r"
    run_pair "$what" "$size" "$batch"
done
