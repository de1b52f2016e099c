"""`vidcolor deflicker` on a known flicker: warp error and PSNR against the colour originals.

    python benchmarks/deflicker.py [--frames 60] [--cast 6] [--noise 3] [--strength 0.8]

For each colour clip of ../shared/data/video-frames (first ``--frames`` frames), a flickering
colorization is made from the original: every frame's ab gets a random global shift
N(0, --cast) per channel, a low-frequency colour field (4x4 grid of N(0, --field), bicubic) and
per-pixel noise N(0, --noise), in Lab; L is kept. It is written as a PNG sequence (no codec
loss) to a temporary folder, run through ``vidcolor.deflicker.deflicker_video``, and scored
with the metrics of ``benchmarks/temporal.py`` (warp error as Lai et al. 2018 with flow on the
originals, x1000; PSNR/SSIM per frame). Targets (issue 14): warp error at least 40% lower than
the flickering input, PSNR not lower. Prints Markdown rows for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from temporal import clip_metrics, read_frames  # noqa: E402

from vidcolor.deflicker import deflicker_video  # noqa: E402
from vidcolor.media.images import write_image  # noqa: E402
from vidcolor.pipeline import Stats  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "video-frames"
CLIPS = ["davis_bmx-trees", "propainter_tennis", "sam2_bedroom.mp4", "propainter_running_car.mp4"]


def flicker(frames: list[np.ndarray], cast: float, field: float, noise: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        lab = cv2.cvtColor(f.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
        h, w = lab.shape[:2]
        grid = rng.normal(0, field, (4, 4, 2)).astype(np.float32)
        lab[..., 1:] += rng.normal(0, cast, 2).astype(np.float32) + cv2.resize(grid, (w, h),
                                                                               interpolation=cv2.INTER_CUBIC)
        lab[..., 1:] += rng.normal(0, noise, (h, w, 2)).astype(np.float32)
        rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
        out.append(np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--cast", type=float, default=6.0)
    ap.add_argument("--field", type=float, default=4.0)
    ap.add_argument("--noise", type=float, default=3.0)
    ap.add_argument("--strength", type=float, default=0.8)
    a = ap.parse_args()
    print("| clip | mode | frames | warp err x1000: original / flickering / deflickered | change | PSNR flickering -> "
          "deflickered | SSIM | deflicker s/frame |")
    print("|---|---|---|---|---|---|---|---|")
    changes: dict[str, list] = {}
    dpsnr: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="vidcolor-deflicker-") as tmp:
        for name in CLIPS:
            frames = read_frames(DATA / name, a.frames)
            flick = flicker(frames, a.cast, a.field, a.noise)
            src = Path(tmp) / name.replace(".", "_") / "in"
            src.mkdir(parents=True)
            for i, f in enumerate(flick):
                write_image(src / f"{i:05d}.png", f)
            for mode in ("forward", "look-ahead"):
                out = src.parent / mode
                st = Stats()
                t0 = time.perf_counter()
                deflicker_video(src, out, temporal_strength=a.strength, quiet=True, stats=st,
                                look_ahead=mode == "look-ahead")
                dt = (time.perf_counter() - t0) / len(frames)
                res = clip_metrics(frames, {"flickering": flick, "deflickered": read_frames(out, a.frames)})
                w0, w1, w2 = (res[k]["warp_error"] * 1e3 for k in ("original", "flickering", "deflickered"))
                changes.setdefault(mode, []).append(w2 / w1 - 1)
                dpsnr.setdefault(mode, []).append(res["deflickered"]["psnr"] - res["flickering"]["psnr"])
                print(f"| {name} | {mode} | {len(frames)} | {w0:.3f} / {w1:.3f} / {w2:.3f} | "
                      f"{100 * (w2 / w1 - 1):+.0f}% | {res['flickering']['psnr']:.2f} -> "
                      f"{res['deflickered']['psnr']:.2f} | {res['flickering']['ssim']:.4f} -> "
                      f"{res['deflickered']['ssim']:.4f} | {dt:.3f} |", flush=True)
    for mode in changes:
        print(f"\n{mode}: mean warp-error change {100 * np.mean(changes[mode]):+.0f}%, mean PSNR change "
              f"{np.mean(dpsnr[mode]):+.2f} dB (cast {a.cast}, field {a.field}, noise {a.noise}, strength {a.strength})")


if __name__ == "__main__":
    main()
