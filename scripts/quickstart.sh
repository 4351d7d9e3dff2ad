#!/usr/bin/env bash
# The quick start: build, train a small CycleGAN for a few minutes on the sample maps shipped in
# samples/maps (aerial photo ↔ map, 128×128), then translate the test photos into maps.
set -euo pipefail
cd "$(dirname "$0")/.."
# --all-targets builds with the same features as `cargo test`, so the two share one build of burn
cargo build --all-targets
bin=target/debug/cyclegan
$bin train --dataroot samples/maps --name quickstart --netG resnet_6blocks --ngf 16 --ndf 16 \
    --load-size 72 --crop-size 64 --n-epochs 4 --n-epochs-decay 4 --pool-size 8 \
    --display-freq 16 --print-freq 8 --save-epoch-freq 4
$bin translate samples/maps/testA --weights checkpoints/quickstart/latest_net_G_A.safetensors --out translated
$bin test --dataroot samples/maps --name quickstart
echo "translations in translated/; results page in results/quickstart/test_latest/index.html;"
echo "training samples and loss curves in checkpoints/quickstart/web/index.html"
