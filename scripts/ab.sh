#!/usr/bin/env bash
# Paired A/B of two cyclegan binaries on one benchmark: each pair runs both (the order flipped
# from pair to pair), and the ratio B ÷ A is taken within the pair, so that a machine whose
# speed drifts over minutes moves both sides of a pair together.
#
#   scripts/ab.sh A_BIN B_BIN [--pairs N] [--what train|forward] [--size S] [--iters I]
#
# Prints each pair and the median ratio. Never run in CI.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 A_BIN B_BIN [--pairs N] [--what W] [--size S] [--iters I]" >&2; exit 2; }
a=$1 b=$2; shift 2
pairs=8 what=train size=128 iters=3
while [ $# -gt 0 ]; do
    case "$1" in
        --pairs) pairs=$2; shift 2 ;;
        --what) what=$2; shift 2 ;;
        --size) size=$2; shift 2 ;;
        --iters) iters=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
key=train_iter_s
[ "$what" = forward ] && key=g_forward_s
run() { "$1" bench --what "$what" --size "$size" --iters "$iters" --json; }
ratios=()
for ((i = 0; i < pairs; i++)); do
    if ((i % 2 == 0)); then ja=$(run "$a"); jb=$(run "$b"); else jb=$(run "$b"); ja=$(run "$a"); fi
    r=$(python3 -c 'import json,sys; a,b=(json.loads(s)[sys.argv[3]] for s in sys.argv[1:3]); print(f"{a:.4f} {b:.4f} {b/a:.3f}")' "$ja" "$jb" "$key")
    echo "pair $i: A, B, B/A = $r"
    ratios+=("${r##* }")
done
python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(f"B/A median {statistics.median(v):.3f}, mean {statistics.mean(v):.3f} over {len(v)} pairs")' "${ratios[@]}"
