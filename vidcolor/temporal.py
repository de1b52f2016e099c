"""Temporal stage: smooth the predicted ab over time so colors do not flicker.

Runs between the colorizer and compose, on the two ab channels at model size.
Every smoother takes batches of CONSECUTIVE frames and keeps a constant state
across calls (the previous output ab and the previous L, one frame each), so a
video gives the same result whatever the batch size, and the same as its frames
read as an image sequence. Scene cuts, found with :class:`vidcolor.scenes.ContentDetector`
on L, reset the state: the first frame of a scene is the raw prediction.

- ``ema``: ``out_t = s * out_{t-1} + (1 - s) * ab_t`` per pixel (no motion model, ghosts
  on motion; cheapest).
- ``flow``: the previous output is warped onto the current frame with dense optical flow
  computed on L (OpenCV DIS), then ``out_t = ab_t + w * (warp(out_{t-1}) - ab_t)`` with a
  per-pixel weight ``w = s * c_fb * c_lum * inside``: ``c_fb`` from forward-backward flow
  consistency (soft version of the Sundaram et al. 2010 occlusion test that Lai et al.
  2018 use), ``c_lum`` from the agreement of the warped previous L with the current L,
  ``inside`` zero where the flow leaves the frame. Occluded, disoccluded and mismatched
  pixels therefore take the current prediction: nothing ghosts.

``s`` is the strength in [0, 1): the weight of the past. For i.i.d. per-frame noise an
EMA keeps a fraction sqrt((1 - s) / (1 + s)) of the noise amplitude (s = 0.8: 0.33).

Tensors: ab N2hw in Lab units, L N1hw in [0, 100], float, any device. The recursion
runs on the host (numpy/OpenCV: DIS flow on 8-bit L, cv2.remap); see :class:`Smoother`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from .errors import OptionError
from .scenes import DEFAULT_THRESHOLD, ContentDetector

if TYPE_CHECKING:
    import torch

TEMPORAL_KINDS = ("none", "ema", "flow")
DEFAULT_TEMPORAL = "flow"
DEFAULT_STRENGTH = 0.8
SMOOTHER_MIN_SCENE_LEN = 1   # a reset costs one unsmoothed frame; a missed cut bleeds color
DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
DEFAULT_FLOW_PRESET = "fast"
DEFAULT_SIGMA_L = 6.0        # L units: luminance mismatch at which c_lum = exp(-1/2)


class Smoother:
    """Base class: scene-cut handling and the one-frame state; subclasses define :meth:`_step`.

    ``smoother(ab, L)`` with ab N2hw (Lab units) and L N1hw (0..100) of N consecutive
    frames returns the smoothed ab N2hw (float32, on ab's device). ``cuts`` lists the
    indices (counted from the first frame since :meth:`reset`) of frames that started a
    new scene.

    The per-frame recursion runs on the host in numpy/OpenCV: each step is a handful of
    operations on 2x256x256 values, latency-bound, and torch's intra-op threads made it
    20-40x slower on a busy 2-core CPU (benchmarks/RESULTS.md). A batch crosses to the
    host and back once (N x 3 x h x w floats), whatever the device.
    """

    kind = "base"

    def __init__(self, strength: float, scene_threshold: float = DEFAULT_THRESHOLD,
                 min_scene_len: int = SMOOTHER_MIN_SCENE_LEN):
        self.strength = float(strength)
        self.detector = ContentDetector(scene_threshold, min_scene_len)
        self.reset()

    def reset(self) -> None:
        """Forget everything; the next frame is taken as predicted."""
        self.detector.reset()
        self.cuts: list[int] = []
        self._count = 0
        self._prev_ab: np.ndarray | None = None   # 2hw float32, previous OUTPUT
        self._prev_L: np.ndarray | None = None    # hw float32

    def __call__(self, ab: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
        import torch                               # not at module level: the CLI reads this module's defaults

        if ab.ndim != 4 or ab.shape[1] != 2 or L.ndim != 4 or L.shape[1] != 1 \
                or ab.shape[0] != L.shape[0] or ab.shape[-2:] != L.shape[-2:]:
            raise ValueError(f"expected ab N2hw and L N1hw of the same N, h, w; got {tuple(ab.shape)}, {tuple(L.shape)}")
        ab_h = ab.detach().to("cpu", torch.float32).numpy()
        L_h = L.detach()[:, 0].to("cpu", torch.float32).numpy()
        out = np.empty_like(ab_h)
        for i in range(ab_h.shape[0]):
            cut = self.detector.update(L_h[i])
            if cut:
                self.cuts.append(self._count)
            if cut or self._prev_ab is None:
                out[i] = ab_h[i]
            else:
                out[i] = self._step(ab_h[i], L_h[i])
            self._prev_ab, self._prev_L = out[i].copy(), L_h[i].copy()
            self._count += 1
        return torch.from_numpy(out).to(ab.device)

    def _step(self, ab: np.ndarray, L: np.ndarray) -> np.ndarray:
        """One frame within a scene: ab 2hw, L hw (float32) -> smoothed ab 2hw."""
        raise NotImplementedError


class EmaSmoother(Smoother):
    """Exponential moving average of ab: ``out_t = s * out_{t-1} + (1 - s) * ab_t``."""

    kind = "ema"

    def _step(self, ab, L):
        return ab + np.float32(self.strength) * (self._prev_ab - ab)


def _to_gray8(L: np.ndarray) -> np.ndarray:
    """L float hw in [0, 100] -> uint8 hw (0..255) for OpenCV's flow."""
    return np.clip(L * 2.55 + 0.5, 0, 255).astype(np.uint8)


def _remap(x: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Bilinear backward warp of hw or hwC float32: out[y, x] = x[map_y, map_x] (border replicated)."""
    return cv2.remap(x, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _sq_norm(v: np.ndarray) -> np.ndarray:
    """|v|^2 of an hwx2 field (channel slices: numpy's sum over a last axis of 2 is slow)."""
    return np.square(v[..., 0]) + np.square(v[..., 1])


def flow_confidence(flow_back: np.ndarray, flow_fwd: np.ndarray) -> np.ndarray:
    """Soft forward-backward consistency in the current frame: hw float32 in [0, 1].

    flow_back: current -> previous, flow_fwd: previous -> current, hwx2 float32 (dx, dy) pixels.
    ``exp(-|w + w'|^2 / (0.01 (|w|^2 + |w'|^2) + 0.5))``: 1 where the two flows agree, 0.37 at
    the bound of the hard test of Sundaram et al. (2010), 0 where the flow leaves the frame.
    """
    h, w = flow_back.shape[:2]
    map_x = np.arange(w, dtype=np.float32)[None, :] + flow_back[..., 0]
    map_y = np.arange(h, dtype=np.float32)[:, None] + flow_back[..., 1]
    fwd = _remap(flow_fwd, map_x, map_y)
    err = _sq_norm(fwd + flow_back)
    bound = 0.01 * (_sq_norm(fwd) + _sq_norm(flow_back)) + 0.5
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return np.exp(-err / bound) * inside


class FlowSmoother(Smoother):
    """Flow-guided recursive blend (see module doc). ``preset``: DIS preset name;
    ``sigma_l``: luminance-agreement scale in L units."""

    kind = "flow"

    def __init__(self, strength: float, preset: str = DEFAULT_FLOW_PRESET, sigma_l: float = DEFAULT_SIGMA_L, **kw):
        self.preset = preset
        self.sigma_l = float(sigma_l)
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        super().__init__(strength, **kw)

    def _step(self, ab, L):
        g_prev, g_cur = _to_gray8(self._prev_L), _to_gray8(L)
        back = self._dis.calc(g_cur, g_prev, None)
        conf = flow_confidence(back, self._dis.calc(g_prev, g_cur, None))
        h, w = L.shape
        map_x = np.arange(w, dtype=np.float32)[None, :] + back[..., 0]
        map_y = np.arange(h, dtype=np.float32)[:, None] + back[..., 1]
        prev = _remap(np.dstack([self._prev_ab[0], self._prev_ab[1], self._prev_L]), map_x, map_y)
        c_lum = np.exp(-0.5 * np.square((prev[..., 2] - L) / np.float32(self.sigma_l)))
        wgt = (np.float32(self.strength) * conf * c_lum).astype(np.float32)
        return ab + wgt * (prev[..., :2].transpose(2, 0, 1) - ab)


def _check_range(name: str, value, lo: float, hi: float | None, hi_open: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number, got {value!r}") from None
    bad = not (v >= lo) or (hi is not None and (v >= hi if hi_open else v > hi))
    if bad:
        rng = f"[{lo}, {hi})" if hi_open else (f"[{lo}, {hi}]" if hi is not None else f">= {lo}")
        raise OptionError(f"{name} must be in {rng}, got {value!r}")
    return v


def make_smoother(kind: str, strength: float | None = None, **opts) -> Smoother | None:
    """Build the temporal stage. kind in :data:`TEMPORAL_KINDS`; ``"none"`` -> None.

    strength: weight of the past in [0, 1) (None -> :data:`DEFAULT_STRENGTH`).
    opts: ``scene_threshold`` (> 0, L units, see :mod:`vidcolor.scenes`), ``min_scene_len``
    (frames >= 1); for ``flow`` also ``preset`` (one of :data:`DIS_PRESETS`) and ``sigma_l``
    (> 0). None values mean the default. Bad values raise :class:`OptionError`.
    """
    if kind not in TEMPORAL_KINDS:
        raise OptionError(f"--temporal must be one of {', '.join(TEMPORAL_KINDS)}, got {kind!r}")
    s = _check_range("--temporal-strength", DEFAULT_STRENGTH if strength is None else strength, 0.0, 1.0, hi_open=True)
    opts = {k: v for k, v in opts.items() if v is not None}
    allowed = {"scene_threshold", "min_scene_len"} | ({"preset", "sigma_l"} if kind == "flow" else set())
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise OptionError(f"unknown option(s) for --temporal {kind}: {', '.join(unknown)}")
    if kind == "none":
        return None
    kw = {}
    if "scene_threshold" in opts:
        v = _check_range("--scene-threshold", opts["scene_threshold"], 0.0, None)
        if v <= 0:
            raise OptionError(f"--scene-threshold must be > 0, got {opts['scene_threshold']!r}")
        kw["scene_threshold"] = v
    if "min_scene_len" in opts:
        v = opts["min_scene_len"]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise OptionError(f"min_scene_len must be an integer >= 1, got {v!r}")
        kw["min_scene_len"] = int(v)
    if kind == "ema":
        return EmaSmoother(s, **kw)
    if "preset" in opts:
        if opts["preset"] not in DIS_PRESETS:
            raise OptionError(f"flow preset must be one of {', '.join(DIS_PRESETS)}, got {opts['preset']!r}")
        kw["preset"] = opts["preset"]
    if "sigma_l" in opts:
        v = _check_range("sigma_l", opts["sigma_l"], 0.0, None)
        if v <= 0:
            raise OptionError(f"sigma_l must be > 0, got {opts['sigma_l']!r}")
        kw["sigma_l"] = v
    return FlowSmoother(s, **kw)
