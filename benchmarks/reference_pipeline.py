"""The usual frame-dumping pipeline of this field, as a speed baseline for vidcolor.

What colorization scripts typically do (e.g. the per-image demo of Zhang et al.'s
reference code run over a folder of frames):

1. dump every frame of the video to PNG files;
2. for each file, one at a time: read it, convert RGB -> Lab with scikit-image on
   the CPU, resize to the model size, run the model on that one frame, upsample ab
   to the full size, join with the original L, Lab -> RGB with scikit-image, write a PNG;
3. encode the PNG files into a video (same codec settings as vidcolor).

    python benchmarks/reference_pipeline.py INPUT.mp4 OUTPUT.mp4 --model compact

Prints the seconds spent in each step and in total as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from skimage import io
from skimage.color import lab2rgb, rgb2lab
from skimage.transform import resize


def dump_frames(video: Path, folder: Path) -> tuple[int, float]:
    with av.open(str(video)) as c:
        rate = float(c.streams.video[0].average_rate)
        n = 0
        for n, frame in enumerate(c.decode(video=0), start=1):
            io.imsave(folder / f"{n:06d}.png", frame.to_ndarray(format="rgb24"), check_contrast=False)
    return n, rate


def colorize_file(model, src: Path, dst: Path, size: int) -> None:
    rgb = io.imread(src)
    lab = rgb2lab(rgb)
    L = lab[..., 0]
    small = rgb2lab(resize(rgb, (size, size), order=3, anti_aliasing=True))[..., 0]
    with torch.no_grad():
        ab = model(torch.from_numpy((small - 50.0) / 100.0).float()[None, None])
        ab = F.interpolate(ab, size=L.shape, mode="bilinear", align_corners=False)[0].numpy()
    out = lab2rgb(np.dstack([L, ab[0], ab[1]]))
    io.imsave(dst, (np.clip(out, 0, 1) * 255).round().astype(np.uint8), check_contrast=False)


def encode(folder: Path, out: Path, rate: float, crf: int, preset: str) -> None:
    files = sorted(folder.glob("*.png"))
    first = io.imread(files[0])
    with av.open(str(out), "w") as c:
        s = c.add_stream("libx264", rate=round(rate), options={"crf": str(crf), "preset": preset})
        s.width, s.height, s.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
        for f in files:
            for p in s.encode(av.VideoFrame.from_ndarray(io.imread(f), format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def run(video: Path, out: Path, model_name: str, size: int = 256, crf: int = 18, preset: str = "medium",
        random_weights: bool = False) -> dict:
    from vidcolor.models import create_model, load_model

    model = (create_model(model_name) if random_weights else load_model(model_name)).eval()
    t = {}
    with tempfile.TemporaryDirectory() as d:
        frames, colored = Path(d) / "frames", Path(d) / "colored"
        frames.mkdir()
        colored.mkdir()
        t0 = time.perf_counter()
        n, rate = dump_frames(video, frames)
        t["dump_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for f in sorted(frames.glob("*.png")):
            colorize_file(model, f, colored / f.name, size)
        t["colorize_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        encode(colored, out, rate, crf, preset)
        t["encode_s"] = time.perf_counter() - t0
    t["total_s"] = sum(t.values())
    t["frames"] = n
    t["fps"] = n / t["total_s"]
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--model", default="compact")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--random-weights", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    print(json.dumps(run(a.input, a.output, a.model, a.size, random_weights=a.random_weights)))


if __name__ == "__main__":
    sys.exit(main())
