"""`vidcolor keyframes`: the first frame of every shot (or one every N seconds), the start of
the reference workflow: colour these by hand or with any tool, then colorize with them.

Shots come from the temporal stage's content detector (:mod:`vidcolor.temporal.scenes`), with
the scene length of ``frames extract --per-scene`` (``options.MIN_SCENE_LEN``) so that flashes
do not make keyframes. Each keyframe is a PNG named by its frame index
(``keyframe_000123.png``, 16-bit when the source is); ``keyframes.json`` lists the index, time
and reason of each.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from . import options
from .color import host_rgb_to_l
from .errors import OutputError
from .media import open_source
from .media.files import make_folder, write_bytes, write_json
from .temporal.scenes import ContentDetector

MANIFEST = "keyframes.json"


@dataclass
class Keyframe:
    index: int          # frame index in the source (0-based, decode order)
    time: float         # presentation time, seconds
    file: str           # PNG name in the output folder
    reason: str         # "start" (first frame), "cut" (a new shot) or "every" (--every)


def keyframe_name(index: int) -> str:
    return f"keyframe_{index:06d}.png"


def extract_keyframes(input: str | os.PathLike, output: str | os.PathLike, every: float | None = None,
                      scene_threshold: float | None = None, min_scene_len: int = options.MIN_SCENE_LEN,
                      overwrite: bool = False, on_frame: Callable[[int], None] | None = None) -> list[Keyframe]:
    """Write the keyframes of ``input`` into the folder ``output``; returns them.

    ``every``: one keyframe every ``every`` seconds of presentation time (first frame at or
    after each multiple) instead of one per shot. A cut always starts a keyframe too, so a
    reference never has to cross one. Refuses a folder that already holds a keyframes.json
    unless ``overwrite``.
    """
    if every is not None:
        options.check_range("--every", every, 0.0, lo_open=True)
    threshold = options.SCENE_THRESHOLD if scene_threshold is None else \
        options.check_range("--scene-threshold", scene_threshold, 0.0, lo_open=True)
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file, not a folder: keyframes go into a folder")
    manifest = out / MANIFEST
    if manifest.exists() and not overwrite:
        raise OutputError(f"{manifest} exists (keyframes already extracted there); pass --overwrite or pick "
                          "another folder")
    source = open_source(input)
    detector = ContentDetector(threshold, min_scene_len)
    frames: list[Keyframe] = []
    next_time = 0.0
    try:
        make_folder(out, for_=out)
        for f in source:
            small = cv2.resize(f.rgb, (128, 128), interpolation=cv2.INTER_AREA)
            cut = detector.update(host_rgb_to_l(small[None])[0])
            reason = "start" if f.index == 0 else "cut" if cut else None
            if every is not None and f.time + 1e-6 >= next_time:
                reason = reason or "every"
            if reason is not None:
                if every is not None:
                    next_time = (np.floor(f.time / every + 1e-6) + 1) * every
                name = keyframe_name(f.index)
                bgr = cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR)
                ok, data = cv2.imencode(".png", bgr)
                if not ok:  # pragma: no cover - OpenCV always encodes RGB PNG
                    raise OutputError(f"cannot encode keyframe {f.index} as PNG")
                write_bytes(out / name, data.tobytes())
                frames.append(Keyframe(f.index, round(float(f.time), 6), name, reason))
            if on_frame is not None:
                on_frame(f.index)
    finally:
        source.close()
    write_json(manifest, {"input": str(input), "every": every, "scene_threshold": threshold,
                          "min_scene_len": min_scene_len, "keyframes": [asdict(k) for k in frames]})
    return frames
