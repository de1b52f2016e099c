"""Temporal stage: flicker reduction, scene-cut resets, motion (no ghosting), convergence,
streaming state (batch size), option validation, the registry (a toy smoother added from
outside). Fake colorizers: ground-truth ab + noise."""

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from skimage import data

from vidcolor import color, options
from vidcolor.errors import OptionError
from vidcolor.temporal import Smoother, check, help_text, kinds, make_smoother, register, unregister
from vidcolor.temporal.ema import EmaSmoother
from vidcolor.temporal.flow import FlowSmoother

S = 96   # model-size side for the tests


def _lab(photo: np.ndarray, side: int = 256) -> torch.Tensor:
    """uint8 RGB photo -> Lab 3xHxW, resized to ``side``."""
    rgb = color.resize(color.to_float_rgb(torch.from_numpy(np.ascontiguousarray(photo))[None]), side)
    return color.rgb_to_lab(rgb)[0]


@pytest.fixture(scope="module")
def astro():
    return _lab(data.astronaut())


@pytest.fixture(scope="module")
def coffee():
    return _lab(data.coffee())


def _pan(lab: torch.Tensor, n: int, step: int, x0: int = 20, y0: int = 60) -> tuple[torch.Tensor, torch.Tensor]:
    """n crops SxS moving right by ``step`` px/frame -> (L N1SS, ground-truth ab N2SS)."""
    seq = torch.stack([lab[:, y0:y0 + S, x0 + i * step:x0 + i * step + S] for i in range(n)])
    return seq[:, :1].contiguous(), seq[:, 1:].contiguous()


def _noise(shape, seed: int, pixel: float = 6.0, global_: float = 6.0) -> torch.Tensor:
    """Per-frame flicker: per-pixel noise + a per-frame global color cast (Lab units)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * pixel + torch.randn(shape[0], 2, 1, 1, generator=g) * global_


def _change(ab: torch.Tensor) -> float:
    """Mean absolute frame-to-frame ab change."""
    return (ab[1:] - ab[:-1]).abs().mean().item()


@pytest.mark.parametrize("kind", ["ema", "flow"])
def test_flicker_of_a_static_shot_falls_by_a_large_factor(astro, kind):
    L, gt = _pan(astro, 30, 0)
    pred = gt + _noise(gt.shape, 1)
    out = make_smoother(kind, 0.8)(pred, L)
    raw, smooth = _change(pred[10:]), _change(out[10:])
    # EMA theory for i.i.d. noise: change falls by sqrt(1+s)/(1-s) = 6.7 at s = 0.8
    assert raw / smooth > 5.0
    assert (out[10:] - gt[10:]).abs().mean() < 0.5 * (pred[10:] - gt[10:]).abs().mean()


def test_ema_matches_the_recursion(astro):
    L, gt = _pan(astro, 6, 0)
    pred = gt + _noise(gt.shape, 2)
    out = make_smoother("ema", 0.6)(pred, L)
    ref = pred[0]
    for t in range(1, 6):
        ref = 0.6 * ref + 0.4 * pred[t]
        assert torch.allclose(out[t], ref, atol=1e-4)


@pytest.mark.parametrize("kind", ["ema", "flow"])
def test_static_shot_converges_to_a_new_steady_prediction(astro, kind):
    """Prediction jumps from A to B (same L, no cut): EMA reaches B as s^k; flow at least as fast."""
    L, gt = _pan(astro, 31, 0)
    pred = gt.clone()
    pred[:1] += 20.0        # A = gt + 20, B = gt
    out = make_smoother(kind, 0.8)(pred, L)
    err = [(out[t] - gt[t]).abs().mean().item() for t in range(31)]
    assert err[0] == pytest.approx(20.0, abs=1e-4)
    if kind == "ema":
        assert err[5] == pytest.approx(20.0 * 0.8 ** 5, rel=1e-3)
    assert all(b <= a + 1e-6 for a, b in zip(err, err[1:]))
    assert err[30] < 20.0 * 0.8 ** 30 + 1e-3     # 0.0248: converged


@pytest.mark.parametrize("kind", ["ema", "flow"])
def test_scene_cut_resets_state_no_bleed(astro, coffee, kind):
    La, ga = _pan(astro, 10, 2)
    Lb, gb = _pan(coffee, 10, 2)
    L, gt = torch.cat([La, Lb]), torch.cat([ga, gb])
    pred = gt + _noise(gt.shape, 3)
    sm = make_smoother(kind)
    out = sm(pred, L)
    assert sm.cuts == [10]
    assert torch.equal(out[10], pred[10])                      # first frame after the cut: raw
    fresh = make_smoother(kind)(pred[10:], L[10:])             # after it: as if the video started there
    assert torch.equal(out[10:], fresh)
    assert not torch.equal(out[11], pred[11])                  # and it does smooth within a scene


def test_pan_colors_move_with_content_flow_beats_ema(astro):
    """Content shifts 3 px/frame; the exact ab (gt, already shifted) is predicted without noise.
    flow keeps it (bilinear warp of an integer shift), ema drags old colors behind (ghosts)."""
    L, gt = _pan(astro, 16, 3)
    err = {k: (make_smoother(k, 0.8)(gt, L) - gt)[1:].abs().mean().item() for k in ("ema", "flow")}
    assert err["flow"] < 0.5                      # measured 0.30 (ab units)
    assert err["ema"] > 3.0                       # measured 4.8
    assert err["ema"] > 8 * err["flow"]


def test_pan_with_flicker_flow_denoises_without_ghosting(astro):
    L, gt = _pan(astro, 20, 3)
    pred = gt + _noise(gt.shape, 4)
    raw = (pred - gt)[1:].abs().mean().item()
    err = {k: (make_smoother(k, 0.8)(pred, L) - gt)[1:].abs().mean().item() for k in ("ema", "flow")}
    assert err["flow"] < 0.6 * raw                 # measured 3.0 vs 6.7
    assert err["flow"] < 0.7 * err["ema"]          # ema: 5.9, mostly ghosting


def test_moving_object_leaves_no_ghost_at_disocclusion():
    """A bright square moves 4 px/frame over a textured background with different colors.
    Pixels the square just uncovered must get the background's (predicted) color."""
    n, side, step = 12, S, 4
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    L = (40 + 10 * torch.sin(xx / 3.0) * torch.cos(yy / 4.0)).expand(n, 1, side, side).clone()
    ab = torch.zeros(n, 2, side, side)
    ab[:, 1] = -30.0                               # blue background
    for t in range(n):
        x = 10 + step * t
        L[t, :, 30:60, x:x + 30] = 85.0
        ab[t, 0, 30:60, x:x + 30] = 50.0            # red square
        ab[t, 1, 30:60, x:x + 30] = 20.0
    out = make_smoother("flow", 0.8)(ab, L)
    for t in range(2, n):
        x = 10 + step * t
        uncovered = (slice(None), slice(32, 58), slice(x - step, x - 1))    # was square at t-1, background now
        d = (out[t][uncovered] - ab[t][uncovered]).abs()
        # a ghost would be ~50-80 (square vs background); what is left is the bilinear fringe at
        # the edge: measured mean <= 1.4, max <= 8.1
        assert d.max() < 12.0 and d.mean() < 2.5
        inside = (slice(None), slice(34, 56), slice(x + 4, x + 26))
        assert (out[t][inside] - ab[t][inside]).abs().max() < 3.0     # measured <= 1.4
    ema = make_smoother("ema", 0.8)(ab, L)
    x = 10 + step * (n - 1)
    assert (ema[n - 1][:, 32:58, x - step:x - 1] - ab[n - 1][:, 32:58, x - step:x - 1]).abs().mean() > 20


