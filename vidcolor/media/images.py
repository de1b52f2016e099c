"""Image sequences and single photos: a folder, a glob, or one file in; a folder,
a pattern or one file out.

Files are read in natural order (frame2 before frame10) with OpenCV, 8- or
16-bit, gray, RGB or RGBA (alpha dropped); gray files become 3 equal channels.
Outputs are PNG (or the extension of a single-photo output), 16-bit when the
source frame was 16-bit, and appear under their final names only when the run
finishes.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .. import options
from ..errors import InputError, OutputError
from .base import IMAGE_EXTS, Frame, Sink, to_uint8
from .files import discover, glob_files, is_glob, make_parent, remove, temp_path


def read_image(path: Path) -> np.ndarray:
    """HxWx3 RGB uint8/uint16 from any 8/16-bit PNG/JPEG/TIFF/BMP/WebP file."""
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise InputError(f"{path} is not a readable image (corrupt or unsupported format)")
    if img.dtype not in (np.uint8, np.uint16):
        if img.dtype == np.float32 or img.dtype == np.float64:
            img = (np.clip(img, 0, 1) * 65535).round().astype(np.uint16)
        else:
            raise InputError(f"{path}: unsupported sample type {img.dtype}; use 8- or 16-bit images")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def write_image(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    """Write HxWx3 RGB uint8/uint16 to ``path`` (format from its extension)."""
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    ext = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    if ext in (".jpg", ".jpeg", ".bmp", ".webp"):
        bgr = to_uint8(bgr)
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise OutputError(f"cannot encode {path} as {ext}")
    with open(path, "wb") as f:         # a short write raises OSError with its errno (numpy's tofile does not)
        f.write(buf.data)


def list_images(spec: str | os.PathLike) -> list[Path]:
    """The image files named by a folder (its top level), a glob pattern or a single file,
    in natural order; hidden files are skipped (:mod:`.files`)."""
    p = Path(spec)
    if p.is_dir():
        return discover(p, IMAGE_EXTS)
    if is_glob(spec):
        return glob_files(str(spec), IMAGE_EXTS)
    return [p]


class ImageSequenceSource:
    """Frames from image files; ``kind`` is "photo" for a single file."""

    def __init__(self, spec: str | os.PathLike, fps: float | Fraction | None = None):
        self.path = Path(spec)
        self.files = list_images(spec)
        if not self.files:
            raise InputError(f"no images (.png, .jpg, .tif, ...) found at {spec}")
        self.kind = "photo" if len(self.files) == 1 and self.path.is_file() else "images"
        self.fps = options.check_fps(fps) or options.IMAGE_FPS
        self.time_base = 1 / self.fps
        first = read_image(self.files[0])
        self._first = first
        self.height, self.width = first.shape[:2]
        self.bit_depth = 16 if first.dtype == np.uint16 else 8
        self.frame_count = len(self.files)

    first_pts = 0                          # a frame's pts is its index (time base 1/fps)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(getattr(self, "_start", 0), len(self.files)):
            f = self.files[i]
            rgb = self._first if i == 0 and self._first is not None else read_image(f)
            self._first = None
            yield Frame(i, rgb, i, float(i / self.fps), name=f.name)

    def seek(self, pts: int) -> None:
        """Continue from frame ``pts`` (its index): no file before it is read."""
        self._start = max(0, int(pts))

    def close(self) -> None:
        self._first = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ImageSequenceSink(Sink):
    """Write frames as image files into a folder or after a printf pattern.

    ``target`` is a folder (files keep the source names, else ``frame_000001.png``)
    or a pattern such as ``out/frame_%05d.png`` (numbered from 1, like ffmpeg).
    Files are written into a hidden temporary folder beside the target and moved
    into place by ``finish()``; ``abort()`` removes them. Frames may differ in size.
    """

    def __init__(self, target: str | os.PathLike, overwrite: bool = False, ext: str = ".png"):
        t = str(target)
        self.pattern = os.path.basename(t) if "%" in os.path.basename(t) else None
        self.folder = Path(os.path.dirname(t) or ".") if self.pattern else Path(t)
        self.final = self.folder
        self.ext = ext
        self.overwrite = overwrite
        self.tmp = temp_path(self.folder.resolve(), is_dir=True)
        make_parent(self.folder)
        remove(self.tmp)
        try:
            self.tmp.mkdir()
        except OSError as e:
            raise OutputError(f"cannot create {self.folder}: {e.strerror}") from None
        self.names: list[str] = []
        self.frames_written = 0

    def name_for(self, index: int, name: str | None) -> str:
        if self.pattern:
            return self.pattern % (index + 1)
        if name:
            return Path(name).stem + self.ext
        return f"frame_{index + 1:06d}{self.ext}"

    def _write(self, rgb: np.ndarray, frame: Frame) -> None:
        fname = self.name_for(frame.index, frame.name)
        write_image(self.tmp / fname, rgb)
        self.names.append(fname)

    def _finish(self) -> Path:
        if not self.folder.exists():
            os.replace(self.tmp, self.folder)      # the whole folder appears at once
            return self.folder
        for fname in self.names:                   # existing (empty or --overwrite) folder
            os.replace(self.tmp / fname, self.folder / fname)
        remove(self.tmp)
        return self.folder

    def abort(self) -> None:
        remove(self.tmp)


class PhotoSink(Sink):
    """One frame to one file, written under a temporary name and renamed."""

    def __init__(self, target: str | os.PathLike, overwrite: bool = False):
        self.final = Path(target)
        self.tmp = temp_path(self.final)
        make_parent(self.final)
        self.frames_written = 0

    def _write(self, rgb: np.ndarray, frame: Frame) -> None:
        if self.frames_written:
            raise OutputError(f"{self.final} is a single image but the input has several frames; "
                              "give a folder or a pattern like out/frame_%05d.png")
        write_image(self.tmp, rgb)

    def _finish(self) -> Path:
        os.replace(self.tmp, self.final)
        return self.final

    def abort(self) -> None:
        remove(self.tmp)
