"""ffmpeg's ``mpdecimate`` decision rule, reproduced on numpy planes.

What ffmpeg does (libavfilter/vf_mpdecimate.c, ported from MPlayer's vf_decimate by
Rich Felker), and what :class:`Mpdecimate` reproduces bit for bit on the same planes:

* **Reference.** Each frame is compared with the **last kept** frame (not the previous
  one), so a slow drift is eventually kept once it has accumulated. The first frame is
  always kept.
* **Planes.** Every plane of the frame is tested: Y, U and V (and alpha if any) of a YUV
  frame, each at its own size (chroma planes of 4:2:0 are ``ceil(w/2) x ceil(h/2)``),
  with the same 8x8 thresholds; or G, B, R for RGB input (ffmpeg negotiates ``gbrp``).
  A frame is a duplicate only if **no** plane differs.
* **Blocks.** On a ``w x h`` plane, 8x8 blocks start at ``y = 0, 4, 8, ... < h - 7`` and
  ``x = 8, 12, 16, ... < w - 7`` (they overlap by half; the first 8 columns are skipped),
  and ``d`` is the block's sum of absolute differences (SAD) of 8-bit samples.
* **Thresholds.** A plane differs if some block has ``d > hi`` (default ``64*12 = 768``,
  about 12 levels per pixel), or if more than ``t = int((w//16) * (h//16) * frac)``
  blocks have ``d > lo`` (default ``64*5 = 320``; ``frac`` 0.33, a C ``float``).
  ffmpeg stops at the first deciding block; the decision is the same as computing all.
* **max** (``drop_count`` bookkeeping): ``drop_count`` is the number of consecutive
  drops when positive, minus the number of consecutive keeps when negative (0 before the
  first frame). On a drop ``drop_count = max(1, drop_count + 1)``; on a keep
  ``drop_count = min(-1, drop_count - 1)``. Before comparing planes:

  - ``max > 0``: if ``drop_count >= max`` the frame is kept (at most ``max`` frames in a
    row are dropped);
  - ``max < 0``: if ``drop_count - 1 > max`` the frame is kept. After ``k`` consecutive
    keeps ``drop_count = -k``, so with ``max = -n`` a frame can be dropped only after at
    least ``n - 1`` keeps (and at least one): two dropped frames are at least ``n`` frames
    apart, and ``-1`` behaves as ``-2`` (never two drops in a row);
  - ``max = 0``: no limit.

  (ffmpeg's ``keep`` option, newer than the rest, is not reproduced.)

For videos whose decoder gives 8-bit 4:2:0 (nearly all), the comparison runs on the
decoder's own Y, U, V planes, exactly what ffmpeg's filter sees: :class:`YUV420` wraps
them (``VideoSource(planes=True)``). Frames that only exist as RGB (other pixel formats;
PyAV converted them with the video's own matrix) go through :func:`yuv420_planes`, which
recovers the 4:2:0 planes (same matrix and range; Y to about one level, swscale's
rounding); :func:`rgb_planes` gives the planes ffmpeg uses for RGB input (image
sequences). Agreement with ffmpeg 5.1's own filter: benchmarks/frames.py, part
``ffmpeg`` (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from ..options import MPDECIMATE_FRAC as FRAC
from ..options import MPDECIMATE_HI as HI
from ..options import MPDECIMATE_LO as LO


def block_sads(cur: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Two HxW uint8 planes -> (ny, nx) int32 SADs of ffmpeg's 8x8 blocks (stride 4, x from 8).

    Empty (0-sized) when the plane is smaller than 8 rows or 16 columns, as in ffmpeg.
    """
    h, w = cur.shape
    ny = (h - 8) // 4 + 1 if h >= 8 else 0
    nx = (w - 16) // 4 + 1 if w >= 16 else 0
    if ny <= 0 or nx <= 0:
        return np.zeros((0, 0), np.int32)
    integ = cv2.integral(cv2.absdiff(cur, ref))  # (h+1, w+1) int32, integ[y, x] = sum above-left
    top, bot = integ[0:4 * ny:4], integ[8:8 + 4 * ny:4]      # block rows y and y + 8
    xs, xe = slice(8, 8 + 4 * nx, 4), slice(16, 16 + 4 * nx, 4)  # block columns x and x + 8
    return (bot[:, xe] - bot[:, xs]) - (top[:, xe] - top[:, xs])


