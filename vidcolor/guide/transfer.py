"""Luminance-aware colour statistics transfer (Reinhard et al. 2001, Welsh et al. 2002).

Reinhard et al. match the mean and standard deviation of each chroma channel of an image to
those of an example; Welsh et al. make the match depend on luminance, so dark parts take the
colours of the example's dark parts and bright parts those of its bright parts. Here the a and
b channels (Lab units) are matched per *luminance band*: ``BANDS`` hat-shaped bands over L in
[0, 100] that sum to one at every L, so the mapping changes smoothly with luminance and never
makes a seam. For a pixel of luminance L and chroma c,

    c' = sum_k  w_k(L) * ( (c - mu_src_k) * g_k + mu_dst_k ),   g_k = clip(sd_dst_k / sd_src_k, 0, GAIN_MAX)

A band that holds less than ``MIN_MASS`` of either image's pixels takes the statistics of the
whole image instead (a dark example says nothing about the colours of highlights).

Used twice by the guided colorization (:mod:`vidcolor.guide.guided`):

* ``--exemplar``: source statistics = the automatic result over a whole shot, destination =
  the example photo; one mapping per shot, so the recolouring does not flicker;
* ``--reference`` fallback: source = the automatic result at the keyframe, destination = the
  user's coloured keyframe; where propagation is unreliable, the automatic colours are mapped
  by it, so they are in the keyframe's palette rather than the model's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BANDS = 5            # hat bands centred at 0, 25, 50, 75, 100 L
MIN_MASS = 0.02      # fraction of an image's pixels a band needs to keep its own statistics
GAIN_MAX = 1.0       # largest scaling of the spread: a transfer may calm colours, never spread them more
SD_FLOOR = 1.0       # ab units: spreads below this count as this (flat or gray regions)


def band_weights(L: np.ndarray, bands: int = BANDS) -> np.ndarray:
    """Hat weights of each pixel for each band: (bands, *L.shape) float32, summing to 1."""
    L = np.clip(np.asarray(L, np.float32), 0.0, 100.0)
    pos = L * np.float32((bands - 1) / 100.0)
    centres = np.arange(bands, dtype=np.float32).reshape((bands,) + (1,) * L.ndim)
    return np.maximum(0.0, 1.0 - np.abs(pos[None] - centres)).astype(np.float32)


class BandStats:
    """Running per-band sums of the ab of one or many frames; :meth:`moments` gives mean and sd."""

    def __init__(self, bands: int = BANDS):
        self.bands = bands
        self.w = np.zeros(bands)          # weight per band
        self.s1 = np.zeros((bands, 2))    # weighted sum of a, b
        self.s2 = np.zeros((bands, 2))    # weighted sum of a^2, b^2
        self.pixels = 0

    def add(self, L: np.ndarray, ab: np.ndarray) -> "BandStats":
        """Add a frame: L hw (0..100), ab 2hw (Lab units). Returns self."""
        wts = band_weights(L, self.bands).reshape(self.bands, -1).astype(np.float64)
        x = np.asarray(ab, np.float64).reshape(2, -1)
        self.w += wts.sum(1)
        self.s1 += wts @ x.T
        self.s2 += wts @ np.square(x).T
        self.pixels += x.shape[1]
        return self

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, sd), each (bands, 2); a band with under MIN_MASS of the pixels takes the global ones."""
        if self.pixels == 0:
            raise ValueError("no pixels were added")
        tot_w = self.w.sum()
        g_mean = self.s1.sum(0) / tot_w
        g_sd = np.sqrt(np.maximum(self.s2.sum(0) / tot_w - g_mean ** 2, 0.0))
        mean = np.tile(g_mean, (self.bands, 1))
        sd = np.tile(g_sd, (self.bands, 1))
        ok = self.w >= MIN_MASS * self.pixels
        mean[ok] = self.s1[ok] / self.w[ok, None]
        sd[ok] = np.sqrt(np.maximum(self.s2[ok] / self.w[ok, None] - mean[ok] ** 2, 0.0))
        return mean, np.maximum(sd, SD_FLOOR)

    @property
    def mass(self) -> np.ndarray:
        """Fraction of the pixels in each band."""
        return self.w / max(self.pixels, 1)


@dataclass
class BandTransfer:
    """The per-band affine map from one set of statistics to another (see module doc)."""

    gain: np.ndarray     # (bands, 2)
    offset: np.ndarray   # (bands, 2): c' = c * gain + offset, per band

    @classmethod
    def fit(cls, src: BandStats, dst: BandStats) -> "BandTransfer":
        """The map that gives ``src``'s colours ``dst``'s per-band mean and spread."""
        if src.bands != dst.bands:
            raise ValueError("the two statistics have different bands")
        m_s, sd_s = src.moments()
        m_d, sd_d = dst.moments()
        # a band only one side has: keep the source's colours there (no evidence to map them)
        thin = (src.mass < MIN_MASS) | (dst.mass < MIN_MASS)
        gain = np.clip(sd_d / sd_s, 0.0, GAIN_MAX)
        gain[thin] = 1.0
        m_d = np.where(thin[:, None], m_s, m_d)
        return cls(gain, m_d - m_s * gain)

    @classmethod
    def identity(cls, bands: int = BANDS) -> "BandTransfer":
        return cls(np.ones((bands, 2)), np.zeros((bands, 2)))

    def __call__(self, L: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """Map ab (2hw, Lab units) of a frame with luminance L (hw) -> float32 2hw."""
        wts = band_weights(L, len(self.gain))                        # (bands, h, w)
        gain = np.tensordot(self.gain.T.astype(np.float32), wts, 1)    # (2, h, w)
        off = np.tensordot(self.offset.T.astype(np.float32), wts, 1)
        return (np.asarray(ab, np.float32) * gain + off).astype(np.float32)

    def mix(self, other: "BandTransfer", t: float) -> "BandTransfer":
        """(1 - t) * self + t * other, coefficient-wise (between two keyframes)."""
        return BandTransfer((1 - t) * self.gain + t * other.gain, (1 - t) * self.offset + t * other.offset)
