"""Temporal metrics: warp error (Lai et al. 2018) and color distribution consistency (CDC).

Warp error, as in Lai et al., "Learning Blind Video Temporal Consistency" (ECCV 2018),
with one documented difference: the optical flow is OpenCV's DIS (not FlowNet2), so
the values are comparable between runs of this tool, not with the paper's tables.

- Flow is computed on the REFERENCE frames (the originals), converted to 8-bit gray
  (``cv2.COLOR_RGB2GRAY``), with ``cv2.DISOpticalFlow`` preset MEDIUM, in both
  directions: current -> previous (used to warp) and previous -> current (used for
  the consistency check). Settings: :data:`FLOW_SETTINGS`.
- Invalid pixels (Ruder et al. 2016, as in Lai et al.'s code), in the current frame:
  forward-backward inconsistency ``|w + w'|^2 > 0.01 (|w|^2 + |w'|^2) + 0.5``, motion
  boundaries ``|grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002`` (forward differences),
  and pixels whose flow points outside the previous frame.
- E_warp(t) = mean over valid pixels and RGB channels of ``(O_t - warp(O_{t-1}))^2``,
  outputs O as float RGB in [0, 1]; the video's value is the mean over t >= 1.

CDC, as in the NTIRE 2023 video colorization challenge (Liu et al., TCVC): for each RGB
channel, the Jensen-Shannon divergence (natural log) of the 256-bin histograms of
frames i and i + d, averaged over i, then over d in {1, 2, 4} (weights 1/3 each)
and over the channels.

Warp-error functions take float NCHW tensors on any device; flow estimation and the
CDC histograms run on the host (OpenCV, numpy). :class:`WarpError` and :class:`CDC`
register both as the ``warp_error`` and ``cdc`` metrics of the reports (:mod:`.registry`).
"""

from __future__ import annotations

import math
from collections import deque

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidcolor.metrics import registry

FLOW_SETTINGS = {
    "method": "OpenCV DISOpticalFlow",
    "preset": "MEDIUM",
    "opencv": cv2.__version__,
    "computed_on": "reference frames, 8-bit gray (cv2.COLOR_RGB2GRAY)",
    "warp": "previous output warped to the current frame with flow current->previous (bilinear)",
    "occlusion": "forward-backward check |w+w'|^2 > 0.01(|w|^2+|w'|^2)+0.5",
    "motion_boundary": "|grad u|^2+|grad v|^2 > 0.01|w|^2+0.002",
    "out_of_frame": "excluded",
    "scale": "RGB in [0, 1], mean squared error over valid pixels and channels",
}
CDC_DILATIONS = (1, 2, 4)
CDC_SETTINGS = {
    "histograms": "256 bins per RGB channel (8-bit values), normalized to sum 1",
    "divergence": "Jensen-Shannon, natural log",
    "dilations": list(CDC_DILATIONS),
    "combination": "mean over frame pairs, then over dilations (1/3 each), then over channels",
}


def _gray8(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype != np.uint8:  # 16-bit frames: flow only needs 8 bits
        rgb = (rgb.astype(np.float32) * (255.0 / 65535.0)).round().astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


class FlowEstimator:
    """Optical flow between consecutive reference frames (OpenCV DIS, preset MEDIUM)."""

    def __init__(self) -> None:
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, prev_rgb: np.ndarray, cur_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """HxWx3 uint8/uint16 RGB frames -> (flow current->previous, flow previous->current),
        each HxWx2 float32 (dx, dy) in pixels: ``prev[y + dy, x + dx] ~ cur[y, x]`` for the first.
        """
        prev, cur = _gray8(prev_rgb), _gray8(cur_rgb)
        return self._dis.calc(cur, prev, None), self._dis.calc(prev, cur, None)


def flow_to_tensor(flow: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """HxWx2 (or NxHxWx2) numpy flow -> float32 (N, 2, H, W) tensor."""
    t = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32))
    if t.ndim == 3:
        t = t[None]
    return t.permute(0, 3, 1, 2).to(device)


