"""Keyframe references (issue 14): one keyframe per shot, from the original, propagated.

    python benchmarks/reference.py [--frames 150] [--clips ...] [--plot out.png] [--json out.json]

For each colour clip of ../shared/data/video-frames (first ``--frames`` frames), the clip is
converted to gray (Lab L kept, ab = 0) and written as a PNG sequence to a temporary folder.
``vidcolor keyframes`` picks one keyframe per shot of the gray clip; the ORIGINAL colour frame at
each keyframe is given as the reference. Four results are scored against the original, per frame,
with CIEDE2000 (scikit-image ``deltaE_ciede2000``, mean over pixels) and PSNR (RGB, 8 bit):

* gray: the input itself;
* automatic: ``vidcolor colorize`` with the default model (temporal stage on);
* reference: ``--reference``, propagated along the flow without confidence or fallback
  (``guide_options={"fallback": False}``);
* reference + fallback: ``--reference`` as shipped.

Tables: per clip, and per distance (frames) from the nearest keyframe of the same shot. Targets:
CIEDE2000 of reference + fallback at least halved against the automatic model over the clip, and
never worse than automatic at any distance. Timing: the guided run against the automatic run,
and the propagation (flow + both passes) against the flow smoother's share of the automatic run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from skimage.color import deltaE_ciede2000  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio  # noqa: E402
from temporal import read_frames  # noqa: E402

from vidcolor import color  # noqa: E402
from vidcolor.keyframes import extract_keyframes, keyframe_name  # noqa: E402
from vidcolor.media.images import read_image, write_image  # noqa: E402
from vidcolor.pipeline import Stats, colorize_video  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "video-frames"
CLIPS = ["davis_bmx-trees", "propainter_tennis", "sam2_bedroom.mp4", "sam2_02_cups.mp4",
         "sam2_05_default_juggle.mp4", "propainter_running_car.mp4"]
BINS = [(0, 0), (1, 4), (5, 14), (15, 29), (30, 59), (60, 99), (100, 149), (150, 10 ** 6)]
METHODS = ["gray", "automatic", "reference", "reference + fallback"]


def to_gray(rgb: np.ndarray) -> np.ndarray:
    lab = color.host_rgb_to_lab(rgb)
    lab[..., 1:] = 0
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255 + 0.5, 0, 255).astype(np.uint8)


def scores(orig: list[np.ndarray], out: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    de, ps = [], []
    for a, b in zip(orig, out):
        la = cv2.cvtColor(a.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
        lb = cv2.cvtColor(b.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
        de.append(float(deltaE_ciede2000(la, lb).mean()))
        ps.append(peak_signal_noise_ratio(a, b, data_range=255))
    return np.array(de), np.array(ps)


def distances(n: int, keys: list[int]) -> np.ndarray:
    """Frames from the nearest keyframe of the same shot (each keyframe starts a shot here)."""
    d = np.zeros(n, int)
    ks = sorted(keys) + [n]
    for a, b in zip(ks[:-1], ks[1:]):
        d[a:b] = np.arange(b - a)
    return d


def run_clip(name: str, frames: int, tmp: Path, score: bool = True) -> dict:
    orig = read_frames(DATA / name, frames)
    gray_dir, key_dir, ref_dir = tmp / "gray", tmp / "keys", tmp / "refs"
    for d in (gray_dir, ref_dir):
        d.mkdir()
    gray = [to_gray(f) for f in orig]
    for i, g in enumerate(gray):
        write_image(gray_dir / f"{i:05d}.png", g)
    keys = [k.index for k in extract_keyframes(gray_dir, key_dir)]
    for k in keys:
        write_image(ref_dir / keyframe_name(k), orig[k])
    outs, times, temporal = {"gray": gray}, {}, {}
    runs = {"automatic": {}, "reference": {"reference": [ref_dir], "guide_options": {"fallback": False}},
            "reference + fallback": {"reference": [ref_dir]}}
    if not score:
        del runs["reference"]
    for method, kw in runs.items():
        out_dir = tmp / method.replace(" ", "_").replace("+", "")
        st = Stats()
        t0 = time.perf_counter()
        colorize_video(gray_dir, out_dir, quiet=True, stats=st, **kw)
        times[method] = time.perf_counter() - t0
        temporal[method] = st.seconds["temporal"]
        if score:
            outs[method] = [read_image(p) for p in sorted(out_dir.glob("*.png"))]
    res = {"clip": name, "frames": len(orig), "keyframes": keys, "seconds": times, "temporal_seconds": temporal,
           "distance": distances(len(orig), keys).tolist()}
    for method in METHODS if score else ():
        de, ps = scores(orig, outs[method])
        res[method] = {"de2000": de.tolist(), "psnr": ps.tolist()}
    return res


def summary(results: list[dict]) -> str:
    lines = ["| clip | frames | keyframes | " + " | ".join(f"{m} ΔE00" for m in METHODS)
             + " | ref+fb / auto | " + " | ".join(f"{m} PSNR" for m in METHODS) + " |",
             "|---|---|---|" + "---|" * (2 * len(METHODS) + 1)]
    for r in results:
        de = [np.mean(r[m]["de2000"]) for m in METHODS]
        ps = [np.mean(r[m]["psnr"]) for m in METHODS]
        lines.append(f"| {r['clip']} | {r['frames']} | {len(r['keyframes'])} | " + " | ".join(f"{x:.2f}" for x in de)
                     + f" | {de[3] / de[1]:.2f} | " + " | ".join(f"{x:.2f}" for x in ps) + " |")
    de = [np.mean([x for r in results for x in r[m]["de2000"]]) for m in METHODS]
    ps = [np.mean([x for r in results for x in r[m]["psnr"]]) for m in METHODS]
    lines.append("| **all frames** | " + str(sum(r["frames"] for r in results)) + " | | "
                 + " | ".join(f"**{x:.2f}**" for x in de) + f" | **{de[3] / de[1]:.2f}** | "
                 + " | ".join(f"{x:.2f}" for x in ps) + " |")
    lines += ["", "| distance from keyframe (frames) | frames | " + " | ".join(f"{m} ΔE00" for m in METHODS)
              + " | ref+fb / auto | ref+fb PSNR - auto PSNR |", "|---|---|" + "---|" * (len(METHODS) + 2)]
    dist = np.concatenate([r["distance"] for r in results])
    per = {m: np.concatenate([r[m]["de2000"] for r in results]) for m in METHODS}
    pp = {m: np.concatenate([r[m]["psnr"] for r in results]) for m in METHODS}
    for lo, hi in BINS:
        sel = (dist >= lo) & (dist <= hi)
        if not sel.any():
            continue
        label = f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi < 10 ** 6 else f">= {lo}")
        v = [per[m][sel].mean() for m in METHODS]
        lines.append(f"| {label} | {int(sel.sum())} | " + " | ".join(f"{x:.2f}" for x in v)
                     + f" | {v[3] / v[1]:.2f} | {pp[METHODS[3]][sel].mean() - pp['automatic'][sel].mean():+.2f} |")
    return "\n".join(lines) + "\n\n" + speed_table(results)


def speed_table(results: list[dict]) -> str:
    lines = ["| clip | automatic run (s) | guided run (s) | flow smoother in the automatic run (s) | "
             "propagation: flow + both passes (s) | propagation / smoother |", "|---|---|---|---|---|---|"]
    for r in results:
        s, tmp = r["seconds"], r["temporal_seconds"]
        prop = tmp['reference + fallback'] - tmp['automatic']
        lines.append(f"| {r['clip']} | {s['automatic']:.1f} | {s['reference + fallback']:.1f} | {tmp['automatic']:.2f} | "
                     f"{prop:.2f} | {prop / tmp['automatic']:.2f} |")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dist = np.concatenate([r["distance"] for r in results])
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    top = int(dist.max())
    edges = np.unique(np.r_[0, 1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, top + 1])
    for m in METHODS:
        v = np.concatenate([r[m]["de2000"] for r in results])
        xs, ys = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (dist >= lo) & (dist < hi)
            if sel.any():
                xs.append(dist[sel].mean())
                ys.append(v[sel].mean())
        ax.plot(xs, ys, marker="o", ms=3, label=m)
    ax.set_xscale("symlog", linthresh=4)
    ax.set_xlabel("distance from the keyframe (frames)")
    ax.set_ylabel("CIEDE2000 to the original (mean)")
    ax.set_title(f"One keyframe per shot, {len(results)} clips")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--clips", nargs="*", default=CLIPS)
    ap.add_argument("--plot", type=Path, default=None, help="PNG of CIEDE2000 against the distance (matplotlib)")
    ap.add_argument("--json", type=Path, default=None, help="per-frame scores")
    ap.add_argument("--speed", action="store_true", help="only the timing table (no scoring, no pure-reference run)")
    args = ap.parse_args()
    results = []
    for name in args.clips:
        with tempfile.TemporaryDirectory(prefix="vidcolor-refbench-") as tmp:
            t0 = time.perf_counter()
            results.append(run_clip(name, args.frames, Path(tmp), score=not args.speed))
            print(f"{name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(speed_table(results) if args.speed else summary(results))
    if args.json:
        args.json.write_text(json.dumps(results))
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
