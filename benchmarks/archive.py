"""Archive scale (issue 16): segmented runs, seams, Ray, and the stage costs behind a capacity plan.

    python benchmarks/archive.py --overhead [--loops 10] [--repeats 2]
    python benchmarks/archive.py --seams [--segment-seconds 2]
    python benchmarks/archive.py --ray [--films 4]
    python benchmarks/archive.py --stages [--frames 48]

Every run is the real command (``python -m vidcolor colorize ...`` in a child process, wall
clock from start to exit, so process start, model load, Ray start and the join are counted) on
the genuine black-and-white clip of ../shared/data/bw-film (432x320, 29 fps, 360 frames), with
the shipped ``compact`` model at its own size (256) and the default temporal stage (flow, 0.8).

--overhead  the clip looped ``--loops`` times into one film (default 10: 124 s, 3600 frames);
            one-piece ``colorize`` against ``colorize --resume`` (60 s segments, the default),
            alternated ``--repeats`` times; target: segmented <= 1.05x the one-piece time, and the
            same frame count and timestamps (frames identical bit for bit: see --seams, ffv1).
--seams     the clip cut every ``--segment-seconds`` (2 s: five seams); warp error (Lai et al.,
            flow of the gray input) of the frame pairs across a seam against the same pairs of the
            one-piece run and against the pairs inside segments; png in .mov (lossless RGB: the
            colorized frames themselves, the temporal stage alone) and libx264 (with the encoder's
            keyframe at each seam).
            Target: seams no worse.
--ray       ``--films`` copies of the clip: ``colorize DIR -o OUT`` (one film after another) against
            ``--ray=local`` (a fresh local Ray instance of 2 CPUs: one task per film, 1 thread each)
            and ``--jobs 2``; target: Ray <= 1.10x the plain run.
--stages    per-stage ms/frame at 1080p (``vidcolor bench``) for compact and deoldify-video
            (random weights: speed does not depend on them), for the capacity plan in RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLIP = ROOT.parent / "shared" / "data" / "bw-film" / "deepremaster_a-bomb_blast_effects_part.mp4"


def machine() -> str:
    from vidcolor.bench import machine_info

    m = machine_info()
    return f"{m['cpu']}; torch {m['torch']}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"


def vidcolor(*args: str) -> float:
    """Run the CLI in a child process -> wall seconds (raises on failure)."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "vidcolor", *args], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"vidcolor {' '.join(args)} failed:\n{r.stderr[-2000:]}")
    return dt


