"""Frames, batches and the safe-output rules shared by every source and sink."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import numpy as np

from ..errors import OutputError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


@dataclass
class Frame:
    """One decoded frame on the host.

    rgb: HxWx3 uint8 (uint16 for 16-bit image files), RGB order.
    pts: presentation timestamp in the source stream's time base (None for images).
    time: presentation time in seconds.
    name: the file name the frame came from (image sequences), else None.
    duration: display duration in the stream's time base, when the container says.
    """

    index: int
    rgb: np.ndarray
    pts: int | None
    time: float
    name: str | None = None
    duration: int | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]


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
