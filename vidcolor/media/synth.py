"""Small synthetic clips made from scikit-image's bundled photos.

Used by ``samples/make_sample.py``, the tests and the benchmarks, so that every
input the project needs can be made on a fresh machine with no download.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

import av
import cv2
import numpy as np


def photo(name: str = "astronaut") -> np.ndarray:
    """A bundled scikit-image color photo as HxWx3 uint8 RGB (astronaut, chelsea, coffee, rocket...)."""
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def pan(image: np.ndarray, n: int, width: int, height: int, step: float = 2.0, y: int = 0) -> list[np.ndarray]:
    """``n`` crops of ``width`` x ``height`` sliding right by ``step`` px per frame (sub-pixel via warpAffine)."""
    frames = []
    for i in range(n):
        m = np.float32([[1, 0, -i * step], [0, 1, -y]])
        frames.append(cv2.warpAffine(image, m, (width, height), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))
    return frames


def to_gray(frames: Iterable[np.ndarray]) -> list[np.ndarray]:
    """Black-and-white versions (L kept, ab = 0) of RGB uint8 frames, still 3 channels."""
    import torch

    from ..color import from_float_rgb, gray_to_rgb, to_float_rgb

    out = []
    for f in frames:
        x = to_float_rgb(torch.from_numpy(f)[None])
        out.append(from_float_rgb(gray_to_rgb(x))[0].numpy())
    return out


def tone(seconds: float, rate: int = 48000, freqs: Sequence[float] = (220.0, 277.2, 329.6), channels: int = 2) -> np.ndarray:
    """A float32 (channels, samples) chord, quiet enough not to clip."""
    t = np.arange(int(seconds * rate)) / rate
    mono = sum(np.sin(2 * np.pi * f * t) for f in freqs) * (0.2 / len(freqs))
    return np.repeat(mono[None].astype(np.float32), channels, axis=0)


def write_clip(path: str | os.PathLike, frames: Sequence[np.ndarray], fps: float | Fraction = 24,
               codec: str = "libx264", pix_fmt: str = "yuv420p", audio_codec: str | None = "aac",
               audio_rate: int = 48000, pts: Sequence[int] | None = None, time_base: Fraction | None = None,
               options: dict | None = None) -> Path:
    """Encode RGB uint8 ``frames`` (optionally at explicit ``pts`` in ``time_base``: VFR) plus a tone track."""
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001000)
    tb = time_base or 1 / rate
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=rate, options=options or {})
        vs.width, vs.height = frames[0].shape[1], frames[0].shape[0]
        vs.pix_fmt = pix_fmt
        vs.codec_context.time_base = tb
        vs.time_base = tb
        streams = [vs]
        if audio_codec:
            as_ = out.add_stream(audio_codec, rate=audio_rate, layout="stereo")
            streams.append(as_)
        duration = (pts[-1] + 1) * tb if pts is not None else len(frames) / rate
        samples = tone(float(duration) + 0.1, audio_rate) if audio_codec else None
        a_pos = 0
        frame_size = 960 if audio_codec in ("libopus", "opus") else 1024
        for i, rgb in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            vf.pts = pts[i] if pts is not None else i
            vf.time_base = tb
            for pkt in vs.encode(vf):
                out.mux(pkt)
            t = float(vf.pts * tb)
            while audio_codec and a_pos < samples.shape[1] and a_pos / audio_rate <= t + 0.05:
                chunk = samples[:, a_pos:a_pos + frame_size]
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="stereo")
                af.sample_rate = audio_rate
                af.pts = a_pos
                af.time_base = Fraction(1, audio_rate)
                a_pos += chunk.shape[1]
                for pkt in as_.encode(af):
                    out.mux(pkt)
        for s in streams:
            for pkt in s.encode(None):
                out.mux(pkt)
    return path
