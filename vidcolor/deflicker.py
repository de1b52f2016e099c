"""`vidcolor deflicker`: the temporal stage applied to a video another tool has already coloured
(DeOldify, DDColor, a manual grade).

Each frame's chroma is smoothed over time by a registered smoother (the flow smoother by
default, reset at scene cuts) at a working resolution, and only the *change* the smoother makes
is upsampled and added to the full-resolution chroma, so the frame's own colour detail stays and
only the low-frequency flicker goes. The luminance is kept: the video's own, or with
``original`` that of the gray original (read in step, frame by frame), so a colorizer's
luminance drift is undone too. Timing and audio are the input's (the colorize pipeline's
source, sink and threads: :func:`vidcolor.pipeline.run`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from . import color, options
from . import temporal as _temporal
from .errors import InputError
from .media import Source, check_output, iter_batches, open_sink, open_source
from .pipeline import Pending, Stats, run

def work_size(h: int, w: int, side: int = options.WORK_SIDE) -> tuple[int, int]:
    """(h, w) scaled so the longer side is ``side`` (never enlarged)."""
    s = min(1.0, side / max(h, w))
    return max(1, round(h * s)), max(1, round(w * s))


class Deflicker:
    """A stream stage for :func:`vidcolor.pipeline.run`: coloured frames in, the same frames
    with their chroma smoothed in time out (see module doc)."""

    def __init__(self, smoother, original: Source | None = None, side: int = options.WORK_SIDE,
                 stats: Stats | None = None):
        self.smoother, self.side = smoother, side
        self.original = original
        self._orig_iter = iter(original) if original is not None else None
        self.stats = stats or Stats()
        self._done = 0
        self.planned = None        # look-ahead: the smoothed small ab of every frame (N2hw), from plan()

    def hold_batches(self, n: int) -> None:
        pass

    def _original_l(self, n: int, h: int, w: int) -> np.ndarray:
        out = np.empty((n, h, w), np.float32)
        for i in range(n):
            f = next(self._orig_iter, None)
            if f is None:
                raise InputError(f"the original {self.original.path} has fewer frames ({self._done + i}) than "
                                 "the colorized video: pass the gray original this video was made from")
            L = color.host_rgb_to_l(f.rgb[None])[0]
            if L.shape != (h, w):      # a colorizer may have rescaled: follow the colorized video's size
                L = cv2.resize(L, (w, h), interpolation=cv2.INTER_AREA if L.shape[0] > h else cv2.INTER_LINEAR)
            out[i] = L
        return out

    def analyse(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A batch -> (Lab N x H x W x 3, output L N x H x W, small ab N2hw, small L Nhw)."""
        n, h, w = frames.shape[:3]
        lab = np.stack([color.host_rgb_to_lab(f) for f in frames])
        L = self._original_l(n, h, w) if self._orig_iter is not None else lab[..., 0]
        hs, ws = work_size(h, w, self.side)
        small_ab = np.stack([cv2.resize(x[..., 1:], (ws, hs), interpolation=cv2.INTER_AREA) for x in lab])
        small_L = np.stack([cv2.resize(x, (ws, hs), interpolation=cv2.INTER_AREA) for x in L])
        return lab, L, np.ascontiguousarray(small_ab.transpose(0, 3, 1, 2)), small_L

    def submit(self, frames) -> Pending:
        t = time.perf_counter()
        frames = np.stack(frames) if isinstance(frames, list) else np.asarray(frames)
        n, h, w = frames.shape[:3]
        lab, L, small_ab, small_L = self.analyse(frames)
        self.stats.add("prepare", time.perf_counter() - t)
        t = time.perf_counter()
        if self.planned is not None:               # look-ahead: smoothed in an earlier pass
            smoothed = np.asarray(self.planned[self._done:self._done + n], np.float32)
            if smoothed.shape != small_ab.shape:
                raise InputError(f"{self.original.path if self.original else 'the input'} changed between the "
                                 "two look-ahead passes")
        else:
            smoothed = _smooth(self.smoother, small_ab, small_L)
        self.stats.add("temporal", time.perf_counter() - t)
        t = time.perf_counter()
        delta = smoothed - small_ab                                      # N2hw: what the smoother changed
        ab_full = np.stack([lab[i, ..., 1:].transpose(2, 0, 1)
                            + cv2.resize(np.ascontiguousarray(delta[i].transpose(1, 2, 0)), (w, h),
                                         interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
                            for i in range(n)])
        out = color.host_compose(L, ab_full.astype(np.float32), frames.dtype)
        self._done += n
        self.stats.add("compose", time.perf_counter() - t)
        return Pending(out)

    def done(self) -> None:
        """Called by :func:`~vidcolor.pipeline.run` after the last frame, before the output is
        finished: the original must not be longer than the colorized video either."""
        if self._orig_iter is not None and next(self._orig_iter, None) is not None:
            raise InputError(f"the original {self.original.path} has more frames than the colorized video "
                             f"({self._done}): pass the gray original this video was made from")


def plan_look_ahead(input: Path, original: Path | None, make_smoother, batch_size: int, tmp: Path) -> np.ndarray:
    """The look-ahead passes: decode once, smooth forward, then backward over the forward result
    (a zero-lag forward-backward filter, reset at cuts in both directions). The small ab and L of
    every frame go to raw files in ``tmp`` (about 0.6 MB per frame at the 256 working size).
    Returns the smoothed small ab of every frame, N2hw (a read-only memmap)."""
    src = open_source(input)
    orig = open_source(original) if original is not None else None
    stage = Deflicker(make_smoother(), orig)
    n, shape = 0, None
    try:
        with open(tmp / "ab.raw", "wb") as ab_file, open(tmp / "L.raw", "wb") as L_file:
            for batch in iter_batches(src, batch_size):
                _, _, small_ab, small_L = stage.analyse(np.stack([f.rgb for f in batch]))
                stage._done += len(batch)
                ab_file.write(np.ascontiguousarray(_smooth(stage.smoother, small_ab, small_L)).tobytes())
                L_file.write(np.ascontiguousarray(small_L, np.float32).tobytes())
                n, shape = n + len(batch), small_L.shape[1:]
        stage.done()
    finally:
        src.close()
        if orig is not None:
            orig.close()
    if n == 0:
        raise InputError(f"{input} has no frames")
    ab = np.memmap(tmp / "ab.raw", np.float32, "r+", shape=(n, 2, *shape))
    L = np.memmap(tmp / "L.raw", np.float32, "r", shape=(n, *shape))
    back = make_smoother()
    for end in range(n, 0, -batch_size):                 # backward over the forward result
        idx = slice(max(0, end - batch_size), end)
        ab[idx] = _smooth(back, np.ascontiguousarray(ab[idx][::-1]), np.ascontiguousarray(L[idx][::-1]))[::-1]
    ab.flush()
    return np.memmap(tmp / "ab.raw", np.float32, "r", shape=(n, 2, *shape))


def _smooth(smoother, small_ab: np.ndarray, small_L: np.ndarray) -> np.ndarray:
    """A smoother on a batch of small ab (N2hw) and L (Nhw), in order -> float32 N2hw."""
    return smoother(torch.from_numpy(small_ab), torch.from_numpy(small_L)[:, None]).numpy()


def deflicker_video(input: str | os.PathLike, output: str | os.PathLike, original: str | os.PathLike | None = None,
                    temporal: str = options.TEMPORAL, temporal_strength: float | None = None,
                    scene_threshold: float | None = None, batch_size: int = options.BATCH_SIZE,
                    crf: int | None = options.CRF, preset: str | None = options.PRESET, codec: str = options.CODEC,
                    overwrite: bool = False, quiet: bool = False, notify: Callable[[str], None] | None = None,
                    stats: Stats | None = None, look_ahead: bool = False) -> Stats:
    """Smooth the chroma of the coloured video ``input`` over time into ``output`` (see module doc).

    ``look_ahead``: a finished video can be smoothed in both directions: a first pass smooths
    forward and then backward over the result (no lag, and the first frames of a shot are
    smoothed too), a second pass applies it; it reads the input twice and keeps the small
    chroma of every frame in a temporary folder (about 0.6 MB per frame), removed at the end."""
    input, output = Path(input), Path(output)
    options.check_batch_size(batch_size)
    options.check_crf(crf)
    options.check_codec(codec)
    if temporal == "none":
        raise InputError("deflicker with --temporal none would copy the video; choose a smoother: "
                         + ", ".join(k for k in _temporal.kinds() if k != "none"))
    smoother_opts = dict(scene_threshold=scene_threshold)
    _temporal.check(temporal, temporal_strength, **smoother_opts)
    source = open_source(input)
    orig = None
    stack = contextlib.ExitStack()
    try:
        inputs = [input]
        if original is not None:
            orig = open_source(original)
            inputs.append(Path(original))
            if source.frame_count and orig.frame_count and source.frame_count != orig.frame_count:
                raise InputError(f"{input} has {source.frame_count} frames but the original {original} has "
                                 f"{orig.frame_count}: pass the gray original this video was made from")
        check_output(output, inputs, overwrite)
        def make():
            return _temporal.make_smoother(temporal, temporal_strength, **smoother_opts)
        stage = Deflicker(make(), orig, stats=stats)
        if look_ahead:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="vidcolor-lookahead-"))
            stage.planned = plan_look_ahead(input, Path(original) if original else None, make, batch_size,
                                            Path(tmp))
        sink = open_sink(output, source, codec=codec, crf=crf, preset=preset, overwrite=overwrite, notify=notify)
        return run(source, sink, stage, batch_size=batch_size, progress=not quiet)
    finally:
        source.close()
        if orig is not None:
            orig.close()
        stack.close()
