"""``--hints``: colour points, strokes and scribble layers at given frames.

The hints file is JSON::

    {"frames": [
      {"frame": 0,
       "points":  [{"x": 120, "y": 64, "color": "#c83c28", "radius": 4}],
       "strokes": [{"points": [[10, 200], [90, 210], [150, 260]], "color": [40, 90, 200], "width": 6}],
       "scribble": "keyframe_000000_scribble.png"},
      {"frame": 240, "points": [{"x": 300, "y": 100, "color": "#3a7d2c"}]}
    ]}

* ``frame``: the frame index in the source (0-based, as ``vidcolor keyframes`` names them);
* ``x``, ``y``: pixels of the source frame (x = column, y = row, from the top left);
* ``color``: ``"#rrggbb"`` or ``[r, g, b]`` (0..255, sRGB); only its chroma (Lab a, b) is used:
  the luminance of the output is always the film's;
* ``radius`` (points, default 0: one pixel) and ``width`` (strokes, default 1) in source pixels;
* ``scribble``: a PNG of the frame's size, relative to the JSON file: RGBA, where every pixel
  with alpha > 0 is a hint, or RGB, the keyframe painted over (pixels that differ from the
  frame and have colour are hints).

``--hints FRAME=SCRIBBLE.png`` gives one scribble layer without a JSON file. Hints are drawn
at the guided stage's working size (coordinates scaled, radius and width at least one pixel).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

import cv2
import numpy as np

from ..errors import InputError
from .levin import Hint, Stroke, hints_from_scribble, rasterize

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass
class FrameHints:
    """The hints of one frame, in source pixels."""

    frame: int
    items: list[Union[Hint, Stroke]] = field(default_factory=list)
    scribbles: list[Path] = field(default_factory=list)

    def layer(self, frame_rgb: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Everything drawn at ``shape`` (h, w) -> (hint ab hw2 float64, mask hw bool).
        ``frame_rgb`` is the source frame (its size scales the coordinates; scribbles need it)."""
        H, W = frame_rgb.shape[:2]
        h, w = shape
        sx, sy = w / W, h / H
        ab = np.zeros((h, w, 2))
        mask = np.zeros((h, w), bool)
        for path in self.scribbles:
            s_ab, s_mask = _scribble(path, frame_rgb, self.frame)
            m = cv2.resize(s_mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
            sm = cv2.resize((s_ab * s_mask[..., None]).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
            keep = m > 0.25                     # a thin stroke survives the shrink
            ab[keep] = sm[keep] / m[keep, None]
            mask |= keep
        scaled = []
        for it in self.items:
            if isinstance(it, Hint):
                scaled.append(Hint(min(it.x * sx, w - 1), min(it.y * sy, h - 1), it.ab,
                                   round(it.radius * min(sx, sy))))
            else:
                scaled.append(Stroke([(min(x * sx, w - 1), min(y * sy, h - 1)) for x, y in it.points], it.ab,
                                     max(1, round(it.width * min(sx, sy)))))
        if scaled:
            p_ab, p_mask = rasterize(scaled, (h, w))
            ab[p_mask] = p_ab[p_mask]
            mask |= p_mask
        return ab, mask


def _scribble(path: Path, frame_rgb: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    data = np.fromfile(str(path), np.uint8) if path.is_file() else None
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data is not None and data.size else None
    if img is None:
        raise InputError(f"{path}: the scribble layer of frame {index} is missing or not a readable image")
    if img.ndim == 2 or img.shape[2] not in (3, 4):
        raise InputError(f"{path}: a scribble layer must be RGB or RGBA, got {img.shape}")
    img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    H, W = frame_rgb.shape[:2]
    if img.shape[:2] != (H, W):
        raise InputError(f"{path} is {img.shape[1]}x{img.shape[0]} but frame {index} is {W}x{H}: draw the scribble "
                         "over the keyframe itself (vidcolor keyframes) and save it at that size")
    frame = frame_rgb
    if img.dtype != frame.dtype:                   # an 8-bit scribble over a 16-bit frame, or the reverse
        frame = (frame // 257).astype(np.uint8) if frame.dtype == np.uint16 else frame.astype(np.uint16) * 257
    return hints_from_scribble(img, frame)


def parse_color(value, where: str) -> tuple[float, float]:
    """``"#rrggbb"`` or ``[r, g, b]`` (0..255) -> its Lab (a, b)."""
    rgb = None
    if isinstance(value, str) and _HEX.match(value):
        h = _HEX.match(value).group(1)
        rgb = [int(h[i:i + 2], 16) for i in (0, 2, 4)]
    elif isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
        rgb = [float(v) for v in value]
    if rgb is None:
        raise InputError(f"{where}: color must be \"#rrggbb\" or [r, g, b] with values 0..255, got {value!r}")
    lab = cv2.cvtColor(np.array([[rgb]], np.float32) / 255.0, cv2.COLOR_RGB2Lab)[0, 0]
    return float(lab[1]), float(lab[2])


def _number(d: dict, key: str, where: str, default=None, integer: bool = False, minimum: float = 0):
    v = d.get(key, default)
    if v is None:
        raise InputError(f"{where}: '{key}' is missing")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and v != int(v)) or v < minimum:
        kind = "an integer" if integer else "a number"
        raise InputError(f"{where}: '{key}' must be {kind} >= {minimum:g}, got {v!r}")
    return int(v) if integer else float(v)


def _unknown(d: dict, allowed: set, where: str) -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        raise InputError(f"{where}: unknown key(s) {', '.join(map(repr, extra))} (allowed: {', '.join(sorted(allowed))})")


def load_hints_file(path: str | os.PathLike) -> dict[int, FrameHints]:
    """Read and validate a hints JSON file (format: module doc) -> frame index -> hints."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such hints file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the hints file ({e})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list):
        raise InputError(f"{path}: expected an object with a list \"frames\" (see `vidcolor colorize --help`)")
    _unknown(doc, {"frames"}, str(path))
    out: dict[int, FrameHints] = {}
    for i, entry in enumerate(doc["frames"]):
        where = f"{path}: frames[{i}]"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected an object, got {type(entry).__name__}")
        _unknown(entry, {"frame", "points", "strokes", "scribble"}, where)
        index = _number(entry, "frame", where, integer=True)
        fh = out.setdefault(index, FrameHints(index))
        for j, p in enumerate(_list(entry, "points", where)):
            w = f"{where}.points[{j}]"
            if not isinstance(p, dict):
                raise InputError(f"{w}: expected an object with x, y and color")
            _unknown(p, {"x", "y", "color", "radius"}, w)
            fh.items.append(Hint(_number(p, "x", w), _number(p, "y", w), parse_color(p.get("color"), w),
                                 _number(p, "radius", w, default=0, integer=True)))
        for j, s in enumerate(_list(entry, "strokes", where)):
            w = f"{where}.strokes[{j}]"
            if not isinstance(s, dict):
                raise InputError(f"{w}: expected an object with points, color and width")
            _unknown(s, {"points", "color", "width"}, w)
            pts = s.get("points")
            if not isinstance(pts, list) or not pts or not all(
                    isinstance(q, (list, tuple)) and len(q) == 2 and all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in q) for q in pts):
                raise InputError(f"{w}: 'points' must be a non-empty list of [x, y] pairs (pixels >= 0)")
            fh.items.append(Stroke([(float(x), float(y)) for x, y in pts], parse_color(s.get("color"), w),
                                   _number(s, "width", w, default=1, integer=True, minimum=1)))
        if "scribble" in entry:
            if not isinstance(entry["scribble"], str) or not entry["scribble"]:
                raise InputError(f"{where}: 'scribble' must be the file name of a PNG")
            fh.scribbles.append(path.parent / entry["scribble"])
        if not fh.items and not fh.scribbles:
            raise InputError(f"{where}: frame {index} has no points, strokes or scribble")
    if not out:
        raise InputError(f"{path}: \"frames\" is empty: give at least one frame with hints")
    return out


def _list(entry: dict, key: str, where: str) -> list:
    v = entry.get(key, [])
    if not isinstance(v, list):
        raise InputError(f"{where}: '{key}' must be a list")
    return v


def frame_spec(spec: str) -> tuple[int, Path] | None:
    """``FRAME=FILE`` (as ``--reference 120=key.png`` and ``--hints 0=scribble.png``) -> (frame, path);
    None for anything else."""
    m = re.match(r"^(\d+)=(.+)$", spec)
    return (int(m.group(1)), Path(m.group(2))) if m else None


def parse_hints(specs: Sequence[str | os.PathLike]) -> dict[int, FrameHints]:
    """``--hints`` values: hints JSON files and ``FRAME=SCRIBBLE.png`` -> frame -> hints (merged)."""
    out: dict[int, FrameHints] = {}
    for spec in specs:
        s = str(spec)
        given = frame_spec(s)
        if given is not None:
            idx, path = given
            out.setdefault(idx, FrameHints(idx)).scribbles.append(path)
            continue
        if Path(s).suffix.lower() != ".json":
            raise InputError(f"--hints {s}: give a hints .json file or FRAME=SCRIBBLE.png (e.g. 0=scribble.png)")
        for idx, fh in load_hints_file(s).items():
            have = out.setdefault(idx, FrameHints(idx))
            have.items += fh.items
            have.scribbles += fh.scribbles
    return out
