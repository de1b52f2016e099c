"""ECCV16 / SIGGRAPH17 are checkpoint-compatible with the official releases.

The key names and shapes below are written out from the published architectures
(richzhang/colorization, colorizers/eccv16.py and siggraph17.py), not read from
our modules, so a renamed layer or a shifted Sequential index fails here.
"""

from __future__ import annotations

import pytest
import torch

from vidcolor.errors import WeightsError
from vidcolor.models import create_model, load_model


def conv(prefix, cout, cin, k=3):
    return {f"{prefix}.weight": (cout, cin, k, k), f"{prefix}.bias": (cout,)}


def convT(prefix, cin, cout, k=4):
    return {f"{prefix}.weight": (cin, cout, k, k), f"{prefix}.bias": (cout,)}


def bn(prefix, c, counters=True):
    d = {f"{prefix}.{n}": (c,) for n in ("weight", "bias", "running_mean", "running_var")}
    if counters:
        d[f"{prefix}.num_batches_tracked"] = ()
    return d


def zhang_trunk(cin: int, counters: bool) -> dict[str, tuple]:
    """model1..model7 of both official releases (they differ only in the input channels)."""
    s = {}
    s |= conv("model1.0", 64, cin) | conv("model1.2", 64, 64) | bn("model1.4", 64, counters)
    s |= conv("model2.0", 128, 64) | conv("model2.2", 128, 128) | bn("model2.4", 128, counters)
    s |= conv("model3.0", 256, 128) | conv("model3.2", 256, 256) | conv("model3.4", 256, 256) | bn("model3.6", 256, counters)
    s |= conv("model4.0", 512, 256) | conv("model4.2", 512, 512) | conv("model4.4", 512, 512) | bn("model4.6", 512, counters)
    for m in ("model5", "model6", "model7"):
        s |= conv(f"{m}.0", 512, 512) | conv(f"{m}.2", 512, 512) | conv(f"{m}.4", 512, 512) | bn(f"{m}.6", 512, counters)
    return s


def eccv16_official(counters=True) -> dict[str, tuple]:
    s = zhang_trunk(1, counters)
    s |= convT("model8.0", 512, 256) | conv("model8.2", 256, 256) | conv("model8.4", 256, 256)
    s |= conv("model8.6", 313, 256, k=1)
    s["model_out.weight"] = (2, 313, 1, 1)
    return s


def siggraph17_official(counters=True) -> dict[str, tuple]:
    s = zhang_trunk(4, counters)
    s |= convT("model8up.0", 512, 256) | conv("model3short8.0", 256, 256)
    s |= conv("model8.1", 256, 256) | conv("model8.3", 256, 256) | bn("model8.5", 256, counters)
    s |= convT("model9up.0", 256, 128) | conv("model2short9.0", 128, 128)
    s |= conv("model9.1", 128, 128) | bn("model9.3", 128, counters)
    s |= convT("model10up.0", 128, 128) | conv("model1short10.0", 128, 64)
    s |= conv("model10.1", 128, 128)
    s |= conv("model_class.0", 529, 256, k=1)
    s |= conv("model_out.0", 2, 128, k=1)
    return s


def fake_checkpoint(shapes: dict[str, tuple], seed=0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shp in shapes.items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            sd[k] = torch.rand(shp, generator=g) + 0.5
        else:
            sd[k] = torch.randn(shp, generator=g) * 0.05
    return sd


@pytest.mark.parametrize("name,official", [("eccv16", eccv16_official), ("siggraph17", siggraph17_official)])
def test_state_dict_is_the_official_one(name, official):
    ours = {k: tuple(v.shape) for k, v in create_model(name).state_dict().items()}
    assert ours == official(counters=True)


@pytest.mark.parametrize("name,official", [("eccv16", eccv16_official), ("siggraph17", siggraph17_official)])
@pytest.mark.parametrize("counters", [True, False])
def test_official_checkpoint_loads_strictly(tmp_path, name, official, counters):
    sd = fake_checkpoint(official(counters))
    p = tmp_path / f"{name}.pth"
    torch.save(sd, p)
    m = load_model(name, weights=p)
    got = m.state_dict()
    for k, v in sd.items():
        assert torch.equal(got[k], v), k
    assert not m.training


def test_wrong_architecture_is_refused(tmp_path):
    p = tmp_path / "sig.pth"
    torch.save(fake_checkpoint(siggraph17_official()), p)
    with pytest.raises(WeightsError, match=r"is a checkpoint of 'siggraph17', not of 'eccv16': use --model siggraph17"):
        load_model("eccv16", weights=p)
    junk = tmp_path / "junk.pth"                     # fits no model: the keys are listed
    torch.save({"conv.weight": torch.zeros(2, 1, 1, 1)}, junk)
    with pytest.raises(WeightsError, match=r"does not fit the 'eccv16' architecture \(missing .*unexpected conv.weight"
                                           r"\) nor any other vidcolor model"):
        load_model("eccv16", weights=junk)


def test_eccv16_normalization_matches_reference():
    """Reference: out = upsample4(model_out(softmax(net((L - 50) / 100)))) * 110."""
    torch.manual_seed(0)
    m = create_model("eccv16").eval()
    L = torch.rand(1, 1, 32, 32) * 100
    with torch.no_grad():
        x = (L - 50) / 100
        for i in range(1, 9):
            x = getattr(m, f"model{i}")(x)
        ref = torch.nn.functional.interpolate(m.model_out(torch.softmax(x, 1)), scale_factor=4, mode="bilinear") * 110
        ours = m((L - 50) / 100)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_siggraph17_hints_default_to_zero_and_are_scaled():
    torch.manual_seed(0)
    m = create_model("siggraph17").eval()
    l = torch.rand(1, 1, 32, 32) - 0.5
    seen = {}
    def grab(mod, inp, out):
        seen["x"] = inp[0].clone()

    m.model1.register_forward_hook(grab)
    with torch.no_grad():
        a = m(l)
        seen.clear()
        b = m(l, hints_ab=torch.zeros(1, 2, 32, 32), hints_mask=torch.zeros(1, 1, 32, 32))
        assert torch.equal(a, b)
        seen.clear()
        m(l, hints_ab=torch.full((1, 2, 32, 32), 55.0), hints_mask=torch.ones(1, 1, 32, 32))
    x = seen["x"]
    assert torch.allclose(x[:, 1:3], torch.full_like(x[:, 1:3], 0.5))   # ab / 110
    assert torch.equal(x[:, 3:], torch.ones_like(x[:, 3:]))
    assert a.abs().max() <= 110.0 + 1e-4                                  # tanh * 110
