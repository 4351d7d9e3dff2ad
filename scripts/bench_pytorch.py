"""PyTorch reference timings for the CycleGAN or pix2pix networks on this machine's CPU.
    python bench_pytorch.py --what train --size 128 --iters 5 --threads 2 [--model pix2pix]
Prints one JSON line: median seconds for a generator forward (no grad, `g_forward_s`; pix2pix's
U-Net in eval mode) and/or for one full training iteration (official recipe, pool size 0;
pix2pix: unet_<size>, batch norm, dropout, conditional basic PatchGAN, `train_iter_s`), plus peak
RSS in MiB."""
import argparse
import json
import resource
import statistics
import time

import torch

from nets import (NLayerDiscriminator, ResnetGenerator, UnetGenerator, batch_norm, cyclegan_step,
                  init_normal, pix2pix_step)


def median_time(fn, iters, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--what", choices=["forward", "train", "both"], default="both")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--n-blocks", type=int, default=9)
    ap.add_argument("--ndf", type=int, default=64)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (this copy's addition)")
    ap.add_argument("--model", choices=["cycle_gan", "pix2pix"], default="cycle_gan")
    a = ap.parse_args()
    if a.model == "pix2pix":
        return pix2pix(a)
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    G_A, G_B = (init_normal(ResnetGenerator(ngf=a.ngf, n_blocks=a.n_blocks)).to(dev) for _ in range(2))
    D_A, D_B = (init_normal(NLayerDiscriminator(ndf=a.ndf)).to(dev) for _ in range(2))
    x = torch.rand(a.batch, 3, a.size, a.size, device=dev) * 2 - 1
    y = torch.rand(a.batch, 3, a.size, a.size, device=dev) * 2 - 1
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    out = {"framework": f"pytorch {torch.__version__}", "device": a.device, "size": a.size, "batch": a.batch, "threads": a.threads}
    if a.what in ("forward", "both"):
        with torch.no_grad():
            out["g_forward_s"] = median_time(lambda: (G_A(x), sync()), a.iters)
    if a.what in ("train", "both"):
        opt_G = torch.optim.Adam(list(G_A.parameters()) + list(G_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
        opt_D = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
        out["train_iter_s"] = median_time(lambda: (cyclegan_step(G_A, G_B, D_A, D_B, opt_G, opt_D, x, y), sync()), a.iters)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def pix2pix(a):
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    num_downs = a.size.bit_length() - 1
    G = init_normal(UnetGenerator(num_downs=num_downs, ngf=a.ngf, norm=batch_norm(), dropout=True)).to(dev)
    D = init_normal(NLayerDiscriminator(in_nc=6, ndf=a.ndf, norm=batch_norm())).to(dev)
    x = torch.rand(a.batch, 3, a.size, a.size, device=dev) * 2 - 1
    y = torch.rand(a.batch, 3, a.size, a.size, device=dev) * 2 - 1
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    out = {"framework": f"pytorch {torch.__version__}", "device": a.device, "model": "pix2pix",
           "size": a.size, "batch": a.batch, "threads": a.threads}
    if a.what in ("forward", "both"):
        G.eval()
        with torch.no_grad():
            out["g_forward_s"] = median_time(lambda: (G(x), sync()), a.iters)
        G.train()
    if a.what in ("train", "both"):
        opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        out["train_iter_s"] = median_time(lambda: (pix2pix_step(G, D, opt_G, opt_D, x, y), sync()), a.iters)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
