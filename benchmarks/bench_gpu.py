"""GPU benchmark (issues 6, 13): 1080p H.264 in and out: ECCV16, compact, deoldify-video, ddcolor-paper-tiny.

Meant for the `device` machine (one H100/H200, 16 cores, no network, no ../shared):
what it needs travels in ``_carry/gpu/``, filled here by ``benchmarks/gpu_prepare.sh``
(PyAV and kornia wheels, one source clip). One device call runs everything:

    carry: ["_carry/gpu"]
    command: python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site
             _carry/gpu/whl/*.whl && PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1
             python3 benchmarks/bench_gpu.py --source _carry/gpu/source.mp4 --out $OUT

The clip: the source's first ``--frames`` frames made B&W (L kept), scaled to
``--height`` (1080: 1920x1080) and encoded with libx264 CRF 18, with an AAC track
(copied through, as a film's would be). Every part below is one ``vidcolor.bench``
run with its own transcode-only baseline (decode + encode, no model) in the same
run; the output is libx264 CRF 18 preset medium, as ``vidcolor colorize`` writes.

  stages   ECCV16 + compact, precision auto (bf16), batch 16, a device sync after each
           stage: per-stage ms/frame and what bounds the speed
  matrix   each model x precision fp32/fp16/bf16 x batch 8/32 x channels_last off/on,
           no per-stage sync (pure throughput), model-only frames/s at 256x256
  compile  torch.compile'd models, bf16, batch 16

ECCV16, deoldify-video and ddcolor-paper-tiny run with random weights (their checkpoints are
not available offline; speed does not depend on the weights); compact with its shipped
weights. The two release models run their release's host-side pre/post-processing (PIL /
OpenCV per frame), so their ratio to transcode-only says how much of that the GPU hides. A time budget skips the
parts that would not fit in one call. Writes bench_gpu.json and bench_gpu.md to --out.

CPU smoke test (the plumbing, not the figures):
    python benchmarks/bench_gpu.py --device cpu --models compact --height 144 --frames 12 --repeats 1 \
        --quick --out /tmp/g
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED_SOURCE = HERE.parent.parent / "shared" / "data" / "video-frames" / "sam2_bedroom.mp4"


def make_clip(source: Path, dst: Path, height: int, frames: int) -> Path:
    """``frames`` frames of ``source``, B&W, scaled to 16:9 at ``height``, H.264 CRF 18 + AAC."""
    import cv2

    from vidcolor.media import open_source
    from vidcolor.media.synth import to_gray, write_clip

    width = (height * 16 // 9) // 2 * 2
    seq = []
    with open_source(source) as src:
        rate = float(src.fps)
        for f in src:
            if len(seq) >= frames:
                break
            seq.append(cv2.resize(f.rgb, (width, height), interpolation=cv2.INTER_CUBIC))
    while len(seq) < frames:                       # a short source plays again
        seq += seq[: frames - len(seq)]
    return write_clip(dst, to_gray(seq), fps=rate, audio_codec="aac", options={"crf": "18", "preset": "medium"})


def parts(models: list[str], quick: bool) -> dict[str, list[dict]]:
    """Each part: benchmark() keyword sets, one per model (weights differ per model)."""
    models = [(m, m != "compact") for m in models]      # only compact ships its weights
    batches = [8] if quick else [8, 32]
    return {
        "stages": [dict(models=[m], random_weights=r, batch_sizes=[16], stage_timing=True) for m, r in models],
        "matrix": [dict(models=[m], random_weights=r, batch_sizes=batches, precisions=["fp32", "fp16", "bf16"],
                        channels_last=[False, True], stage_timing=False) for m, r in models],
        "compile": [dict(models=[m], random_weights=r, batch_sizes=[16], precisions=["bf16"], compile=[True],
                         stage_timing=False) for m, r in models],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, default=SHARED_SOURCE, help="clip to scale up (default: ../shared's)")
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--parts", default="stages,matrix,compile")
    ap.add_argument("--models", default="eccv16,compact,deoldify-video,ddcolor-paper-tiny")
    ap.add_argument("--budget", type=float, default=520.0, help="seconds; parts that would not fit are skipped")
    ap.add_argument("--quick", action="store_true", help="fewer configurations")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    if not a.source.exists():
        print(f"skipped: {a.source} not found (run benchmarks/gpu_prepare.sh, or give --source)")
        return 0
    import torch

    from vidcolor.bench import benchmark, machine_info, to_markdown

    if a.device == "cuda" and not torch.cuda.is_available():
        print("skipped: no CUDA GPU here (use --device cpu for a smoke test)")
        return 0
    t_start = time.perf_counter()
    a.out.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine_info(), "args": {k: str(v) for k, v in vars(a).items()}, "parts": {}}
    md = [f"Machine: {report['machine']}", ""]
    todo = parts(a.models.split(","), a.quick)
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(a.source, Path(tmp) / f"bw_{a.height}p.mp4", a.height, a.frames)
        print(f"clip {clip.name}: {a.frames} frames, {clip.stat().st_size / 1e6:.1f} MB "
              f"({time.perf_counter() - t_start:.0f} s)", flush=True)
        for name in a.parts.split(","):
            for kw in todo[name]:
                label = f"{name}: {kw['models'][0]}"
                spent = time.perf_counter() - t_start
                if spent > a.budget:
                    print(f"{label}: skipped, {spent:.0f} s of the {a.budget:.0f} s budget spent", flush=True)
                    report["parts"].setdefault(name, []).append({"skipped": label})
                    continue
                print(f"{label} ...", flush=True)
                t0 = time.perf_counter()
                try:
                    rep = benchmark([clip], device=a.device, repeats=a.repeats, quality=False,
                                    progress=lambda m: print("  " + m, flush=True), **kw)
                except Exception as e:  # noqa: BLE001 - one failing part must not lose the others
                    traceback.print_exc()
                    report["parts"].setdefault(name, []).append({"error": f"{label}: {e!r}"})
                    md += [f"## {label}: failed: {e!r}", ""]
                    continue
                report["parts"].setdefault(name, []).append(rep)
                md += [f"## {label} ({time.perf_counter() - t0:.0f} s)", "", to_markdown(rep)]
                (a.out / "bench_gpu.json").write_text(json.dumps(report, indent=1))
                (a.out / "bench_gpu.md").write_text("\n".join(md))
                print(to_markdown(rep), flush=True)
    (a.out / "bench_gpu.json").write_text(json.dumps(report, indent=1))
    (a.out / "bench_gpu.md").write_text("\n".join(md))
    print(f"done in {time.perf_counter() - t_start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