def warp(x: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Backward-warp x (N, C, H, W) with flow (N, 2, H, W): out[y, x] = x[y + dy, x + dx].

    Bilinear; returns (warped, inside) where inside (N, 1, H, W) bool marks the
    pixels whose source position lies within the frame.
    """
    n, _, h, w = x.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, device=x.device, dtype=flow.dtype),
        torch.arange(w, device=x.device, dtype=flow.dtype),
        indexing="ij",
    )
    sx = xs + flow[:, 0]
    sy = ys + flow[:, 1]
    inside = ((sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)).unsqueeze(1)
    grid = torch.stack([2 * sx / max(w - 1, 1) - 1, 2 * sy / max(h - 1, 1) - 1], dim=-1)
    out = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="border", align_corners=True)
    return out, inside


def valid_mask(flow_back: torch.Tensor, flow_fwd: torch.Tensor) -> torch.Tensor:
    """Pixels of the current frame usable for the warp error: (N, 1, H, W) bool.

    flow_back: current -> previous; flow_fwd: previous -> current, both (N, 2, H, W).
    Excludes forward-backward inconsistent pixels (occlusions), motion boundaries
    and pixels whose flow leaves the frame (thresholds in :data:`FLOW_SETTINGS`).
    """
    fwd_at_cur, inside = warp(flow_fwd, flow_back)
    fb = (fwd_at_cur + flow_back).pow(2).sum(1, keepdim=True)
    mag_back = flow_back.pow(2).sum(1, keepdim=True)
    occluded = fb > 0.01 * (fwd_at_cur.pow(2).sum(1, keepdim=True) + mag_back) + 0.5
    dx = torch.zeros_like(flow_back)
    dy = torch.zeros_like(flow_back)
    dx[..., :, :-1] = flow_back[..., :, :-1] - flow_back[..., :, 1:]
    dy[..., :-1, :] = flow_back[..., :-1, :] - flow_back[..., 1:, :]
    boundary = (dx.pow(2).sum(1, keepdim=True) + dy.pow(2).sum(1, keepdim=True)) > 0.01 * mag_back + 0.002
    return inside & ~occluded & ~boundary


def warp_error(prev_out: torch.Tensor, cur_out: torch.Tensor, flow_back: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
    """Warp error per frame pair (Lai et al. 2018).

    prev_out, cur_out: float RGB (N, 3, H, W) in [0, 1]; flow_back: current -> previous
    (N, 2, H, W) computed on the reference frames; mask: (N, 1, H, W) bool from
    :func:`valid_mask`. Returns (N,): mean squared difference over valid pixels and
    channels (NaN where no pixel is valid).
    """
    warped, _ = warp(prev_out, flow_back)
    m = mask.to(cur_out.dtype)
    sq = (cur_out - warped).pow(2).mean(1, keepdim=True) * m
    return sq.sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3))


def channel_histograms(rgb8: np.ndarray) -> np.ndarray:
    """uint8 RGB frames (N, H, W, 3) (host layout) -> normalized 256-bin histograms (N, 3, 256), float64.

    Host-side with ``cv2.calcHist`` (as the NTIRE 2023 reference code): the frames are
    on the host anyway and the histograms are tiny.
    """
    n, h, w = rgb8.shape[:3]
    out = np.empty((n, 3, 256))
    for i in range(n):
        for c in range(3):
            out[i, c] = cv2.calcHist([rgb8[i]], [c], None, [256], [0, 256]).reshape(256)
    return out / (h * w)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (natural log) along the last axis of distributions p, q."""
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> np.ndarray:
        pos = a > 0
        return np.where(pos, a * np.log(np.where(pos, a, 1.0) / np.where(pos, m, 1.0)), 0.0).sum(-1)

    return 0.5 * kl(p) + 0.5 * kl(q)


def cdc_pair(hist_a: np.ndarray, hist_b: np.ndarray) -> np.ndarray:
    """Channel-averaged JS divergence of histograms (N, 3, 256) -> (N,)."""
    return js_divergence(hist_a, hist_b).mean(-1)


@registry.register(name="warp_error", kind="temporal", header="warp err", fmt="{:.5f}", order=70,
                   settings=FLOW_SETTINGS)
class WarpError(registry.TemporalMetric):
    """The ``warp_error`` metric over a stream: :func:`warp_error` of each frame against the
    previous one, with the reference's flow; None for a sequence's first frame (or a size change)."""

    needs_motion = True
    device_frames = True

    def __init__(self) -> None:
        self.prev: torch.Tensor | None = None

    def new_sequence(self) -> None:
        self.prev = None

    def step(self, frame: torch.Tensor, motion) -> dict:
        value = None
        if motion is not None and self.prev is not None and self.prev.shape == frame.shape:
            flow_back, mask = motion
            value = warp_error(self.prev, frame, flow_back, mask).item()
        self.prev = frame
        return {"warp_error": value}


@registry.register(name="cdc", kind="temporal", columns=tuple(f"cdc_d{d}" for d in CDC_DILATIONS), header="CDC",
                   fmt="{:.5f}", order=80, settings=CDC_SETTINGS)
class CDC(registry.TemporalMetric):
    """The ``cdc`` metric over a stream.

    Columns ``cdc_d{d}``: :func:`cdc_pair` of frame i against frame i - d (None for the
    first d frames of a sequence). A sequence with a value for every dilation gets the
    protocol value (mean over frame pairs, then over dilations); the summary's ``cdc``
    entry is ``{"value": mean over sequences or None, "sequences": count}``.
    """

    def __init__(self) -> None:
        self.values: list[float] = []  # protocol value of each closed sequence
        self._start()

    def _start(self) -> None:
        self.hists: deque = deque(maxlen=max(CDC_DILATIONS))
        self.sums = {d: [0.0, 0] for d in CDC_DILATIONS}

    def new_sequence(self) -> None:
        if all(n for _, n in self.sums.values()):
            self.values.append(sum(s / n for s, n in self.sums.values()) / len(self.sums))
        self._start()

    def step(self, frame: np.ndarray, motion) -> dict:
        h = channel_histograms(frame[None])
        res: dict = {}
        for d in CDC_DILATIONS:
            res[f"cdc_d{d}"] = None
            if len(self.hists) >= d:
                v = float(cdc_pair(self.hists[-d], h)[0])
                res[f"cdc_d{d}"] = v
                self.sums[d][0] += v
                self.sums[d][1] += 1
        self.hists.append(h)
        return res

    def summary(self) -> dict:
        self.new_sequence()
        value = math.fsum(self.values) / len(self.values) if self.values else None
        return {"cdc": {"value": value, "sequences": len(self.values)}}
