"""Colorization by optimization (Levin, Lischinski & Weiss, SIGGRAPH 2004).

The paper's premise: neighbouring pixels with similar intensity should have similar
colour. For every pixel r the cost is the difference between its chroma U(r) and the
weighted average of its neighbours',

    J(U) = sum_r ( U(r) - sum_{s in N(r)} w_rs U(s) )^2 ,

    w_rs ∝ exp( -(Y(r) - Y(s))^2 / (2 σ_r^2) ),   sum_s w_rs = 1,

over the (2*radius+1)^2 window N(r) (3x3 for radius 1, r itself excluded), with σ_r
taken from the variance of Y in the window around r. Hints are hard constraints: the
hinted pixels are eliminated from the system, their values move to the right-hand side.
Written as a matrix, J(U) = ||(I - W) u||^2; ``affinity_laplacian`` builds I - W.

Scale of σ_r. The paper calls σ_r "the variance of the intensities in a window around
r". Taking the variance itself as σ_r^2 leaves a visible leak across sharp edges (a 40 L
step in a 3x3 window still gets a weight of ~0.1), so the variance is scaled:
``σ_r^2 = max(var_scale * var_r, eps)``, Y in L units (0..100). ``var_scale = 0.2`` was
picked on scikit-image photos (astronaut, coffee, chelsea; not the Kodak evaluation
set): ab RMSE with 10-200 random true-colour hints was at or near the best of
0.6/0.3/0.2/0.1, and a 40 L step leaks < 0.1 ab unit (0.3 leaks ~1.5). ``eps`` floors
σ_r^2 so that nearly flat regions (sensor noise, 8-bit steps of ~0.4 L) still diffuse.
Within one window ``(Y(r) - Y(s))^2 <= 2 n var_r`` (n pixels in the window), so no
weight underflows to zero: the pixel graph is always connected.

Which pixels are constrained and which rows count:

* without a prior, the free pixels' rows are solved exactly, ``(I - W)_ff u_f =
  -(I - W)_fc u_c``: each free pixel is the weighted mean of its neighbours (the paper's
  system), so the residual of every free row is zero, the minimum of the cost over the
  free rows;
* with a prior p (the automatic model's ab), the same rows are solved for the hints'
  *correction* of the prior, d = u - p, screened by λ = ``prior_weight``:

      (1 + λ) d_r = sum_s w_rs d_s   for every free pixel r,   d = hint - p at the hints,

  i.e. ``(A_ff + λ I) d_f = -A_fc d_c`` (A = I - W), or in u:
  ``(1 + λ) u_r - sum_s w_rs u_s = λ p_r + (A p)_r``. Each free pixel's deviation from
  the prior is the weighted mean of its neighbours' deviations, shrunk towards 0 (the
  prior) by 1 / (1 + λ). A second-order system with the stencil, sparsity and cost of
  the one without a prior. Without hints the output is the prior itself, exactly; a
  hint's correction fills its region (edges stop it, as they stop a hint without a
  prior) and fades with the distance d like ``exp(-d sqrt(λ))`` in smooth regions: its
  reach against the prior is ~λ^(-1/2) pixels. As λ -> 0 the correction is the paper's
  propagation of (hint - prior) at the hints; the prior keeps its detail, its colours
  are moved by the hints (with a zero prior it tends to the system without a prior).

  Why the correction and not the plain screened mean ``(1 + λ) u_r - sum_s w_rs u_s =
  λ p_r``: that system returns the prior blurred over ~λ^(-1/2) pixels when no hint is
  near; with a weight low enough for hints to reach their regions (~1e-6), that blurs
  the prior to region means, 1.2 dB below the model itself without hints on the tuning
  photos below; with more weight (1e-3 and up) hints barely count (10 random hints:
  +0.3 dB where the correction gains 3.2 dB). The fourth-order least-squares prior used
  before (``(A_ff^T A_ff + λ I) u_f = ...``, default λ = 0.01) kept hints within a few
  pixels: +0.04 dB over the model with 10-200 hints, and a 256x256 solve took 3.6x as long
  (1.50 s against 0.41 s, ``benchmarks/levin_speed.py`` on a shared 2-core machine).

Default weight. ``prior_weight = 3e-6`` (reach ~600 pixels: at a 256x256 working size
the edges, not the screening, bound a hint's region) was picked, like ``var_scale``, on
scikit-image photos (astronaut, coffee, chelsea at 256x256, prior = the ``compact``
model's ab, 10/50/200 random true-colour points, 5 seeds, PSNR of the full-size RGB
rebuilt from the true L): 1e-7 .. 3e-6 are within 0.03 dB of each other on the mean over
10/50/200 points (23.9/26.2/28.9 dB against the model's 20.7), more weight loses the
few-hint cases (1e-5: -0.6 dB with 10 points, 3e-5: -1.4), so the largest weight of that
plateau. With many hints the prior's own detail costs a little (200 points: 28.9 dB,
29.3 without a prior); with few it helps (10 points: 23.9 dB, 23.6 without). For
strokes that should stay local (a scribble recolouring one object
while the model keeps the rest) a larger weight, 1e-4 .. 1e-3 (reach 100 .. 30 pixels),
fits better.

The solve: one sparse LU factorization (``scipy.sparse.linalg.splu``, in a
nested-dissection order of the grid, no pivoting) serves both channels; it is done in
single precision and refined to double-precision accuracy (see ``_solve``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence, Union

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

__all__ = [
    "Hint",
    "Stroke",
    "affinity_laplacian",
    "propagate_hints",
    "rasterize",
    "hints_from_scribble",
    "colorize_with_hints",
]

DEFAULT_EPS = 1.0  # floor on σ_r^2, in L units squared (L in 0..100)
DEFAULT_VAR_SCALE = 0.2  # σ_r^2 = var_scale * (window variance of L)
DEFAULT_PRIOR_WEIGHT = 3e-6  # λ: how strongly a free pixel's correction (u - prior) is pulled to 0


# --- validation helpers ---------------------------------------------------------------

def _as_luminance(L: np.ndarray) -> np.ndarray:
    L = np.asarray(L)
    if L.ndim != 2:
        raise ValueError(f"luminance L must be a 2-D HxW array, got shape {L.shape}")
    if L.shape[0] < 1 or L.shape[1] < 1:
        raise ValueError(f"luminance L is empty (shape {L.shape})")
    if not np.issubdtype(L.dtype, np.number) or np.iscomplexobj(L):
        raise ValueError(f"luminance L must be a real numeric array, got dtype {L.dtype}")
    L = L.astype(np.float64, copy=False)
    if not np.isfinite(L).all():
        raise ValueError("luminance L contains NaN or infinite values")
    return L


def _as_ab(ab: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    ab = np.asarray(ab)
    if ab.shape != (shape[0], shape[1], 2):
        raise ValueError(f"{name} must have shape {(shape[0], shape[1], 2)} (HxWx2 ab) to match L, got {ab.shape}")
    if not np.issubdtype(ab.dtype, np.number) or np.iscomplexobj(ab):
        raise ValueError(f"{name} must be a real numeric array, got dtype {ab.dtype}")
    return ab.astype(np.float64, copy=False)


def _as_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"hint_mask must have shape {shape} to match L, got {mask.shape}")
    if mask.dtype != bool:
        if not np.issubdtype(mask.dtype, np.number) or not np.isin(mask, (0, 1)).all():
            raise ValueError(f"hint_mask must be boolean (or 0/1), got dtype {mask.dtype}")
        mask = mask.astype(bool)
    return mask


# --- the affinity Laplacian -----------------------------------------------------------

def _neighbour_weights(Y: np.ndarray, radius: int, eps: float, var_scale: float):
    """Row-normalized weights for every window offset: (offsets, w[K,H,W], valid[K,H,W]).

    The offsets exclude (0, 0); ``valid`` is False where the neighbour falls off the image.
    """
    H, W = Y.shape
    offsets = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    Yc = Y - Y.mean()  # better conditioned sums of squares
    Yp = np.pad(Yc, radius)
    Vp = np.pad(np.ones((H, W)), radius)

    def shifted(a, dy, dx):
        return a[radius + dy: radius + dy + H, radius + dx: radius + dx + W]

    # window mean and variance (over the pixels of the window inside the image, r included)
    s1 = np.zeros((H, W))
    s2 = np.zeros((H, W))
    n = np.zeros((H, W))
    for dy, dx in offsets:
        y = shifted(Yp, dy, dx)
        s1 += y
        s2 += y * y
        n += shifted(Vp, dy, dx)
    mean = s1 / n
    var = np.maximum(s2 / n - mean * mean, 0.0)
    two_sigma2 = 2.0 * np.maximum(var_scale * var, eps)

    nbr = [(dy, dx) for dy, dx in offsets if (dy, dx) != (0, 0)]
    K = len(nbr)
    w = np.empty((K, H, W))
    valid = np.empty((K, H, W), bool)
    for k, (dy, dx) in enumerate(nbr):
        v = shifted(Vp, dy, dx) > 0
        d = Yc - shifted(Yp, dy, dx)
        w[k] = np.exp(-(d * d) / two_sigma2) * v
        valid[k] = v
    w /= w.sum(axis=0, keepdims=True)
    return nbr, w, valid


def affinity_laplacian(
    L: np.ndarray,
    radius: int = 1,
    eps: float = DEFAULT_EPS,
    *,
    var_scale: float = DEFAULT_VAR_SCALE,
) -> sp.csr_matrix:
    """The (H*W)x(H*W) matrix I - W of the paper's cost, pixels in row-major order.

    Row r holds 1 on the diagonal and -w_rs for the neighbours s of r (the
    (2*radius+1)^2 window, clipped at the image border), w_rs ∝ exp(-(L_r-L_s)^2/(2σ_r^2)),
    σ_r^2 = max(var_scale * var_r, eps), normalized so each row of W sums to 1: every row
    of the result sums to zero.

    ``L``: HxW float luminance (Lab L, 0..100). ``eps``: floor on σ_r^2 in L units squared.
    """
    L = _as_luminance(L)
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 1:
        raise ValueError(f"radius must be an integer >= 1, got {radius!r}")
    if not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    if not np.isfinite(var_scale) or var_scale <= 0:
        raise ValueError(f"var_scale must be a positive finite number, got {var_scale!r}")
    H, W = L.shape
    N = H * W
    nbr, w, valid = _neighbour_weights(L, int(radius), float(eps), float(var_scale))

    # Direct CSR: the window offsets in (dy, dx) order, with the diagonal slotted in at
    # (0, 0), give increasing column indices r + dy*W + dx within each row (|dx| < W).
    # A neighbour off the image never lands in the row (valid=False).
    order = sorted(nbr + [(0, 0)])
    K1 = len(order)
    data = np.empty((N, K1))
    cols = np.empty((N, K1), np.int64)
    keep = np.empty((N, K1), bool)
    r = np.arange(N, dtype=np.int64)
    k_of = {o: k for k, o in enumerate(nbr)}
    for j, (dy, dx) in enumerate(order):
        cols[:, j] = r + dy * W + dx
        if (dy, dx) == (0, 0):
            data[:, j] = 1.0
            keep[:, j] = True
        else:
            k = k_of[(dy, dx)]
            data[:, j] = -w[k].ravel()
            keep[:, j] = valid[k].ravel()
    counts = keep.sum(axis=1)
    indptr = np.zeros(N + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return sp.csr_matrix((data[keep], cols[keep], indptr), shape=(N, N))


# --- solving ---------------------------------------------------------------------------

def propagate_hints(
    L: np.ndarray,
    hint_ab: np.ndarray,
    hint_mask: np.ndarray,
    prior_ab: np.ndarray | None = None,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    radius: int = 1,
    *,
    eps: float = DEFAULT_EPS,
    var_scale: float = DEFAULT_VAR_SCALE,
) -> np.ndarray:
    """Solve for the a and b channels (HxWx2 float64, Lab units).

    ``u = hint_ab`` where ``hint_mask`` is True (hard constraints, eliminated from the
    system). Without a prior every other pixel is the weighted mean of its neighbours,
    ``u_r = sum_s w_rs u_s`` (the paper's system). With ``prior_ab`` (p) the hints'
    corrections d = u - p are propagated instead, screened by λ = ``prior_weight``:
    ``(1 + λ) d_r = sum_s w_rs d_s``; far from any hint (beyond ~λ^(-1/2) pixels, or
    behind an edge) u stays p. No hints gives zeros (gray) without a prior, the prior
    itself with one. See the module docstring for the details.
    """
    L = _as_luminance(L)
    shape = L.shape
    mask = _as_mask(hint_mask, shape)
    hint_ab = _as_ab(hint_ab, shape, "hint_ab")
    if not np.isfinite(hint_ab[mask]).all():
        raise ValueError("hint_ab contains NaN or infinite values at hinted pixels")
    if prior_ab is not None:
        prior_ab = _as_ab(prior_ab, shape, "prior_ab")
        if not np.isfinite(prior_ab).all():
            raise ValueError("prior_ab contains NaN or infinite values")
        if not np.isfinite(prior_weight) or prior_weight <= 0:
            raise ValueError(f"prior_weight must be a positive finite number, got {prior_weight!r}")

    H, W = shape
    N = H * W
    hinted = mask.ravel()
    n_hint = int(hinted.sum())
    # Unknowns: u itself without a prior, the correction d = u - p with one.
    base = np.zeros((H, W, 2)) if prior_ab is None else prior_ab.copy()
    if n_hint == 0:
        return base  # gray, or the prior itself
    d_c = (hint_ab - base).reshape(N, 2)[hinted]  # the hints (minus the prior there)
    out = base
    out[mask] = hint_ab[mask]
    if n_hint == N:
        return out

    A = affinity_laplacian(L, radius, eps, var_scale=var_scale)
    free = ~hinted
    # Free pixels in nested-dissection order: the factor's fill stays near N log N
    # instead of the N^1.5 of a banded order (SuperLU's own orderings take ~4x longer
    # on these grids). With or without a prior the system has the stencil of A.
    order = _nested_dissection(H, W, int(radius))
    q = order[free[order]]
    A_q = A[q]  # the free pixels' rows, in that order
    M = A_q[:, q]
    rhs = -(A_q[:, np.flatnonzero(hinted)] @ d_c)  # (n_free, 2)
    if prior_ab is not None:
        M = M + float(prior_weight) * sp.identity(M.shape[0], format="csr")
    out.reshape(N, 2)[q] += _solve(M.tocsr(), rhs)
    return out


def _solve(M: sp.csr_matrix, rhs: np.ndarray, tol: float = 1e-9, max_refine: int = 8) -> np.ndarray:
    """Solve ``M x = rhs`` (both columns of rhs, one factorization).

    M is (I - W)_ff (+ λI): row diagonally dominant (strictly on the rows next to a hint,
    and everywhere with a prior) and irreducible, so Gaussian elimination needs no
    pivoting. SuperLU factors it in single precision (1.3-1.6x faster than double
    on these grids) and iterative refinement with double-precision residuals brings
    the solution to double accuracy: each step gains about -log10(cond * 6e-8) digits,
    typically 4-6. Should refinement stall (an ill-conditioned system), the factorization
    is redone in double precision.

    The CSR arrays of M read as CSC are M^T, which is factored; ``trans="T"`` solves
    with M. Column-diagonally-dominant M^T is the textbook case for elimination without
    pivoting; the grid order is kept (``NATURAL``: ``M`` is already in nested-dissection
    order).
    """
    M.sort_indices()
    Mt32 = sp.csc_matrix((M.data.astype(np.float32), M.indices, M.indptr), shape=M.shape)
    lu = _factor(Mt32)
    x = lu.solve(np.ascontiguousarray(rhs, np.float32), trans="T").astype(np.float64)
    scale = max(float(np.abs(rhs).max()), float(np.abs(x).max()), 1e-300)
    last = np.inf
    for _ in range(max_refine):
        r = rhs - M @ x
        dx = lu.solve(np.ascontiguousarray(r, np.float32), trans="T")
        x += dx
        step = float(np.abs(dx).max())
        if not np.isfinite(step) or step > 0.5 * last:
            break  # not converging fast: fall back to double precision
        # the error left after this step is about step * (step / last): the ratio of
        # successive steps is the contraction factor of the refinement
        left = step if last == np.inf else step * step / last
        if left <= tol * scale:
            return x
        last = step
    Mt64 = sp.csc_matrix((M.data, M.indices, M.indptr), shape=M.shape)
    return _factor(Mt64).solve(np.ascontiguousarray(rhs), trans="T")


def _factor(Mt: sp.csc_matrix):
    # relax / panel_size: SuperLU's supernode settings; 10/10 was at or near the fastest
    # of 5..40 on 256x256 and 512x512 grids (the library's default up to ~20% slower)
    return splu(Mt, permc_spec="NATURAL", diag_pivot_thresh=0.0, relax=10, panel_size=10,
                options=dict(SymmetricMode=False))


@lru_cache(maxsize=16)
def _nested_dissection(H: int, W: int, sep: int, leaf: int = 16) -> np.ndarray:
    """A fill-reducing elimination order of the HxW grid's flat indices (geometric
    nested dissection): split the longer side by a band of ``sep`` rows/columns, order
    both halves recursively, the band last. A band as wide as the stencil's reach
    disconnects the halves. Recursion is over blocks (~N/leaf of them), not pixels."""
    grid = np.arange(H * W, dtype=np.int64).reshape(H, W)
    parts: list[np.ndarray] = []

    def rec(r0: int, r1: int, c0: int, c1: int) -> None:
        h, w = r1 - r0, c1 - c0
        if h <= 0 or w <= 0:
            return
        if h * w <= leaf or max(h, w) <= 2 * sep:
            parts.append(grid[r0:r1, c0:c1].ravel())
        elif h >= w:
            mid = r0 + (h - sep) // 2
            rec(r0, mid, c0, c1)
            rec(mid + sep, r1, c0, c1)
            parts.append(grid[mid:mid + sep, c0:c1].ravel())
        else:
            mid = c0 + (w - sep) // 2
            rec(r0, r1, c0, mid)
            rec(r0, r1, mid + sep, c1)
            parts.append(grid[r0:r1, mid:mid + sep].ravel())

    rec(0, H, 0, W)
    order = np.concatenate(parts)
    order.flags.writeable = False  # cached: shared between calls
    return order


# --- hints -----------------------------------------------------------------------------

def _check_ab_pair(ab, what: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in ab)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: ab must be a pair of numbers (a, b), got {ab!r}") from None
    if not (np.isfinite(a) and np.isfinite(b)):
        raise ValueError(f"{what}: ab contains NaN or infinite values: {ab!r}")
    return a, b


def _check_point(x, y, shape, what: str) -> tuple[int, int]:
    H, W = shape
    try:
        x, y = float(x), float(y)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: coordinates must be numbers, got ({x!r}, {y!r})") from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"{what}: coordinates contain NaN or infinite values: ({x}, {y})")
    if not (0 <= x <= W - 1 and 0 <= y <= H - 1):
        raise ValueError(f"{what}: point (x={x}, y={y}) is outside the image (width {W}, height {H})")
    return int(np.rint(x)), int(np.rint(y))


@dataclass
class Hint:
    """A colour hint at pixel (x, y) (x = column, y = row); radius > 0 paints a disc."""

    x: float
    y: float
    ab: tuple[float, float]
    radius: int = 0


@dataclass
class Stroke:
    """A polyline of colour ``ab`` through pixel points (x, y), ``width`` pixels thick
    (drawn by ``cv2.polylines``, 8-connected)."""

    points: list[tuple[float, float]] = field(default_factory=list)
    ab: tuple[float, float] = (0.0, 0.0)
    width: int = 1


def rasterize(hints: Sequence[Union[Hint, Stroke]], shape) -> tuple[np.ndarray, np.ndarray]:
    """Paint hints and strokes into (hint_ab HxWx2 float64, mask HxW bool).

    ``shape``: (H, W) or any shape starting with H, W. Later items overwrite earlier
    ones. A disc of radius R covers the pixels within Euclidean distance R of the
    rounded centre; points outside the image raise ValueError.
    """
    if len(shape) < 2 or int(shape[0]) < 1 or int(shape[1]) < 1:
        raise ValueError(f"shape must start with a positive height and width, got {tuple(shape)}")
    H, W = int(shape[0]), int(shape[1])
    hint_ab = np.zeros((H, W, 2))
    mask = np.zeros((H, W), bool)
    yy, xx = np.mgrid[0:H, 0:W]
    for i, h in enumerate(hints):
        what = f"hint {i}"
        if isinstance(h, Hint):
            a, b = _check_ab_pair(h.ab, what)
            cx, cy = _check_point(h.x, h.y, (H, W), what)
            if isinstance(h.radius, bool) or not isinstance(h.radius, (int, np.integer)) or h.radius < 0:
                raise ValueError(f"{what}: radius must be an integer >= 0, got {h.radius!r}")
            if h.radius == 0:
                m = np.zeros((H, W), bool)
                m[cy, cx] = True
            else:
                m = (yy - cy) ** 2 + (xx - cx) ** 2 <= h.radius ** 2
        elif isinstance(h, Stroke):
            what = f"stroke {i}"
            a, b = _check_ab_pair(h.ab, what)
            if isinstance(h.width, bool) or not isinstance(h.width, (int, np.integer)) or h.width < 1:
                raise ValueError(f"{what}: width must be an integer >= 1, got {h.width!r}")
            if len(h.points) < 1:
                raise ValueError(f"{what}: a stroke needs at least one point")
            pts = []
            for p in h.points:
                try:
                    px, py = p
                except (TypeError, ValueError):
                    raise ValueError(f"{what}: points must be (x, y) pairs, got {p!r}") from None
                pts.append(_check_point(px, py, (H, W), what))
            canvas = np.zeros((H, W), np.uint8)
            poly = np.array(pts, np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [poly], False, 1, thickness=int(h.width), lineType=cv2.LINE_8)
            m = canvas > 0
        else:
            raise ValueError(f"hint {i}: expected a Hint or a Stroke, got {type(h).__name__}")
        hint_ab[m] = (a, b)
        mask |= m
    return hint_ab, mask


def _rgb_to_lab(rgb: np.ndarray, name: str) -> np.ndarray:
    from vidcolor.color import host_rgb_to_lab

    if rgb.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{name} must be uint8 or uint16 RGB, got dtype {rgb.dtype}")
    return host_rgb_to_lab(np.ascontiguousarray(rgb))


def hints_from_scribble(
    png_rgba_or_rgb: np.ndarray,
    frame_rgb: np.ndarray,
    *,
    min_chroma: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Hints from a scribble layer drawn over a keyframe -> (hint_ab HxWx2, mask HxW).

    RGBA (HxWx4): every pixel with alpha > 0 is a hint, its RGB colour's ab the hint.
    RGB (HxWx3): the scribble painted onto the gray frame; a pixel is a hint where it
    differs from the frame and its colour has chroma sqrt(a^2 + b^2) > ``min_chroma``
    (Lab units), so gray pixels of the frame (and gray, e.g. JPEG-drifted, strokes) are
    not. ``frame_rgb`` (HxWx3 or HxW, uint8/uint16) fixes the size and, for RGB, the
    reference; both images must have the same dtype.
    """
    s = np.asarray(png_rgba_or_rgb)
    f = np.asarray(frame_rgb)
    if f.ndim == 2:
        f = np.repeat(f[..., None], 3, axis=2)
    if f.ndim != 3 or f.shape[2] != 3:
        raise ValueError(f"frame_rgb must be HxWx3 (or HxW gray), got shape {np.asarray(frame_rgb).shape}")
    if s.ndim != 3 or s.shape[2] not in (3, 4):
        raise ValueError(f"scribble must be HxWx3 (RGB) or HxWx4 (RGBA), got shape {s.shape}")
    if s.shape[:2] != f.shape[:2]:
        raise ValueError(f"scribble shape {s.shape[:2]} does not match frame shape {f.shape[:2]}")
    if s.dtype != f.dtype:
        raise ValueError(f"scribble dtype {s.dtype} differs from frame dtype {f.dtype}")
    lab = _rgb_to_lab(s[..., :3], "scribble")
    ab = lab[..., 1:].astype(np.float64)
    if s.shape[2] == 4:
        mask = s[..., 3] > 0
    else:
        _rgb_to_lab(f, "frame_rgb")  # dtype check
        differs = (s != f).any(axis=2)
        chroma = np.hypot(ab[..., 0], ab[..., 1])
        mask = differs & (chroma > min_chroma)
    hint_ab = np.where(mask[..., None], ab, 0.0)
    return hint_ab, mask


