"""The compact colorizer, its ab bins, and the shipped weights."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from skimage import data as skdata
from skimage.color import rgb2lab

from vidcolor.errors import WeightsError
from vidcolor.models import abbins
from vidcolor.models.compact import Compact


@pytest.fixture(scope="module")
def centers() -> torch.Tensor:
    return abbins.ab_bins()


def _srgb_cube_ab(n: int = 48) -> np.ndarray:
    """ab (Lab units) of an n^3 sample of the sRGB cube, by scikit-image: P x 2."""
    v = np.linspace(0.0, 1.0, n)
    rgb = np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1).reshape(1, -1, 3)
    return rgb2lab(rgb)[0, :, 1:]


def test_bins_count_grid_and_known_colors(centers):
    assert 200 <= centers.shape[0] <= 400          # Zhang et al. report 313 with their gamut estimate
    assert torch.equal(centers, (centers / 10).round() * 10)        # on the grid of step 10
    as_set = {tuple(c) for c in centers.int().tolist()}
    assert (0, 0) in as_set                          # gray
    assert (80, 70) in as_set                        # sRGB red is at a=80.1, b=67.2 (L=53.2)
    assert (-90, 80) in as_set                       # sRGB green: a=-86.2, b=83.2
    assert (80, -110) in as_set                      # sRGB blue: a=79.2, b=-107.9
    assert (-110, 110) not in as_set and (110, 110) not in as_set and (-110, -110) not in as_set


def test_bins_are_the_cells_holding_srgb_colors(centers):
    """Checked against scikit-image's Lab conversion: the bins' cells hold (almost) every
    sRGB color, the rest lie next to a bin, and (almost) every bin's cell holds some sRGB color.
    "Almost": ab_bins samples 5 x 5 points per cell, so a thin sliver of a border cell can be missed."""
    ab = torch.from_numpy(_srgb_cube_ab()).float()
    cell = (ab / 10).round() * 10
    inside = (cell.view(-1, 1, 2) == centers.view(1, -1, 2)).all(dim=2)          # P x Q
    assert inside.any(dim=1).float().mean() > 0.999
    assert torch.cdist(ab, centers).min(dim=1).values.max() < 10.0
    assert inside.any(dim=0).float().mean() > 0.95


def test_rebalance_weights_and_prior():
    q = 7
    uniform = torch.full((q,), 1.0 / q)
    assert torch.allclose(abbins.rebalance_weights(uniform, 0.5), torch.ones(q))
    prior = torch.tensor([0.5, 0.25, 0.125, 0.125])
    w = abbins.rebalance_weights(prior, 0.5)
    # w ∝ 1 / (0.5 p + 0.5 / 4): [1/0.375, 1/0.25, 1/0.1875, 1/0.1875], scaled so sum(p w) = 1
    raw = torch.tensor([1 / 0.375, 1 / 0.25, 1 / 0.1875, 1 / 0.1875])
    assert torch.allclose(w, raw / (prior * raw).sum())
    assert torch.isclose((prior * w).sum(), torch.tensor(1.0))
    # smoothing spreads mass to the neighbors; it still sums to 1
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [100.0, 0.0]])
    p = abbins.empirical_prior(torch.tensor([10.0, 0.0, 0.0]), centers, sigma=5.0)
    assert torch.isclose(p.sum(), torch.tensor(1.0))
    assert p[0] > p[1] > 0 and p[2] < 1e-6
    # exp(-100/50) of the mass goes to the neighbor 10 apart, relative to the center's 1
    assert torch.isclose(p[1] / p[0], torch.tensor(np.exp(-2.0), dtype=torch.float32), rtol=1e-4)


def test_soft_encode_and_annealed_mean():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [30.0, 30.0]])
    ab = torch.tensor([0.0, 0.0]).view(1, 2, 1, 1)
    t = abbins.soft_encode(ab, centers, k=3, sigma=5.0)[0, :, 0, 0]
    e = float(np.exp(-100 / 50))
    assert torch.allclose(t, torch.tensor([1 / (1 + 2 * e), e / (1 + 2 * e), e / (1 + 2 * e), 0.0]))
    logits = torch.log(torch.tensor([0.5, 0.3, 0.2, 0.0]) + 1e-12).view(1, 4, 1, 1)
    mean = abbins.annealed_mean(logits, centers, 1.0)[0, :, 0, 0]
    assert torch.allclose(mean, torch.tensor([3.0, 2.0]), atol=1e-4)          # 0.3*10, 0.2*10
    mode = abbins.annealed_mean(logits, centers, 0.01)[0, :, 0, 0]
    assert torch.allclose(mode, torch.tensor([0.0, 0.0]), atol=1e-3)
    # T = 0.5 squares the probabilities: [.25, .09, .04] / .38
    half = abbins.annealed_mean(logits, centers, 0.5)[0, :, 0, 0]
    assert torch.allclose(half, torch.tensor([0.9 / 0.38, 0.4 / 0.38]), atol=1e-4)


def test_parameter_count_and_any_input_size():
    m = Compact().eval()
    n = sum(p.numel() for p in m.parameters())
    assert n <= 5_000_000
    with torch.no_grad():
        for h, w in ((64, 64), (50, 70), (33, 17)):
            out = m(torch.zeros(2, 1, h, w))
            assert out.shape == (2, 2, h, w)
        assert m.logits(torch.zeros(1, 1, 64, 96)).shape == (1, m.ab_centers.shape[0], 16, 24)


def test_decode_bias_shifts_the_decoded_color():
    m = Compact().eval()
    q = m.ab_centers.shape[0]
    k = int(((m.ab_centers - torch.tensor([40.0, 30.0])).norm(dim=1)).argmin())
    with torch.no_grad():
        m.decode_bias.fill_(-1e4)
        m.decode_bias[k] = 0.0                     # every other bin ruled out
        ab = m(torch.zeros(1, 1, 32, 32))
    assert q > k and torch.allclose(ab, m.ab_centers[k].view(1, 2, 1, 1).expand_as(ab), atol=1e-4)


def test_shipped_weights_colorize_offline(monkeypatch, tmp_path):
    from vidcolor.color import lab_to_rgb, normalize_l, rgb_to_lab, to_float_rgb
    from vidcolor.models import DEFAULT_MODEL, load_model

    from vidcolor import weights as W

    monkeypatch.setenv("VIDCOLOR_HOME", str(tmp_path))          # an empty cache: only shipped files
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("network used"))
    assert DEFAULT_MODEL == "compact"
    path = W.resolve("compact")
    assert path.parent == W.SHIPPED_DIR and path.stat().st_size <= 20_000_000
    assert W.sha256_of(path) == W.get_spec("compact").sha256
    m = load_model("compact")
    rgb = to_float_rgb(torch.from_numpy(skdata.chelsea()[::4, ::4].copy())[None])   # 75 x 113
    lab = rgb_to_lab(rgb)
    with torch.no_grad():
        ab = m(normalize_l(lab[:, :1]))
    assert ab.shape == (1, 2, 75, 113)
    chroma = ab.norm(dim=1)
    assert chroma.mean() > 3.0                                   # colored, not gray
    out = lab_to_rgb(torch.cat([lab[:, :1], ab], 1))
    assert out.min() >= 0 and out.max() <= 1


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo hacked",))


def test_pickle_with_code_is_refused(tmp_path, capfd):
    from vidcolor.weights import load_state_dict

    bad = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": _Payload()}, bad)
    with pytest.raises(WeightsError, match="refusing to load .*evil.pt.*could run code"):
        load_state_dict(bad)
    assert "hacked" not in capfd.readouterr().out
