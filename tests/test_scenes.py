"""Scene-cut detector: score scale, planted cuts, no false cuts on a pan, input types."""

import numpy as np
import pytest
import torch
from skimage import data

from vidcolor import color
from vidcolor.options import SCENE_THRESHOLD
from vidcolor.temporal.scenes import ContentDetector, analysis_frame, content_score, luminance


def _L(photo: np.ndarray) -> np.ndarray:
    """uint8 RGB HxWx3 -> Lab L float32 HxW (0..100)."""
    t = color.to_float_rgb(torch.from_numpy(np.ascontiguousarray(photo))[None])
    return color.rgb_to_l(t)[0, 0].numpy()


def _pan(L: np.ndarray, n: int, step: int, size: int = 160, x0: int = 0, y0: int = 0) -> list[np.ndarray]:
    return [L[y0:y0 + size, x0 + i * step:x0 + i * step + size] for i in range(n)]


@pytest.fixture(scope="module")
def photos():
    return [_L(p) for p in (data.astronaut(), data.coffee(), data.chelsea())]


def test_score_scale_hand_computed():
    a = np.full((90, 120), 40.0, np.float32)
    b = np.full((90, 120), 50.0, np.float32)
    assert content_score(analysis_frame(a), analysis_frame(b)) == pytest.approx(10.0, abs=1e-4)
    # uint8 is 8-bit L (0..255 -> 0..100): black vs white = 100 L units
    z, w = np.zeros((64, 64), np.uint8), np.full((64, 64), 255, np.uint8)
    assert content_score(analysis_frame(z), analysis_frame(w)) == pytest.approx(100.0, abs=1e-4)
    # half the frame changes by 30 -> 15
    c = a.copy()
    c[:, :60] += 30
    assert content_score(analysis_frame(a), analysis_frame(c)) == pytest.approx(15.0, abs=1e-3)


def test_input_types_agree(photos):
    L = photos[0][:200, :300]
    ref = luminance(L)
    assert np.array_equal(luminance(torch.from_numpy(L)[None, None]), ref)
    assert np.array_equal(luminance(torch.from_numpy(L)[None]), ref)
    with pytest.raises(ValueError):
        luminance(np.zeros((2, 8, 8), np.float32))


def test_score_nearly_independent_of_aspect_squeeze(photos):
    """A full-size frame pair and the same pair squeezed to a square model input score alike."""
    a, b = photos[0][:256, :384], photos[1][:256, :384]
    full = content_score(analysis_frame(a), analysis_frame(b))
    sq = [color.resize(torch.from_numpy(x)[None, None], 256)[0, 0].numpy() for x in (a, b)]
    small = content_score(analysis_frame(sq[0]), analysis_frame(sq[1]))
    assert small == pytest.approx(full, rel=0.05)


def test_finds_planted_cuts_and_nothing_else(photos):
    frames = []
    for L in photos:   # three shots, each a slow pan (2 px/frame), 16 frames (>= min_scene_len 15)
        frames += _pan(L, 16, 2, x0=40, y0=40)
    det = ContentDetector()
    cuts = [i for i, f in enumerate(frames) if det.update(f)]
    assert cuts == [16, 32]


def test_no_false_cut_on_slow_pan_or_static(photos):
    det = ContentDetector()
    pan = _pan(photos[0], 60, 3)
    assert not any(det.update(f) for f in pan)
    assert max(content_score(analysis_frame(a), analysis_frame(b)) for a, b in zip(pan, pan[1:])) < SCENE_THRESHOLD / 2
    det.reset()
    assert not any(det.update(pan[0]) for _ in range(20))
    assert det.last_score == 0.0


def test_min_scene_len_suppresses_early_cuts_and_reset(photos):
    a, b = photos[0][:160, :160], photos[1][:160, :160]
    det = ContentDetector(min_scene_len=5)
    seq = [a, a, b, b, b, b, b, a]   # jump at 2 (scene too short), jump back at 7 (scene of 7 frames)
    assert [det.update(f) for f in seq] == [False] * 7 + [True]
    assert det.last_score > SCENE_THRESHOLD
    det.reset()
    assert det.update(b) is False   # first frame after reset is never a cut
    det1 = ContentDetector(min_scene_len=1)
    assert [det1.update(f) for f in seq] == [False, False, True, False, False, False, False, True]


def test_threshold_is_configurable(photos):
    a, b = photos[0][:160, :160], photos[1][:160, :160]
    s = content_score(analysis_frame(a), analysis_frame(b))
    det = ContentDetector(threshold=s + 1, min_scene_len=1)
    assert [det.update(f) for f in (a, b)] == [False, False]
    det = ContentDetector(threshold=s - 1, min_scene_len=1)
    assert [det.update(f) for f in (a, b)] == [False, True]
    with pytest.raises(ValueError):
        ContentDetector(threshold=0)
