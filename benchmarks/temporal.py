"""Temporal stage: warp error, PSNR/SSIM and time of --temporal none / ema / flow.

    python benchmarks/temporal.py --frames 60                          # flicker oracle, all clips
    python benchmarks/temporal.py --model compact --weights weights/compact.pt --frames 60

For each color clip in ../shared/data/video-frames, the first ``--frames`` frames are
written as PNGs to a temporary folder (never into the repo) and run through
``vidcolor.pipeline.colorize_video`` (image sequence in, PNG sequence out, so no codec
loss) once per temporal mode. The pipeline keeps only L of its input, so colorizing
the color frames is colorizing their gray version.

Colorizers:
- ``oracle`` (default): a stand-in for a per-frame network that flickers: the TRUE ab
  at model size plus, per frame, an independent low-frequency color field (4x4 grid of
  N(0, --field) ab values, bicubic) and a global cast N(0, --cast). Its errors are known
  exactly, so any ghosting by a smoother shows up as lost PSNR.
- any registered model (``--model compact --weights ...``): a real per-frame colorizer
  (random weights when no ``--weights``; fine for time, meaningless for quality).

Metrics (vidcolor.metrics): warp error as Lai et al. 2018 (flow on the ORIGINAL color
frames, occlusion/boundary mask; MSE of RGB in [0, 1], shown x1000) for each output and
for the original video itself; PSNR and SSIM of every output frame against its original;
wall seconds of the whole run and the temporal stage's own seconds (pipeline Stats).
Prints Markdown rows for benchmarks/RESULTS.md and optionally writes JSON.

    python benchmarks/temporal.py --scenes

measures instead the scene-cut score (vidcolor.temporal.scenes.content_score) of every pair of
consecutive frames of the clips above and of the B&W film clips (whose real cuts are
listed in SCENE_CUTS, checked by eye), and of planted cuts (last frame of one clip
followed by the first frame of another), to set the detector's default threshold.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidcolor import color  # noqa: E402
from vidcolor.media import open_source  # noqa: E402
from vidcolor.media.images import write_image  # noqa: E402
from vidcolor.metrics.image import psnr, ssim  # noqa: E402
from vidcolor.metrics.temporal import FlowEstimator, flow_to_tensor, valid_mask, warp_error  # noqa: E402
from vidcolor.models.base import Colorizer  # noqa: E402
from vidcolor.pipeline import Stats, colorize_video  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "video-frames"
CLIPS = ["davis_bmx-trees", "propainter_tennis", "sam2_bedroom.mp4", "sam2_02_cups.mp4",
         "sam2_05_default_juggle.mp4", "propainter_running_car.mp4"]


BW = ROOT.parent / "shared" / "data" / "bw-film"
SCENE_CLIPS = [DATA / c for c in CLIPS] + [BW / "deepremaster_a-bomb_blast_effects_part.mp4",
                                           BW / "oldfilm_002_street", BW / "oldfilm_003_fireman"]
SCENE_CUTS = {"deepremaster_a-bomb_blast_effects_part.mp4": {44, 134, 299}}   # frames starting a new shot


def scene_scores() -> None:
    """Print the score distribution within shots, at real cuts and at planted cuts."""
    from vidcolor.options import SCENE_THRESHOLD as DEFAULT_THRESHOLD
    from vidcolor.temporal.scenes import analysis_frame, content_score

    within, real, ends = {}, [], {}
    for path in SCENE_CLIPS:
        with open_source(path) as src:
            grid = [analysis_frame(color.rgb_to_l(to_float([f.rgb]))[0, 0]) for f in src]
        scores = [content_score(a, b) for a, b in zip(grid, grid[1:])]
        cuts = SCENE_CUTS.get(path.name, set())
        real += [s for i, s in enumerate(scores, 1) if i in cuts]
        within[path.name] = [s for i, s in enumerate(scores, 1) if i not in cuts]
        ends[path.name] = (grid[0], grid[-1])
    planted = [content_score(ends[a][1], ends[b][0]) for a in ends for b in ends if a != b]
    print(f"\nscene-cut score (mean |dL| on {analysis_frame(np.zeros((8, 8), np.float32)).shape} grid, L units); "
          f"default threshold {DEFAULT_THRESHOLD}\n")
    print("| clip | pairs | median | p99 | max | false cuts at threshold |")
    print("|---|---|---|---|---|---|")
    for name, v in within.items():
        print(f"| {name} | {len(v)} | {np.median(v):.2f} | {np.percentile(v, 99):.2f} | {max(v):.2f} "
              f"| {sum(x >= DEFAULT_THRESHOLD for x in v)} |")
    print(f"\nreal cuts: {', '.join(f'{x:.1f}' for x in sorted(real))}; planted cuts ({len(planted)}): "
          f"min {min(planted):.1f}, 5th percentile {np.percentile(planted, 5):.1f}, median {np.median(planted):.1f}; "
          f"missed at threshold: {sum(x < DEFAULT_THRESHOLD for x in real + planted)}")


class FlickerOracle(Colorizer):
    """True ab at model size + per-frame low-frequency color noise; frames must come in order."""

    name = "flicker-oracle"

    def __init__(self, ab_true: torch.Tensor, field: float, cast: float, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        n, _, h, w = ab_true.shape
        noise = F.interpolate(torch.randn(n, 2, 4, 4, generator=g) * field, size=(h, w), mode="bicubic",
                              align_corners=False) + torch.randn(n, 2, 1, 1, generator=g) * cast
        self.register_buffer("pred", ab_true + noise)
        self.next = 0

    def forward(self, l_norm: torch.Tensor, **extras) -> torch.Tensor:
        n = l_norm.shape[0]
        out = self.pred[self.next:self.next + n]
        self.next += n
        return out.to(l_norm.device)


def read_frames(path: Path, limit: int) -> list[np.ndarray]:
    frames = []
    with open_source(path) as src:
        for f in src:
            frames.append(f.rgb)
            if len(frames) == limit:
                break
    return frames


def to_float(frames: list[np.ndarray]) -> torch.Tensor:
    return color.to_float_rgb(torch.from_numpy(np.stack(frames)))


def true_ab(frames: list[np.ndarray], size: int) -> torch.Tensor:
    out = []
    for i in range(0, len(frames), 8):
        lab = color.rgb_to_lab(to_float(frames[i:i + 8]))
        out.append(color.resize(lab[:, 1:], size))
    return torch.cat(out)


def clip_metrics(orig: list[np.ndarray], outputs: dict[str, list[np.ndarray]]) -> dict[str, dict[str, float]]:
    """Warp error of the original and of every output (flow on the originals), PSNR/SSIM per frame."""
    flow = FlowEstimator()
    werr = {k: [] for k in ["original", *outputs]}
    qual = {k: {"psnr": [], "ssim": []} for k in outputs}
    prev = {k: to_float(v[:1]) for k, v in [("original", orig), *outputs.items()]}
    for k, v in outputs.items():
        qual[k]["psnr"].append(psnr(prev[k], prev["original"]).item())
        qual[k]["ssim"].append(ssim(prev[k], prev["original"]).item())
    for t in range(1, len(orig)):
        back, fwd = (flow_to_tensor(f) for f in flow(orig[t - 1], orig[t]))
        mask = valid_mask(back, fwd)
        cur = {k: to_float(v[t:t + 1]) for k, v in [("original", orig), *outputs.items()]}
        for k in werr:
            werr[k].append(warp_error(prev[k], cur[k], back, mask).item())
        for k in outputs:
            qual[k]["psnr"].append(psnr(cur[k], cur["original"]).item())
            qual[k]["ssim"].append(ssim(cur[k], cur["original"]).item())
        prev = cur
    res = {k: {"warp_error": float(np.nanmean(v))} for k, v in werr.items()}
    for k in outputs:
        res[k].update({m: float(np.mean(v)) for m, v in qual[k].items()})
    return res


def make_model(args, frames):
    if args.model == "oracle":
        return FlickerOracle(true_ab(frames, args.size), args.field, args.cast, args.seed)
    from vidcolor.models import load_model

    # the model's own weights (shipped or cached) unless --weights names a file
    return load_model(args.model, weights=args.weights, device="cpu")


def run_clip(args, name: str, tmp: Path) -> dict:
    frames = read_frames(DATA / name, args.frames)
    src = tmp / name.replace(".", "_") / "in"
    src.mkdir(parents=True)
    for i, f in enumerate(frames):
        write_image(src / f"{i:05d}.png", f)
    outputs, times = {}, {}
    model = make_model(args, frames)
    for kind, strength in args.modes:
        key = kind if strength is None else f"{kind}@{strength:g}"
        if isinstance(model, FlickerOracle):
            model.next = 0
        stats = Stats()
        out = src.parent / key.replace("@", "_").replace(".", "p")
        t0 = time.perf_counter()
        colorize_video(src, out, model=model, device="cpu", batch_size=args.batch_size, size=args.size,
                       temporal=kind, temporal_strength=strength, quiet=True, overwrite=True, stats=stats)
        times[key] = {"wall": time.perf_counter() - t0, "temporal": stats.seconds.get("temporal", 0.0)}
        outputs[key] = read_frames(out, args.frames)
    res = clip_metrics(frames, outputs)
    for k, v in times.items():
        res[k].update(v)
    res["frames"] = len(frames)
    res["size"] = f"{frames[0].shape[1]}x{frames[0].shape[0]}"
    return res


def parse_modes(items: list[str]) -> list[tuple[str, float | None]]:
    """'none', 'ema', 'flow', 'flow@0.6' -> (kind, strength or None for the default)."""
    modes = []
    for it in items:
        kind, _, s = it.partition("@")
        modes.append((kind, float(s) if s else None))
    return modes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--clips", nargs="*", default=CLIPS)
    ap.add_argument("--modes", nargs="*", default=["none", "ema", "flow"],
                    help="none | ema | flow, optionally @strength (flow@0.6)")
    ap.add_argument("--model", default="oracle")
    ap.add_argument("--weights")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--field", type=float, default=8.0, help="oracle: std of the low-frequency ab field")
    ap.add_argument("--cast", type=float, default=4.0, help="oracle: std of the per-frame global ab cast")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    ap.add_argument("--scenes", action="store_true", help="measure scene-cut scores instead")
    args = ap.parse_args()
    if args.scenes:
        scene_scores()
        return
    args.modes = parse_modes(args.modes)
    torch.manual_seed(args.seed)
    results = {}
    with tempfile.TemporaryDirectory(prefix="vidcolor-temporal-") as d:
        for name in args.clips:
            results[name] = run_clip(args, name, Path(d))
            print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
    keys = [k for k in next(iter(results.values())) if isinstance(results[next(iter(results))][k], dict)
            and k != "original"]
    print(f"\n{time.strftime('%Y-%m-%d')}, {platform.node()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; model {args.model}"
          + (f" (field {args.field}, cast {args.cast})" if args.model == "oracle" else f" {args.weights or 'random'}")
          + f"; {args.frames} frames per clip; size {args.size}")
    print("\n| clip | mode | warp err x1e3 (original) | change vs none | PSNR dB | SSIM | wall s | temporal s |")
    print("|---|---|---|---|---|---|---|---|")
    base = {}
    for name, r in results.items():
        for k in keys:
            w = r[k]["warp_error"] * 1e3
            base.setdefault(name, w)
            print(f"| {name} ({r['size']}, {r['frames']}) | {k} | {w:.3f} ({r['original']['warp_error'] * 1e3:.3f}) "
                  f"| {100 * (w / base[name] - 1):+.0f}% | {r[k]['psnr']:.2f} | {r[k]['ssim']:.4f} "
                  f"| {r[k]['wall']:.1f} | {r[k]['temporal']:.2f} |")
    print("\n| mode | mean warp-error change vs none | mean ΔPSNR dB | mean ΔSSIM | temporal s / wall s of none |")
    print("|---|---|---|---|---|")
    b = keys[0]
    for k in keys:
        dw = np.mean([r[k]["warp_error"] / r[b]["warp_error"] - 1 for r in results.values()])
        dp = np.mean([r[k]["psnr"] - r[b]["psnr"] for r in results.values()])
        ds = np.mean([r[k]["ssim"] - r[b]["ssim"] for r in results.values()])
        tt = sum(r[k]["temporal"] for r in results.values()) / sum(r[b]["wall"] for r in results.values())
        print(f"| {k} | {100 * dw:+.1f}% | {dp:+.3f} | {ds:+.4f} | {100 * tt:.1f}% |")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": {k: v for k, v in vars(args).items()}, "results": results},
                                              indent=1, default=str))


if __name__ == "__main__":
    main()
