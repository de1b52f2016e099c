"""``--temporal ema``: exponential moving average of ab, ``out_t = s * out_{t-1} + (1 - s) * ab_t``
per pixel. No motion model, so colors ghost on motion; the cheapest smoother."""

from __future__ import annotations

import numpy as np

from .registry import register
from .base import Smoother


@register
class EmaSmoother(Smoother):
    """Exponential moving average of ab: ``out_t = s * out_{t-1} + (1 - s) * ab_t``."""

    kind = "ema"
    summary = "moving average, cheapest; ghosts on motion"

    def _step(self, ab, L):
        return ab + np.float32(self.strength) * (self._prev_ab - ab)
