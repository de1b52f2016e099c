"""64-bit perceptual hashes (dHash, pHash) in the imagehash/imagededup convention.

Both hashes start from the image shrunk with an antialiasing (area) filter and turned
into 8-bit ITU-R 601 luma (``0.299 R + 0.587 G + 0.114 B``, what PIL's ``convert('L')``
and ``cv2.COLOR_RGB2GRAY`` compute):

* **dHash** (difference hash): shrink to 9x8 (width x height); bit ``(r, c)`` is
  ``pixel[r, c + 1] > pixel[r, c]``.
* **pHash** (perceptual hash): shrink to 32x32, take the unnormalized type-II DCT
  along both axes (``scipy.fft.dct`` default, as ``imagehash.phash`` does with
  ``scipy.fftpack``), keep the top-left 8x8 low frequencies; bit ``(r, c)`` is
  ``coef[r, c] > median(all 64 coefs)``. (imagededup's variant leaves the DC term out of
  the median and uses ``>=``; the two usually agree to a bit or two.)

The 64 bits are read row-major, the first one as the most significant bit, so a hash
is a ``uint64`` and prints as 16 hex digits exactly like ``str(imagehash.phash(img))``.
Resampling here is OpenCV's ``INTER_AREA`` rather than PIL's Lanczos, so a hash may
differ from imagehash's in a few bits; distances between our own hashes are what count.

The Hamming distance between hashes is ``np.bitwise_count(a ^ b)``.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.fft import dct

from ..options import HASHES

_WEIGHTS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


def shrink(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """HxW(xC) image -> height x width (xC), area-averaged, same dtype.

    First an integer-factor area reduction (OpenCV's fast path; the few rows/columns
    beyond a multiple of the factor are dropped), then an area resize of the small
    result: ~5x faster than one area resize of a full HD frame, and the same to within
    rounding. Enlarging uses bilinear interpolation.
    """
    h, w = img.shape[:2]
    kx, ky = w // width, h // height
    if kx >= 2 or ky >= 2:
        kx, ky = max(kx, 1), max(ky, 1)
        img = cv2.resize(np.ascontiguousarray(img[:h // ky * ky, :w // kx * kx]), (w // kx, h // ky),
                         interpolation=cv2.INTER_AREA)
    if img.shape[:2] == (height, width):
        return img
    shrinking = img.shape[0] >= height and img.shape[1] >= width
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def to_gray(img: np.ndarray) -> np.ndarray:
    """HxW gray, HxWx3 RGB or HxWx4 RGBA image (uint8 or uint16) -> HxW uint8 luma
    (``0.299 R + 0.587 G + 0.114 B`` rounded, as PIL's ``convert('L')``)."""
    img = np.asarray(img)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 or uint16 image, got {img.dtype}")
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] in (3, 4):
        return cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2GRAY)
    raise ValueError(f"expected HxW or HxWx3 image, got shape {img.shape}")


def _small_gray(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Image -> height x width float32 luma: shrunk in color first (cheaper, and luma is
    linear in RGB), then converted."""
    img = np.asarray(img)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 3:
        img = np.ascontiguousarray(img[..., :3])
    return to_gray(shrink(img, width, height)).astype(np.float32)


def bits_to_hash(bits: np.ndarray) -> np.ndarray:
    """...x64 bool (row-major bits, first = MSB) -> ... uint64."""
    return (bits.reshape(*bits.shape[:-1], 64).astype(np.uint64) * _WEIGHTS).sum(axis=-1, dtype=np.uint64)


def hash_to_bits(h: np.ndarray | int) -> np.ndarray:
    """uint64 hash(es) -> ...x64 bool, first bit = MSB."""
    h = np.asarray(h, dtype=np.uint64)
    return (h[..., None] & _WEIGHTS) != 0


def dhash_bits(gray_9x8: np.ndarray) -> np.ndarray:
    """...x8x9 luma -> ...x64 bool dHash bits (right neighbour brighter)."""
    g = np.asarray(gray_9x8)
    return (g[..., :, 1:] > g[..., :, :-1]).reshape(*g.shape[:-2], 64)


def phash_bits(gray_32: np.ndarray) -> np.ndarray:
    """...x32x32 luma -> ...x64 bool pHash bits (low DCT coefficients above their median)."""
    g = np.asarray(gray_32, dtype=np.float64)
    coef = dct(dct(g, axis=-2), axis=-1)[..., :8, :8].reshape(*g.shape[:-2], 64)
    med = np.median(coef, axis=-1, keepdims=True)
    return coef > med


def dhash(img: np.ndarray) -> int:
    """Image (see :func:`to_gray`) -> 64-bit dHash as a Python int."""
    return int(bits_to_hash(dhash_bits(_small_gray(img, 9, 8))))


def phash(img: np.ndarray) -> int:
    """Image (see :func:`to_gray`) -> 64-bit pHash as a Python int."""
    return int(bits_to_hash(phash_bits(_small_gray(img, 32, 32))))


def image_hash(img: np.ndarray, kind: str = "phash") -> int:
    """Image -> 64-bit hash of the given kind ('dhash' or 'phash')."""
    if kind == "dhash":
        return dhash(img)
    if kind == "phash":
        return phash(img)
    raise ValueError(f"unknown hash {kind!r}; expected one of {HASHES}")


def hash_hex(h: int | np.integer) -> str:
    """64-bit hash -> 16 lowercase hex digits (imagehash's ``str()``)."""
    return f"{int(h):016x}"


def hamming(a: int | np.ndarray, b: int | np.ndarray) -> np.ndarray | int:
    """Hamming distance(s) between uint64 hashes (broadcasts)."""
    d = np.bitwise_count(np.asarray(a, dtype=np.uint64) ^ np.asarray(b, dtype=np.uint64))
    return int(d) if d.ndim == 0 else d.astype(np.int64)
