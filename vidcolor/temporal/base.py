"""The base of every smoother: scene-cut resets, the one-frame state, the shared options.

A smoother subclasses :class:`Smoother`, sets ``kind``, ``summary`` and (if it has
any) ``options``, defines :meth:`Smoother._step` and is registered with
:func:`vidcolor.temporal.register`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

from ..options import SCENE_THRESHOLD, check_int, check_range
from .scenes import ContentDetector

if TYPE_CHECKING:
    import torch

SMOOTHER_MIN_SCENE_LEN = 1   # a reset costs one unsmoothed frame; a missed cut bleeds color


def check_scene_threshold(value) -> float:
    """``scene_threshold``: mean |dL| in L units, > 0 (see :mod:`vidcolor.temporal.scenes`)."""
    return check_range("--scene-threshold", value, 0.0, lo_open=True)


def check_min_scene_len(value) -> int:
    """``min_scene_len``: frames between two cuts, an integer >= 1."""
    return check_int("min_scene_len", value, 1)


#: options every smoother takes: name -> check (value -> checked value, or OptionError)
SHARED_OPTIONS: dict[str, Callable[[Any], Any]] = {"scene_threshold": check_scene_threshold,
                                                   "min_scene_len": check_min_scene_len}


class Smoother:
    """Base class: scene-cut handling and the one-frame state; subclasses define :meth:`_step`.

    ``smoother(ab, L)`` with ab N2hw (Lab units) and L N1hw (0..100) of N consecutive
    frames returns the smoothed ab N2hw (float32, on ab's device). ``cuts`` lists the
    indices (counted from the first frame since :meth:`reset`) of frames that started a
    new scene.

    Class attributes of a subclass: ``kind`` (its ``--temporal`` name), ``summary`` (a few
    words for ``--help``) and ``options``: its extra keyword options, name -> check; each
    check takes a non-None value and returns what the constructor gets, or raises
    :class:`~vidcolor.errors.OptionError`. The constructor takes ``strength`` and the
    options of :data:`SHARED_OPTIONS` and its own, as keywords.

    The per-frame recursion runs on the host in numpy/OpenCV: each step is a handful of
    operations on 2x256x256 values, latency-bound, and torch's intra-op threads made it
    20-40x slower on a busy 2-core CPU (benchmarks/RESULTS.md). A batch crosses to the
    host and back once (N x 3 x h x w floats), whatever the device.
    """

    kind: ClassVar[str] = "base"
    summary: ClassVar[str] = ""
    options: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    def __init__(self, strength: float, scene_threshold: float = SCENE_THRESHOLD,
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
        import torch                               # not at module level: the package stays torch-free (--help)

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
        """One frame within a scene: ab 2hw, L hw (float32) -> smoothed ab 2hw.
        ``self._prev_ab`` (2hw) and ``self._prev_L`` (hw) hold the previous output and L."""
        raise NotImplementedError
