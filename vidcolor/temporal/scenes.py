"""Scene-cut detection on luminance, shared by the temporal stage and the frame tooling.

A content-difference detector in the spirit of PySceneDetect's ``ContentDetector``.
PySceneDetect converts each frame to HSV, takes the mean absolute difference of each
channel (0..255) between consecutive frames at reduced resolution, averages them with
weights (default 1, 1, 1 for hue, saturation, value; 0 for Canny edges) and reports a
cut when the score exceeds a threshold (default 27) and at least ``min_scene_len``
frames (default 15) have passed since the previous cut. Only luminance exists here
(the input of a colorizer is gray), so the score is built from L alone:

    score = mean | L_t - L_{t-1} |                      (Lab L units, 0..100)

on both frames area-resized to ``ANALYSIS_SIZE`` (a fixed grid, so a frame at full
size and the same frame squeezed to the model's square input give the same score).
Defaults: :data:`vidcolor.options.SCENE_THRESHOLD` (14 L units, measured, see
benchmarks/RESULTS.md "Temporal stage") and :data:`vidcolor.options.MIN_SCENE_LEN`
(15 frames, as PySceneDetect).

Inputs: one frame's luminance as an ``np.ndarray`` or ``torch.Tensor`` of shape HxW
(or 1xHxW / 1x1xHxW). Floating-point input is Lab L in [0, 100]; ``uint8`` input is
8-bit L as OpenCV's Lab conversion stores it (L * 255 / 100) or, equivalently for
this purpose, a gray frame in 0..255; it is rescaled to 0..100.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

from .. import options

ANALYSIS_SIZE = (128, 128)   # (width, height) of the grid the score is computed on


def luminance(L) -> np.ndarray:
    """One frame's luminance (HxW, 1xHxW or 1x1xHxW; ndarray or tensor on any device)
    -> float32 HxW ndarray in Lab L units [0, 100]. uint8 input is scaled by 100/255."""
    torch = sys.modules.get("torch")             # a tensor exists only if torch is loaded: never import it here
    if torch is not None and isinstance(L, torch.Tensor):
        L = L.detach().to("cpu").numpy()
    a = np.asarray(L)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"expected the luminance of one frame (HxW), got shape {np.shape(L)}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(100.0 / 255.0)
    return a.astype(np.float32, copy=False)


def analysis_frame(L) -> np.ndarray:
    """Luminance -> float32 ``ANALYSIS_SIZE`` grid (area resize), L units."""
    return cv2.resize(luminance(L), ANALYSIS_SIZE, interpolation=cv2.INTER_AREA)


def content_score(prev: np.ndarray, cur: np.ndarray) -> float:
    """Mean absolute luminance difference of two analysis frames (from :func:`analysis_frame`),
    in L units: 0 for identical frames; within a shot median 0.6-9 (fast pans over foliage up to 12);
    across cuts 17-42 on the project's clips (benchmarks/RESULTS.md, "Temporal stage")."""
    return float(np.mean(np.abs(cur - prev)))


class ContentDetector:
    """Content-difference cut detector on luminance, in the spirit of PySceneDetect's ContentDetector.

    Feed frames in order with :meth:`update`; it returns True when a cut occurs BEFORE the
    frame just given (i.e. that frame starts a new scene). ``threshold`` is in Lab L units
    (mean absolute difference on a 128x128 grid); a cut is reported only if the current
    scene already has at least ``min_scene_len`` frames (suppresses flashes and
    flicker bursts). ``last_score`` holds the score of the latest frame (0 for the first).
    """

    def __init__(self, threshold: float = options.SCENE_THRESHOLD, min_scene_len: int = options.MIN_SCENE_LEN):
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        if min_scene_len < 1:
            raise ValueError(f"min_scene_len must be >= 1, got {min_scene_len}")
        self.threshold = float(threshold)
        self.min_scene_len = int(min_scene_len)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame; the next frame starts a scene (and is not a cut)."""
        self._prev: np.ndarray | None = None
        self._scene_len = 0
        self.last_score = 0.0

    def update(self, L) -> bool:
        """Luminance of the next frame (see module doc for accepted types) -> True on a cut before it."""
        cur = analysis_frame(L)
        prev, self._prev = self._prev, cur
        if prev is None:
            self._scene_len = 1
            self.last_score = 0.0
            return False
        self.last_score = content_score(prev, cur)
        if self.last_score >= self.threshold and self._scene_len >= self.min_scene_len:
            self._scene_len = 1
            return True
        self._scene_len += 1
        return False
