"""Guided colorization: ``--reference`` keyframes, ``--hints`` and ``--exemplar``.

A run reads the source twice and works on the chroma at a small working size (the longer side
:data:`~vidcolor.options.WORK_SIDE`, aspect kept), which it keeps in a temporary folder (about
0.7 MB per frame at 256x144, removed at the end; ``TMPDIR`` says where):

1. **Forward pass** (the colorize pipeline, with its threads): the model colours every frame
   (its temporal stage included). Each frame's luminance and automatic ab are kept at the
   working size, scene cuts are found by the detector of ``vidcolor keyframes``, the dense flow
   between consecutive frames is computed once (OpenCV DIS on L, both directions, as the flow
   smoother does) and kept. A *keyframe* is a frame with a reference or hints: a reference is
   the user's coloured version of that frame; hints become one by Levin optimization
   (:mod:`vidcolor.guide.levin`, the model's own prediction as a weak prior) or, for a model
   that takes hints (SIGGRAPH17), through its hint and mask input channels. The keyframe's ab
   is carried forward along the flow, frame by frame.
2. **Backward pass** (over the kept chroma, last frame first): the same, from each keyframe
   towards the start of its shot, with the kept flow. The two directions are blended.
3. **Output pass**: the source is decoded again and each frame is composed from its own
   full-resolution luminance and the guided ab (upsampled), then encoded with the source's
   timing and audio.

Propagation. At each step the carried ab is warped onto the next frame (the warp alone: a
disoccluded pixel takes its neighbours' colour, which measured better than any fallback); its
confidence is the lower of the warped confidence and the step's reliability (forward-backward
flow consistency, as in the flow smoother, times the agreement of the warped luminance; fully
trusted above 0.8, not at all below 0.5; an unreliable pixel amid reliable ones keeps its
surroundings' reliability), times ``2 ** (-1 / half_life)``, so it fades with the distance from
the keyframe. A reference colours only its own shot: the state is dropped at a cut. Between two
keyframes of one shot, frame t blends the two directions with weights ``w_f = c_f d_b / (d_f +
d_b)`` and ``w_b = c_b d_f / (d_f + d_b)`` (``c`` the confidence, ``d`` the distance in frames
to the keyframe in that direction): the nearer and surer direction counts more.

Fallback. Where the confidence is low (new objects, disocclusions, drift far from the
keyframe), the frame takes the automatic model's colours mapped to the keyframe's palette (a
luminance-band statistics transfer, :mod:`vidcolor.guide.transfer`, fitted at the keyframe from
the automatic colours to the reference's; between two keyframes the two maps mixed by distance),
corrected by the confidence-weighted local mean of the propagated colours around it
(:func:`fill`), rather than gray or smeared colour. The palette map is applied in proportion to
the frame's mean confidence: when the propagation has lost the whole view (a pan to new
content), the keyframe's palette no longer describes it and the model's own colours are kept.

Exemplar. A shot without keyframes is recoloured by the transfer from the automatic result's
statistics over the whole shot to the example photo's, one map per shot (consistent over it).

Sizes. A reference may have any size of its frame's aspect ratio (within 1 %); it is resized to
the working size. A different aspect ratio is refused, as is a reference whose luminance does
not match its frame's (correlation below :data:`~vidcolor.options.REFERENCE_MIN_CORRELATION`):
the usual cause is a wrong frame number.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
from tqdm import tqdm

from .. import color, options
from ..deflicker import work_size
from ..errors import InputError
from ..media import IMAGE_EXTS, Sink, open_sink, open_source, read_image
from ..media.files import discover
from ..pipeline import Pending, Stats, run
from ..temporal.flow import DEFAULT_FLOW_PRESET, DEFAULT_SIGMA_L, DIS_PRESETS, flow_confidence, remap, to_gray8
from ..temporal.scenes import ContentDetector
from .hints import FrameHints, frame_spec, parse_hints
from .levin import propagate_hints
from .transfer import BandStats, BandTransfer

RELIABLE = (0.5, 0.8)   # flow reliability (consistency x luminance agreement): 0 below, 1 above
FILL_SIGMA = 0.05       # of the longer side: reach of the hole filling around unreliable pixels


def _shrink(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """hw or hwC float32 -> the working size (area average)."""
    h, w = shape
    return x if x.shape[:2] == (h, w) else cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA)


# --- what the user gives ----------------------------------------------------------

_NUMBER = re.compile(r"\d+")


def parse_references(specs: Sequence[str | os.PathLike]) -> dict[int, Path]:
    """``--reference`` values -> frame index -> image file.

    A value is ``FRAME=IMAGE`` or a folder of images each named with its frame index (the one
    number in the name, as ``vidcolor keyframes`` writes them: ``keyframe_000123.png`` -> 123).
    """
    out: dict[int, Path] = {}

    def add(idx: int, path: Path, spec) -> None:
        if idx in out and out[idx] != path:
            raise InputError(f"--reference {spec}: frame {idx} has two references ({out[idx]} and {path})")
        out[idx] = path

    for spec in specs:
        s = str(spec)
        given = frame_spec(s)
        if given is not None:
            idx, path = given
            if not path.is_file():
                raise InputError(f"--reference {s}: {path} is not a file")
            add(idx, path, s)
            continue
        folder = Path(s)
        if not folder.is_dir():
            raise InputError(f"--reference {s}: give a folder of coloured keyframes or FRAME=IMAGE "
                             "(e.g. 120=keyframe_000120.png)")
        files = discover(folder, IMAGE_EXTS)
        if not files:
            raise InputError(f"--reference {s}: the folder has no images")
        for f in files:
            nums = _NUMBER.findall(f.stem)
            if len(nums) != 1:
                raise InputError(f"--reference {s}: cannot tell the frame of {f.name} (its name needs exactly one "
                                 f"number, the frame index, as keyframe_000123.png); or give FRAME={f}")
            add(int(nums[0]), f, s)
    return out


@dataclass
class Guidance:
    """Everything the user steers a run with (see module doc)."""

    references: dict[int, Path] = field(default_factory=dict)
    hints: dict[int, FrameHints] = field(default_factory=dict)
    exemplar: Path | None = None
    half_life: float = options.PROPAGATION_HALF_LIFE
    fallback: bool = True            # False: propagate without confidence or fallback (benchmarks)
    side: int = options.WORK_SIDE

    @classmethod
    def parse(cls, reference=(), hints=(), exemplar=None, **kw) -> "Guidance":
        g = cls(parse_references(reference or ()), parse_hints(hints or ()),
                Path(exemplar) if exemplar else None, **kw)
        both = sorted(set(g.references) & set(g.hints))
        if both:
            raise InputError(f"frame {both[0]} has both a reference and hints: give one of them per frame")
        if g.exemplar is not None and not g.exemplar.is_file():
            raise InputError(f"--exemplar {g.exemplar}: no such image")
        options.check_range("half_life", g.half_life, 0.0, lo_open=True)
        return g

    @property
    def active(self) -> bool:
        return bool(self.references or self.hints or self.exemplar)

    @property
    def files(self) -> list[Path]:
        """The files the guidance reads (an output must never replace one)."""
        return [*self.references.values(), *(p for h in self.hints.values() for p in h.scribbles),
                *([self.exemplar] if self.exemplar else [])]

    @property
    def keyframes(self) -> list[int]:
        return sorted({*self.references, *self.hints})

    def check_source(self, source) -> None:
        """What can be checked before decoding: frame numbers and the references' aspect ratio."""
        n = source.frame_count
        late = [k for k in self.keyframes if n is not None and k >= n]
        if late:
            raise InputError(f"{source.path} has {n} frames (0..{n - 1}) but guidance is given for frame {late[0]}")
        for idx, path in self.references.items():
            _check_aspect(read_image(path), source.height, source.width, path, idx)