def loop_clip(src: Path, dst: Path, loops: int) -> Path:
    """``src`` played ``loops`` times, with its audio, by stream copy (timestamps shifted)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in (*inp.streams.video, *inp.streams.audio)}
        span = {}
        for s in (*inp.streams.video, *inp.streams.audio):
            span[s.index] = None
        packets = [p for p in inp.demux() if p.size and p.stream.index in streams]
        for s in (*inp.streams.video, *inp.streams.audio):
            own = [p for p in packets if p.stream.index == s.index]
            span[s.index] = max(p.pts + (p.duration or 0) for p in own) - min(p.pts for p in own)
        for k in range(loops):
            for p in packets:
                q = av.Packet(bytes(p))
                off = k * span[p.stream.index]
                q.pts, q.dts = p.pts + off, (p.dts + off if p.dts is not None else None)
                q.duration, q.time_base, q.is_keyframe = p.duration, p.time_base, p.is_keyframe
                q.stream = streams[p.stream.index]
                out.mux(q)
    return dst


def keyframes(path: Path) -> list[int]:
    """Display-order indices of the keyframes of a video."""
    with av.open(str(path)) as c:
        pk = sorted((p.pts, p.is_keyframe) for p in c.demux(video=0) if p.size)
    return [i for i, (_, key) in enumerate(pk) if key]


def frames_and_times(path: Path) -> tuple[list[np.ndarray], list[float]]:
    with av.open(str(path)) as c:
        fr = [(f.to_ndarray(format="rgb24"), float(f.time)) for f in c.decode(video=0)]
    return [f for f, _ in fr], [t for _, t in fr]


COMMON = ["--model", "compact", "--device", "cpu", "-q"]


def overhead(loops: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        film = loop_clip(CLIP, d / "film.mp4", loops)
        with av.open(str(film)) as c:
            n, dur = c.streams.video[0].frames, float(c.duration / 1e6)
        print(f"\nSegment + join overhead: {film.name} = bw-film clip x{loops} ({n} frames, {dur:.1f} s), "
              f"compact, flow; {machine()}\n")
        print("| run | one-piece s | segmented (--resume, 60 s) s | ratio |")
        print("|---|---|---|---|")
        ratios = []
        for r in range(repeats):
            order = ("one", "seg") if r % 2 == 0 else ("seg", "one")
            t = {}
            for kind in order:
                out = d / f"{kind}.mp4"
                if out.exists():
                    out.unlink()
                extra = ["--resume"] if kind == "seg" else []
                t[kind] = vidcolor("colorize", str(film), "-o", str(out), *COMMON, *extra)
            ratios.append(t["seg"] / t["one"])
            print(f"| {r + 1} ({' then '.join(order)}) | {t['one']:.1f} | {t['seg']:.1f} | {ratios[-1]:.3f} |")
        a, ta = frames_and_times(d / "one.mp4")
        b, tb = frames_and_times(d / "seg.mp4")
        print(f"\nmedian ratio {np.median(ratios):.3f} (target <= 1.05); frames {len(a)} vs {len(b)}, "
              f"timestamps identical: {ta == tb}")


def seams(seconds: float) -> None:
    import torch

    from vidcolor.metrics.temporal import FlowEstimator, flow_to_tensor, valid_mask, warp_error

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        src, _ = frames_and_times(CLIP)
        flows = FlowEstimator()
        motion = []
        for i in range(1, len(src)):
            back, fwd = flows(src[i - 1], src[i])
            fb, ff = flow_to_tensor(back), flow_to_tensor(fwd)
            motion.append((fb, valid_mask(fb, ff)))

        def pair_errors(frames):
            t = [torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in frames]
            return np.array([warp_error(t[i - 1], t[i], *motion[i - 1]).item() for i in range(1, len(t))])

        with av.open(str(CLIP)) as c:
            fps = float(c.streams.video[0].average_rate)
        starts = [int(round(k * seconds * fps)) for k in range(1, int(len(src) / fps / seconds) + 1)
                  if k * seconds * fps < len(src)]
        print(f"\nSeams: {CLIP.name} ({len(src)} frames) cut every {seconds:g} s; seam pairs = (first frame of a "
              f"segment, the frame before), {len(starts)} of them; warp error x 1e3; {machine()}\n")
        print("| codec | seams, segmented | same pairs, one-piece | inside segments, segmented | one-piece at its own "
              "keyframes (count) | max pixel difference segmented vs one-piece | pixels that differ |")
        print("|---|---|---|---|---|---|---|")
        for codec, ext in (("png", ".mov"), ("libx264", ".mp4")):
            one, seg = d / f"one{ext}", d / f"seg{ext}"
            vidcolor("colorize", str(CLIP), "-o", str(one), "--codec", codec, *COMMON)
            vidcolor("colorize", str(CLIP), "-o", str(seg), "--codec", codec, "--resume", "--segment-seconds",
                     str(seconds), *COMMON)
            fo, _ = frames_and_times(one)
            fs, _ = frames_and_times(seg)
            eo, es = pair_errors(fo), pair_errors(fs)
            seam_idx = np.array([s - 1 for s in starts])             # pair i joins frames i and i + 1
            inside = np.setdiff1d(np.arange(len(es)), seam_idx)
            keys = keyframes(one)[1:]                                    # the one-piece encoder's own keyframes
            own = f"{1e3 * np.nanmean(eo[np.array(keys) - 1]):.3f} ({len(keys)})" if keys else "-"
            diff = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(fo, fs))
            share = np.mean([np.mean(np.any(a != b, axis=2)) for a, b in zip(fo, fs)])
            print(f"| {codec} | {1e3 * np.nanmean(es[seam_idx]):.3f} | {1e3 * np.nanmean(eo[seam_idx]):.3f} | "
                  f"{1e3 * np.nanmean(es[inside]):.3f} | {own} | {diff} | {100 * share:.4f}% |")


def ray_overhead(films: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        src = d / "films"
        src.mkdir()
        for i in range(films):
            shutil.copy(CLIP, src / f"reel{i + 1}.mp4")
        print(f"\nRay against the plain many-film run: {films} x {CLIP.name} (360 frames each), compact, flow; "
              f"wall clock of the whole command; {machine()}\n")
        print("| run | seconds | vs plain |")
        print("|---|---|---|")
        plain = None
        for label, extra in (("plain (one film after another, 2 threads)", []),
                             ("--ray=local (local Ray, 2 CPUs, one task per film)", ["--ray=local"]),
                             ("--jobs 2 (two processes, 1 thread each)", ["--jobs", "2"])):
            out = d / ("out_" + str(abs(hash(label))))
            t = vidcolor("colorize", str(src), "-o", str(out), *COMMON, *extra)
            plain = plain or t
            print(f"| {label} | {t:.1f} | {t / plain:.2f}x |")


def stages(frames: int) -> None:
    from vidcolor.media import synth

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        src, _ = frames_and_times(CLIP)
        import cv2

        big = [cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_CUBIC) for f in src[:frames]]
        clip = synth.write_clip(d / "film_1080p.mp4", big, fps=24, options={"preset": "veryfast"})
        for model in ("compact", "deoldify-video"):
            js = d / f"{model}.json"
            vidcolor("bench", str(clip), "--model", model, "--random-weights", "--device", "cpu", "--repeats", "1",
                     "--temporal", "flow", "--json", str(js), "--no-quality")
            rep = json.loads(js.read_text())
            print(f"\n1080p stages, {model} (random weights), {machine()}")
            for row in rep.get("rows", rep.get("results", [])):
                print(json.dumps(row)[:1500])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--overhead", action="store_true")
    ap.add_argument("--seams", action="store_true")
    ap.add_argument("--ray", action="store_true")
    ap.add_argument("--stages", action="store_true")
    ap.add_argument("--loops", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--segment-seconds", type=float, default=2.0)
    ap.add_argument("--films", type=int, default=4)
    ap.add_argument("--frames", type=int, default=48)
    a = ap.parse_args()
    if not CLIP.exists():
        raise SystemExit(f"{CLIP} not found (../shared/data/bw-film)")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    if a.seams:
        seams(a.segment_seconds)
    if a.overhead:
        overhead(a.loops, a.repeats)
    if a.ray:
        ray_overhead(a.films)
    if a.stages:
        stages(a.frames)


if __name__ == "__main__":
    main()
