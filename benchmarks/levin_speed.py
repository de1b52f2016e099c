"""Levin colorization by optimization (vidcolor.guide.levin): speed and propagation quality.

Speed: build (affinity Laplacian) + solve (factorize once, both channels) on kodim05,
center square resized to 256x256 and 512x512, 100 random true-colour hints, without a
prior and with one (a Gaussian blur of the true ab standing in for a model's smooth
prediction; the default ``prior_weight``, the prior-relative screened system of
``vidcolor.guide.levin``: the same stencil as without a prior); median of 5 repeats.
The load average is printed: the machine may be shared.

Quality: 10 / 50 / 200 random ground-truth ab points (seeded) on three Kodak images at
256 short side, propagated without a prior; PSNR of the RGB image rebuilt from the true L
and the propagated ab against the original, and ab RMSE (Lab units), against the gray
baseline (ab = 0). Images are read at run time from ../shared/data/eval-images/kodak24.

    python benchmarks/levin_speed.py [--repeats 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from vidcolor.color import host_rgb_to_lab
from vidcolor.guide.levin import DEFAULT_PRIOR_WEIGHT, affinity_laplacian, propagate_hints

KODAK = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "eval-images" / "kodak24"


def read_rgb(name: str) -> np.ndarray:
    path = KODAK / name
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def short_side(rgb: np.ndarray, s: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    k = s / min(h, w)
    return cv2.resize(rgb, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)


def square(rgb: np.ndarray, s: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    m = min(h, w)
    y0, x0 = (h - m) // 2, (w - m) // 2
    return cv2.resize(rgb[y0:y0 + m, x0:x0 + m], (s, s), interpolation=cv2.INTER_AREA)


def random_mask(shape, n, rng) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask.flat[rng.choice(mask.size, n, replace=False)] = True
    return mask


def rgb_psnr(L: np.ndarray, ab: np.ndarray, ref_rgb: np.ndarray) -> float:
    lab = np.dstack([L, ab]).astype(np.float32)
    rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    mse = np.mean((rgb.astype(np.float64) - ref_rgb.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def cpu_model() -> str:
    from vidcolor.bench import machine_info

    return machine_info()["cpu"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import os

    import scipy

    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical cores); numpy {np.__version__}, scipy {scipy.__version__}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("### Speed (kodim05, 100 random hints, median of %d; prior_weight %g)" % (args.repeats, DEFAULT_PRIOR_WEIGHT))
    print()
    print("| size | build Laplacian (s) | propagate, no prior (s) | propagate, prior (s) |")
    print("|---|---|---|---|")
    src = read_rgb("kodim05.png")
    for s in (256, 512):
        lab = host_rgb_to_lab(square(src, s)).astype(np.float64)
        L, ab = lab[..., 0], lab[..., 1:]
        mask = random_mask((s, s), 100, np.random.default_rng(args.seed))
        prior = cv2.GaussianBlur(ab, (0, 0), 4.0)  # a stand-in for a model's smooth ab
        build, plain, withp = [], [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            affinity_laplacian(L)
            build.append(time.perf_counter() - t)
            t = time.perf_counter()
            propagate_hints(L, ab, mask)  # includes its own build
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            propagate_hints(L, ab, mask, prior_ab=prior)
            withp.append(time.perf_counter() - t)
        med = statistics.median
        print(f"| {s}x{s} | {med(build):.3f} | {med(plain):.3f} | {med(withp):.3f} |")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    print()
    print("### Quality (random true-colour points, no prior, 256 short side, seed %d)" % args.seed)
    print()
    print("| image | points | PSNR RGB (dB) | ab RMSE | gray PSNR (dB) | gray ab RMSE |")
    print("|---|---|---|---|---|---|")
    for name in ("kodim05.png", "kodim14.png", "kodim23.png"):
        rgb = short_side(read_rgb(name), 256)
        lab = host_rgb_to_lab(rgb).astype(np.float64)
        L, ab = lab[..., 0], lab[..., 1:]
        gray = np.zeros_like(ab)
        g_psnr, g_rmse = rgb_psnr(L, gray, rgb), float(np.sqrt(np.mean(ab ** 2)))
        rng = np.random.default_rng(args.seed)
        for n in (10, 50, 200):
            mask = random_mask(L.shape, n, rng)
            u = propagate_hints(L, ab, mask)
            rmse = float(np.sqrt(np.mean((u - ab) ** 2)))
            print(f"| {name} | {n} | {rgb_psnr(L, u, rgb):.2f} | {rmse:.2f} | {g_psnr:.2f} | {g_rmse:.2f} |")


if __name__ == "__main__":
    main()
