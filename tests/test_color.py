"""Lab conversion: kornia (device path) against scikit-image, OpenCV (CPU host path) against kornia."""

from __future__ import annotations

import numpy as np
import torch
from skimage.color import lab2rgb, rgb2lab

from vidcolor import color
from vidcolor.media.synth import photo


def test_l_matches_skimage():
    img = photo("coffee")[::4, ::4]
    ref = rgb2lab(img)[..., 0]
    got = color.rgb_to_l(color.to_float_rgb(torch.from_numpy(img)[None]))[0, 0].numpy()
    assert np.abs(got - ref).max() < 1e-3
    host = color.host_rgb_to_l(img[None])[0]
    assert np.abs(host - ref).max() < 0.25


def test_lab_roundtrip_and_normalization():
    x = color.to_float_rgb(torch.from_numpy(photo("astronaut")[::8, ::8])[None])
    lab = color.rgb_to_lab(x)
    assert torch.allclose(color.lab_to_rgb(lab), x, atol=1e-4)
    assert torch.allclose(color.normalize_l(torch.tensor([0.0, 50.0, 100.0])), torch.tensor([-0.5, 0.0, 0.5]))
    assert torch.allclose(color.unnormalize_ab(color.normalize_ab(torch.tensor([110.0, -55.0]))), torch.tensor([110.0, -55.0]))


def test_host_compose_equals_device_compose_in_gamut():
    img = photo("chelsea")[::4, ::4]
    lab = rgb2lab(img).astype(np.float32)           # in-gamut colors by construction
    L = lab[None, ..., 0]
    ab_small = torch.from_numpy(lab[..., 1:]).permute(2, 0, 1)[None]
    ab_small = color.resize(ab_small, (lab.shape[0] // 4, lab.shape[1] // 4))
    dev = color.from_float_rgb(color.compose(torch.from_numpy(L)[:, None], ab_small))[0].numpy().astype(int)
    host = color.host_compose(L, ab_small.numpy()).astype(int)[0]
    diff = np.abs(dev - host)
    assert diff.mean() < 0.05 and np.percentile(diff, 99.9) <= 1


def test_compose_keeps_luminance():
    img = photo("coffee")[::4, ::4]
    lab = rgb2lab(img)
    out = color.host_compose(lab[None, ..., 0].astype(np.float32),
                             np.zeros((1, 2, 8, 8), np.float32))[0]
    assert np.abs(rgb2lab(out)[..., 0] - lab[..., 0]).mean() < 0.3
    assert np.abs(rgb2lab(out)[..., 1:]).max() < 1.0          # ab = 0 gives gray
    assert np.allclose(lab2rgb(np.dstack([lab[..., :1], np.zeros_like(lab[..., 1:])])) * 255, out, atol=1)