def colorize_with_hints(
    rgb_or_L: np.ndarray,
    hints: Sequence[Union[Hint, Stroke]],
    prior_ab: np.ndarray | None = None,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    radius: int = 1,
    *,
    eps: float = DEFAULT_EPS,
    var_scale: float = DEFAULT_VAR_SCALE,
) -> np.ndarray:
    """Propagate ``hints`` (Hint / Stroke list) over a frame -> HxWx2 ab (Lab units).

    ``rgb_or_L``: an HxWx3 uint8/uint16 RGB frame (its Lab L is used) or an HxW L array
    (0..100). ``prior_ab``: optional HxWx2 model prediction used as a weak prior
    (``prior_weight``: see ``propagate_hints``).
    """
    x = np.asarray(rgb_or_L)
    if x.ndim == 3 and x.shape[2] == 3:
        L = _rgb_to_lab(x, "rgb frame")[..., 0]
    elif x.ndim == 2:
        L = x
    else:
        raise ValueError(f"rgb_or_L must be an HxWx3 RGB frame or an HxW L array, got shape {x.shape}")
    hint_ab, mask = rasterize(list(hints), L.shape)
    return propagate_hints(L, hint_ab, mask, prior_ab, prior_weight, radius, eps=eps, var_scale=var_scale)
