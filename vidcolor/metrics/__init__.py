"""Frame-level quality metrics (image and temporal) and the metrics/eval reports.

- :mod:`.image`: PSNR, SSIM, CIEDE2000, colorfulness, ab AuC on batched float
  tensors (any device), one value per image; its docstring states the input
  convention (RGB float NCHW in [0, data_range], default [0, 1]; Lab NCHW).
- :mod:`.perceptual`: LPIPS through the ``lpips`` package, never downloading.
- :mod:`.classify`: classification accuracy (top-1/top-5 agreement of a torchvision
  ImageNet classifier with its prediction on the original), never downloading.
- :mod:`.temporal`: warp error (OpenCV DIS flow on the reference) and CDC.
- :mod:`.registry`: one :class:`~.registry.Metric` per metric, registered beside its
  implementation in the modules above (all imported here, so the registry is complete).
- :mod:`.report`: streaming lockstep scoring, summaries, JSON/CSV (`vidcolor metrics`);
  :mod:`vidcolor.evaluate` runs the `vidcolor eval` protocol on top of it. Both read
  every metric from the registry.
"""

from vidcolor.metrics.image import (
    AUC_MAX_THRESHOLD,
    SSIM_SETTINGS,
    auc_ab,
    colorfulness,
    deltae2000,
    deltae2000_map,
    numpy_metric,
    psnr,
    ssim,
)
from vidcolor.metrics import classify, perceptual, registry, temporal  # noqa: F401 - they register their metrics

__all__ = [
    "AUC_MAX_THRESHOLD",
    "SSIM_SETTINGS",
    "auc_ab",
    "colorfulness",
    "deltae2000",
    "deltae2000_map",
    "numpy_metric",
    "psnr",
    "ssim",
]
