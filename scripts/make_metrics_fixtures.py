"""Reference values for the paired metrics (L1, PSNR, SSIM) from scikit-image.

Writes tests/fixtures/metrics/paired/: small PNG pairs made from the repository's maps
thumbnails (samples/maps) and paired.json with scikit-image's scores of each pair:
`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255, channel_axis=-1)` and `peak_signal_noise_ratio(data_range=255)`.

Run from the repository root: /work/venv/bin/python scripts/make_metrics_fixtures.py
(needs numpy, pillow, scikit-image; not run in CI).
"""

import json
import os

import numpy as np
from PIL import Image, ImageFilter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

OUT = "tests/fixtures/metrics/paired"


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(16)
    real = Image.open("samples/maps/testB/1002_B.jpg").convert("RGB")
    photo = Image.open("samples/maps/testA/1002_A.jpg").convert("RGB")
    noisy = np.asarray(real.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.int16)
    noisy = np.clip(noisy + rng.integers(-20, 21, noisy.shape), 0, 255).astype(np.uint8)
    pairs = {
        # A map against a blurred, noisy copy of itself: close, SSIM well below 1.
        "blurred_noisy": (real, Image.fromarray(noisy)),
        # A map against its photo: unrelated content.
        "map_vs_photo": (real, photo),
        # An odd size, so the window's reflected borders and the crop are both exercised.
        "odd_size": (real.crop((3, 5, 40, 34)), Image.fromarray(noisy).crop((3, 5, 40, 34))),
    }
    scores = {}
    for name, (a, b) in pairs.items():
        a.save(f"{OUT}/{name}_real.png")
        b.save(f"{OUT}/{name}_fake.png")
        x, y = np.asarray(a), np.asarray(b)
        scores[name] = {
            "l1": float(np.abs(x.astype(np.float64) - y).mean()),
            "psnr": float(peak_signal_noise_ratio(x, y, data_range=255)),
            "ssim": float(
                structural_similarity(
                    x,
                    y,
                    gaussian_weights=True,
                    sigma=1.5,
                    use_sample_covariance=False,
                    data_range=255,
                    channel_axis=-1,
                )
            ),
        }
    with open(f"{OUT}/paired.json", "w") as f:
        json.dump(scores, f, indent=1)
        f.write("\n")
    print(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