def _check_aspect(img: np.ndarray, H: int, W: int, path: Path, idx: int) -> None:
    h, w = img.shape[:2]
    if abs((w / h) / (W / H) - 1) > 0.01:
        raise InputError(f"reference {path} is {w}x{h} but frame {idx} is {W}x{H}: a reference must have its frame's "
                         "aspect ratio (any size of it: it is resized to the frame)")


def load_reference(path: Path, idx: int, L_small: np.ndarray) -> np.ndarray:
    """A reference image -> its ab (2hw float32) at the working size of ``L_small`` (hw);
    InputError if its luminance is not that of the frame."""
    img = read_image(path)
    h, w = L_small.shape
    lab = color.host_rgb_to_lab(_shrink(img, (h, w)))
    r = luminance_match(lab[..., 0], L_small)
    if r < options.REFERENCE_MIN_CORRELATION:
        raise InputError(f"reference {path} does not match frame {idx}: the correlation of their luminance is "
                         f"{r:.2f} (at least {options.REFERENCE_MIN_CORRELATION} expected). A wrong frame number is the "
                         "usual cause: `vidcolor keyframes` names each PNG by its frame index")
    return np.ascontiguousarray(lab[..., 1:].transpose(2, 0, 1), np.float32)


def luminance_match(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two luminance images (1 for the same picture, whatever its grade);
    flat images compare by their mean instead (1 if within 5 L units)."""
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    if a.std() < 0.5 or b.std() < 0.5:
        return 1.0 if abs(a.mean() - b.mean()) < 5 else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def exemplar_stats(path: Path, side: int) -> BandStats:
    img = read_image(path)
    lab = color.host_rgb_to_lab(_shrink(img, work_size(*img.shape[:2], side)))
    if float(np.hypot(lab[..., 1], lab[..., 2]).mean()) < 2.0:
        raise InputError(f"--exemplar {path} has (almost) no colour: give a colour photo")
    return BandStats().add(lab[..., 0], lab[..., 1:].transpose(2, 0, 1))


# --- propagation -------------------------------------------------------------------

def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    return np.arange(w, dtype=np.float32)[None, :], np.arange(h, dtype=np.float32)[:, None]


def carry(ab: np.ndarray, conf: np.ndarray, L_from: np.ndarray, L: np.ndarray, to_from: np.ndarray,
          to_here: np.ndarray, keep: float) -> tuple[np.ndarray, np.ndarray]:
    """One propagation step onto the frame of luminance ``L`` (hw) from a neighbour (``L_from``).

    ``ab`` (2hw) and ``conf`` (hw) are the neighbour's carried colour and confidence; ``to_from``
    is the flow from this frame to the neighbour, ``to_here`` the reverse (hwx2, pixels). Returns
    the carried (ab, conf) here. The colour is the warp alone (never mixed with the fallback, so
    that fallback colours are not carried on as if they were the reference's); the confidence is
    the lower of the warped one and this step's reliability, times ``keep``, and a pixel next to
    reliable ones (a small disocclusion, whose warp took its neighbours' colours) keeps the
    confidence of its surroundings (:func:`fill`).
    """
    gx, gy = _grid(L.shape)
    mx, my = gx + to_from[..., 0], gy + to_from[..., 1]
    warped = remap(np.dstack([ab[0], ab[1], conf, L_from]), mx, my)
    c_lum = np.exp(-0.5 * np.square((warped[..., 3] - L) / np.float32(DEFAULT_SIGMA_L)))
    rel = flow_confidence(to_from, to_here) * c_lum
    rel = np.clip((rel - RELIABLE[0]) / (RELIABLE[1] - RELIABLE[0]), 0.0, 1.0)
    near = np.minimum(1.0, wide_blur(rel, FILL_SIGMA * max(rel.shape)) / 0.5)
    c = np.minimum(np.clip(warped[..., 2], 0.0, 1.0), np.maximum(rel, near)) * np.float32(keep)
    return np.ascontiguousarray(warped[..., :2].transpose(2, 0, 1)), c.astype(np.float32)


def wide_blur(x: np.ndarray, sigma: float, step: int = 4) -> np.ndarray:
    """A Gaussian blur of a wide ``sigma`` (pixels) on a grid ``step`` times coarser, then
    upsampled: the same low-pass (``sigma`` >> ``step``) at a tenth of the cost."""
    h, w = x.shape[:2]
    hs, ws = max(1, h // step), max(1, w // step)
    small = cv2.GaussianBlur(cv2.resize(x, (ws, hs), interpolation=cv2.INTER_AREA), (0, 0), sigma * ws / w)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(x.shape)


def fill(ab: np.ndarray, conf: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``ab`` (2hw) where trusted (``conf`` hw), elsewhere ``base`` (2hw) corrected by the
    confidence-weighted local mean of ``ab - base`` (normalized convolution, Knutsson & Westin
    1993, Gaussian of :data:`FILL_SIGMA` x the longer side): holes take the colours of their
    reliable surroundings, relative to the model's; far from any reliable pixel, ``base`` itself."""
    sigma = FILL_SIGMA * max(conf.shape)
    num = wide_blur(np.dstack([(ab[0] - base[0]) * conf, (ab[1] - base[1]) * conf, conf]), sigma)
    num, den = num[..., :2], num[..., 2:]
    corr = (num / np.maximum(den, 1e-3) * np.minimum(1.0, den / 0.5)).transpose(2, 0, 1)
    return (conf * ab + (1 - conf) * (base + corr)).astype(np.float32)


class _Store:
    """Per-frame chroma at the working size in raw files of a temporary folder (float16)."""

    FIELDS = {"L": 1, "auto": 2, "fwd": 2, "conf": 1, "flow": 4}   # flow: to-previous (2), from-previous (2)

    def __init__(self, folder: Path):
        self.folder = folder
        self.files = {k: open(folder / f"{k}.raw", "wb") for k in self.FIELDS}
        self.n, self.shape = 0, None

    def append(self, **arrays) -> None:
        for k, a in arrays.items():
            self.files[k].write(np.ascontiguousarray(a, np.float16).tobytes())
        self.n += 1

    def close(self) -> None:
        for f in self.files.values():
            f.close()

    def open(self) -> dict[str, np.memmap]:
        h, w = self.shape
        return {k: np.memmap(self.folder / f"{k}.raw", np.float16, "r+", shape=(self.n, c, h, w))
                for k, c in self.FIELDS.items()}


class _ForwardPass(Sink):
    """Pass 1, as the sink of the colorize pipeline: it gets each coloured frame and its source frame."""

    def __init__(self, folder: Path, guidance: Guidance, model, model_size: int, device, scene_threshold: float):
        self.final = folder
        self.g = guidance
        self.model, self.model_size, self.device = model, model_size, device
        self.store = _Store(folder)
        self.detector = ContentDetector(scene_threshold, options.MIN_SCENE_LEN)
        self.need_flow = bool(guidance.keyframes)
        self.dis = cv2.DISOpticalFlow_create(DIS_PRESETS[DEFAULT_FLOW_PRESET]) if self.need_flow else None
        self.keep = 2.0 ** (-1.0 / guidance.half_life)
        self.full_shape: tuple[int, int] | None = None
        self.shots: list[int] = []            # shot number of each frame
        self.dist: list[int] = []             # frames since the forward keyframe (-1: none)
        self.key_of: list[int] = []           # that keyframe's index (-1: none)
        self.key_ab: dict[int, np.ndarray] = {}
        self.transfer: dict[int, BandTransfer] = {}
        self.shot_stats: dict[int, BandStats] = {}
        self._prev: tuple | None = None       # (L, gray8, ab, conf) of the previous frame
        self.seconds = 0.0                    # flow and propagation (keyframes included)

    def _keyframe_ab(self, idx: int, frame_rgb: np.ndarray, L_small: np.ndarray, auto: np.ndarray) -> np.ndarray:
        if idx in self.g.references:
            return load_reference(self.g.references[idx], idx, L_small)
        hint_ab, mask = self.g.hints[idx].layer(frame_rgb, L_small.shape)
        if getattr(self.model, "takes_hints", False):
            return self._native_hints(idx, frame_rgb, L_small.shape)
        if not mask.any():
            raise InputError(f"the hints of frame {idx} cover no pixel at the working size")
        ab = propagate_hints(L_small, hint_ab, mask, prior_ab=auto.transpose(1, 2, 0).astype(np.float64))
        return np.ascontiguousarray(ab.transpose(2, 0, 1), np.float32)

    @torch.inference_mode()
    def _native_hints(self, idx: int, frame_rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """A model with hint channels (SIGGRAPH17): hints drawn at its square input, as its release does."""
        s = self.model_size
        L = color.host_rgb_to_l(frame_rgb[None])[0]
        L_sq = cv2.resize(L, (s, s), interpolation=cv2.INTER_AREA)
        hint_ab, mask = self.g.hints[idx].layer(frame_rgb, (s, s))
        dev = self.device
        ab = self.model(color.normalize_l(torch.from_numpy(L_sq)[None, None].to(dev)),
                        hints_ab=torch.from_numpy(hint_ab.transpose(2, 0, 1)[None].astype(np.float32)).to(dev),
                        hints_mask=torch.from_numpy(mask[None, None].astype(np.float32)).to(dev))
        ab = ab.float()[0].cpu().numpy().transpose(1, 2, 0)
        h, w = shape
        return np.ascontiguousarray(cv2.resize(ab, (w, h), interpolation=cv2.INTER_AREA).transpose(2, 0, 1))

    def _write(self, rgb: np.ndarray, frame) -> None:
        src = frame.rgb
        H, W = src.shape[:2]
        if self.full_shape is None:
            self.full_shape = (H, W)
            self.store.shape = work_size(H, W, self.g.side)
        elif self.full_shape != (H, W):
            raise InputError(f"frame {frame.index} is {W}x{H}, not {self.full_shape[1]}x{self.full_shape[0]} like the "
                             "first: guided colorization needs frames of one size")
        shape = self.store.shape
        L = _shrink(color.host_rgb_to_l(src[None])[0], shape)
        auto = _shrink(color.host_rgb_to_lab(rgb)[..., 1:], shape).transpose(2, 0, 1)
        cut = self.detector.update(L)
        shot = (self.shots[-1] + 1 if cut else self.shots[-1]) if self.shots else 0
        self.shots.append(shot)
        if self.g.exemplar is not None:
            self.shot_stats.setdefault(shot, BandStats()).add(L, auto)
        idx = frame.index
        t0 = time.perf_counter()
        flow = np.zeros((4, *shape), np.float32)
        g8 = to_gray8(L) if self.need_flow else None
        prev = self._prev if (self._prev is not None and not cut) else None
        if prev is not None and self.need_flow:
            to_prev = self.dis.calc(g8, prev[1], None)
            from_prev = self.dis.calc(prev[1], g8, None)
            flow = np.concatenate([to_prev.transpose(2, 0, 1), from_prev.transpose(2, 0, 1)])
        if idx in self.g.hints or idx in self.g.references:
            ab = self._keyframe_ab(idx, src, L, auto)
            self.key_ab[idx] = ab
            self.transfer[idx] = BandTransfer.fit(BandStats().add(L, auto), BandStats().add(L, ab))
            conf, key, d = np.ones(shape, np.float32), idx, 0
        elif prev is not None and self.key_of[-1] >= 0:
            key, d = self.key_of[-1], self.dist[-1] + 1
            ab, conf = carry(prev[2], prev[3], prev[0], L, flow[:2].transpose(1, 2, 0), flow[2:].transpose(1, 2, 0),
                             self.keep)
        else:
            ab, conf, key, d = auto, np.zeros(shape, np.float32), -1, -1
        self.seconds += time.perf_counter() - t0
        self.key_of.append(key)
        self.dist.append(d)
        self._prev = (L, g8, ab, conf)
        self.store.append(L=L, auto=auto, fwd=ab, conf=conf, flow=flow)

    def _finish(self) -> Path:
        self.store.close()
        return self.final

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.store.close()

    # --- pass 2 ---

    def backward(self, progress: bool) -> np.memmap:
        """The backward pass and the blend; returns the guided ab of every frame (N2hw float16 memmap)."""
        n = self.store.n
        late = [k for k in self.g.keyframes if k >= n]
        if late:
            raise InputError(f"the input has {n} frames (0..{n - 1}) but guidance is given for frame {late[0]}")
        m = self.store.open()
        keys_in_shot = {self.shots[k] for k in self.key_ab}
        shot_map = {}
        if self.g.exemplar is not None:
            ex = exemplar_stats(self.g.exemplar, self.g.side)
            shot_map = {s: BandTransfer.fit(st, ex) for s, st in self.shot_stats.items() if s not in keys_in_shot}
        state = None                                   # (ab, conf, key, dist) carried from frame t + 1
        bar = tqdm(total=n, unit="frame", dynamic_ncols=True, file=sys.stderr, desc="propagate",
                   disable=not progress or not sys.stderr.isatty())
        try:
            for t in range(n - 1, -1, -1):
                shot = self.shots[t]
                L = m["L"][t, 0].astype(np.float32)
                auto = m["auto"][t].astype(np.float32)
                if t + 1 < n and self.shots[t + 1] != shot:
                    state = None
                if shot not in keys_in_shot:
                    out = shot_map[shot](L, auto) if shot in shot_map else auto
                    m["fwd"][t] = out
                    bar.update(1)
                    continue
                if t in self.key_ab:
                    state = (self.key_ab[t], np.ones_like(L), t, 0)
                elif state is not None:
                    ab_n, c_n, key, d = state
                    fl = m["flow"][t + 1].astype(np.float32)          # frame t+1 -> t, then t -> t+1
                    ab_b, c_b = carry(ab_n, c_n, m["L"][t + 1, 0].astype(np.float32), L, fl[2:].transpose(1, 2, 0),
                                      fl[:2].transpose(1, 2, 0), self.keep)
                    state = (ab_b, c_b, key, d + 1)
                m["fwd"][t] = self._blend(t, L, auto, m["fwd"][t].astype(np.float32), m["conf"][t, 0].astype(np.float32),
                                          state)
                bar.update(1)
        finally:
            bar.close()
        m["fwd"].flush()
        return m["fwd"]

    def _blend(self, t: int, L, auto, ab_f, c_f, state) -> np.ndarray:
        """Frame t's output from its forward (ab_f, c_f) and backward (``state``) propagation."""
        kf, df = self.key_of[t], self.dist[t]
        if t in self.key_ab:
            return self.key_ab[t]
        if state is None and kf < 0:
            return auto
        ab_b, c_b, kb, db = state if state is not None else (None, None, -1, -1)
        a_f = 1.0 if kb < 0 else 0.0 if kf < 0 else db / (df + db)      # the nearer keyframe counts more
        if a_f == 1.0:
            prop, conf, T = ab_f, c_f, self.transfer[kf]
        elif a_f == 0.0:
            prop, conf, T = ab_b, c_b, self.transfer[kb]
        elif not self.g.fallback:
            return a_f * ab_f + (1 - a_f) * ab_b
        else:
            w_f, w_b = a_f * c_f, (1 - a_f) * c_b
            conf = w_f + w_b
            prop = (w_f * ab_f + w_b * ab_b) / np.maximum(conf, 1e-6)
            T = self.transfer[kf].mix(self.transfer[kb], 1 - a_f)
        if not self.g.fallback:
            return prop
        # the keyframe's palette holds as far as the keyframe's content is still in view: where the
        # propagation has lost the whole frame (a new view), the model's own colours
        T = BandTransfer.identity(len(T.gain)).mix(T, float(conf.mean()))
        return fill(prop, conf, T(L, auto))


class _Compose:
    """Pass 3, an engine for :func:`vidcolor.pipeline.run`: each source frame's own luminance
    with its guided ab."""

    def __init__(self, ab: np.memmap, stats: Stats):
        self.ab, self.stats, self._done = ab, stats, 0

    def hold_batches(self, n: int) -> None:
        pass

    def submit(self, frames) -> Pending:
        t = time.perf_counter()
        frames = np.stack(frames) if isinstance(frames, list) else np.asarray(frames)
        n = len(frames)
        if self._done + n > len(self.ab):
            raise InputError("the input has more frames than on the first pass: was it changed during the run?")
        out = color.host_compose(color.host_rgb_to_l(frames), np.asarray(self.ab[self._done:self._done + n],
                                                                          np.float32), frames.dtype)
        self._done += n
        self.stats.add("compose", time.perf_counter() - t)
        return Pending(out)

    def done(self) -> None:
        if self._done != len(self.ab):
            raise InputError("the input has fewer frames than on the first pass: was it changed during the run?")


def colorize_guided(input: Path, output: Path, engine, guidance: Guidance, *, fps=None, batch_size: int,
                    scene_threshold: float | None, sink_options: dict, quiet: bool = False,
                    on_batch: Callable[[int], None] | None = None,
                    notify: Callable[[str], None] | None = None) -> Stats:
    """The three passes (module doc) with ``engine`` (a :class:`~vidcolor.pipeline.Engine`) as the
    automatic colorizer; the output appears under ``output`` only when all have completed."""
    notify = notify or (lambda msg: print(f"vidcolor: {msg}", file=sys.stderr))
    threshold = options.SCENE_THRESHOLD if scene_threshold is None else scene_threshold
    stats = engine.stats
    with tempfile.TemporaryDirectory(prefix="vidcolor-guide-") as tmp:
        source = open_source(input, fps=fps)
        try:
            guidance.check_source(source)
            plan = _ForwardPass(Path(tmp), guidance, engine.model, engine.size, engine.device, threshold)
            run(source, plan, engine, batch_size=batch_size, progress=not quiet, desc="colorize (1/3)")
        finally:
            source.close()
        t0 = time.perf_counter()
        ab = plan.backward(progress=not quiet)
        stats.add("temporal", time.perf_counter() - t0 + plan.seconds)
        frames = stats.frames
        source = open_source(input, fps=fps)
        try:
            sink = open_sink(output, source, notify=notify, **sink_options)
            run(source, sink, _Compose(ab, stats), batch_size=batch_size, progress=not quiet, on_batch=on_batch,
                desc="compose (3/3)")
        finally:
            source.close()
        stats.frames = frames
        del ab
    return stats
