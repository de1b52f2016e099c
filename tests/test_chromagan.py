"""ChromaGAN (vidcolor/models/chromagan.py): the official Keras HDF5 checkpoint, loaded strictly.

The Keras side is written down here by rule from the official code (pvitoria/ChromaGAN at
bdde0e4, ``SOURCE/ChromaGAN.py`` ``colorization_model`` and ``discriminator``; VGG16's layer
names from ``keras.applications.vgg16``), independently of vidcolor's module: layer names
(Keras 2.2.4 auto-names, the discriminator built first: conv2d_1..5 are the critic's), weight
shapes in Keras' order, and the HDF5 layout ``Model.save`` / ``save_weights`` write (groups per
layer, ``layer_names`` / ``weight_names`` byte-string attributes, the trunk as a nested model).
A numpy re-computation of the Keras graph, channels-last, checks the torch module's forward.
No network, no GPU.
"""

from __future__ import annotations

import json
import sys
import zlib

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vidcolor.cli import main
from vidcolor.color import host_rgb_to_lab
from vidcolor.errors import OptionError, WeightsError
from vidcolor.media import synth
from vidcolor.models import create_model, get_info, load_model
from vidcolor.models import chromagan as C

from conftest import decode_timed as decode

h5py = pytest.importorskip("h5py", reason='the chromagan extra: pip install -e ".[chromagan]"')

# --- the release, by rule from SOURCE/ChromaGAN.py ----------------------------------------------
VGG16 = [("block1_conv1", 3, 64), ("block1_conv2", 64, 64), ("block2_conv1", 64, 128),
         ("block2_conv2", 128, 128), ("block3_conv1", 128, 256), ("block3_conv2", 256, 256),
         ("block3_conv3", 256, 256), ("block4_conv1", 256, 512), ("block4_conv2", 512, 512),
         ("block4_conv3", 512, 512)]                # applications.VGG16(include_top=False).layers[-6] = block4_conv3
# colorization_model's Conv2D in code order: (kernel, cin, cout, stride, torch module)
GEN_CONV = [(3, 512, 512, 2, "global_conv.0"), (3, 512, 512, 1, "global_conv.1"),
            (3, 512, 512, 2, "global_conv.2"), (3, 512, 512, 1, "global_conv.3"),
            (3, 512, 512, 1, "mid_conv.0"), (3, 512, 256, 1, "mid_conv.1"),
            (1, 512, 256, 1, "fusion"), (3, 256, 128, 1, "color_conv.0"), (3, 128, 64, 1, "color_conv.1"),
            (3, 64, 64, 1, "color_conv.2"), (3, 64, 32, 1, "color_conv.3"), (3, 32, 2, 1, "color_conv.4")]
GEN_BN = [(512, "global_bn.0"), (512, "global_bn.1"), (512, "global_bn.2"), (512, "global_bn.3"),
          (512, "mid_bn.0"), (256, "mid_bn.1")]
GEN_DENSE = [(7 * 7 * 512, 1024, "global_fc.0"), (1024, 512, "global_fc.1"), (512, 256, "global_fc.2"),
             (7 * 7 * 512, 4096, "class_fc.0"), (4096, 4096, "class_fc.1"), (4096, 1000, "class_fc.2")]
CRITIC = [(3, 64), (64, 128), (128, 256), (256, 512), (512, 1)]   # Conv2D 4x4 on concatenate([L, ab])
BN_W = ("gamma", "beta", "moving_mean", "moving_variance")


def generator_layers(conv0=6, bn0=1, dense0=1) -> dict[str, tuple[str, dict[str, tuple]]]:
    """Keras layer -> (torch module, {weight: Keras shape}); the numbers start where the session's
    counters were (ChromaGAN.py: the critic's conv2d_1..5 first)."""
    t = {}
    for n, cin, cout in VGG16:
        t[n] = ("vgg." + n, {"kernel": (3, 3, cin, cout), "bias": (cout,)})
    for i, (k, cin, cout, _, mod) in enumerate(GEN_CONV):
        t[f"conv2d_{conv0 + i}"] = (mod, {"kernel": (k, k, cin, cout), "bias": (cout,)})
    for i, (c, mod) in enumerate(GEN_BN):
        t[f"batch_normalization_{bn0 + i}"] = (mod, {w: (c,) for w in BN_W})
    for i, (cin, cout, mod) in enumerate(GEN_DENSE):
        t[f"dense_{dense0 + i}"] = (mod, {"kernel": (cin, cout), "bias": (cout,)})
    return t


