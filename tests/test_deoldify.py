"""DeOldify generators: the official checkpoint layout, a small forward, and the release's pre/post steps.

The expected key -> shape tables are built here by rule from the official code, independently
of :mod:`vidcolor.models.deoldify` (jantic/DeOldify at 5f86c28, its vendored fastai 1.0.56.dev0):

- ``deoldify/generators.py`` ``gen_inference_deep``/``gen_inference_wide``: resnet34 + nf_factor 1.5
  (deep), resnet101 + nf_factor 2 (wide); ``norm_type=NormType.Spectral``, ``self_attention=True``,
  ``n_classes=3`` (``get_dummy_databunch``: ``data.c = 3``);
- ``fastai/vision/learner.py`` ``create_body``: the ResNet's children up to ``[-2]`` is ``layers.0``;
- ``deoldify/unet.py`` ``DynamicUnetDeep``/``DynamicUnetWide``: ``[encoder, batchnorm_2d, ReLU,
  middle_conv, 4 blocks, PixelShuffle_ICNR, MergeLayer, res_block, conv, SigmoidRange]``;
  ``UnetBlockDeep``/``UnetBlockWide`` and ``CustomPixelShuffle_ICNR``;
- ``deoldify/layers.py`` ``custom_conv_layer`` (conv, ReLU, BN, SelfAttention; with
  ``extra_bn=True`` a BN and no bias) and fastai's ``conv_layer`` (``res_block``, the last conv:
  spectral norm is no BN type, so a bias and no BN);
- ``fastai/layers.py`` ``SelfAttention`` (``conv1d``: spectral-normed Conv1d k=1, no bias; ``gamma``),
  ``PixelShuffle_ICNR`` (default ``NormType.Weight``: ``weight_g``/``weight_v`` and a bias);
- torch's ``spectral_norm``: ``weight_orig``, ``weight_u`` (out,), ``weight_v`` (in * k...,).
"""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest
import torch
import torchvision

from vidcolor.models import deoldify as D
from vidcolor.models.registry import load_weights_into

# ---------------------------------------------------------------------------------------------
# the expected tables


def _bn(p, n):
    return {f"{p}.weight": (n,), f"{p}.bias": (n,), f"{p}.running_mean": (n,), f"{p}.running_var": (n,),
            f"{p}.num_batches_tracked": ()}


def _sn(p, ni, nf, ks, bias, dims=2):
    out = {f"{p}.weight_orig": (nf, ni) + (ks,) * dims, f"{p}.weight_u": (nf,), f"{p}.weight_v": (ni * ks ** dims,)}
    if bias:
        out[f"{p}.bias"] = (nf,)
    return out


