"""Speed and memory of vidcolor against its two baselines, on ../shared/data clips.

For each clip and model, in the same run:
  * vidcolor's pipeline (`vidcolor bench`: per-stage ms/frame, frames/s, peak RSS),
  * the limit: decode + encode alone with the same codec settings (transcode),
  * the usual frame-dumping pipeline (benchmarks/reference_pipeline.py), same model and input,
and then peak memory of a short and a 10x longer clip, each in a fresh process.

    python benchmarks/bench_pipeline.py --models compact --frames 96 --append benchmarks/RESULTS.md

Skips cleanly (exit 0) when ../shared/data is not there.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
CLIPS = {"bw-film (432x320, real B&W)": DATA / "bw-film" / "deepremaster_a-bomb_blast_effects_part.mp4",
         "sam2_bedroom (960x540, made gray)": DATA / "video-frames" / "sam2_bedroom.mp4"}

MEM_CHILD = r"""
import json, resource, sys
from vidcolor import colorize_video
from vidcolor.models import create_model, load_model
m = create_model(sys.argv[3]) if sys.argv[4] == "1" else load_model(sys.argv[3])
r = colorize_video(sys.argv[1], sys.argv[2], model=m, device="cpu", quiet=True, overwrite=True)
print(json.dumps({"frames": r.frames, "fps": r.fps, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def gray_prefix(src: Path, dst: Path, frames: int, loops: int = 1) -> Path:
    """The first ``frames`` frames of ``src`` as B&W (L kept), played ``loops`` times, H.264 crf 16."""
    from vidcolor.media import open_source
    from vidcolor.media.synth import to_gray, write_clip

    s = open_source(src)
    seq = []
    for f in s:
        if f.index >= frames:
            break
        seq.append(f.rgb)
    s.close()
    seq = to_gray(seq)
    rate = float(open_source(src).fps)
    return write_clip(dst, seq * loops, fps=rate, audio_codec=None, options={"crf": "16", "preset": "fast"})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["compact"])
    ap.add_argument("--random-weights", nargs="*", default=["eccv16", "siggraph17"],
                    help="models timed with random weights (their checkpoints are not available offline)")
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--append", type=Path, default=None, help="append the Markdown section to this file")
    a = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found")
        return 0
    from vidcolor.bench import benchmark, machine_info, to_markdown

    import reference_pipeline

    out = [f"### Pipeline speed and memory, {datetime.date.today()} (`python benchmarks/bench_pipeline.py "
           f"--models {' '.join(a.models)} --frames {a.frames} --repeats {a.repeats}`)", ""]
    speed_rows = ["| clip | model | vidcolor frames/s | transcode-only frames/s | colorize/transcode time | "
                  "reference pipeline frames/s | vidcolor speedup |", "|---|---|---|---|---|---|---|"]
    tables = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for label, src in CLIPS.items():
            if not src.exists():
                continue
            clip = gray_prefix(src, d / f"{src.stem}.mp4", a.frames)
            for m in a.models:
                rnd = m in a.random_weights
                rep = benchmark([clip], [m], batch_sizes=[8], device="cpu", repeats=a.repeats, random_weights=rnd,
                                progress=lambda s: print(s, file=sys.stderr))
                tables.append(f"{label}, {m}{' (random weights)' if rnd else ''}:\n\n" + to_markdown(rep))
                base, res = rep["results"]
                ref = reference_pipeline.run(clip, d / "ref.mp4", m, random_weights=rnd)
                speed_rows.append(
                    f"| {label} | {m} | {res['fps']['median']:.2f} | {base['fps']['median']:.1f} | "
                    f"{base['fps']['median'] / res['fps']['median']:.1f}x | {ref['fps']:.2f} | "
                    f"**{res['fps']['median'] / ref['fps']:.1f}x** |")
                print(speed_rows[-1], file=sys.stderr)
        # memory: a short clip and the same played 10 times, fresh process each
        mem_rows = ["| model | frames | peak RSS MB | frames/s |", "|---|---|---|---|"]
        src = next(p for p in CLIPS.values() if p.exists())
        short = gray_prefix(src, d / "short.mp4", 48)
        long = gray_prefix(src, d / "long.mp4", 48, loops=10)
        m = a.models[0]
        peaks = []
        for clip in (short, long):
            r = subprocess.run([sys.executable, "-c", MEM_CHILD, str(clip), str(d / "m.mp4"), m,
                                "1" if m in a.random_weights else "0"], capture_output=True, text=True, check=True)
            j = json.loads(r.stdout.strip().splitlines()[-1])
            peaks.append(j["peak_rss_mb"])
            mem_rows.append(f"| {m} | {j['frames']} | {j['peak_rss_mb']:.0f} | {j['fps']:.2f} |")
        mem_rows.append(f"\n10x longer clip / short clip peak memory: **{peaks[1] / peaks[0]:.2f}x**")
    mi = machine_info()
    out += [f"Machine: {mi['cpu']}, {mi['cores']} cores, no GPU; torch {mi['torch']}, PyAV {mi['pyav']}. "
            "The machine is shared (other jobs ran at the same time), so read the ratios, not the absolute figures.",
            "", *speed_rows, "", *mem_rows, "", "Per-stage detail:", "", *tables]
    text = "\n".join(out) + "\n"
    print(text)
    if a.append:
        with open(a.append, "a") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
