"""Temporal stage: smooth the predicted ab over time so colors do not flicker.

Runs between the colorizer and compose, on the two ab channels at model size.
Every smoother takes batches of CONSECUTIVE frames and keeps a constant state
across calls (the previous output ab and the previous L, one frame each), so a
video gives the same result whatever the batch size, and the same as its frames
read as an image sequence. Scene cuts, found with :class:`vidcolor.temporal.scenes.ContentDetector`
on L, reset the state: the first frame of a scene is the raw prediction.

``s`` is the strength in [0, 1): the weight of the past. For i.i.d. per-frame noise an
EMA keeps a fraction sqrt((1 - s) / (1 + s)) of the noise amplitude (s = 0.8: 0.33).

Tensors: ab N2hw in Lab units, L N1hw in [0, 100], float, any device. The recursion
runs on the host (numpy/OpenCV); see :class:`~vidcolor.temporal.base.Smoother`.

The smoothers form a registry: ``--temporal`` choices, their option checks and the
``--help`` line come from it. Adding one takes a module in this package defining a
:class:`Smoother` subclass decorated with :func:`register`, and one import line at the
end of this file (import order = order in :func:`kinds` and ``--help``). Importing this
package does not load torch.
"""

from __future__ import annotations

from .base import Smoother
from .registry import check, help_text, kinds, make_smoother, register, unregister

# --- the smoothers: one import line each; this order is that of kinds() and --help ---
from . import ema  # noqa: E402,F401
from . import flow  # noqa: E402,F401

__all__ = ["Smoother", "check", "help_text", "kinds", "make_smoother", "register", "unregister"]