def critic_layers() -> dict[str, dict[str, tuple]]:
    return {f"conv2d_{i + 1}": {"kernel": (4, 4, cin, cout), "bias": (cout,)} for i, (cin, cout) in enumerate(CRITIC)}


WEIGHTLESS = ["flatten_1", "repeat_vector_1", "reshape_1", "flatten_2", "concatenate_2",
              "up_sampling2d_1", "up_sampling2d_2", "up_sampling2d_3"]


def value(layer: str, weight: str, shape: tuple) -> np.ndarray:
    """Seeded values per (layer, weight): He-scaled kernels, BatchNorm statistics near (0, 1)."""
    rng = np.random.default_rng(zlib.crc32(f"{layer}/{weight}".encode()))
    if weight == "kernel":                                   # uniform, variance 2 / fan_in
        fan_in = int(np.prod(shape[:-1]))
        a = rng.random(shape, dtype=np.float32)
        a -= np.float32(0.5)
        a *= np.float32(np.sqrt(24.0 / fan_in))
        return a
    if weight in ("gamma", "moving_variance"):
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1))


BIG = 5_000_000   # arrays past this many values are left unwritten (zeros) in the cheap files


def keras_bytes(names) -> np.ndarray:
    """A list attribute as Keras 2.2.4 saves it (``np.asarray`` of utf8 bytes; [] is a float array)."""
    return np.asarray([n.encode("utf8") for n in names]) if names else np.asarray([])


def write_keras(path, layout: str = "full", *, gen: dict | None = None, drop=(), extra: dict | None = None,
                reshape: dict | None = None, vgg_suffix: str = "", cheap: bool = False, arrays: dict | None = None):
    """Write a ChromaGAN checkpoint as Keras 2.2.4 does.

    layout ``full``: ``colorizationModel.save`` (``my_model_colorization.h5``): model_weights/ with the
    VGG trunk as the nested model ``model_2``, the optimizer state beside it; ``weights``:
    ``save_weights`` (the same groups at the root); ``combined``: the GAN's ``combined.save``, the
    generator nested as ``model_3`` (every weight of it, VGG's included) and the critic as ``model_1``.
    ``vgg_suffix``: TensorFlow's scope uniquifier on the trunk's variables (``block1_conv1_1/kernel:0``,
    the first ChromaGAN.py built a full VGG16 before it). ``cheap``: big arrays unwritten (zeros)."""
    gen = dict(gen or generator_layers())
    shapes = {n: dict(s) for n, (_, s) in gen.items()}
    for n, (w, s) in (reshape or {}).items():
        shapes[n][w] = s
    for n in drop:
        shapes.pop(n)
    shapes.update(extra or {})
    vgg = [n for n, _, _ in VGG16 if n in shapes]
    own = [n for n in shapes if n not in vgg]

    def put(g, wname, layer, w, shape):
        if cheap and int(np.prod(shape)) > BIG:
            g.create_dataset(wname, shape=shape, dtype="float32", chunks=True, fillvalue=0.0)
            return
        a = value(layer, w, shape)
        if arrays is not None:
            arrays[(layer, w)] = a
        g.create_dataset(wname, data=a)

    def layer_group(parent, gname, members, suffix=""):
        g = parent.create_group(gname)
        names = []
        for layer in members:
            for w, shape in shapes[layer].items():
                wname = f"{layer}{suffix}/{w}:0"
                names.append(wname)
                put(g, wname, layer, w, shape)
        g.attrs["weight_names"] = keras_bytes(names)

    with h5py.File(path, "w") as f:
        if layout in ("full", "combined"):
            f.attrs["keras_version"] = b"2.2.4"
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = json.dumps({"class_name": "Model", "config": {"name": "model_3"}}).encode()
            root = f.create_group("model_weights")
            opt = f.create_group("optimizer_weights")
            opt.create_dataset("training/Adam/Variable:0", data=np.zeros((3, 3, 3, 64), np.float32))
            opt.attrs["weight_names"] = keras_bytes(["training/Adam/Variable:0"])
        else:
            root = f
        root.attrs["keras_version"] = b"2.2.4"
        root.attrs["backend"] = b"tensorflow"
        if layout == "combined":
            root.attrs["layer_names"] = keras_bytes(["input_3", "input_4", "model_3", "model_1"])
            root.create_group("input_3").attrs["weight_names"] = keras_bytes([])
            root.create_group("input_4").attrs["weight_names"] = keras_bytes([])
            g = root.create_group("model_3")
            names = []
            for layer in vgg + [n for n in own if not n.startswith("conv2d_") or int(n[7:]) > 5]:
                for w, shape in shapes[layer].items():
                    wname = f"{layer}{vgg_suffix if layer in vgg else ''}/{w}:0"
                    names.append(wname)
                    put(g, wname, layer, w, shape)
            g.attrs["weight_names"] = keras_bytes(names)
            crit = [n for n in own if n.startswith("conv2d_") and int(n[7:]) <= 5]
            layer_group(root, "model_1", crit)
            return path
        order = ["input_1", "model_2"] + own + WEIGHTLESS
        root.attrs["layer_names"] = keras_bytes(order)
        root.create_group("input_1").attrs["weight_names"] = keras_bytes([])
        layer_group(root, "model_2", vgg, vgg_suffix)
        for n in own:
            layer_group(root, n, [n])
        for n in WEIGHTLESS:
            root.create_group(n).attrs["weight_names"] = keras_bytes([])
    return path


