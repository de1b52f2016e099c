"""``--temporal flow``: flow-guided recursive blend, no ghosting.

The previous output is warped onto the current frame with dense optical flow computed
on L (OpenCV DIS), then ``out_t = ab_t + w * (warp(out_{t-1}) - ab_t)`` with a per-pixel
weight ``w = s * c_fb * c_lum * inside``: ``c_fb`` from forward-backward flow
consistency (soft version of the Sundaram et al. 2010 occlusion test that Lai et al.
2018 use), ``c_lum`` from the agreement of the warped previous L with the current L,
``inside`` zero where the flow leaves the frame. Occluded, disoccluded and mismatched
pixels therefore take the current prediction: nothing ghosts.

Options: ``preset`` (DIS preset, one of :data:`DIS_PRESETS`) and ``sigma_l`` (> 0, L units).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..options import check_choice, check_range
from .registry import register
from .base import Smoother

DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
DEFAULT_FLOW_PRESET = "fast"
DEFAULT_SIGMA_L = 6.0        # L units: luminance mismatch at which c_lum = exp(-1/2)


def to_gray8(L: np.ndarray) -> np.ndarray:
    """L float hw in [0, 100] -> uint8 hw (0..255) for OpenCV's flow."""
    return np.clip(L * 2.55 + 0.5, 0, 255).astype(np.uint8)


def remap(x: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
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
    fwd = remap(flow_fwd, map_x, map_y)
    err = _sq_norm(fwd + flow_back)
    bound = 0.01 * (_sq_norm(fwd) + _sq_norm(flow_back)) + 0.5
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return np.exp(-err / bound) * inside


@register
class FlowSmoother(Smoother):
    """Flow-guided recursive blend (see module doc). ``preset``: DIS preset name;
    ``sigma_l``: luminance-agreement scale in L units."""

    kind = "flow"
    summary = "optical-flow guided, no ghosting"
    options = {"preset": lambda v: check_choice("flow preset", v, DIS_PRESETS),
               "sigma_l": lambda v: check_range("sigma_l", v, 0.0, lo_open=True)}

    def __init__(self, strength: float, preset: str = DEFAULT_FLOW_PRESET, sigma_l: float = DEFAULT_SIGMA_L, **kw):
        self.preset = preset
        self.sigma_l = float(sigma_l)
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        super().__init__(strength, **kw)

    def _step(self, ab, L):
        g_prev, g_cur = to_gray8(self._prev_L), to_gray8(L)
        back = self._dis.calc(g_cur, g_prev, None)
        conf = flow_confidence(back, self._dis.calc(g_prev, g_cur, None))
        h, w = L.shape
        map_x = np.arange(w, dtype=np.float32)[None, :] + back[..., 0]
        map_y = np.arange(h, dtype=np.float32)[:, None] + back[..., 1]
        prev = remap(np.dstack([self._prev_ab[0], self._prev_ab[1], self._prev_L]), map_x, map_y)
        c_lum = np.exp(-0.5 * np.square((prev[..., 2] - L) / np.float32(self.sigma_l)))
        wgt = (np.float32(self.strength) * conf * c_lum).astype(np.float32)
        return ab + wgt * (prev[..., :2].transpose(2, 0, 1) - ab)
