#!/usr/bin/env bash
# The quick start: build; translate the sample aerial photos into maps with the small model this
# project trained (samples/maps_model); then train a model of your own for a few minutes on the
# sample thumbnails in samples/maps, translate with it and write its results page.
set -euo pipefail
cd "$(dirname "$0")/.."
# --all-targets builds with the same features as `cargo test`, so the two share one build of burn
cargo build --all-targets
bin=target/debug/cyclegan

# 1. A trained model: photo → map, ResNet-6 with ngf 16 (how it was trained: samples/maps_model/README.md).
$bin translate samples/maps/testA --weights samples/maps_model/latest_net_G_A.safetensors \
    --out translated/maps_model

# 2. Training of your own, briefly: 8 epochs on 8 + 8 thumbnails at 64×64 are enough to see the
#    losses move and the samples change, not to learn maps (that took the model above hours).
$bin train --dataroot samples/maps --name quickstart --netG resnet_6blocks --ngf 16 --ndf 16 \
    --load-size 72 --crop-size 64 --n-epochs 4 --n-epochs-decay 4 --pool-size 8 \
    --display-freq 16 --print-freq 8 --save-epoch-freq 4
$bin translate samples/maps/testA --weights checkpoints/quickstart/latest_net_G_A.safetensors \
    --out translated/quickstart
$bin test --dataroot samples/maps --name quickstart

echo "maps drawn by the trained model: translated/maps_model/ (the real maps: samples/maps/testB/)"
echo "your brief run: translated/quickstart/, its results page results/quickstart/test_latest/index.html,"
echo "and its training samples and loss curves checkpoints/quickstart/web/index.html"
