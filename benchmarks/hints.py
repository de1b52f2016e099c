"""Hints benchmark (issue 14): random ground-truth colour points on Kodak24 and CBSD68.

"10, 50 and 200 random ground-truth points per image: PSNR of SIGGRAPH17-native and of
Levin propagation over compact. Target: Levin with 200 points at least 3 dB above the
automatic compact model."

Protocol, per image (read at run time from ``--data``, default ../shared/data/eval-images):

* Lab of the original (OpenCV, D65: ``vidcolor.color.host_rgb_to_lab``). The working size
  is the compact model's input, 256x256 (aspect not kept), made as the Engine makes it:
  ``vidcolor.color.resize`` (bilinear, antialiased) of the full-size L; the true ab at the
  working size is resized the same way.
* Automatic: compact's ab for that L (``load_model("compact")``, input ``(L - 50) / 100``).
* Hints: N pixels of the 256x256 grid drawn without replacement by
  ``numpy.random.default_rng([seed, crc32(file name)])`` (one permutation per image, the
  first N of it: the 10 points are among the 50, the 50 among the 200), each with the true
  ab there (single-pixel points).
* Levin: ``vidcolor.guide.levin.propagate_hints`` at the working size, without a prior and
  with compact's ab as the prior (its default ``prior_weight``).
* SIGGRAPH17-native (only with ``--siggraph17-weights``): the same points through the
  model's hint channels, ``hints_ab`` (Lab units, 0 where no hint) and ``hints_mask``
  (1 at the hints, 0 elsewhere) at 256x256, as ``vidcolor/models/siggraph17.py`` takes them.
* Every result is composed as the pipeline composes: ab upsampled bilinearly to full size
  with the true full-size L (``vidcolor.color.host_compose``, uint8), and scored against
  the original RGB with ``vidcolor.metrics.psnr`` (over all pixels and channels, data range
  255; equal to ``skimage.metrics.peak_signal_noise_ratio``). Means over the images.

    python benchmarks/hints.py [--datasets kodak24,cbsd68] [--points 10,50,200] [--seed 0]
        [--limit N] [--siggraph17-weights PATH] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import torch

from vidcolor import color
from vidcolor.guide.levin import DEFAULT_PRIOR_WEIGHT, propagate_hints
from vidcolor.metrics import numpy_metric, psnr
from vidcolor.models import load_model

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "eval-images"
SIZE = 256
TARGET_DB = 3.0


def cpu_model() -> str:
    from vidcolor.bench import machine_info

    return machine_info()["cpu"]


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def images(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"))
    if not files:
        raise SystemExit(f"no images in {folder}")
    return files


class Scorer:
    """Compose a working-size ab with the image's full-size L and score it against the original."""

    def __init__(self, rgb: np.ndarray, L_full: np.ndarray):
        self.rgb = rgb
        self.L = L_full[None].astype(np.float32)

    def __call__(self, ab_small: np.ndarray) -> float:  # ab_small: h x w x 2
        out = color.host_compose(self.L, np.ascontiguousarray(ab_small.transpose(2, 0, 1)[None], np.float32))[0]
        return float(numpy_metric(psnr, out, self.rgb))


def run_image(path: Path, points: list[int], seed: int, compact, sig17) -> tuple[dict, list[float]]:
    rgb = read_rgb(path)
    lab = color.host_rgb_to_lab(rgb)
    L_full = lab[..., 0]
    L_small = color.resize(torch.from_numpy(np.ascontiguousarray(L_full))[None, None], SIZE)
    ab_true = color.resize(torch.from_numpy(np.ascontiguousarray(lab[..., 1:].transpose(2, 0, 1)))[None], SIZE)
    ab_true = ab_true[0].numpy().transpose(1, 2, 0).astype(np.float64)
    l_norm = color.normalize_l(L_small)
    with torch.inference_mode():
        prior = compact(l_norm)
        if prior.shape[-2:] != (SIZE, SIZE):
            prior = color.resize(prior, SIZE)
    prior = prior[0].float().numpy().transpose(1, 2, 0).astype(np.float64)
    L = L_small[0, 0].numpy().astype(np.float64)
    score = Scorer(rgb, L_full)

    res = {("gray", 0): score(np.zeros_like(prior)), ("compact", 0): score(prior)}
    rng = np.random.default_rng([seed, zlib.crc32(path.name.encode())])
    perm = rng.permutation(SIZE * SIZE)
    times = []
    if sig17 is not None:
        with torch.inference_mode():
            res[("siggraph17", 0)] = score(sig17(l_norm)[0].float().numpy().transpose(1, 2, 0))
    for n in points:
        mask = np.zeros((SIZE, SIZE), bool)
        mask.flat[perm[:n]] = True
        hint_ab = np.where(mask[..., None], ab_true, 0.0)
        t = time.perf_counter()
        u = propagate_hints(L, hint_ab, mask)
        times.append(time.perf_counter() - t)
        res[("levin", n)] = score(u)
        t = time.perf_counter()
        u = propagate_hints(L, hint_ab, mask, prior_ab=prior)
        times.append(time.perf_counter() - t)
        res[("levin+compact", n)] = score(u)
        if sig17 is not None:
            with torch.inference_mode():
                ab = sig17(l_norm,
                           hints_ab=torch.from_numpy(hint_ab.transpose(2, 0, 1)[None].astype(np.float32)),
                           hints_mask=torch.from_numpy(mask[None, None].astype(np.float32)))
            res[("siggraph17", n)] = score(ab[0].float().numpy().transpose(1, 2, 0))
    return res, times


