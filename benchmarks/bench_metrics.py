"""Per-frame cost of vidcolor's metrics against scikit-image's reference versions (same run, same frames).

    python benchmarks/bench_metrics.py [--frames N] [--size WxH] [--threads T]

Frames: the first N of /work/shared/data/video-frames/sam2_bedroom.mp4 (960x540),
resized to --size; the candidate is the same frames with a color shift (so no
metric is trivially 0). Prints ms/frame for each metric and the ratio
skimage / vidcolor (> 1: vidcolor faster). CPU, torch threads as configured.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vidcolor.color import rgb_to_lab, to_float_rgb
from vidcolor.media import open_source
from vidcolor.metrics import auc_ab, colorfulness, deltae2000, psnr, ssim
from vidcolor.metrics import temporal
from vidcolor.metrics.report import ReferenceMotion

CLIP = "/work/shared/data/video-frames/sam2_bedroom.mp4"


def timed(fn, reps: int) -> float:
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    w, h = map(int, args.size.split("x"))
    with open_source(CLIP) as src:
        ref = []
        for f in src:
            ref.append(cv2.resize(f.rgb, (w, h), interpolation=cv2.INTER_AREA))
            if len(ref) == args.frames:
                break
    ref = np.stack(ref)
    cand = np.clip(ref.astype(int) + [12, -5, -10], 0, 255).astype(np.uint8)
    r, c = to_float_rgb(torch.from_numpy(ref)), to_float_rgb(torch.from_numpy(cand))
    n = len(ref)
    rows = []

    def row(name, ours, theirs=None):
        t_ours = timed(ours, 1) / n * 1000
        t_ref = timed(theirs, 1) / n * 1000 if theirs else None
        rows.append((name, t_ours, t_ref))

    sk_ssim = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1)
    row("psnr", lambda: psnr(c, r), lambda: [peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(ref, cand)])
    row("ssim", lambda: ssim(c, r), lambda: [structural_similarity(b, a, **sk_ssim) for a, b in zip(ref, cand)])
    lab_r, lab_c = rgb_to_lab(r), rgb_to_lab(c)
    row("rgb_to_lab x2 (kornia vs skimage)", lambda: (rgb_to_lab(r), rgb_to_lab(c)),
        lambda: [(rgb2lab(a), rgb2lab(b)) for a, b in zip(ref, cand)])
    sk_lab = [(rgb2lab(a), rgb2lab(b)) for a, b in zip(ref, cand)]
    row("deltae2000 (given Lab)", lambda: deltae2000(lab_c, lab_r),
        lambda: [deltaE_ciede2000(a, b).mean() for a, b in sk_lab])
    row("auc (given Lab)", lambda: auc_ab(lab_c[:, 1:], lab_r[:, 1:]))
    row("colorfulness", lambda: colorfulness(c))

    def warp_all():
        m = ReferenceMotion(torch.device("cpu"))
        prev = None
        for i in range(n):
            st = m.step(ref[i])
            if st is not None:
                temporal.warp_error(prev, c[i : i + 1], *st)
            prev = c[i : i + 1]

    row("warp_error (2 DIS flows + mask + warp)", warp_all)
    def cdc_all():
        hists = [temporal.channel_histograms(cand[i : i + 1]) for i in range(n)]
        return [temporal.cdc_pair(hists[i - d], hists[i]) for d in (1, 2, 4) for i in range(d, n)]

    row("cdc (histograms + JS, dilations 1, 2, 4)", cdc_all)
    print(f"{n} frames {w}x{h}, torch threads {torch.get_num_threads()}")
    print(f"{'metric':42s} {'vidcolor ms/frame':>18s} {'skimage ms/frame':>17s} {'skimage/vidcolor':>17s}")
    for name, ours, theirs in rows:
        t = f"{theirs:17.1f} {theirs / ours:17.2f}" if theirs else f"{'-':>17s} {'-':>17s}"
        print(f"{name:42s} {ours:18.1f} {t}")


if __name__ == "__main__":
    main()