def torch_of(keras: np.ndarray, weight: str, module: str) -> np.ndarray:
    """What the torch tensor must hold, by the rules of the card (not by the module's code)."""
    if weight == "kernel" and keras.ndim == 4:
        return keras.transpose(3, 2, 0, 1)
    if weight == "kernel":
        if keras.shape[0] == 7 * 7 * 512:    # after Flatten of (7, 7, 512): rows (h, w, c) -> (c, h, w)
            keras = keras.reshape(7, 7, 512, -1).transpose(2, 0, 1, 3).reshape(7 * 7 * 512, -1)
        return keras.T
    return keras


TORCH_W = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
           "moving_mean": "running_mean", "moving_variance": "running_var"}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """The release's file (full-model layout, every value random) and its arrays."""
    arrays: dict = {}
    path = write_keras(tmp_path_factory.mktemp("chromagan") / "my_model_colorization.h5", arrays=arrays)
    return path, arrays


@pytest.fixture(scope="module")
def loaded(release):
    return load_model("chromagan", weights=release[0])


@pytest.fixture(scope="module")
def scratch():
    """One module for the layout variants to load into (each load overwrites every tensor)."""
    return C.ChromaGAN()


# --- layout ------------------------------------------------------------------------------------

def test_module_is_the_generator_layout():
    """Every torch tensor has a Keras weight: the state dict is the table's, transposed."""
    with torch.device("meta"):
        m = create_model("chromagan")
    want = {}
    for layer, (mod, ws) in generator_layers().items():
        for w, shape in ws.items():     # conv (kh, kw, cin, cout) -> (cout, cin, kh, kw); dense (in, out) -> (out, in)
            want[f"{mod}.{TORCH_W[w]}"] = (shape[3], shape[2], shape[0], shape[1]) if len(shape) == 4 else shape[::-1]
        if "gamma" in ws:
            want[f"{mod}.num_batches_tracked"] = ()
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == want
    assert sum(p.numel() for p in m.parameters()) == 171_166_090
    assert get_info("chromagan").input_size == 224 and get_info("chromagan").weights is None
    bn = m.global_bn[0]
    assert bn.eps == 1e-3 and bn.momentum == pytest.approx(0.01)
    with pytest.raises(OptionError, match="224x224 only"):
        m.check_size(256)


# --- strict load -------------------------------------------------------------------------------

def test_release_file_loads_strictly(release, loaded):
    path, arrays = release
    sd = loaded.state_dict()
    table = generator_layers()
    for (layer, w), a in arrays.items():
        mod = table[layer][0]
        assert np.array_equal(sd[f"{mod}.{TORCH_W[w]}"].numpy(), torch_of(a, w, mod)), (layer, w)
    assert len(arrays) == sum(len(ws) for _, ws in table.values()) == 80
    # spot checks, index by index, one of each kind
    k = arrays[("block1_conv1", "kernel")]                   # (kh, kw, cin, cout) -> (cout, cin, kh, kw)
    assert sd["vgg.block1_conv1.weight"][5, 2, 0, 1] == k[0, 1, 2, 5]
    k = arrays[("conv2d_12", "kernel")]                      # the fusion's 1x1
    assert sd["fusion.weight"][7, 300, 0, 0] == k[0, 0, 300, 7]
    k = arrays[("dense_5", "kernel")]                        # (in, out) -> (out, in)
    assert sd["class_fc.1.weight"][10, 4000] == k[4000, 10]
    for layer, mod in (("dense_1", "global_fc.0"), ("dense_4", "class_fc.0")):   # after Flatten(7, 7, 512)
        k = arrays[(layer, "kernel")]
        for c, h, w_, o in ((0, 0, 1, 3), (511, 6, 6, 0), (17, 3, 5, 99)):
            assert sd[f"{mod}.weight"][o, c * 49 + h * 7 + w_] == k[h * 7 * 512 + w_ * 512 + c, o]
    bn = arrays[("batch_normalization_6", "moving_variance")]
    assert np.array_equal(sd["mid_bn.1.running_var"].numpy(), bn)
    assert np.array_equal(sd["global_bn.2.weight"].numpy(), arrays[("batch_normalization_3", "gamma")])
    assert not loaded.training


