#!/usr/bin/python3
"""Builds tests/fixtures/eval/ (SR/GT image pairs) and computes the expected `pisa eval` values independently of
the engine, with Debian's scikit-image (apt-get install python3-skimage; run with /usr/bin/python3 from the
repository root). Not run by CI: its output, tests/fixtures/eval/expected.json, is checked in.

The convention reproduced is pyiqa's `psnry` / `ssim` (test_y_channel=True, color_space='yiq'):
  Y = 0.299 R + 0.587 G + 0.114 B on RGB / 255;
  PSNR: on Y in [0, 1], 10 log10(1 / (mse + 1e-8));
  SSIM: on round(255 Y), Gaussian window sigma 1.5 truncated to 11x11, valid region only, population variances,
        data range 255 (skimage.metrics.structural_similarity with gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False). pyiqa also clamps the contrast-structure term at 0; skimage does not, so this
        script checks that the term is positive everywhere on these pairs (then both definitions agree).
"""
import json
import os
import shutil

import numpy as np
from PIL import Image, ImageFilter
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

ROOT = os.path.join("tests", "fixtures")
OUT = os.path.join(ROOT, "eval")
TINY = os.path.join(ROOT, "pisa-tiny", "expected")

# (name, ground truth from the golden tiny model's outputs, degradation standing in for a super-resolved image).
PAIRS = [
    ("a", "case_a_default.png", "noise"),
    ("b", "case_b_default.png", "blur"),
    ("c", "case_c_default.png", "shift"),
]


def luma(rgb):
    x = rgb.astype(np.float64) / 255.0
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]


def crop(a, n):
    return a[n:a.shape[0] - n, n:a.shape[1] - n] if n else a


def psnr_y(sr, gt, n):
    a, b = crop(luma(sr), n), crop(luma(gt), n)
    mse = np.mean((a - b) ** 2)
    return float(10 * np.log10(1.0 / (mse + 1e-8)))


def ssim_y(sr, gt, n):
    a = np.round(crop(luma(sr), n) * 255.0)
    b = np.round(crop(luma(gt), n) * 255.0)
    # truncate 3.5 * sigma 1.5 -> radius 5: the 11x11 window.
    s = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    f = lambda v: gaussian_filter(v, 1.5, truncate=3.5)
    ma, mb = f(a), f(b)
    cs = (2 * (f(a * b) - ma * mb) + (0.03 * 255) ** 2) / ((f(a * a) - ma * ma) + (f(b * b) - mb * mb) + (0.03 * 255) ** 2)
    assert cs[5:-5, 5:-5].min() > 0, "contrast-structure term not positive: skimage and pyiqa would differ"
    return float(s)


def main():
    for sub in ("sr", "gt"):
        os.makedirs(os.path.join(OUT, sub), exist_ok=True)
    rng = np.random.default_rng(20251201)
    for name, gt, sr in PAIRS:
        shutil.copyfile(os.path.join(TINY, gt), os.path.join(OUT, "gt", name + ".png"))
        image = Image.open(os.path.join(TINY, gt)).convert("RGB")
        g = np.asarray(image).astype(np.float64)
        if sr == "noise":
            out = g + rng.normal(0, 6, g.shape)
        elif sr == "blur":
            out = np.asarray(image.filter(ImageFilter.GaussianBlur(0.7))).astype(np.float64)
        else:  # a brightness shift plus mild noise
            out = g * 0.95 + 9 + rng.normal(0, 3, g.shape)
        Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8)).save(os.path.join(OUT, "sr", name + ".png"))

    expected = {"tool": "scikit-image " + __import__("skimage").__version__, "crop_border": {}}
    for n in (0, 4):
        rows = []
        for name, _, _ in PAIRS:
            sr = np.asarray(Image.open(os.path.join(OUT, "sr", name + ".png")).convert("RGB"))
            gt = np.asarray(Image.open(os.path.join(OUT, "gt", name + ".png")).convert("RGB"))
            rows.append({"image": name + ".png", "psnr_y": psnr_y(sr, gt, n), "ssim_y": ssim_y(sr, gt, n)})
        expected["crop_border"][str(n)] = rows
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1)
        fh.write("\n")
    print(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main()
