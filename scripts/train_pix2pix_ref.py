"""PyTorch reference pix2pix training on an aligned folder (upstream's recipe at a small size,
constant lr): the peer that `cyclegan train --model pix2pix` is compared with at equal budget.

    python scripts/train_pix2pix_ref.py DATAROOT OUT --iters 2000 --load 143 --crop 128 --seed 0

DATAROOT/train holds A|B pairs side by side. Each pair: resize both halves to --load² (bicubic),
one random --crop² position and one flip for both, as upstream's aligned dataset. Networks are
upstream's pix2pix defaults (`--netG unet_<crop> --norm batch`, dropout on, basic conditional
PatchGAN, vanilla GAN, λ_L1 100, Adam 2e-4 β (0.5, 0.999)). Writes OUT/latest_net_G.pth (the state
dict, as upstream's `save_networks`: `cyclegan test --model pix2pix` reads it) and OUT/log.jsonl.
Run it in a virtual environment, never in CI.
"""
import argparse
import json
import os
import random
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nets import NLayerDiscriminator, UnetGenerator, batch_norm, init_normal, pix2pix_step  # noqa: E402


def load_pair(path, load_size, crop, rng):
    ab = Image.open(path).convert("RGB")
    w, h = ab.size
    w2 = int(w / 2)
    halves = [ab.crop((0, 0, w2, h)), ab.crop((w2, 0, w, h))]
    x, y = rng.randint(0, load_size - crop), rng.randint(0, load_size - crop)
    flip = rng.random() > 0.5
    out = []
    for im in halves:
        im = im.resize((load_size, load_size), Image.BICUBIC).crop((x, y, x + crop, y + crop))
        if flip:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        out.append(torch.from_numpy(np.asarray(im, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataroot")
    ap.add_argument("out")
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--load", type=int, default=143)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--ndf", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    d = os.path.join(a.dataroot, "train")
    pairs = sorted(os.path.join(d, f) for f in os.listdir(d))
    num_downs = a.crop.bit_length() - 1
    G = init_normal(UnetGenerator(num_downs=num_downs, ngf=a.ngf, norm=batch_norm(), dropout=True))
    D = init_normal(NLayerDiscriminator(in_nc=6, ndf=a.ndf, n_layers=3, norm=batch_norm()))
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    order = list(range(len(pairs)))
    log = open(os.path.join(a.out, "log.jsonl"), "w")
    t0 = time.time()
    for it in range(a.iters):
        if it % len(pairs) == 0:
            rng.shuffle(order)
        real_A, real_B = load_pair(pairs[order[it % len(pairs)]], a.load, a.crop, rng)
        L, _ = pix2pix_step(G, D, opt_G, opt_D, real_A, real_B)
        if it % 50 == 0 or it == a.iters - 1:
            L.update(iter=it, s=time.time() - t0)
            log.write(json.dumps(L) + "\n")
            log.flush()
    torch.save(G.state_dict(), os.path.join(a.out, "latest_net_G.pth"))


if __name__ == "__main__":
    main()
