"""Frames/s and peak memory of `vidcolor colorize` on a synthetic clip, in a fresh process.

    python benchmarks/colorize_cpu.py --model eccv16 --frames 48 --frames 480 --width 640 --height 360

Each run is a separate child process (so its peak RSS is its own); the model gets
random weights (speed and memory do not depend on the values). Prints one
Markdown row per run for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, torch
from vidcolor import colorize_video
from vidcolor.models import create_model
model = create_model(sys.argv[3])
res = colorize_video(sys.argv[1], sys.argv[2], model=model, batch_size=int(sys.argv[4]), device="cpu",
                     quiet=True, overwrite=True)
print(json.dumps({"frames": res.frames, "seconds": res.seconds, "fps": res.fps,
                  "stages": res.stats.seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_clip(path: Path, frames: int, width: int, height: int) -> Path:
    import cv2

    from vidcolor.media import synth

    img = cv2.resize(synth.photo("astronaut"), (width * 2, height * 2))
    pan = synth.pan(img, min(frames, 96), width, height, step=3.0)
    seq = [pan[i % len(pan)] if (i // len(pan)) % 2 == 0 else pan[len(pan) - 1 - i % len(pan)] for i in range(frames)]
    return synth.write_clip(path, synth.to_gray(seq), fps=24, options={"preset": "veryfast"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="eccv16")
    ap.add_argument("--frames", type=int, action="append", default=None)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--batch-size", type=int, default=8)
    a = ap.parse_args()
    import torch

    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, python {platform.python_version()}", file=sys.stderr)
    print("| model | clip | frames | frames/s | peak RSS MB | decode s | model s | compose s | encode s |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for n in a.frames or [48, 480]:
            clip = make_clip(Path(d) / f"c{n}.mp4", n, a.width, a.height)
            out = subprocess.run([sys.executable, "-c", CHILD, str(clip), str(Path(d) / "o.mp4"), a.model,
                                  str(a.batch_size)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            s = r["stages"]
            print(f"| {a.model} | {a.width}x{a.height} | {r['frames']} | {r['fps']:.2f} | {r['peak_rss_mb']:.0f} | "
                  f"{s['decode']:.1f} | {s['model']:.1f} | {s['compose']:.1f} | {s['encode']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
