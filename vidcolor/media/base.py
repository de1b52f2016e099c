"""Frames, batches and the safe-output rules shared by every source and sink."""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from ..errors import OutputError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


class Frame:
    """One decoded frame on the host.

    rgb: HxWx3 uint8 (uint16 for 16-bit image files), RGB order. A source may make it
        lazily (``make_rgb``): it is then converted on first access, in the thread that
        first reads it, and the decoder's frame is let go (see :class:`VideoSource`).
    pts: presentation timestamp in the source stream's time base (None for images).
    time: presentation time in seconds.
    name: the file name the frame came from (image sequences), else None.
    duration: display duration in the stream's time base, when the container says.
    planes: the decoder's own 8-bit 4:2:0 planes ``(Y, U, V)`` (Y HxW, U and V
        ceil(H/2) x ceil(W/2), uint8, upright like ``rgb``) when the source was asked for
        them and the stream is 8-bit 4:2:0; else None. They may be read-only views into
        the decoder's frame: do not modify them.
    """

    __slots__ = ("index", "pts", "time", "name", "duration", "planes", "_rgb", "_make_rgb")

    def __init__(self, index: int, rgb: np.ndarray | None, pts: int | None, time: float, name: str | None = None,
                 duration: int | None = None, *, planes: tuple[np.ndarray, ...] | None = None,
                 make_rgb: Callable[[], np.ndarray] | None = None):
        if rgb is None and make_rgb is None:
            raise ValueError("a Frame needs rgb or make_rgb")
        self.index, self.pts, self.time, self.name, self.duration = index, pts, time, name, duration
        self.planes = planes
        self._rgb = rgb
        self._make_rgb = None if rgb is not None else make_rgb

    @property
    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            make = self._make_rgb
            if make is not None:          # two threads racing here both convert; either result is kept
                self._rgb = make()
                self._make_rgb = None     # drops the decoder's frame held by the converter
        return self._rgb

    @rgb.setter
    def rgb(self, value: np.ndarray) -> None:
        self._rgb, self._make_rgb = value, None

    @property
    def has_rgb(self) -> bool:
        """True once ``rgb`` exists (reading it is then free)."""
        return self._rgb is not None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width), without converting a lazy frame."""
        a = self._rgb if self._rgb is not None or self.planes is None else self.planes[0]
        return (self.rgb if a is None else a).shape[:2]

    def __repr__(self) -> str:
        h, w = self.size
        return (f"Frame(index={self.index}, {w}x{h}, pts={self.pts}, time={self.time:.6g}"
                f"{', name=' + repr(self.name) if self.name else ''}{', planes' if self.planes else ''}"
                f"{'' if self.has_rgb else ', rgb pending'})")


class Source(Protocol):
    path: Path
    kind: str               # "video" | "images" | "photo"
    width: int
    height: int
    fps: Fraction
    frame_count: int | None
    time_base: Fraction

    def __iter__(self) -> Iterator[Frame]: ...
    def close(self) -> None: ...


def iter_batches(frames: Iterable[Frame], n: int) -> Iterator[list[Frame]]:
    """Group consecutive frames into lists of at most ``n`` frames of one size and dtype."""
    batch: list[Frame] = []
    for f in frames:
        if batch and (len(batch) >= n or f.rgb.shape != batch[0].rgb.shape or f.rgb.dtype != batch[0].rgb.dtype):
            yield batch
            batch = []
        batch.append(f)
    if batch:
        yield batch


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """uint16 pixels -> uint8, rounded to nearest (``round(x / 257)``, the inverse of
    ``x * 257``); uint8 is returned as it is. Any shape."""
    if rgb.dtype == np.uint8:
        return rgb
    if rgb.dtype != np.uint16:
        raise TypeError(f"expected uint8 or uint16 pixels, got {rgb.dtype}")
    return ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)


def natural_key(s: str) -> list:
    """Sort key that puts frame2 before frame10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def check_output(output: Path, inputs: Iterable[Path], overwrite: bool) -> None:
    """Refuse outputs that would destroy an input or an existing file, or cannot be written."""
    out = output.resolve()
    for i in inputs:
        if out == i.resolve():
            raise OutputError(f"output {output} is the input; choose another output path")
    if output.exists() and not overwrite:
        if output.is_dir() and not any(output.iterdir()):
            pass  # an empty folder prepared by the user is fine
        else:
            raise OutputError(f"{output} already exists; pass --overwrite to replace it")
    parent = output.parent if output.suffix or not output.is_dir() else output
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"cannot write {output}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK):
        raise OutputError(f"cannot write {output}: folder {probe} is not writable")


def temp_path_for(final: Path, is_dir: bool = False) -> Path:
    """A hidden temporary name beside ``final`` that keeps its extension (the muxer needs it)."""
    tag = f".{final.stem}.vidcolor-{os.getpid()}-tmp"
    return final.with_name(tag if is_dir else tag + final.suffix)
