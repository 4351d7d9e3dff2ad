#!/usr/bin/env bash
# Makes target/device-bundle: what the GPU machine (PyTorch and its CUDA libraries, no Rust
# toolchain, no network) needs to check the CUDA engine in one go: the `cyclegan` binary and
# the `engine` test binary built here with the `cuda` feature, the fixtures the test reads,
# the benchmark scripts, and run.sh. Then, on that machine, from the repository root:
#   bash target/device-bundle/run.sh        # results under $OUT (or target/device-bundle/out)
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=target/device-bundle
rm -rf "$bundle"
mkdir -p "$bundle/fixtures" "$bundle/scripts"
cargo build --release --features cuda --bin cyclegan
test_bin=$(cargo test --release --features cuda --test engine --no-run --message-format=json \
    | python3 -c "import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get('reason') == 'compiler-artifact' and m.get('executable') and m['target']['name'] == 'engine':
        print(m['executable'])")
cp "$test_bin" "$bundle/engine-tests"
cp target/release/cyclegan "$bundle/cyclegan"
cp -r tests/fixtures/pytorch/cyclegan_step_tiny.* tests/fixtures/pytorch/resnet_official_tiny.* \
    "$bundle/fixtures/"
cp scripts/bench-vs-pytorch.sh scripts/bench_pytorch.py scripts/nets.py "$bundle/scripts/"
cp -r samples/maps "$bundle/maps"
cp scripts/device/run.sh "$bundle/run.sh"
# Line tables off: the bundle travels under a size limit.
strip --strip-debug "$bundle/cyclegan" "$bundle/engine-tests"
du -sh "$bundle"
