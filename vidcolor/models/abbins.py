"""Quantized in-gamut ab bins, class rebalancing and annealed-mean decoding.

The classification colorizer of Zhang, Isola & Efros (2016) predicts, per pixel,
a distribution over ab values quantized on a grid of step 10. Only the cells
that hold some sRGB color (for at least one lightness) are kept: about 313 of
them. Here they are computed from the sRGB gamut itself, with
:mod:`vidcolor.color` round trips (Lab -> clipped sRGB -> Lab): a grid point is
in gamut when, for some L in [0, 100], the round trip returns it unchanged.

Every function is a pure tensor function; shapes are in the docstrings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..color import lab_to_rgb, rgb_to_lab

#: grid step of the quantization, in Lab units (Zhang et al.: 10)
GRID = 10.0
#: ab range of the grid (inclusive), in Lab units
AB_RANGE = 110.0


def ab_bins(grid: float = GRID, ab_range: float = AB_RANGE, n_l: int = 51, sub: int = 5,
            tol: float = 1.0) -> torch.Tensor:
    """Centers of the in-gamut ab bins, float32 Qx2 in Lab units (a, b), sorted by a then b.

    The grid is ``arange(-ab_range, ab_range + grid, grid)`` on both axes. A bin is
    kept when some sRGB color falls in its cell: ``sub`` x ``sub`` points spread
    inside the cell are tested at ``n_l`` lightness values in (0, 100), and a point
    is in gamut when the round trip Lab -> clipped sRGB -> Lab moves it by less than
    ``tol`` (max over the three channels). With the defaults: about 300 bins.
    """
    axis = torch.arange(-ab_range, ab_range + grid / 2, grid, dtype=torch.float64)
    offsets = (torch.arange(sub, dtype=torch.float64) - (sub - 1) / 2) * (grid / sub)
    fine = (axis.view(-1, 1) + offsets.view(1, -1)).reshape(-1)            # cell-major
    a, b = torch.meshgrid(fine, fine, indexing="ij")
    ab = torch.stack([a.reshape(-1), b.reshape(-1)], dim=0)                # 2 x P
    L = torch.linspace(0.0, 100.0, n_l + 2, dtype=torch.float64)[1:-1]
    lab = torch.cat([L.view(1, -1, 1).expand(1, n_l, ab.shape[1]),
                     ab.view(2, 1, -1).expand(2, n_l, ab.shape[1])], dim=0)  # 3 x n_l x P
    back = rgb_to_lab(lab_to_rgb(lab.unsqueeze(0).float())).squeeze(0).double()
    ok = ((back - lab).abs().amax(dim=0) < tol).any(dim=0)                 # P
    n = axis.numel()
    ok_cell = ok.view(n, sub, n, sub).any(dim=3).any(dim=1)                # n x n (a, b)
    ca, cb = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([ca[ok_cell], cb[ok_cell]], dim=1).float()


def nearest_bin(ab: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Index of the nearest bin per pixel: ab N2HW (Lab units), centers Qx2 -> int64 NHW."""
    d = _sq_dist(ab, centers)
    return d.argmin(dim=1)


def soft_encode(ab: torch.Tensor, centers: torch.Tensor, k: int = 5, sigma: float = 5.0) -> torch.Tensor:
    """Soft one-hot targets: Gaussian weights (``sigma``, Lab units) on the ``k`` nearest bins.

    ab N2HW in Lab units -> float NQHW, summing to 1 over Q (Zhang et al.: k=5, sigma=5).
    """
    d = _sq_dist(ab, centers)                               # NQHW
    dk, idx = d.topk(k, dim=1, largest=False)
    w = torch.softmax(-dk / (2.0 * sigma * sigma), dim=1)
    return torch.zeros_like(d).scatter_(1, idx, w)


def _sq_dist(ab: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Squared distances ab N2HW to centers Qx2 -> NQHW."""
    c = centers.to(ab.dtype).view(1, -1, 2, 1, 1)
    return (ab.unsqueeze(1) - c).pow(2).sum(dim=2)


def empirical_prior(counts: torch.Tensor, centers: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """Gaussian-smoothed (``sigma`` in Lab units) distribution over the bins.

    counts: float Q (how often each bin is the nearest one in the training data);
    returns float Q summing to 1.
    """
    d = torch.cdist(centers.double(), centers.double()).pow(2)
    kernel = torch.exp(-d / (2.0 * sigma * sigma))
    kernel = kernel / kernel.sum(dim=0, keepdim=True)      # each bin spreads a unit of mass
    p = kernel @ (counts.double() / counts.sum().clamp_min(1))
    return (p / p.sum()).float()


def rebalance_weights(prior: torch.Tensor, lam: float = 0.5) -> torch.Tensor:
    """Class weights ``w ∝ ((1 - lam) * prior + lam / Q) ** -1`` with ``E_prior[w] = 1``.

    prior: float Q summing to 1 -> float Q, positive (Zhang et al.: lam = 0.5).
    """
    q = prior.numel()
    w = 1.0 / ((1.0 - lam) * prior + lam / q)
    return w / (prior * w).sum()


def rebalanced_ce(logits: torch.Tensor, ab: torch.Tensor, centers: torch.Tensor,
                  weights: torch.Tensor | None) -> torch.Tensor:
    """Zhang et al.'s loss: soft-encoded cross-entropy, each pixel weighted by its nearest bin's weight.

    logits NQhw; ab N2HW in Lab units (area-resized to hw here); weights Q or None
    (no rebalancing). Returns the mean over pixels, a scalar.
    """
    ab = F.adaptive_avg_pool2d(ab, logits.shape[-2:]) if ab.shape[-2:] != logits.shape[-2:] else ab
    target = soft_encode(ab.float(), centers)
    ce = -(target * F.log_softmax(logits.float(), dim=1)).sum(dim=1)     # Nhw
    if weights is not None:
        ce = ce * weights[target.argmax(dim=1)]
    return ce.mean()


def annealed_mean(logits: torch.Tensor, centers: torch.Tensor, temperature: float | torch.Tensor = 0.38) -> torch.Tensor:
    """Decode logits NQhw to ab N2hw (Lab units): the mean of ``softmax(logits / T)``.

    T = 1 gives the mean (desaturated), T -> 0 the mode (vivid, patchy);
    Zhang et al. use 0.38.
    """
    p = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("nqhw,qc->nchw", p, centers.to(p.dtype))