def table(name: str, rows: list[dict], points: list[int], sig17: bool) -> tuple[str, float]:
    def mean(key):
        return statistics.fmean(r[key] for r in rows)

    comp = mean(("compact", 0))
    head = "| method | " + " | ".join(["no hints"] + [f"{n} points" for n in points]) + " |"
    lines = [f"**{name}** ({len(rows)} images), mean PSNR (dB):", "", head, "|---" * (len(points) + 2) + "|"]
    blank = [""] * len(points)
    lines.append("| gray (ab = 0) | %.2f | %s |" % (mean(("gray", 0)), " | ".join(blank)))
    lines.append("| compact (automatic) | %.2f | %s |" % (comp, " | ".join(blank)))
    lines.append("| Levin, no prior | | %s |" % " | ".join("%.2f" % mean(("levin", n)) for n in points))
    lines.append("| Levin + compact prior | %.2f | %s |" % (comp, " | ".join("%.2f" % mean(("levin+compact", n)) for n in points)))
    lines.append("| gain of Levin, no prior, over compact | | %s |"
                 % " | ".join("%+.2f" % (mean(("levin", n)) - comp) for n in points))
    lines.append("| gain of Levin + compact prior over compact | | %s |"
                 % " | ".join("%+.2f" % (mean(("levin+compact", n)) - comp) for n in points))
    if sig17:
        lines.append("| SIGGRAPH17-native | %.2f | %s |" % (mean(("siggraph17", 0)), " | ".join("%.2f" % mean(("siggraph17", n)) for n in points)))
        lines.append("| gain of SIGGRAPH17-native over compact | %+.2f | %s |"
                     % (mean(("siggraph17", 0)) - comp, " | ".join("%+.2f" % (mean(("siggraph17", n)) - comp) for n in points)))
    else:
        lines.append("| SIGGRAPH17-native | not measured: official weights not available offline | %s |" % " | ".join(blank))
    gain = mean(("levin+compact", max(points))) - comp if max(points) == 200 else float("nan")
    return "\n".join(lines), gain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="folder holding the dataset folders")
    ap.add_argument("--datasets", default="kodak24,cbsd68")
    ap.add_argument("--points", default="10,50,200")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="first N images of each dataset (sorted by name)")
    ap.add_argument("--siggraph17-weights", type=Path, default=None,
                    help="the official siggraph17-df00044c.pth, to measure SIGGRAPH17-native")
    ap.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = ap.parse_args()
    points = sorted(int(p) for p in args.points.split(","))

    compact = load_model("compact")
    sig17 = load_model("siggraph17", weights=args.siggraph17_weights) if args.siggraph17_weights else None
    import scipy

    t_start = time.perf_counter()
    load_before = os.getloadavg()
    sections, gains, all_times, counts = [], {}, [], {}
    for ds in args.datasets.split(","):
        files = images(args.data / ds)[: args.limit]
        rows = []
        for i, f in enumerate(files):
            r, t = run_image(f, points, args.seed, compact, sig17)
            rows.append(r)
            all_times += t
            print(f"[{ds} {i + 1}/{len(files)}] {f.name}: compact {r[('compact', 0)]:.2f}, "
                  + ", ".join(f"L+c {n} {r[('levin+compact', n)]:.2f}" for n in points), file=sys.stderr, flush=True)
        text, gains[ds] = table(ds, rows, points, sig17 is not None)
        sections.append(text)
        counts[ds] = len(files)
    wall = time.perf_counter() - t_start

    cmd = "python benchmarks/hints.py " + " ".join(sys.argv[1:])
    out = [
        f"Date {datetime.date.today().isoformat()}. Machine: {cpu_model()}, {os.cpu_count()} logical cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}, scipy {scipy.__version__}; "
        f"load average {load_before[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end.",
        "",
        "```",
        cmd.strip(),
        "```",
        "",
        f"Working size {SIZE}x{SIZE} (the compact model's input; L resized as the Engine does), points drawn on that "
        f"grid (seed {args.seed}, per image `default_rng([seed, crc32(name)])`, nested sets), Levin "
        f"`prior_weight` {DEFAULT_PRIOR_WEIGHT:g}; ab upsampled bilinearly and composed with the full-size true L; "
        "PSNR: `vidcolor.metrics.psnr` on uint8 RGB (= skimage `peak_signal_noise_ratio`, data range 255).",
        "",
    ]
    for s in sections:
        out += [s, ""]
    out.append(f"Levin solve (build + factorize + solve, 256x256, both channels): mean {statistics.fmean(all_times):.3f} s, "
               f"median {statistics.median(all_times):.3f} s over {len(all_times)} solves; whole run {wall:.0f} s.")
    out.append("")
    if max(points) == 200:
        for ds, g in gains.items():
            verdict = "met" if g >= TARGET_DB else f"missed by {TARGET_DB - g:.2f} dB"
            out.append(f"- {ds}: Levin + compact prior with 200 points is {g:+.2f} dB over compact "
                       f"(target +{TARGET_DB:.0f} dB): **{verdict}**.")
    text = "\n".join(out) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
