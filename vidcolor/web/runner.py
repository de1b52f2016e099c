"""What one web job does: the same ``colorize_video`` as the CLI, then the previews.

Previews are what a browser needs to compare: for a photo, the gray input (what the
model saw: the input's L with ab = 0) beside the result; for a video, the gray input
and the result as H.264 (the result itself when its codec plays in a browser), plus
evenly spaced stills of both for the frame scrubber.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from .. import options
from ..media import open_sink, open_source, to_uint8
from ..metrics.gallery import thumbnail, to_gray_frames
from .jobs import Job

PREVIEW = dict(codec="libx264", crf=23, preset="veryfast")
EXTENSIONS = {"libx264": ".mp4", "libx265": ".mp4", "libvpx-vp9": ".webm", "ffv1": ".mkv", "prores_ks": ".mov"}


def result_name(job: Job) -> str:
    return "result.png" if job.kind == "image" else "result" + EXTENSIONS[job.options["codec"]]


def frame_count(path: str | Path, fps=None) -> int | None:
    src = open_source(path, fps=fps)
    try:
        return src.frame_count
    finally:
        src.close()


def run(job: Job, device: str, on_frames: Callable[[int], None], folder: Path) -> dict:
    """Colorize ``job`` on ``device``; returns the fields of the finished job."""
    from ..pipeline import colorize_video

    o = job.options
    fps = o.get("fps") if job.kind == "frames" else None
    job.frames_total, job.stage = frame_count(job.input, fps), "colorizing"
    out = folder / result_name(job)
    colorize_video(job.input, out, model=o["model"], device=device, size=o.get("size"),
                   render_factor=o.get("render_factor"), codec=o["codec"], fps=fps, temporal=o["temporal"],
                   temporal_strength=o.get("temporal_strength"), quiet=True, on_batch=on_frames,
                   reference=job.guide.get("reference", ()), hints=job.guide.get("hints", ()),
                   exemplar=job.guide.get("exemplar"))
    job.stage = "previews"
    previews = folder / "preview"
    previews.mkdir(exist_ok=True)
    if job.kind == "image":
        return {"result": out.name, "previews": _photo(job.input, out, previews, folder)}
    return {"result": out.name, "previews": _video(job, out, previews, folder, fps)}


def _gray(rgb: np.ndarray) -> np.ndarray:
    return to_gray_frames(to_uint8(rgb)[None], torch.device("cpu"))[0]


def _still(rgb: np.ndarray, path: Path) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(thumbnail(rgb, options.WEB_PREVIEW_SIDE), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 88])


def _photo(inp: str, out: Path, previews: Path, folder: Path) -> dict:
    src = open_source(inp)
    try:
        frame = next(iter(src))
        before = previews / "before.png"
        cv2.imwrite(str(before), cv2.cvtColor(_gray(frame.rgb), cv2.COLOR_RGB2BGR))
    finally:
        src.close()
    return {"before": str(before.relative_to(folder)), "after": out.name}


def _video(job: Job, out: Path, previews: Path, folder: Path, fps) -> dict:
    """Gray input as H.264 (and the result, when its codec is not one a browser plays),
    timing and audio kept, and the scrubber's stills, in one decode of each."""
    src, res = open_source(job.input, fps=fps), open_source(out)
    sinks = []
    try:
        n = res.frame_count or job.frames_total or 1
        step = max(1, math.ceil(n / options.WEB_SCRUB_FRAMES))
        before = open_sink(previews / "before.mp4", src, fps=fps, **PREVIEW)
        sinks.append(before)
        after = None
        if job.options["codec"] not in options.WEB_PLAYABLE:
            after = open_sink(previews / "after.mp4", res, **PREVIEW)
            sinks.append(after)
        stills = []
        for fa, fb in zip(src, res):
            gray = _gray(fa.rgb)
            before.write(gray, fa)
            if after is not None:
                after.write(to_uint8(fb.rgb), fb)
            if fa.index % step == 0:
                a, b = previews / f"in_{fa.index:06d}.jpg", previews / f"out_{fa.index:06d}.jpg"
                _still(gray, a)
                _still(fb.rgb, b)
                stills.append({"frame": fa.index, "time": round(fb.time, 6),
                               "before": str(a.relative_to(folder)), "after": str(b.relative_to(folder))})
        for s in sinks:
            s.finish()
    except BaseException:
        for s in sinks:
            s.abort()
        raise
    finally:
        src.close()
        res.close()
    return {"before": "preview/before.mp4", "after": "preview/after.mp4" if after is not None else out.name,
            "stills": stills}

