"""Frames, batches and the two interfaces every reader and writer implements: Source and Sink."""

from __future__ import annotations

from abc import ABC, abstractmethod
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from ..errors import OutputError
from .files import describe_os_error

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


class Sink(ABC):
    """Where colorized frames go: a video file, a folder of images, or one photo.

    ``write(rgb, frame)`` takes one HxWx3 uint8/uint16 RGB frame and the source
    :class:`Frame` it was made from (its index, file name and timing: each sink uses
    what it needs). Nothing appears under ``final`` until :meth:`finish`; :meth:`abort`
    removes everything written so far and never raises. An operating-system failure
    while writing (disk full, file size limit, permission) is an :class:`OutputError`
    naming ``final``; ``errors`` lists the exception types a sink turns into it.
    """

    final: Path
    frames_written: int = 0
    errors: tuple[type[BaseException], ...] = (OSError,)

    def write(self, rgb: np.ndarray, frame: Frame) -> None:
        try:
            self._write(rgb, frame)
        except self.errors as e:
            raise OutputError(describe_os_error(e, self.final)) from None
        self.frames_written += 1

    def finish(self) -> Path:
        """Complete the output and move it under its final name."""
        try:
            return self._finish()
        except self.errors as e:
            raise OutputError(describe_os_error(e, self.final)) from None

    @abstractmethod
    def _write(self, rgb: np.ndarray, frame: Frame) -> None: ...

    @abstractmethod
    def _finish(self) -> Path: ...

    @abstractmethod
    def abort(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