@pytest.mark.parametrize("kind", ["ema", "flow"])
def test_streaming_batch_1_equals_batch_7(astro, coffee, kind):
    La, ga = _pan(astro, 11, 2)
    Lb, gb = _pan(coffee, 10, 1)
    L, pred = torch.cat([La, Lb]), torch.cat([ga, gb]) + _noise((21, 2, S, S), 5)
    one, seven = make_smoother(kind), make_smoother(kind)
    a = torch.cat([one(pred[i:i + 1], L[i:i + 1]) for i in range(21)])
    b = torch.cat([seven(pred[i:i + 7], L[i:i + 7]) for i in range(0, 21, 7)])
    assert torch.equal(a, b)
    assert one.cuts == seven.cuts == [11]
    seven.reset()                                   # reset == fresh smoother: deterministic
    assert torch.equal(seven(pred, L), a)


BAD_OPTIONS = [("gauss", None, {}), ("ema", 1.0, {}), ("ema", -0.1, {}), ("flow", "x", {}),
               ("ema", None, {"scene_threshold": 0}), ("ema", None, {"preset": "fast"}),
               ("flow", None, {"preset": "slow"}), ("flow", None, {"min_scene_len": 0}),
               ("flow", None, {"min_scene_len": 2.0}), ("flow", None, {"sigma_l": 0}),
               ("flow", None, {"bogus": 1}), ("none", 1.0, {}), ("none", None, {"preset": "fast"})]


def test_make_smoother_options():
    assert kinds() == ("none", "ema", "flow")
    assert options.TEMPORAL in kinds() and 0 <= options.TEMPORAL_STRENGTH < 1
    assert make_smoother("none") is None
    assert isinstance(make_smoother("ema"), EmaSmoother)
    sm = make_smoother("flow", 0.5, scene_threshold=20, min_scene_len=3, preset="medium", sigma_l=4)
    assert isinstance(sm, FlowSmoother) and sm.strength == 0.5 and sm.detector.threshold == 20
    assert sm.detector.min_scene_len == 3 and sm.preset == "medium" and sm.sigma_l == 4.0
    dflt = make_smoother("flow", None, scene_threshold=None)
    assert dflt.strength == options.TEMPORAL_STRENGTH and dflt.detector.threshold == options.SCENE_THRESHOLD
    assert dflt.detector.min_scene_len == 1 and dflt.preset == "fast"
    for kind, strength, opts in BAD_OPTIONS:
        with pytest.raises(OptionError):
            make_smoother(kind, strength, **opts)


