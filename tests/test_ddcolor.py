"""DDColor (vidcolor/models/ddcolor.py): checkpoint layout, a forward of the tiny variant, and the
official pre/post-processing, checked against independent computations. No network, no GPU;
ConvNeXt-L is only built on the meta device (no memory, no init cost) and never run."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
import torch
from skimage import color as skcolor
from skimage import data as skdata

from vidcolor.models import ddcolor as D

L_LAYOUT = ((3, 3, 27, 3), (192, 384, 768, 1536))   # ConvNeXt-L (ddcolor_arch.py Encoder 'convnext-l')
T_LAYOUT = ((3, 3, 9, 3), (96, 192, 384, 768))      # ConvNeXt-T ('convnext-t')


def official_layout(depths, dims, head_cls=True) -> dict[str, tuple[int, ...]]:
    """The key -> shape table of a released checkpoint, written down from the official code's
    module tree (piddnad/DDColor), by rule: nothing here asks the module under test."""
    t: dict[str, tuple[int, ...]] = {}

    def lin(p, cin, cout):           # nn.Linear
        t[p + ".weight"], t[p + ".bias"] = (cout, cin), (cout,)

    def ln(p, c):                    # nn.LayerNorm / convnext.py LayerNorm
        t[p + ".weight"], t[p + ".bias"] = (c,), (c,)

    def conv(p, cin, cout, k, bias=True):
        t[p + ".weight"] = (cout, cin, k, k)
        if bias:
            t[p + ".bias"] = (cout,)

    def sn_conv(p, cin, cout, k, bias):  # torch.nn.utils.spectral_norm(nn.Conv2d): weight -> weight_orig + u, v
        t[p + ".weight_orig"] = (cout, cin, k, k)
        t[p + ".weight_u"], t[p + ".weight_v"] = (cout,), (cin * k * k,)
        if bias:
            t[p + ".bias"] = (cout,)

    def bn(p, c):                    # nn.BatchNorm2d (unet.py batchnorm_2d / custom_conv_layer extra_bn)
        for s in ("weight", "bias", "running_mean", "running_var"):
            t[f"{p}.{s}"] = (c,)
        t[p + ".num_batches_tracked"] = ()

    # ddcolor_arch.py DDColor.__init__: register_buffer('mean'/'std', (1, 3, 1, 1))
    t["mean"] = t["std"] = (1, 3, 1, 1)

    # convnext.py ConvNeXt: stem (conv 4x4/4 + LayerNorm), 3 x (LayerNorm + conv 2x2/2), stages of Block,
    # extra norm0..norm3, final norm, and head_cls (Linear(dims[-1], 4), in the checkpoints; commented
    # out of the code by commit 1a190e2, after which the official loaders use strict=False)
    e = "encoder.arch."
    conv(e + "downsample_layers.0.0", 3, dims[0], 4)
    ln(e + "downsample_layers.0.1", dims[0])
    for i in range(1, 4):
        ln(f"{e}downsample_layers.{i}.0", dims[i - 1])
        conv(f"{e}downsample_layers.{i}.1", dims[i - 1], dims[i], 2)
    for s, (n, d) in enumerate(zip(depths, dims)):
        for j in range(n):  # convnext.py Block
            b = f"{e}stages.{s}.{j}."
            t[b + "gamma"] = (d,)
            t[b + "dwconv.weight"], t[b + "dwconv.bias"] = (d, 1, 7, 7), (d,)
            ln(b + "norm", d)
            lin(b + "pwconv1", d, 4 * d)
            lin(b + "pwconv2", 4 * d, d)
        ln(f"{e}norm{s}", d)
    ln(e + "norm", dims[-1])
    if head_cls:
        lin(e + "head_cls", dims[-1], 4)

    # ddcolor_arch.py Decoder.make_layers: UnetBlockWide(in_c, feature_c, out_c) over hooks norm2, norm1, norm0,
    # nf = 512, the last block halved; unet.py UnetBlockWide: shuf = CustomPixelShuffle_ICNR(extra_bn=True)
    # -> conv = [SN conv 1x1 no bias, BN(4*out)]; bn = BN(skip); conv = [SN conv 3x3 no bias, ReLU, BN(out)]
    nf = 512
    ups, skips, outs = (dims[3], nf, nf), (dims[2], dims[1], dims[0]), (nf, nf, nf // 2)
    for i, (u, s, o) in enumerate(zip(ups, skips, outs)):
        p = f"decoder.layers.{i}."
        sn_conv(p + "shuf.conv.0", u, 4 * o, 1, bias=False)
        bn(p + "shuf.conv.1", 4 * o)
        bn(p + "bn", s)
        sn_conv(p + "conv.0", o + s, o, 3, bias=False)
        bn(p + "conv.2", o)
    # Decoder.last_shuf = CustomPixelShuffle_ICNR(256, 256, scale=4, norm Spectral, no BN -> conv with bias)
    sn_conv("decoder.last_shuf.conv.0", nf // 2, (nf // 2) * 16, 1, bias=True)

    # ddcolor_arch.py MultiScaleColorDecoder(in_channels=[512, 512, 256], hidden 256, 100 queries, 3 scales,
    # 9 layers, FFN 2048) with transformer_utils.py layers (nn.MultiheadAttention: in_proj_*, out_proj)
    c, q, ff = 256, 100, 2048
    cd = "decoder.color_decoder."
    for i in range(9):
        for kind, attn in (("self", "self_attn"), ("cross", "multihead_attn")):
            p = f"{cd}transformer_{kind}_attention_layers.{i}."
            t[p + attn + ".in_proj_weight"], t[p + attn + ".in_proj_bias"] = (3 * c, c), (3 * c,)
            lin(p + attn + ".out_proj", c, c)
            ln(p + "norm", c)
        p = f"{cd}transformer_ffn_layers.{i}."
        lin(p + "linear1", c, ff)
        lin(p + "linear2", ff, c)
        ln(p + "norm", c)
    ln(cd + "decoder_norm", c)
    t[cd + "query_feat.weight"] = t[cd + "query_embed.weight"] = (q, c)
    t[cd + "level_embed.weight"] = (3, c)
    for i, cin in enumerate(outs):
        conv(f"{cd}input_proj.{i}", cin, c, 1)
    for i in range(3):  # MLP(256, 256, 256, 3)
        lin(f"{cd}color_embed.layers.{i}", c, c)

    # DDColor.refine_net = Sequential(custom_conv_layer(100 + 3, 2, ks=1, no activation, Spectral))
    sn_conv("refine_net.0.0", q + 3, 2, 1, bias=True)
    return t


def shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def tiny() -> D.DDColor:
    torch.manual_seed(0)
    return D.DDColor("convnext-t").eval()


def test_layout_large_matches_the_release():
    with torch.device("meta"):  # the one ConvNeXt-L of the suite: shapes only, no memory
        model = D.DDColor("convnext-l")
    table = official_layout(*L_LAYOUT)
    assert shapes(model) == table
    assert len(table) == 604
    # a checkpoint made from the table alone loads strictly
    sd = {k: torch.zeros(s, dtype=torch.int64 if k.endswith("num_batches_tracked") else torch.float32)
          for k, s in table.items()}
    model.load_state_dict(sd, strict=True, assign=True)
    assert sum(v.numel() for k, v in sd.items()) == 227_928_012  # ~912 MB in float32, as the releases


def test_layout_tiny_matches_and_roundtrips(tiny, tmp_path):
    table = official_layout(*T_LAYOUT)
    assert shapes(tiny) == table and len(table) == 442
    # the Hugging Face PyTorchModelHubMixin files come from the class without head_cls
    with torch.device("meta"):
        assert shapes(D.DDColor("convnext-t", head_cls=False)) == official_layout(*T_LAYOUT, head_cls=False)

    path = tmp_path / "ddcolor_paper_tiny.pth"
    torch.save({D.CHECKPOINT_KEY: tiny.state_dict()}, path)
    obj = torch.load(path, map_location="cpu", weights_only=True)
    assert list(obj) == ["params"]
    sd = D.unwrap_checkpoint(obj)
    other = D.DDColor("convnext-t")
    other.load_state_dict(sd, strict=True)
    for k, v in tiny.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k
    assert D.unwrap_checkpoint(sd) == sd  # a bare state dict passes through


def test_releases_table():
    assert set(D.RELEASES) == {"ddcolor-paper", "ddcolor-modelscope", "ddcolor-artistic", "ddcolor-paper-tiny"}
    for name, (enc, spec) in D.RELEASES.items():
        assert enc == ("convnext-t" if name.endswith("tiny") else "convnext-l")
        assert spec.name == name and re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        assert spec.url == "https://huggingface.co/piddnad/DDColor-models/resolve/main/" + spec.filename
        assert spec.size is None or spec.size > 2e8
    with torch.device("meta"):
        m = D.build("ddcolor-paper-tiny")
    assert m.name == "ddcolor-paper-tiny" and m.encoder_name == "convnext-t"


def test_tiny_forward_shapes(tiny):
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        ab = tiny.forward_rgb(x)
        ab_l = tiny(torch.rand(1, 1, 64, 64) - 0.5)
    assert ab.shape == (2, 2, 64, 96) and ab.dtype == torch.float32 and torch.isfinite(ab).all()
    assert ab_l.shape == (1, 2, 64, 64) and torch.isfinite(ab_l).all()
    # the pixel decoder's scales: 1/16, 1/8, 1/4 of the input, then full size for the color maps
    feats = tiny.encoder((x - tiny.mean) / tiny.std)
    assert [f.shape[1:] for f in feats] == [(96, 16, 24), (192, 8, 12), (384, 4, 6), (768, 2, 3)]
    with pytest.raises(ValueError, match="multiples of 32"):
        tiny.forward_rgb(torch.rand(1, 3, 48, 64))
    assert D.DDColor.input_size == 512


def test_sine_position_embedding_independent():
    h, w, dim = 3, 5, 8
    pe = D.sine_position_embedding(h, w, dim)
    assert pe.shape == (dim, h, w)
    half = dim // 2
    for c in range(half):
        f = 10000 ** (2 * (c // 2) / half)
        fn = np.sin if c % 2 == 0 else np.cos
        ys = (np.arange(1, h + 1) / (h + 1e-6) * 2 * np.pi) / f
        xs = (np.arange(1, w + 1) / (w + 1e-6) * 2 * np.pi) / f
        np.testing.assert_allclose(pe[c].numpy(), np.repeat(fn(ys)[:, None], w, 1), atol=1e-6)
        np.testing.assert_allclose(pe[half + c].numpy(), np.repeat(fn(xs)[None, :], h, 0), atol=1e-6)


def test_spectral_conv_eval_divides_by_u_w_v():
    torch.manual_seed(1)
    m = D.SpectralConv2d(6, 4, 3, bias=True, padding=1).eval()
    w = m.weight_orig.detach().reshape(4, -1)
    sigma = m.weight_u @ w @ m.weight_v
    # random init runs 5 power steps: sigma is close to the largest singular value
    np.testing.assert_allclose(sigma.item(), torch.linalg.matrix_norm(w, ord=2).item(), rtol=1e-2)
    u0 = m.weight_u.clone()
    x = torch.rand(1, 6, 5, 5)
    ref = torch.nn.functional.conv2d(x, m.weight_orig / sigma, m.bias, padding=1)
    torch.testing.assert_close(m(x), ref)
    assert torch.equal(m.weight_u, u0)  # eval: the stored vectors, no power iteration


def photo(h=90, w=120, low=0.25, high=0.75) -> np.ndarray:
    """A natural image with its tones squeezed into mid-gray (moderate ab stays in gamut)."""
    img = cv2.resize(skdata.astronaut(), (w, h), interpolation=cv2.INTER_AREA).astype(np.float64) / 255
    return np.round((low + (high - low) * img) * 255).astype(np.uint8)


def test_gray_rgb_from_l_matches_opencv_and_skimage():
    L = torch.linspace(0, 100, 201).view(1, 1, 1, -1)
    ours = D.gray_rgb_from_l(L)[0].permute(1, 2, 0).numpy()
    lab = np.concatenate([L[0].permute(1, 2, 0).numpy(), np.zeros((1, 201, 2), np.float32)], axis=-1)
    np.testing.assert_allclose(ours, cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), atol=1e-4)  # OpenCV's tables
    np.testing.assert_allclose(ours, skcolor.lab2rgb(lab.astype(np.float64)), atol=2e-4)


def test_preprocess_is_the_gray_of_the_resized_image():
    rgb = photo(low=0.0, high=1.0)
    x = preprocess_checked(rgb, 64)
    g = x[0].permute(1, 2, 0).numpy().astype(np.float64)
    assert np.abs(g - g[..., :1]).max() < 1e-5  # (L, 0, 0) back to RGB: gray
    # independent: bilinear resize with half-pixel centres (torch), L by scikit-image
    f = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    small = torch.nn.functional.interpolate(f, size=(64, 64), mode="bilinear", align_corners=False)
    small = small[0].permute(1, 2, 0).numpy()
    # the gray of the resized image's L, L by OpenCV (the release's conversion) ...
    def gray_of(L):
        return D.gray_rgb_from_l(torch.from_numpy(np.asarray(L, np.float32))[None, None])[0].permute(1, 2, 0).numpy()
    L_cv = cv2.cvtColor(small, cv2.COLOR_RGB2Lab)[..., 0]
    assert np.abs(g - gray_of(L_cv)).max() < 2e-4
    # ... and by scikit-image (whose L differs from OpenCV's float tables by up to ~0.2)
    L_sk = skcolor.rgb2lab(small.astype(np.float64))[..., 0]
    assert np.abs(g - gray_of(L_sk)).max() < 3e-3
    # grayscale (HxW) input is accepted and gives the same as its RGB replication
    y = rgb[..., 1]
    assert torch.equal(D.preprocess(y, 32), D.preprocess(np.repeat(y[..., None], 3, 2), 32))
    with pytest.raises(TypeError):
        D.preprocess(rgb.astype(np.float32))


def preprocess_checked(rgb, size):
    x = D.preprocess(rgb, size)
    assert x.shape == (1, 3, size, size) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    return x


def test_upsample_ab_is_nearest():
    ab = torch.randn(1, 2, 16, 16) * 20
    h, w = 90, 120
    up = D.upsample_ab(ab, h, w)
    iy = np.floor(np.arange(h) * 16 / h).astype(int)
    ix = np.floor(np.arange(w) * 16 / w).astype(int)
    ref = ab[0].numpy().transpose(1, 2, 0)[iy][:, ix]
    assert up.shape == (h, w, 2) and up.dtype == np.float32
    np.testing.assert_array_equal(up, ref)


def test_postprocess_keeps_l_and_applies_ab():
    rgb = photo()
    torch.manual_seed(2)
    ab_small = torch.nn.functional.avg_pool2d(torch.randn(1, 2, 20, 20), 5, 1, 2)[..., 2:18, 2:18] * 12
    out = D.postprocess(rgb, ab_small)
    assert out.shape == rgb.shape and out.dtype == np.uint8

    lab_in = skcolor.rgb2lab(rgb)
    lab_out = skcolor.rgb2lab(out)
    dL = np.abs(lab_out[..., 0] - lab_in[..., 0])
    assert np.median(dL) < 0.3 and dL.max() < 1.5      # the original L (up to 8-bit rounding)
    # independent reference: scikit-image Lab -> RGB of (original L, nearest-upsampled ab)
    iy = np.floor(np.arange(rgb.shape[0]) * 16 / rgb.shape[0]).astype(int)
    ix = np.floor(np.arange(rgb.shape[1]) * 16 / rgb.shape[1]).astype(int)
    ab_up = ab_small[0].numpy().transpose(1, 2, 0)[iy][:, ix].astype(np.float64)
    ref = np.round(np.clip(skcolor.lab2rgb(np.concatenate([lab_in[..., :1], ab_up], -1)), 0, 1) * 255)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 2
    # the predicted chroma is there: the output's ab follows the given ab
    assert np.abs(lab_out[..., 1:] - ab_up).mean() < 1.0

    # zero ab: the original's gray, at full resolution from a tiny ab map
    gray = D.postprocess(rgb, torch.zeros(2, 4, 4))
    assert np.abs(gray.astype(int) - gray[..., :1].astype(int)).max() <= 1
    assert np.abs(skcolor.rgb2lab(gray)[..., 0] - lab_in[..., 0]).max() < 1.5


def test_colorize_image_end_to_end(tiny):
    rgb = photo(50, 70)
    out = D.colorize_image(tiny, rgb, size=64)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    dL = np.abs(skcolor.rgb2lab(out)[..., 0] - skcolor.rgb2lab(rgb)[..., 0])
    assert np.median(dL) < 0.5
