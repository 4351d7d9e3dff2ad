#!/usr/bin/env bash
# Makes target/device-bundle: what the GPU machine (PyTorch and its CUDA libraries, no Rust
# toolchain, no network) needs to check the CUDA engine in one go: the `engine` test binary
# and `engine_bench` built here with the `cuda` feature, the fixtures they read, PyTorch's
# reference scripts, and run.sh. Then, on that machine, from the repository root:
#   bash target/device-bundle/run.sh        # results under $OUT (or target/device-bundle/out)
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=target/device-bundle
rm -rf "$bundle"
mkdir -p "$bundle/fixtures" "$bundle/scripts"
cargo build --release --features cuda --example engine_bench
test_bin=$(cargo test --release --features cuda --test engine --no-run --message-format=json \
    | python3 -c "import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get('reason') == 'compiler-artifact' and m.get('executable') and m['target']['name'] == 'engine':
        print(m['executable'])")
cp "$test_bin" "$bundle/engine-tests"
cp target/release/examples/engine_bench "$bundle/engine_bench"
cp tests/fixtures/pytorch/cyclegan_step_tiny.* tests/fixtures/pytorch/resnet_official_tiny.* \
    "$bundle/fixtures/"
cp scripts/bench_pytorch.py scripts/nets.py "$bundle/scripts/"
cp scripts/device/run.sh "$bundle/run.sh"
du -sh "$bundle"