def test_messages_name_the_option():
    for (kind, strength, opts), word in [(("gauss", None, {}), "--temporal"),
                                         (("ema", 1.0, {}), "--temporal-strength"),
                                         (("ema", None, {"scene_threshold": -1}), "--scene-threshold"),
                                         (("flow", None, {"min_scene_len": 0}), "min_scene_len"),
                                         (("flow", None, {"preset": "slow"}), "flow preset"),
                                         (("ema", None, {"preset": "fast"}), "unknown option(s) for --temporal ema")]:
        with pytest.raises(OptionError, match=re.escape(word)):
            make_smoother(kind, strength, **opts)


def test_check_validates_like_make_smoother_and_builds_nothing(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("check() built a smoother")
    monkeypatch.setattr(FlowSmoother, "__init__", boom)
    monkeypatch.setattr(EmaSmoother, "__init__", boom)
    assert check("flow", 0.5, scene_threshold=20, min_scene_len=3, preset="medium", sigma_l=4) is None
    assert check("ema") is None and check("none") is None
    for kind, strength, opts in BAD_OPTIONS:
        with pytest.raises(OptionError):
            check(kind, strength, **opts)


def test_help_text_comes_from_the_registry():
    assert help_text() == ("Smoothing of colors over time: flow (optical-flow guided, no ghosting) | "
                           f"ema ({EmaSmoother.summary}) | none.")


class HoldSmoother(Smoother):
    """Toy: every frame after a scene's first is the previous output times ``decay``."""

    kind = "hold"
    summary = "repeats the first frame of a scene"
    options = {"decay": lambda v: options.check_range("decay", v, 0.0, 1.0)}

    def __init__(self, strength, decay=1.0, **kw):
        self.decay = np.float32(decay)
        super().__init__(strength, **kw)

    def _step(self, ab, L):
        return self.decay * self._prev_ab


@pytest.fixture
def hold():
    register(HoldSmoother)
    yield HoldSmoother
    unregister("hold")


def test_a_new_smoother_takes_one_class_and_register(hold, astro, coffee):
    assert kinds() == ("none", "ema", "flow", "hold")
    assert "| hold (repeats the first frame of a scene) | none." in help_text()
    sm = make_smoother("hold", 0.5)
    assert isinstance(sm, HoldSmoother) and sm.strength == 0.5
    L, gt = _pan(astro, 6, 0)
    pred = gt + _noise(gt.shape, 6)
    out = torch.cat([sm(pred[:4], L[:4]), sm(pred[4:], L[4:])])
    for t in range(6):
        assert torch.equal(out[t], pred[0])
    half = make_smoother("hold", 0.5, decay=0.5, min_scene_len=2)(pred, L)
    for t in range(6):                              # powers of two: exact in float32
        assert torch.equal(half[t], pred[0] * 0.5 ** t)
    La, Lb = _pan(astro, 3, 0)[0], _pan(coffee, 3, 0)[0]     # a cut at 3: the state resets
    cut = make_smoother("hold", 0.5)(pred[:6], torch.cat([La, Lb]))
    assert torch.equal(cut[2], pred[0]) and torch.equal(cut[3], pred[3]) and torch.equal(cut[5], pred[3])
    check("hold", decay=0.25)
    for opts in ({"decay": 2}, {"preset": "fast"}):
        with pytest.raises(OptionError):
            make_smoother("hold", **opts)
    with pytest.raises(ValueError, match="already registered"):
        register(HoldSmoother)


def test_unregister_and_registration_checks():
    register(HoldSmoother)
    unregister("hold")
    assert "hold" not in kinds() and "hold" not in help_text()
    with pytest.raises(OptionError):
        make_smoother("hold")
    with pytest.raises(KeyError):
        unregister("hold")
    for attrs in ({"kind": "none"}, {"kind": "ema"}, {"summary": ""}, {"options": {"min_scene_len": int}}):
        bad = type("Bad", (HoldSmoother,), attrs)
        with pytest.raises(ValueError):
            register(bad)
    with pytest.raises(TypeError):
        register(int)
    assert kinds() == ("none", "ema", "flow")


def test_package_imports_without_torch():
    code = ("import sys, vidcolor.temporal as t, vidcolor.temporal.scenes; "
            "assert 'torch' not in sys.modules, 'torch'; print(t.kinds())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "('none', 'ema', 'flow')", out.stderr


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        make_smoother("ema")(torch.zeros(2, 2, 8, 8), torch.zeros(3, 1, 8, 8))