def plane_differs(cur: np.ndarray, ref: np.ndarray, hi: int = HI, lo: int = LO, frac: float = FRAC,
                  full_shape: tuple[int, int] | None = None) -> tuple[bool, int]:
    """ffmpeg's ``diff_planes`` on two HxW uint8 planes -> (differs, largest block SAD).

    full_shape: when ``cur``/``ref`` are a band of rows (starting at a multiple of 4) of
    larger planes, their (h, w): the count threshold is the whole plane's, so "differs"
    on the band implies "differs" on the whole plane.
    """
    sads = block_sads(cur, ref)
    h, w = full_shape or cur.shape
    t = int(np.float32((w // 16) * (h // 16)) * np.float32(frac))
    if sads.size == 0:
        return False, 0
    dmax = int(sads.max())
    return bool(dmax > hi or int(np.count_nonzero(sads > lo)) > t), dmax


#: (Kr, Kb) luma coefficients of the YCbCr matrices
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def ycbcr_matrix(matrix: str, full_range: bool) -> np.ndarray:
    """3x4 float32 affine map RGB (0..255) -> Y, Cb, Cr (8-bit, limited or full range)."""
    kr, kb = MATRICES[matrix]
    kg = 1.0 - kr - kb
    ys, cs, y0 = (1.0, 1.0, 0.0) if full_range else (219.0 / 255.0, 224.0 / 255.0, 16.0)
    luma = np.array([kr, kg, kb])
    cb = (np.array([0.0, 0.0, 1.0]) - luma) / (2 * (1 - kb))
    cr = (np.array([1.0, 0.0, 0.0]) - luma) / (2 * (1 - kr))
    return np.array([[*(ys * luma), y0], [*(cs * cb), 128.0], [*(cs * cr), 128.0]], np.float32)


def yuv420_planes(rgb: np.ndarray, matrix: str = "bt601", full_range: bool = False) -> list[np.ndarray]:
    """HxWx3 uint8 RGB -> [Y (HxW), U, V (ceil(H/2) x ceil(W/2))] uint8, the 4:2:0 planes a
    decoder would have produced this RGB from.

    matrix: "bt601" or "bt709" (the video's colorspace; what PyAV used to make the RGB);
    full_range: JPEG/"pc" range instead of the usual limited ("tv") range 16..235.
    Chroma is the 2x2 area average. Values are rounded and saturated like swscale's.
    """
    h, w = rgb.shape[:2]
    ycc = cv2.transform(np.ascontiguousarray(rgb), ycbcr_matrix(matrix, full_range))
    small = cv2.resize(ycc, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
    return [cv2.extractChannel(ycc, 0), cv2.extractChannel(small, 1), cv2.extractChannel(small, 2)]


class YUV420:
    """A frame given as the decoder's own 8-bit 4:2:0 planes, usable by :class:`Mpdecimate`
    in place of an image (with ``planes=``:func:`yuv420_source`): ``shape`` is Y's, and
    ``img[rows]`` (a slice of Y rows starting at an even row) slices U and V to match.

    planes: (Y HxW, U, V ceil(H/2) x ceil(W/2)) uint8 arrays (views are fine; not modified).
    """

    __slots__ = ("planes",)

    def __init__(self, planes):
        self.planes = tuple(planes)

    @property
    def shape(self) -> tuple[int, int]:
        return self.planes[0].shape

    def __getitem__(self, rows: slice) -> YUV420:
        y, u, v = self.planes
        start, stop, step = rows.indices(y.shape[0])
        if step != 1 or start % 2:
            raise ValueError("YUV420 rows must be a contiguous slice starting at an even row")
        c = slice(start // 2, (stop + 1) // 2)
        return YUV420((y[rows], u[c], v[c]))


def yuv420_source(matrix: str = "bt601", full_range: bool = False) -> Callable[[object], list[np.ndarray]]:
    """A ``planes`` function for :class:`Mpdecimate` on videos: a :class:`YUV420` gives its
    planes as they are; an RGB image is converted by :func:`yuv420_planes` with the video's
    ``matrix``/``full_range``, so both kinds can be compared with each other."""
    def planes(img) -> list[np.ndarray]:
        if isinstance(img, YUV420):
            return list(img.planes)
        return yuv420_planes(img, matrix, full_range)
    return planes


def rgb_planes(rgb: np.ndarray) -> list[np.ndarray]:
    """HxWx3 uint8 RGB -> [G, B, R] planes (ffmpeg's ``gbrp``)."""
    r, g, b = cv2.split(np.ascontiguousarray(rgb))
    return [g, b, r]


def _band(h: int, rows: int) -> slice:
    """Central band of ``rows`` rows starting at a multiple of 4 (the block grid's rows)."""
    if rows <= 0 or rows >= h:
        return slice(0, h)
    start = max(0, (h // 2 - rows // 2) // 4 * 4)
    return slice(start, min(h, start + rows))


@dataclass
class Mpdecimate:
    """Streaming mpdecimate on images: feed frames in order, learn keep/drop for each.

    ``planes`` turns an image into the planes ffmpeg would compare (default
    :func:`yuv420_planes`; :func:`rgb_planes` for RGB input; ``lambda p: [p]`` for one
    plane). Use :meth:`check` to compare a frame with the reference (the last kept frame),
    then :meth:`keep` or :meth:`drop` to record what happened (the caller may drop a frame
    the rule would keep, e.g. for a minimum time gap). :meth:`step` does both, as ffmpeg.

    Speed, same decisions: first only a central band of ``band`` rows of the first plane
    is compared; if its blocks already make the frame differ (a block above ``hi``, or
    more blocks above ``lo`` than the whole plane allows) the frame is kept without
    converting or comparing the rest (ffmpeg also stops at the first deciding block).
    Otherwise every plane is compared in full. The reference's planes are computed only
    when a full comparison needs them.
    """

    hi: int = HI
    lo: int = LO
    frac: float = FRAC
    max: int = 0
    planes: Callable[[np.ndarray], list[np.ndarray]] = yuv420_planes
    band: int = 64
    drop_count: int = 0
    _ref: np.ndarray | None = field(default=None, repr=False)
    _ref_planes: list[np.ndarray] | None = field(default=None, repr=False)
    _ref_band: np.ndarray | None = field(default=None, repr=False)
    _last: tuple | None = field(default=None, repr=False)   # (image, band plane, planes) of the last check

    def limited(self) -> bool:
        """True when ``max`` forbids dropping the next frame whatever it shows."""
        if self.max > 0 and self.drop_count >= self.max:
            return True
        return self.max < 0 and self.drop_count - 1 > self.max

    def check(self, img: np.ndarray) -> tuple[bool, int]:
        """-> (is_duplicate, distance). A duplicate is what ffmpeg would drop. distance: the
        largest 8x8 SAD examined (over all planes after a full comparison; over the band
        when the band alone decided, a lower bound); -1 for the first frame."""
        if self._ref is None:
            self._last = (img, None, None)
            return False, -1
        rows = _band(img.shape[0], self.band)
        cur_band = self.planes(img[rows])[0]
        if self._ref_band is None:
            self._ref_band = self.planes(self._ref[rows])[0]
        full = (img.shape[0], img.shape[1])        # plane 0 (Y, G or the only one) is full size
        differs, dist = plane_differs(cur_band, self._ref_band, self.hi, self.lo, self.frac, full_shape=full)
        self._last = (img, cur_band, None)
        if differs or self.limited():
            return False, dist
        cur = self.planes(img)
        if self._ref_planes is None:
            self._ref_planes = self.planes(self._ref)
        for c, r in zip(cur, self._ref_planes):
            d, m = plane_differs(c, r, self.hi, self.lo, self.frac)
            differs |= d
            dist = max(dist, m)
        self._last = (img, cur_band, cur)
        return not differs, dist

    def keep(self, img: np.ndarray) -> None:
        """Record a kept frame: it becomes the reference (kept, not copied: do not modify it)."""
        last = self._last if self._last is not None and self._last[0] is img else (img, None, None)
        self._ref, self._ref_band, self._ref_planes = last
        self._last = None
        self.drop_count = min(-1, self.drop_count - 1)

    def drop(self) -> None:
        """Record a dropped frame."""
        self._last = None
        self.drop_count = max(1, self.drop_count + 1)

    def step(self, img: np.ndarray) -> tuple[bool, int]:
        """ffmpeg's filter_frame: -> (kept, distance)."""
        dup, dist = self.check(img)
        if dup:
            self.drop()
        else:
            self.keep(img)
        return not dup, dist

    def reset(self) -> None:
        """Forget the reference and the drop count (a new source)."""
        self._ref = self._ref_planes = self._ref_band = self._last = None
        self.drop_count = 0
