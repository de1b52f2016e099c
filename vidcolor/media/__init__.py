"""Frame sources and sinks: video files (PyAV), image sequences, single photos.

``open_source(path)`` picks the reader from the path: a folder or glob of
images, a single image file, or anything else FFmpeg can open as a video.
``open_sink(path, source, ...)`` picks the writer from the output path: a
video container by extension (.mp4, .mkv, .mov, .webm, .avi), a folder or a
``%05d`` pattern of images, or one image file for a single photo.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from .. import options
from ..errors import OptionError
from .base import IMAGE_EXTS, Frame, Sink, Source, iter_batches, to_uint8
from .files import check_output, discover, is_glob, natural_key
from .images import ImageSequenceSink, ImageSequenceSource, PhotoSink, list_images, read_image, write_image
from .video import VideoSink, VideoSource

VIDEO_EXTS = {".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".mxf", ".ts", ".nut"}


def is_image_spec(spec: str | os.PathLike) -> bool:
    p = Path(spec)
    return p.is_dir() or is_glob(spec) or p.suffix.lower() in IMAGE_EXTS


def open_source(path: str | os.PathLike, fps: float | Fraction | None = None, planes: bool = False) -> Source:
    """Open ``path`` as a frame source (raises InputError with a clear message).

    planes: for videos, frames carry the decoder's 8-bit 4:2:0 planes and make their RGB
    only when it is read (:class:`VideoSource`); image sources ignore it.
    """
    if is_image_spec(path):
        return ImageSequenceSource(path, fps=fps)
    src = VideoSource(path, planes=planes)
    if fps:
        src.close()
        raise OptionError("--fps applies to image-sequence inputs; a video keeps its own timing")
    return src


def sink_kind(output: str | os.PathLike, source: Source) -> str:
    """"video", "images" or "photo" for an output path."""
    out = Path(output)
    ext = out.suffix.lower()
    if "%" in out.name or (not ext and not out.is_file()) or out.is_dir():
        return "images"
    if ext in IMAGE_EXTS:
        return "photo" if source.kind == "photo" or source.frame_count == 1 else "images_ext"
    return "video"


def open_sink(output: str | os.PathLike, source: Source, codec: str = options.CODEC, crf: int | None = options.CRF,
              preset: str | None = options.PRESET, fps: float | Fraction | None = None, overwrite: bool = False,
              copy_audio: bool = True, notify=None) -> Sink:
    """A sink for ``output`` matching ``source`` (size, timing, audio, bit depth)."""
    kind = sink_kind(output, source)
    if kind == "images":
        return ImageSequenceSink(output, overwrite=overwrite)
    if kind == "photo":
        return PhotoSink(output, overwrite=overwrite)
    if kind == "images_ext":
        raise OptionError(f"{output} names one image but the input has {source.frame_count} frames; "
                          "give a folder or a pattern like out/frame_%05d.png")
    if source.kind == "video":
        rate = Fraction(fps) if fps else source.fps
        return VideoSink(output, source.width, source.height, rate, time_base=source.time_base,
                         codec=codec, crf=crf, preset=preset,
                         audio_from=source.path if copy_audio and source.audio_streams else None,
                         overwrite=overwrite, notify=notify, keep_timing=True)
    rate = options.check_fps(fps) or source.fps
    return VideoSink(output, source.width, source.height, rate, time_base=1 / rate, codec=codec, crf=crf,
                     preset=preset, overwrite=overwrite, notify=notify)


__all__ = ["Frame", "Source", "Sink", "open_source", "discover", "to_uint8", "open_sink", "iter_batches", "check_output", "natural_key",
           "VideoSource", "VideoSink", "ImageSequenceSource", "ImageSequenceSink", "PhotoSink",
           "read_image", "write_image", "list_images", "IMAGE_EXTS", "VIDEO_EXTS", "sink_kind"]