def _custom_conv(p, ni, nf, ks=3, sa=False):
    """custom_conv_layer(norm_type=Spectral, extra_bn=True): [conv (no bias), ReLU, BN(nf), SelfAttention?]."""
    out = {**_sn(f"{p}.0", ni, nf, ks, bias=False), **_bn(f"{p}.2", nf)}
    if sa:
        out[f"{p}.3.gamma"] = (1,)
        out.update(_sn(f"{p}.3.query", nf, nf // 8, 1, False, dims=1))
        out.update(_sn(f"{p}.3.key", nf, nf // 8, 1, False, dims=1))
        out.update(_sn(f"{p}.3.value", nf, nf, 1, False, dims=1))
    return out


def _custom_shuffle(p, ni, nf):
    """CustomPixelShuffle_ICNR(ni, nf): custom_conv_layer(ni, 4nf, ks=1, use_activ=False) = [conv, BN]."""
    return {**_sn(f"{p}.conv.0", ni, nf * 4, 1, bias=False), **_bn(f"{p}.conv.1", nf * 4)}


def _encoder(arch):
    """create_body: torchvision's children conv1, bn1, relu, maxpool, layer1..4 -> layers.0.0 .. layers.0.7."""
    index = {"conv1": 0, "bn1": 1, "layer1": 4, "layer2": 5, "layer3": 6, "layer4": 7}
    out = {}
    for k, t in getattr(torchvision.models, arch)(weights=None).state_dict().items():
        head, rest = k.split(".", 1)
        if head == "fc":
            continue
        out[f"layers.0.{index[head]}.{rest}"] = tuple(t.shape)
    return out


# encoder output channels at the hooked children [6, 5, 4, 2] (layer3, layer2, layer1, relu) and layer4:
# BasicBlock (resnet34) expansion 1, Bottleneck (resnet101) expansion 4
SKIPS = {"resnet34": ([256, 128, 64, 64], 512), "resnet101": ([1024, 512, 256, 64], 2048)}


def expected_table(kind):
    arch = "resnet34" if kind == "deep" else "resnet101"
    skips, ni = SKIPS[arch]
    t = _encoder(arch)
    t.update(_bn("layers.1", ni))                                    # batchnorm_2d(ni); layers.2 is ReLU
    t.update(_custom_conv("layers.3.0", ni, ni * 2))                 # middle_conv
    t.update(_custom_conv("layers.3.1", ni * 2, ni))
    x = ni
    for i, s in enumerate(skips):
        p, final, sa = f"layers.{4 + i}", i == 3, i == 1             # self-attention: i == len(sfs_idxs) - 3
        if kind == "deep":                                           # UnetBlockDeep, nf_factor 1.5
            up = x // 2
            n_in = up + s
            nf = int((n_in // 2 if final else n_in) * 1.5)
            t.update(_custom_shuffle(f"{p}.shuf", x, up))
            t.update(_bn(f"{p}.bn", s))
            t.update(_custom_conv(f"{p}.conv1", n_in, nf))
            t.update(_custom_conv(f"{p}.conv2", nf, nf, sa=sa))
            x = nf
        else:                                                        # UnetBlockWide, nf = 512 * 2
            half = (512 if final else 1024) // 2
            t.update(_custom_shuffle(f"{p}.shuf", x, half))
            t.update(_bn(f"{p}.bn", s))
            t.update(_custom_conv(f"{p}.conv", half + s, half, sa=sa))
            x = half
    # PixelShuffle_ICNR(x): conv_layer(x, 4x, ks=1, norm_type=Weight, use_activ=False) = [weight-normed conv + bias]
    t.update({"layers.8.conv.0.weight_g": (4 * x, 1, 1, 1), "layers.8.conv.0.weight_v": (4 * x, x, 1, 1),
              "layers.8.conv.0.bias": (4 * x,)})
    x += 3                                                           # layers.9: MergeLayer(dense=True) with the image
    for j in (0, 1):                                                 # res_block(x): two conv_layer (Spectral: bias, no BN)
        t.update(_sn(f"layers.10.layers.{j}.0", x, x, 3, bias=True))
    t.update(_sn("layers.11.0", x, 3, 1, bias=True))                 # the final 1x1 conv; layers.12 SigmoidRange
    return t


# shapes quoted from real checkpoints in public load errors: jantic/DeOldify issue #197 (the
# Artistic file loaded into the wide ResNet101 model: "from checkpoint" vs "current model")
OBSERVED = {
    "deep": {"layers.3.1.2.weight": (512,), "layers.4.shuf.conv.0.weight_orig": (1024, 512, 1, 1),
             "layers.4.shuf.conv.0.weight_u": (1024,), "layers.4.shuf.conv.0.weight_v": (512,),
             "layers.4.shuf.conv.1.weight": (1024,)},
    "wide": {"layers.3.1.2.weight": (2048,), "layers.4.shuf.conv.0.weight_orig": (2048, 2048, 1, 1),
             "layers.4.shuf.conv.0.weight_u": (2048,), "layers.4.shuf.conv.0.weight_v": (2048,),
             "layers.4.shuf.conv.1.weight": (2048,)},
}
# jantic/DeOldify issue #96: "KeyError: 'layers.4.conv.0.weight_orig'" loading ColorizeStable_gen.pth
OBSERVED_KEYS = {"deep": [], "wide": ["layers.4.conv.0.weight_orig"]}

# the official files' sizes (Git LFS pointers of huggingface.co/spensercai/DeOldify commit 448956a)
FILE_SIZES = {"artistic": 255144681, "stable": 874066230, "video": 874066230}


@pytest.fixture(autouse=True)
def _seeded():
    """Random weights and inputs, the same every run (a deep random network can overflow on
    some draws: the tests check plumbing and shapes, not a lucky draw)."""
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def models():
    """Built once each: the Artistic model stays, at most one ResNet101 model (~0.9 GB) is kept."""
    built = {}

    def get(variant):
        if variant not in built:
            for k in [k for k in built if k != "artistic"]:
                del built[k]
            built[variant] = D.DeOldify(variant).eval()
        return built[variant]
    yield get
    built.clear()


def _shapes(sd):
    return {k: tuple(v.shape) for k, v in sd.items()}


@pytest.mark.parametrize("variant", ["artistic", "stable", "video"])
def test_state_dict_is_the_official_layout(models, variant):
    kind = D.VARIANTS[variant].kind
    sd = models(variant).state_dict()
    got, want = _shapes(sd), expected_table(kind)
    assert sorted(set(got) - set(want)) == [] and sorted(set(want) - set(got)) == []
    assert {k: got[k] for k in want if got[k] != want[k]} == {}
    for k, shape in OBSERVED[kind].items():
        assert got[k] == shape, k
    assert all(k in got for k in OBSERVED_KEYS[kind])
    # the tensors fill the published file but for a small per-entry pickle/zip overhead
    data = sum(t.numel() * t.element_size() for t in sd.values())
    assert 0 < FILE_SIZES[variant] - data < 300 * len(sd)


def test_variants_and_defaults():
    assert {k: (v.arch, v.kind, v.nf_factor, v.render_factor) for k, v in D.VARIANTS.items()} == {
        "artistic": ("resnet34", "deep", 1.5, 35), "stable": ("resnet101", "wide", 2, 35),
        "video": ("resnet101", "wide", 2, 21)}
    assert (D.DeOldifyArtistic.input_size, D.DeOldifyStable.input_size, D.DeOldifyVideo.input_size) == (560, 560, 336)
    assert D.render_side(21) == 336 and D.render_side(4) == 64
    with pytest.raises(ValueError):
        D.render_side(0)
    with pytest.raises(ValueError):
        D.DeOldify("nope")


def _fake_opt():
    """fastai's Learner.save writes {'model': ..., 'opt': ...}; the optimizer part may hold a slice."""
    return {"state": {}, "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.99), "params": [0, 1]}],
            "layer_groups": slice(0, 2, None)}


@pytest.mark.parametrize("variant", ["artistic", "video"])
def test_fastai_checkpoint_loads_strictly(models, variant, tmp_path):
    model = models(variant)
    path = tmp_path / f"{variant}_gen.pth"
    torch.save({"model": model.state_dict(), "opt": _fake_opt()}, path)
    attention = "layers.5.conv2.3" if D.VARIANTS[variant].kind == "deep" else "layers.5.conv.3"
    probe = ["layers.11.0.weight_orig", f"{attention}.gamma", f"{attention}.query.weight_v", "layers.0.0.weight",
             "layers.3.0.2.running_var", "layers.8.conv.0.weight_g"]
    before = {k: model.state_dict()[k].clone() for k in probe}

    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL (builtins\.)?slice"):
        torch.load(path, map_location="cpu", weights_only=True)
    with torch.serialization.safe_globals([slice]):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["opt"]["layer_groups"] == slice(0, 2)

    target = D.DeOldify(variant) if variant == "artistic" else model
    with torch.no_grad():
        for k in probe:
            target.state_dict()[k].fill_(7.0)
    target.load_state_dict(ckpt["model"], strict=True)
    for k in probe:
        assert torch.equal(target.state_dict()[k], before[k]), k
    # a plain dict (no torch _metadata, as a re-packing loader may give) loads too
    target.load_state_dict(dict(ckpt["model"]), strict=True)


def test_registry_loader_tolerates_missing_bn_counters(models, tmp_path):
    """Files saved before torch 0.4.1 lack num_batches_tracked; vidcolor's loader fills them in."""
    sd = {k: v for k, v in models("artistic").state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save({"model": sd}, path)
    fresh = D.DeOldify("artistic")
    load_weights_into(fresh, path)
    assert torch.equal(fresh.state_dict()["layers.11.0.weight_orig"], sd["layers.11.0.weight_orig"])


@pytest.mark.parametrize("variant", ["artistic", "video"])
def test_forward_shape_and_range(models, variant):
    model = models(variant)
    x = D.preprocess(np.full((40, 50, 3), 120, np.uint8), render_factor=4)
    assert x.shape == (1, 3, 64, 64)
    with torch.no_grad():
        y = model.forward_rgb(torch.cat([x, torch.randn(1, 3, 64, 64)]))
    assert y.shape == (2, 3, 64, 64) and y.dtype == torch.float32
    assert torch.isfinite(y).all() and y.min() >= -3.0 and y.max() <= 3.0
    if variant == "artistic":
        with torch.no_grad():                          # a side that is no multiple of 32 (render_factor 5)
            assert model.forward_rgb(torch.randn(1, 3, 80, 80)).shape == (1, 3, 80, 80)
        with pytest.raises(ValueError):
            model.forward_rgb(torch.randn(1, 3, 63, 64))
        ab = model(torch.zeros(1, 1, 64, 64))           # vidcolor's L -> ab adapter (eval, bench)
        assert ab.shape == (1, 2, 64, 64) and torch.isfinite(ab).all()


def test_self_attention_starts_as_identity():
    att = D.SelfAttention(16).eval()
    x = torch.randn(2, 16, 5, 7)
    assert torch.equal(att(x), x)                      # gamma = 0
    with torch.no_grad():
        att.gamma.fill_(1.0)
    y = att(x)
    # independent SAGAN formula, torch's spectral-normed weights
    f = torch.einsum("oc,ncp->nop", att.query.weight[..., 0], x.flatten(2))
    g = torch.einsum("oc,ncp->nop", att.key.weight[..., 0], x.flatten(2))
    h = torch.einsum("oc,ncp->nop", att.value.weight[..., 0], x.flatten(2))
    beta = torch.softmax(f.transpose(1, 2) @ g, dim=1)
    assert torch.allclose(y, (h @ beta + x.flatten(2)).view_as(x), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# pre/post-processing


def _pil_luma(rgb):
    """ITU-R 601-2 luma with Pillow's fixed-point rounding (what convert('L'/'LA') computes)."""
    c = rgb.astype(np.int64)
    return ((c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def test_preprocess_stretches_then_grays_then_normalizes():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (30, 70, 3), dtype=np.uint8)
    x = D.preprocess(img, render_factor=2)
    assert x.shape == (1, 3, 32, 32) and x.dtype == torch.float32
    mean = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
    std = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]
    back = x[0].numpy() * std + mean
    gray = np.round(back * 255)
    assert np.abs(back * 255 - gray).max() < 1e-3          # integer levels, /255
    assert (gray[0] == gray[1]).all() and (gray[1] == gray[2]).all()
    # stretch first (PIL bilinear), gray second
    from PIL import Image
    stretched = np.asarray(Image.fromarray(img).resize((32, 32), resample=Image.BILINEAR))
    assert np.array_equal(gray[0].astype(np.uint8), _pil_luma(stretched))
    # a constant image stays constant: v -> (v/255 - mean) / std
    c = D.preprocess(np.full((9, 13, 3), 200, np.uint8), 1)[0].numpy()
    assert np.allclose(c, (200 / 255 - mean) / std, atol=1e-6) and c.shape == (3, 16, 16)
    with pytest.raises(ValueError):
        D.preprocess(img[..., 0], 2)


def test_to_gray_rgb_is_pil_luma():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    g = D.to_gray_rgb(img)
    assert g.dtype == np.uint8 and g.shape == img.shape
    for ch in range(3):
        assert np.array_equal(g[..., ch], _pil_luma(img))


def test_denormalize_clamps_and_truncates():
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    target = np.array([[0.0, 100.7, 254.99], [17.2, 128.0, 255.0]], np.float32)   # 2 pixels x 3 channels
    out = ((target / 255 - mean) / std).T.reshape(3, 1, 2)                        # 3HW
    got = D.denormalize(torch.from_numpy(out)[None])
    assert got.shape == (1, 2, 3) and got.dtype == np.uint8
    want = np.floor((out.reshape(3, 2).T * std + mean).clip(0, 1) * 255)          # truncation, not rounding
    assert np.array_equal(got[0], want.astype(np.uint8))
    assert got[0, 0, 1] == 100
    ends = D.denormalize(torch.tensor([3.0, -3.0, 0.0]).view(3, 1, 1))
    assert ends.tolist() == [[[255, 0, int(0.406 * 255)]]]


def _yuv(rgb):
    """OpenCV's documented RGB -> YUV (uint8: delta 128, saturated)."""
    f = rgb.astype(np.float64)
    y = f @ [0.299, 0.587, 0.114]
    return y, np.clip(0.492 * (f[..., 2] - y) + 128, 0, 255), np.clip(0.877 * (f[..., 0] - y) + 128, 0, 255)


def test_join_keeps_original_luminance_and_model_chroma():
    rng = np.random.default_rng(2)
    gray = np.repeat(rng.integers(30, 220, (24, 24, 1), dtype=np.uint8), 3, axis=2)    # the B&W original
    color = np.clip(gray.astype(int) + rng.integers(-25, 26, (24, 24, 3)), 0, 255).astype(np.uint8)
    out = D.join_luminance(color, gray)
    assert out.shape == gray.shape and out.dtype == np.uint8
    # the release's formula: YUV(orig) with U, V of the colorized image, back to RGB
    yuv = cv2.cvtColor(gray, cv2.COLOR_RGB2YUV)
    yuv[..., 1:] = cv2.cvtColor(color, cv2.COLOR_RGB2YUV)[..., 1:]
    assert np.array_equal(out, cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB))
    # independently: the output's Y is the original's (up to 8-bit rounding), its U, V the model's
    # (where no channel saturated: the chroma of a bright pixel can push B or R past 255)
    y_out, u_out, v_out = _yuv(out)
    y_gray, _, _ = _yuv(gray)
    _, u_col, v_col = _yuv(color)
    ok = (out.max(axis=2) < 255) & (out.min(axis=2) > 0)
    assert ok.mean() > 0.8
    assert np.abs(y_out - y_gray)[ok].max() <= 1.5
    assert np.abs(u_out - u_col)[ok].max() <= 1.5 and np.abs(v_out - v_col)[ok].max() <= 1.5
    # no chroma in the model output: the original comes back exactly
    assert np.array_equal(D.join_luminance(gray, gray), gray)


def test_postprocess_resizes_to_the_original_and_joins():
    rng = np.random.default_rng(3)
    orig = np.repeat(rng.integers(0, 256, (30, 44, 1), dtype=np.uint8), 3, axis=2)
    out = torch.randn(1, 3, 32, 32)
    raw = D.postprocess(orig, out, post_process=False)
    assert raw.shape == (30, 44, 3) and raw.dtype == np.uint8
    from PIL import Image
    want_raw = np.asarray(Image.fromarray(D.denormalize(out)).resize((44, 30), resample=Image.BILINEAR))
    assert np.array_equal(raw, want_raw)
    final = D.postprocess(orig, out)
    assert np.array_equal(final, D.join_luminance(want_raw, orig))
    y_final, _, _ = _yuv(final)
    y_orig, _, _ = _yuv(orig)
    unsaturated = (final.max(axis=2) < 255) & (final.min(axis=2) > 0)
    assert np.abs(y_final - y_orig)[unsaturated].max() <= 1.5
    with pytest.raises(ValueError):
        D.postprocess(orig[..., 0], out)


def test_weight_specs_are_the_mirror_files():
    for variant, spec in D.WEIGHTS.items():
        assert spec.filename == D.VARIANTS[variant].checkpoint
        assert spec.url == "https://huggingface.co/spensercai/DeOldify/resolve/main/" + spec.filename
        assert spec.size == FILE_SIZES[variant] and len(spec.sha256) == 64