@pytest.mark.parametrize("variant", ["weights-only", "combined GAN", "tf-uniquified trunk", "renumbered"])
def test_other_keras_layouts_load(variant, scratch, tmp_path):
    """save_weights' layout; the combined GAN (critic skipped); the first ChromaGAN.py's trunk
    variables (block1_conv1_1/...); a session whose counters started elsewhere, without a critic."""
    arrays: dict = {}
    gen = generator_layers(conv0=1, bn0=7, dense0=13) if variant == "renumbered" else generator_layers()
    kw = {"weights-only": dict(layout="weights"),
          "combined GAN": dict(layout="combined", extra=critic_layers()),
          "tf-uniquified trunk": dict(vgg_suffix="_1"),
          "renumbered": dict(gen=gen)}[variant]
    path = write_keras(tmp_path / "w.h5", cheap=True, arrays=arrays, **kw)
    m = C.load_keras_h5(scratch, path)
    sd = m.state_dict()
    for layer, (mod, ws) in gen.items():
        for w, shape in ws.items():
            want = arrays.get((layer, w))
            got = sd[f"{mod}.{TORCH_W[w]}"].numpy()
            if want is None:
                assert not got.any()                        # unwritten (cheap) arrays read as zeros
            else:
                assert np.array_equal(got, torch_of(want, w, mod)), (layer, w)


def meta_model() -> C.ChromaGAN:
    """Shapes only (the checks fail before any tensor is copied): no memory, no init time."""
    with torch.device("meta"):
        return C.ChromaGAN()


