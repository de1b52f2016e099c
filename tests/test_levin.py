"""Colorization by optimization (vidcolor.guide.levin): propagation, the affinity
Laplacian against an independent loop-based version, hint rasterization and parsing."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from vidcolor.color import host_rgb_to_lab
from vidcolor.guide.levin import (
    DEFAULT_PRIOR_WEIGHT,
    Hint,
    Stroke,
    affinity_laplacian,
    colorize_with_hints,
    hints_from_scribble,
    propagate_hints,
    rasterize,
)

H, W = 48, 64
LEFT, RIGHT = (40.0, -20.0), (-30.0, 50.0)


def two_regions() -> np.ndarray:
    L = np.full((H, W), 30.0)
    L[:, W // 2:] = 70.0
    return L


def no_hints(shape=(H, W)):
    return np.zeros(shape + (2,)), np.zeros(shape, bool)


# --- propagation ------------------------------------------------------------------------

def test_two_regions_take_their_hint_colour():
    hint_ab, mask = rasterize([Hint(10, 24, LEFT), Hint(50, 24, RIGHT)], (H, W))
    u = propagate_hints(two_regions(), hint_ab, mask)
    assert u.shape == (H, W, 2)
    away = 4  # columns kept away from the edge at W/2
    left, right = u[:, : W // 2 - away], u[:, W // 2 + away:]
    assert np.abs(left - LEFT).mean() < 1.0
    assert np.abs(right - RIGHT).mean() < 1.0
    # the edge separates them: the last left column is still left-coloured, the first
    # right column right-coloured (within 2 ab units everywhere along the edge)
    assert np.abs(u[:, W // 2 - 1] - LEFT).max() < 2.0
    assert np.abs(u[:, W // 2] - RIGHT).max() < 2.0


def test_gradient_single_hint_diffuses_everywhere():
    L = np.tile(np.linspace(10, 90, W), (H, 1))
    hint_ab, mask = rasterize([Hint(5, 5, (20.0, 30.0))], (H, W))
    u = propagate_hints(L, hint_ab, mask)
    assert np.isfinite(u).all()
    # one hint, one connected smooth image: the whole frame takes its colour
    assert np.abs(u - (20.0, 30.0)).max() < 1e-6
    assert np.abs(u[-1, -1]).min() > 19.0  # far corner not zero


def test_gradient_two_hints_interpolate_monotonically():
    L = np.tile(np.linspace(10, 90, W), (H, 1))
    hint_ab, mask = rasterize([Hint(0, 24, (-20.0, 0.0)), Hint(W - 1, 24, (20.0, 10.0))], (H, W))
    u = propagate_hints(L, hint_ab, mask)
    row = u[24, :, 0]
    assert np.all(np.diff(row) >= -1e-9)  # no overshoot, no garbage
    assert u[..., 0].min() >= -20 - 1e-9 and u[..., 0].max() <= 20 + 1e-9
    assert np.abs(u).max() > 0 and np.abs(u[:, W // 2]).max() < 20


def test_hinted_pixels_keep_exact_values():
    rng = np.random.default_rng(3)
    L = rng.uniform(0, 100, (H, W))
    mask = rng.random((H, W)) < 0.05
    hint_ab = rng.uniform(-60, 60, (H, W, 2))
    u = propagate_hints(L, hint_ab, mask)
    np.testing.assert_array_equal(u[mask], hint_ab[mask])
    prior = rng.uniform(-10, 10, (H, W, 2))
    u = propagate_hints(L, hint_ab, mask, prior_ab=prior)
    np.testing.assert_array_equal(u[mask], hint_ab[mask])


def test_no_prior_no_hints_is_gray():
    u = propagate_hints(two_regions(), *no_hints())
    assert u.shape == (H, W, 2) and not u.any()


def test_prior_without_hints_returns_prior():
    # the prior is returned exactly, whatever its structure: a model-like one (smooth
    # within regions, following the image's edge) and a rough one
    yy, xx = np.mgrid[0:H, 0:W]
    prior = np.zeros((H, W, 2))
    prior[:, : W // 2] = (5.0, 8.0)
    prior[:, W // 2:] = (-6.0, 12.0)
    prior += 0.5 * np.sin(xx / 40.0)[..., None] * np.cos(yy / 30.0)[..., None]
    for p in (prior, np.random.default_rng(5).uniform(-50, 50, (H, W, 2))):
        for weight in (DEFAULT_PRIOR_WEIGHT, 1e-2):
            u = propagate_hints(two_regions(), *no_hints(), prior_ab=p, prior_weight=weight)
            np.testing.assert_array_equal(u, p)
            assert u is not p  # a new array: the caller's prior is not modified in place


def two_region_prior():
    prior = np.zeros((H, W, 2))
    prior[:, : W // 2] = (5.0, 8.0)
    prior[:, W // 2:] = (-6.0, 12.0)
    return prior


def test_hint_dominates_its_region_against_the_prior():
    prior = two_region_prior()
    before = prior.copy()
    hint_ab, mask = rasterize([Hint(10, 24, LEFT, radius=2)], (H, W))
    u = propagate_hints(two_regions(), hint_ab, mask, prior_ab=prior)  # default weight
    np.testing.assert_array_equal(prior, before)
    # the whole left region takes the hint's colour (its correction of the prior) ...
    share = (u[:, : W // 2] - prior[:, : W // 2]) / (np.array(LEFT) - prior[:, : W // 2])
    assert share.min() > 0.98
    # ... the edge holds it back: the right region keeps the prior but for a small leak
    # (under 7% of the correction; an edge weight of ~1e-5 against the weight 3e-6)
    corr = np.abs(np.array(LEFT) - prior[0, 0]).max()
    assert np.abs(u[:, W // 2:] - prior[:, W // 2:]).max() < 0.07 * corr
    # more weight: tighter edges, shorter reach (~weight^-1/2 pixels)
    u4 = propagate_hints(two_regions(), hint_ab, mask, prior_ab=prior, prior_weight=1e-4)
    assert np.abs(u4[:, W // 2:] - prior[:, W // 2:]).max() < 0.1
    u2 = propagate_hints(two_regions(), hint_ab, mask, prior_ab=prior, prior_weight=1e-2)
    share2 = (u2[..., 0] - prior[..., 0]) / (LEFT[0] - prior[..., 0])
    assert share2[24, 13] > 0.5  # next to the disc the hint wins
    assert share2[24, 20] < 0.2 and share2[2, 28] < 0.02  # 10 / 30 pixels away the prior
    assert np.abs(u2[:, W // 2:] - prior[:, W // 2:]).max() < 1e-3


def test_prior_reach_scales_like_inverse_sqrt_weight():
    # a hinted column on a flat image: the correction decays by a factor rho per column,
    # rho + 1/rho = 2 + 8λ/3 for the 3x3 stencil with uniform weights (interior rows)
    L = np.full((9, 201), 50.0)
    hint_ab = np.zeros((9, 201, 2))
    mask = np.zeros((9, 201), bool)
    mask[:, 100] = True
    hint_ab[:, 100] = (10.0, -10.0)
    lengths = []
    for lam in (1e-2, 1e-3):
        u = propagate_hints(L, hint_ab, mask, prior_ab=np.zeros((9, 201, 2)), prior_weight=lam)
        row = u[4, 100:, 0]
        rho = row[11] / row[10]
        c = 1 + 4 * lam / 3
        assert rho == pytest.approx(c - math.sqrt(c * c - 1), rel=2e-3)
        np.testing.assert_allclose(u[..., 1], -u[..., 0], atol=1e-9)
        np.testing.assert_allclose(u[:, :101], u[:, 100:][:, ::-1], atol=1e-9)  # symmetric
        lengths.append(-1 / math.log(rho))
    assert lengths[1] / lengths[0] == pytest.approx(math.sqrt(10), rel=0.02)


def test_prior_weight_to_zero_propagates_the_correction():
    hint_ab, mask = rasterize([Hint(10, 24, LEFT), Hint(50, 24, RIGHT)], (H, W))
    # a zero prior: the hard-constraint solution without a prior
    plain = propagate_hints(two_regions(), hint_ab, mask)
    tiny = propagate_hints(two_regions(), hint_ab, mask, prior_ab=np.zeros((H, W, 2)), prior_weight=1e-12)
    assert np.abs(plain - tiny).max() < 1e-2
    # any prior: the prior plus the paper's propagation of (hint - prior)
    prior = np.random.default_rng(2).uniform(-20, 20, (H, W, 2))
    corr = propagate_hints(two_regions(), np.where(mask[..., None], hint_ab - prior, 0.0), mask)
    tiny = propagate_hints(two_regions(), hint_ab, mask, prior_ab=prior, prior_weight=1e-12)
    assert np.abs(tiny - (prior + corr)).max() < 1e-2


@pytest.mark.parametrize("with_prior", [False, True])
def test_solution_matches_double_precision_direct_solve(with_prior):
    # the single-precision factorization + refinement against SciPy's double spsolve of
    # the system the module docstring states
    rng = np.random.default_rng(11)
    h, w = 40, 50
    L = cv2.GaussianBlur(rng.uniform(0, 100, (h, w)), (0, 0), 1.5)
    mask = np.zeros((h, w), bool)
    mask.flat[rng.choice(h * w, 3, replace=False)] = True  # few hints: worst conditioned
    hint_ab = rng.uniform(-60, 60, (h, w, 2))
    prior = rng.uniform(-30, 30, (h, w, 2)) if with_prior else np.zeros((h, w, 2))
    lam = DEFAULT_PRIOR_WEIGHT
    u = propagate_hints(L, hint_ab, mask, prior_ab=prior if with_prior else None, prior_weight=lam)
    A = affinity_laplacian(L).tocsr()
    f, c = ~mask.ravel(), mask.ravel()
    M = A[f][:, f] + (lam * sp.identity(int(f.sum())) if with_prior else 0)
    d_c = (hint_ab - prior).reshape(-1, 2)[c]
    d_f = spsolve(M.tocsc(), -(A[f][:, c] @ d_c))
    expect = prior.reshape(-1, 2).copy()
    expect[f] += d_f
    expect[c] = hint_ab.reshape(-1, 2)[c]
    np.testing.assert_allclose(u.reshape(-1, 2), expect, rtol=0, atol=1e-8)


def test_double_precision_fallback():
    # without refinement steps the solver refactors in double precision
    from vidcolor.guide.levin import _solve

    rng = np.random.default_rng(4)
    A = affinity_laplacian(rng.uniform(0, 100, (12, 15))).tocsr()
    M = (A + 1e-3 * sp.identity(A.shape[0])).tocsr()
    rhs = rng.normal(size=(A.shape[0], 2))
    np.testing.assert_allclose(_solve(M.copy(), rhs, max_refine=0), spsolve(M.tocsc(), rhs), atol=1e-10)
    np.testing.assert_allclose(_solve(M.copy(), rhs), spsolve(M.tocsc(), rhs), atol=1e-10)


def test_colorize_with_hints_rgb_and_L_agree():
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:, : W // 2] = 70
    rgb[:, W // 2:] = 170
    L = host_rgb_to_lab(rgb)[..., 0]
    hints = [Hint(10, 24, LEFT), Stroke([(45, 10), (55, 40)], RIGHT, 1)]
    a = colorize_with_hints(rgb, hints)
    b = colorize_with_hints(L, hints)
    np.testing.assert_allclose(a, b, atol=1e-9)
    assert np.abs(a[:, :28] - LEFT).mean() < 1.0 and np.abs(a[:, 36:] - RIGHT).mean() < 1.0


# --- the Laplacian against a loop-based reference ------------------------------------------

def reference_weights(L, radius, eps, var_scale):
    """Direct transcription of the definition: pixel by pixel, neighbour by neighbour."""
    h, w = L.shape
    rows = {}
    for i in range(h):
        for j in range(w):
            win = [float(L[y, x]) for y in range(max(0, i - radius), min(h, i + radius + 1))
                   for x in range(max(0, j - radius), min(w, j + radius + 1))]
            mu = sum(win) / len(win)
            var = sum((v - mu) ** 2 for v in win) / len(win)
            sigma2 = max(var_scale * var, eps)
            ws = {}
            for y in range(max(0, i - radius), min(h, i + radius + 1)):
                for x in range(max(0, j - radius), min(w, j + radius + 1)):
                    if (y, x) != (i, j):
                        ws[y * w + x] = math.exp(-((L[i, j] - L[y, x]) ** 2) / (2 * sigma2))
            total = sum(ws.values())
            rows[i * w + j] = {k: v / total for k, v in ws.items()}
    return rows


@pytest.mark.parametrize("radius", [1, 2])
def test_laplacian_matches_loop_reference(radius):
    rng = np.random.default_rng(7)
    L = rng.uniform(0, 100, (4, 4))
    L[0, :2] = 50.0  # a flat patch: exercises the eps floor
    eps, var_scale = 1.0, 0.2
    A = affinity_laplacian(L, radius=radius, eps=eps, var_scale=var_scale)
    assert isinstance(A, sp.csr_matrix) and A.shape == (16, 16)
    ref = reference_weights(L, radius, eps, var_scale)
    dense = A.toarray()
    for r in range(16):
        expect = np.zeros(16)
        expect[r] = 1.0
        for s, v in ref[r].items():
            expect[s] = -v
        np.testing.assert_allclose(dense[r], expect, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(dense.sum(axis=1), 0.0, atol=1e-12)
    # the structure is exactly the clipped window: corner 3 (radius 1) or more neighbours
    assert A.indptr[1] - A.indptr[0] == (radius + 1) ** 2


def test_laplacian_default_eps_and_flat_image():
    A = affinity_laplacian(np.full((5, 6), 42.0))
    dense = A.toarray()
    np.testing.assert_allclose(dense.sum(axis=1), 0.0, atol=1e-12)
    # flat: uniform weights over the in-image neighbours
    assert dense[7, 0] == pytest.approx(-1 / 8) and dense[0, 1] == pytest.approx(-1 / 3)


# --- rasterize / strokes / scribbles ------------------------------------------------------

def test_rasterize_point_and_disc_exact():
    hint_ab, mask = rasterize([Hint(2, 1, (10, -5)), Hint(5.2, 4.4, (1, 2), radius=1)], (7, 8))
    expect = np.zeros((7, 8), bool)
    expect[1, 2] = True
    expect[4, 5] = expect[3, 5] = expect[5, 5] = expect[4, 4] = expect[4, 6] = True  # plus shape
    np.testing.assert_array_equal(mask, expect)
    np.testing.assert_array_equal(hint_ab[1, 2], (10, -5))
    np.testing.assert_array_equal(hint_ab[3, 5], (1, 2))
    assert not hint_ab[~mask].any()
    _, m2 = rasterize([Hint(3, 3, (0, 0), radius=2)], (7, 7))
    yy, xx = np.mgrid[0:7, 0:7]
    np.testing.assert_array_equal(m2, (yy - 3) ** 2 + (xx - 3) ** 2 <= 4)
    assert m2.sum() == 13


def test_rasterize_overlap_later_wins_and_shape_prefix():
    hint_ab, mask = rasterize([Hint(1, 1, (1, 1), radius=1), Hint(1, 1, (9, 9))], (3, 3, 3))
    assert mask.shape == (3, 3) and mask.sum() == 5
    np.testing.assert_array_equal(hint_ab[1, 1], (9, 9))
    np.testing.assert_array_equal(hint_ab[0, 1], (1, 1))


def test_strokes_exact_masks():
    hint_ab, mask = rasterize([Stroke([(2, 3), (6, 3)], (7, 8), 1)], (8, 10))
    expect = np.zeros((8, 10), bool)
    expect[3, 2:7] = True
    np.testing.assert_array_equal(mask, expect)
    np.testing.assert_array_equal(hint_ab[3, 4], (7, 8))
    _, mask = rasterize([Stroke([(1, 1), (1, 5), (5, 5)], (1, 1), 1)], (8, 10))
    expect = np.zeros((8, 10), bool)
    expect[1:6, 1] = True
    expect[5, 1:6] = True
    np.testing.assert_array_equal(mask, expect)
    # a wider stroke is what cv2.polylines draws, and covers the thin one
    _, thick = rasterize([Stroke([(2, 3), (6, 3)], (0, 0), 3)], (8, 10))
    canvas = np.zeros((8, 10), np.uint8)
    cv2.polylines(canvas, [np.array([[2, 3], [6, 3]], np.int32).reshape(-1, 1, 2)], False, 1, 3)
    np.testing.assert_array_equal(thick, canvas > 0)
    assert thick[3, 2:7].all() and thick[2, 2:7].all() and thick[4, 2:7].all()


def gray_frame(h=6, w=7, level=120):
    return np.full((h, w, 3), level, np.uint8)


def test_scribble_rgba():
    frame = gray_frame()
    s = np.zeros((6, 7, 4), np.uint8)
    s[2, 1:4] = (255, 0, 0, 255)
    s[4, 5] = (0, 0, 255, 10)  # faint alpha still counts
    s[0, 0] = (0, 255, 0, 0)  # colour under zero alpha does not
    hint_ab, mask = hints_from_scribble(s, frame)
    expect = np.zeros((6, 7), bool)
    expect[2, 1:4] = True
    expect[4, 5] = True
    np.testing.assert_array_equal(mask, expect)
    red = host_rgb_to_lab(np.array([[[255, 0, 0]]], np.uint8))[0, 0, 1:]
    np.testing.assert_allclose(hint_ab[2, 2], red, atol=1e-4)
    assert hint_ab[2, 2, 0] > 70  # red: strongly positive a
    assert not hint_ab[~mask].any()


def test_scribble_rgb_over_gray_frame():
    frame = gray_frame()
    frame[0, :] = 60  # a darker gray row: differs from nothing, still gray
    s = frame.copy()
    s[1, 1:5] = (30, 160, 40)  # green stroke
    s[3, 3] = (125, 125, 125)  # a differing but gray pixel: not a hint
    s[5, 6] = (121, 120, 120)  # chroma well under the threshold: not a hint
    hint_ab, mask = hints_from_scribble(s, frame)
    expect = np.zeros((6, 7), bool)
    expect[1, 1:5] = True
    np.testing.assert_array_equal(mask, expect)
    assert hint_ab[1, 2, 0] < -30  # green: negative a
    # a HxW gray frame works too
    _, mask2 = hints_from_scribble(s, frame[..., 0])
    np.testing.assert_array_equal(mask2, expect)


# --- validation ---------------------------------------------------------------------------

def test_invalid_inputs_raise_clear_errors():
    L = two_regions()
    ab, m = no_hints()
    with pytest.raises(ValueError, match="2-D"):
        propagate_hints(np.zeros((H, W, 3)), ab, m)
    with pytest.raises(ValueError, match="NaN"):
        bad = L.copy()
        bad[3, 3] = np.nan
        propagate_hints(bad, ab, m)
    with pytest.raises(ValueError, match="hint_ab must have shape"):
        propagate_hints(L, np.zeros((H, W - 1, 2)), m)
    with pytest.raises(ValueError, match="hint_mask must have shape"):
        propagate_hints(L, ab, np.zeros((H + 1, W), bool))
    with pytest.raises(ValueError, match="hint_mask must be boolean"):
        propagate_hints(L, ab, np.full((H, W), 2))
    with pytest.raises(ValueError, match="prior_ab must have shape"):
        propagate_hints(L, ab, m, prior_ab=np.zeros((H, W)))
    with pytest.raises(ValueError, match="prior_ab contains NaN"):
        p = np.zeros((H, W, 2))
        p[0, 0, 1] = np.nan
        propagate_hints(L, ab, m, prior_ab=p)
    with pytest.raises(ValueError, match="prior_weight"):
        propagate_hints(L, ab, m, prior_ab=np.zeros((H, W, 2)), prior_weight=0)
    with pytest.raises(ValueError, match="hint_ab contains NaN"):
        ab2, m2 = rasterize([Hint(1, 1, (0, 0))], (H, W))
        ab2[1, 1, 0] = np.nan
        propagate_hints(L, ab2, m2)
    with pytest.raises(ValueError, match="radius"):
        affinity_laplacian(L, radius=0)
    with pytest.raises(ValueError, match="eps"):
        affinity_laplacian(L, eps=-1.0)


def test_invalid_hints_raise_clear_errors():
    with pytest.raises(ValueError, match="outside the image"):
        rasterize([Hint(64, 3, (0, 0))], (H, W))
    with pytest.raises(ValueError, match="outside the image"):
        rasterize([Hint(3, -1, (0, 0))], (H, W))
    with pytest.raises(ValueError, match="stroke 0.*outside the image"):
        rasterize([Stroke([(1, 1), (100, 1)], (0, 0), 1)], (H, W))
    with pytest.raises(ValueError, match="NaN"):
        rasterize([Hint(float("nan"), 3, (0, 0))], (H, W))
    with pytest.raises(ValueError, match="ab contains NaN"):
        rasterize([Hint(1, 1, (float("nan"), 0))], (H, W))
    with pytest.raises(ValueError, match="radius"):
        rasterize([Hint(1, 1, (0, 0), radius=-1)], (H, W))
    with pytest.raises(ValueError, match="width"):
        rasterize([Stroke([(1, 1)], (0, 0), 0)], (H, W))
    with pytest.raises(ValueError, match="Hint or a Stroke"):
        rasterize([(1, 1)], (H, W))
    with pytest.raises(ValueError, match="does not match frame"):
        hints_from_scribble(np.zeros((5, 5, 4), np.uint8), gray_frame())
    with pytest.raises(ValueError, match="RGBA"):
        hints_from_scribble(np.zeros((6, 7, 2), np.uint8), gray_frame())
    with pytest.raises(ValueError, match="rgb_or_L"):
        colorize_with_hints(np.zeros((4, 4, 2)), [])
