"""Colorization by optimization (vidcolor.guide.levin): propagation, the affinity
Laplacian against an independent loop-based version, hint rasterization and parsing."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import scipy.sparse as sp

from vidcolor.color import host_rgb_to_lab
from vidcolor.guide.levin import (
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
    # a model-like prior: smooth within regions, following the image's edge
    yy, xx = np.mgrid[0:H, 0:W]
    prior = np.zeros((H, W, 2))
    prior[:, : W // 2] = (5.0, 8.0)
    prior[:, W // 2:] = (-6.0, 12.0)
    prior += 0.5 * np.sin(xx / 40.0)[..., None] * np.cos(yy / 30.0)[..., None]
    u = propagate_hints(two_regions(), *no_hints(), prior_ab=prior)
    assert np.abs(u - prior).max() < 0.05


def test_prior_with_hints_hint_near_prior_far():
    prior = np.zeros((H, W, 2))
    prior[:, : W // 2] = (5.0, 8.0)
    prior[:, W // 2:] = (-6.0, 12.0)
    hint_ab, mask = rasterize([Hint(10, 24, LEFT, radius=2)], (H, W))
    u = propagate_hints(two_regions(), hint_ab, mask, prior_ab=prior, prior_weight=0.01)
    # the default weight (0.01) keeps a hint local (the cost is a squared Laplacian, its
    # reach against the prior ~ weight^(-1/4)): next to the disc it still has a large share ...
    share = (u[24, 13, 0] - prior[24, 13, 0]) / (LEFT[0] - prior[24, 13, 0])
    assert share > 0.3
    # ... far from it (same region, and across the edge) the prior wins
    assert np.abs(u[2, 28] - prior[2, 28]).max() < 0.5
    assert np.abs(u[:, W // 2 + 1:] - prior[:, W // 2 + 1:]).max() < 0.1
    # a weaker prior: near the hint the hint wins outright, far away still the prior
    u_weak = propagate_hints(two_regions(), hint_ab, mask, prior_ab=prior, prior_weight=1e-4)
    assert np.abs(u_weak[24, 13] - LEFT).max() < np.abs(u_weak[24, 13] - prior[24, 13]).max()
    assert np.abs(u_weak[:, W // 2 + 1:] - prior[:, W // 2 + 1:]).max() < 0.1
    assert np.abs(u_weak[24, 20] - LEFT).max() < np.abs(u[24, 20] - LEFT).max()


def test_prior_weight_to_zero_approaches_hard_constraint_solution():
    hint_ab, mask = rasterize([Hint(10, 24, LEFT), Hint(50, 24, RIGHT)], (H, W))
    plain = propagate_hints(two_regions(), hint_ab, mask)
    tiny = propagate_hints(two_regions(), hint_ab, mask, prior_ab=np.zeros((H, W, 2)), prior_weight=1e-12)
    assert np.abs(plain - tiny).max() < 1e-2


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