def load_error(tmp_path, **kw) -> str:
    path = write_keras(tmp_path / "bad.h5", cheap=True, **kw)
    with pytest.raises(WeightsError) as e:
        C.load_keras_h5(meta_model(), path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_mismatches_name_the_layer(tmp_path):
    msg = load_error(tmp_path, reshape={"conv2d_9": ("kernel", (3, 3, 512, 256))})
    assert "wrong shape conv2d_9 kernel (3, 3, 512, 256) (want (3, 3, 512, 512))" in msg
    msg = load_error(tmp_path, drop=["dense_5"])
    assert "missing layer dense_5" in msg and "unexpected" not in msg
    msg = load_error(tmp_path, drop=["block3_conv2"])
    assert "missing layer block3_conv2" in msg
    msg = load_error(tmp_path, extra={"conv2d_18": {"kernel": (3, 3, 2, 2), "bias": (2,)}})
    assert "unexpected layer conv2d_18" in msg and "missing" not in msg
    msg = load_error(tmp_path, extra={"dense_7": {"kernel": (1000, 10), "bias": (10,)}})
    assert "unexpected layer dense_7" in msg
    # a critic that is not the release's is not skipped: its layers are reported
    crit = critic_layers()
    crit["conv2d_5"] = {"kernel": (4, 4, 512, 2), "bias": (2,)}
    msg = load_error(tmp_path, layout="combined", extra=crit)
    assert "unexpected layer conv2d_1" in msg
    # a BatchNormalization without its moving variance
    msg = load_error(tmp_path, reshape={"batch_normalization_2": ("moving_variance", (256,))})
    assert "wrong shape batch_normalization_2 moving_variance (256,) (want (512,))" in msg


def test_not_hdf5_or_not_keras(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)          # the signature, then garbage
    with pytest.raises(WeightsError, match="is not a readable HDF5 file"):
        C.load_keras_h5(meta_model(), junk)
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w"):
        pass
    with pytest.raises(WeightsError, match=r"does not fit the ChromaGAN generator \(missing layer block1_conv1"):
        C.load_keras_h5(meta_model(), empty)


def test_missing_h5py_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(WeightsError, match=r'needs h5py: pip install "vidcolor\[chromagan\]"'):
        C.load_keras_h5(meta_model(), tmp_path / "x.h5")


# --- the forward, against numpy ------------------------------------------------------------------

def np_conv_same(x: np.ndarray, k: np.ndarray, b: np.ndarray, stride: int = 1) -> np.ndarray:
    """keras Conv2D(padding='same') on HWC: TF pads the odd row/column at the bottom/right."""
    kh, kw, cin, cout = k.shape
    h, w = x.shape[:2]
    oh, ow = -(-h // stride), -(-w // stride)
    ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - w, 0)
    xp = np.pad(x, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    cols = np.concatenate([xp[i:i + stride * oh:stride, j:j + stride * ow:stride]     # im2col, (i, j, c) order
                           for i in range(kh) for j in range(kw)], axis=2)
    return (cols.reshape(oh * ow, kh * kw * cin) @ k.reshape(kh * kw * cin, cout) + b).reshape(oh, ow, cout)


def np_bn(x, a, n):
    g, be, m, v = (a[(n, w)] for w in BN_W)
    return (x - m) / np.sqrt(v + 1e-3) * g + be


def relu(x):
    return np.maximum(x, 0)


def keras_forward(a: dict, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ChromaGAN.py's colorization_model on one image, channels-last, from the HDF5 arrays:
    input = L / 100 (OpenCV's 8-bit L / 255) tiled to 3 channels; output ab = 255 * y - 128."""
    def conv(x, n, s=1):
        return np_conv_same(x, a[(n, "kernel")], a[(n, "bias")], s)

    x = np.repeat((L / 100.0).astype(np.float32)[..., None], 3, axis=2)
    for n, _, _ in VGG16:
        x = relu(conv(x, n))
        if n in ("block1_conv2", "block2_conv2", "block3_conv3"):
            hh, ww, cc = x.shape
            x = x.reshape(hh // 2, 2, ww // 2, 2, cc).max(axis=(1, 3))
    vgg = x                                                            # 28 x 28 x 512
    g = vgg
    for i, s in enumerate((2, 1, 2, 1)):
        g = np_bn(relu(conv(g, f"conv2d_{6 + i}", s)), a, f"batch_normalization_{1 + i}")
    flat = g.reshape(-1)                                               # Flatten, (h, w, c) order
    gv = flat
    for n in ("dense_1", "dense_2", "dense_3"):
        gv = gv @ a[(n, "kernel")] + a[(n, "bias")]
    c = flat
    for n in ("dense_4", "dense_5", "dense_6"):
        c = c @ a[(n, "kernel")] + a[(n, "bias")]
    c = np.exp(c - c.max())
    c /= c.sum()
    m = np_bn(relu(conv(vgg, "conv2d_10")), a, "batch_normalization_5")
    m = np_bn(relu(conv(m, "conv2d_11")), a, "batch_normalization_6")
    x = np.concatenate([m, np.broadcast_to(gv, (28, 28, 256))], axis=2)   # RepeatVector(784) + Reshape
    up = lambda t: t.repeat(2, axis=0).repeat(2, axis=1)                # UpSampling2D: nearest
    x = relu(conv(x, "conv2d_12"))
    x = up(relu(conv(x, "conv2d_13")))
    x = relu(conv(relu(conv(x, "conv2d_14")), "conv2d_15"))
    x = up(x)
    x = relu(conv(x, "conv2d_16"))
    y = up(1.0 / (1.0 + np.exp(-conv(x, "conv2d_17"))))
    return y * 255.0 - 128.0, c


def test_first_blocks_match_numpy(release, loaded):
    """VGG's block1 and the stride-2 conv + BatchNorm of the global branch, channels-last."""
    _, a = release
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (16, 16, 3)).astype(np.float32)
    ref = relu(np_conv_same(relu(np_conv_same(x, a[("block1_conv1", "kernel")], a[("block1_conv1", "bias")])),
                            a[("block1_conv2", "kernel")], a[("block1_conv2", "bias")]))
    t = torch.from_numpy(x.transpose(2, 0, 1)[None])
    with torch.no_grad():
        ours = torch.relu(loaded.vgg["block1_conv2"](torch.relu(loaded.vgg["block1_conv1"](t))))
    np.testing.assert_allclose(ours[0].numpy().transpose(1, 2, 0), ref, rtol=1e-4, atol=1e-4)
    v = rng.standard_normal((28, 28, 512)).astype(np.float32)
    ref = np_bn(relu(np_conv_same(v, a[("conv2d_6", "kernel")], a[("conv2d_6", "bias")], 2)), a,
                "batch_normalization_1")
    assert ref.shape == (14, 14, 512)
    with torch.no_grad():
        ours = loaded.global_bn[0](torch.relu(loaded.global_conv[0](torch.from_numpy(v.transpose(2, 0, 1)[None]))))
    np.testing.assert_allclose(ours[0].numpy().transpose(1, 2, 0), ref, rtol=1e-4, atol=1e-4)


def test_whole_generator_matches_numpy(release, loaded):
    """The module's forward (vidcolor's (L - 50) / 100 in, Lab ab out) is the Keras graph's."""
    _, a = release
    rgb = cv2.resize(synth.photo("astronaut"), (224, 224), interpolation=cv2.INTER_AREA)
    L = host_rgb_to_lab(rgb)[..., 0]
    ab_ref, cls_ref = keras_forward(a, L)
    with torch.no_grad():
        ab, cls = loaded.forward_both(torch.from_numpy((L - 50.0) / 100.0)[None, None])
    assert ab.shape == (1, 2, 224, 224) and cls.shape == (1, 1000)
    assert float(np.std(ab_ref)) > 1.0                      # not saturated: the comparison means something
    np.testing.assert_allclose(ab[0].numpy().transpose(1, 2, 0), ab_ref, atol=0.05)
    np.testing.assert_allclose(cls[0].numpy(), cls_ref, rtol=1e-3, atol=1e-6)
    assert torch.equal(loaded.classify(torch.from_numpy((L - 50.0) / 100.0)[None, None]), cls)


# --- through the CLI -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def short_pan(tmp_path_factory):
    """The first 2 frames of samples/bw_pan.mp4 (its 96 take minutes at 224 on 2 CPU cores; the
    whole clip gave 96 frames when run by hand, see the card)."""
    from pathlib import Path
    frames = [f for _, f in decode(Path(__file__).resolve().parents[1] / "samples" / "bw_pan.mp4")[:2]]
    return synth.write_clip(tmp_path_factory.mktemp("pan") / "bw_pan2.mp4", frames, fps=24)


def test_cli_colorizes_with_the_keras_file(release, short_pan, tmp_path):
    out = tmp_path / "out.mp4"
    r = CliRunner().invoke(main, ["colorize", str(short_pan), "-o", str(out), "--model", "chromagan",
                                  "--weights", str(release[0]), "--precision", "fp32", "-q"])
    assert r.exit_code == 0, r.output
    a, b = decode(short_pan), decode(out)
    assert len(a) == len(b) == 2 and b[0][1].shape == a[0][1].shape
    assert max(np.abs(f.astype(int) - f.mean(axis=2, keepdims=True)).max() for _, f in b) > 10   # colored


def test_cli_wrong_files_are_one_line(release, tmp_path):
    from test_errors import fails_cleanly
    src = synth.write_clip(tmp_path / "in.mp4", [np.zeros((32, 32, 3), np.uint8)] * 2, fps=24)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a checkpoint at all\n" * 10)
    fails_cleanly(["colorize", str(src), "-o", str(tmp_path / "o.mp4"), "--model", "chromagan", "--weights",
                   str(junk), "-q"], tmp_path / "o.mp4", match="is neither a Keras HDF5 file")
    # the Keras file with a PyTorch model: the model that reads it is named
    fails_cleanly(["colorize", str(src), "-o", str(tmp_path / "o.mp4"), "--model", "eccv16", "--weights",
                   str(release[0]), "-q"], tmp_path / "o.mp4", match="use --model chromagan")
    fails_cleanly(["colorize", str(src), "-o", str(tmp_path / "o.mp4"), "--model", "chromagan",
                   "--size", "256", "-q", "--weights", str(release[0])], tmp_path / "o.mp4", match="224x224 only")


def test_cli_catalogue_and_card():
    r = CliRunner().invoke(main, ["weights", "list"])
    assert r.exit_code == 0
    line = next(ln for ln in r.output.splitlines() if ln.startswith("chromagan"))
    assert "(no default weights)" in line
    r = CliRunner().invoke(main, ["weights", "card", "chromagan"])
    assert r.exit_code == 0
    assert "my_model_colorization.h5" in r.output and "conv2d_17" in r.output
    with pytest.raises(WeightsError, match="pass --weights PATH"):
        load_model("chromagan")
