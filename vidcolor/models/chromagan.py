"""ChromaGAN: "Adversarial Picture Colorization with Semantic Class Distribution", Vitoria, Raad &
Ballester (WACV 2020), the generator of the official Keras release (pvitoria/ChromaGAN).

The generator (``SOURCE/ChromaGAN.py``, ``colorization_model``), in Keras terms:

- a VGG16 trunk (ImageNet-initialised, fine-tuned) up to ``block4_conv3``: 28x28x512 at 224x224;
- a global branch: four 3x3 convs (strides 2, 1, 2, 1; each ``Conv2D(relu) -> BatchNormalization``)
  down to 7x7x512, flattened, then two Dense heads, both without activations but the last:
  1024 -> 512 -> 256 (the global feature vector, repeated over the 28x28 grid) and
  4096 -> 4096 -> 1000 + softmax (the semantic class distribution, trained against VGG16's
  ImageNet prediction with a KL loss);
- a mid-level branch: 3x3 convs 512 and 256, each ``Conv2D(relu) -> BatchNormalization``;
- fusion: mid-level (256) concatenated with the repeated global vector (256), then 1x1 conv 256,
  3x3 conv 128, nearest x2, 3x3 64, 3x3 64, nearest x2, 3x3 32, 3x3 2 + sigmoid, nearest x2:
  ab at 224x224.

Everything follows Keras 2.2.4 exactly: TensorFlow's ``'same'`` padding (asymmetric for the
stride-2 convs: the extra row and column go at the bottom and right), ReLU before BatchNorm,
BatchNorm ``epsilon=1e-3`` and ``momentum=0.99`` (torch: ``momentum=0.01``), ``UpSampling2D``
nearest, ``Flatten`` of a channels-last tensor. The weights come from the release's Keras HDF5
file, read with h5py and matched by layer name (:func:`load_keras_h5`); the module's own
state dict can also be saved and loaded as a plain PyTorch checkpoint.

Normalization, as the release's ``dataClass.py`` and ``ChromaGANPrint.py``: the input is
OpenCV's 8-bit Lab L divided by 255 (= L / 100), tiled to 3 channels, with no ImageNet mean
subtraction; the sigmoid output is the 8-bit Lab ab divided by 255, i.e. ``ab = 255 * y - 128``.
The release rounds both through uint8; this module keeps them continuous.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import OptionError, WeightsError
from .base import HDF5_SIGNATURE, Colorizer
from .registry import register

#: the release's image side (``config.py`` IMAGE_SIZE); the classification head's Dense layers
#: take a fixed 7x7x512 map, so the network runs at this size only
SIZE = 224
#: Keras BatchNormalization defaults (momentum 0.99 is torch's 0.01)
BN_EPS, BN_MOMENTUM = 1e-3, 0.01
#: the global branch's map before Flatten: (H, W, C) in Keras' channels-last order
FLAT_HWC = (7, 7, 512)
#: where the release's README and Colab demo point for ``my_model_colorization.h5``
RELEASE_URL = "http://gpi.upf.edu/chromagan/my_model_colorization.h5"

# --- the Keras layers, in the order the official code creates them ------------------------------
#: VGG16 (keras.applications, its own fixed names) up to block4_conv3: name, cin, cout
VGG = (("block1_conv1", 3, 64), ("block1_conv2", 64, 64),
       ("block2_conv1", 64, 128), ("block2_conv2", 128, 128),
       ("block3_conv1", 128, 256), ("block3_conv2", 256, 256), ("block3_conv3", 256, 256),
       ("block4_conv1", 256, 512), ("block4_conv2", 512, 512), ("block4_conv3", 512, 512))
#: VGG16's block1_pool, block2_pool, block3_pool follow these (block4_pool is past the trunk)
POOL_AFTER = ("block1_conv2", "block2_conv2", "block3_conv3")
#: the generator's own Conv2D layers in creation order: torch name, kernel, cin, cout, stride
CONVS = (("global_conv.0", 3, 512, 512, 2), ("global_conv.1", 3, 512, 512, 1),
         ("global_conv.2", 3, 512, 512, 2), ("global_conv.3", 3, 512, 512, 1),
         ("mid_conv.0", 3, 512, 512, 1), ("mid_conv.1", 3, 512, 256, 1),
         ("fusion", 1, 512, 256, 1), ("color_conv.0", 3, 256, 128, 1),
         ("color_conv.1", 3, 128, 64, 1), ("color_conv.2", 3, 64, 64, 1),
         ("color_conv.3", 3, 64, 32, 1), ("color_conv.4", 3, 32, 2, 1))
#: its BatchNormalization layers in creation order: torch name, channels
BNS = (("global_bn.0", 512), ("global_bn.1", 512), ("global_bn.2", 512), ("global_bn.3", 512),
       ("mid_bn.0", 512), ("mid_bn.1", 256))
#: its Dense layers in creation order: torch name, in, out (the two after Flatten take 7*7*512)
FLAT = FLAT_HWC[0] * FLAT_HWC[1] * FLAT_HWC[2]
DENSES = (("global_fc.0", FLAT, 1024), ("global_fc.1", 1024, 512), ("global_fc.2", 512, 256),
          ("class_fc.0", FLAT, 4096), ("class_fc.1", 4096, 4096), ("class_fc.2", 4096, 1000))
#: Keras auto-names ``<prefix>_<n>``, numbered per session: in ChromaGAN.py the discriminator is
#: built first (conv2d_1..conv2d_5), so the generator's layers are these
KERAS_FIRST = {"conv2d": 6, "batch_normalization": 1, "dense": 1}
#: the WGAN-GP critic (``MODEL.discriminator``): its 4x4 Conv2D kernels, Keras (kh, kw, cin, cout)
CRITIC = ((4, 4, 3, 64), (4, 4, 64, 128), (4, 4, 128, 256), (4, 4, 256, 512), (4, 4, 512, 1))


def keras_layout() -> dict[str, tuple[str, dict[str, tuple[int, ...]]]]:
    """Keras layer name -> (torch module name, {Keras weight: shape}) of the generator, under the
    names the official code gives it (the numbering of a file may be shifted: see :func:`load_keras_h5`)."""
    out: dict[str, tuple[str, dict[str, tuple[int, ...]]]] = {}
    for name, cin, cout in VGG:
        out[name] = (f"vgg.{name}", {"kernel": (3, 3, cin, cout), "bias": (cout,)})
    for i, (t, k, cin, cout, _) in enumerate(CONVS):
        out[f"conv2d_{KERAS_FIRST['conv2d'] + i}"] = (t, {"kernel": (k, k, cin, cout), "bias": (cout,)})
    for i, (t, c) in enumerate(BNS):
        out[f"batch_normalization_{KERAS_FIRST['batch_normalization'] + i}"] = (
            t, {w: (c,) for w in ("gamma", "beta", "moving_mean", "moving_variance")})
    for i, (t, cin, cout) in enumerate(DENSES):
        out[f"dense_{KERAS_FIRST['dense'] + i}"] = (t, {"kernel": (cin, cout), "bias": (cout,)})
    return out


class SameConv2d(nn.Conv2d):
    """``keras.layers.Conv2D(padding='same')``: TensorFlow pads ``max((ceil(n/s) - 1) s + k - n, 0)``
    in total, the odd one at the end (bottom/right), unlike torch's symmetric padding."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1) -> None:
        super().__init__(cin, cout, k, stride=stride, padding=0, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for n, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


def keras_bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class ChromaGAN(Colorizer):
    """l_norm N1HW -> ab N2HW (Lab units); :meth:`forward_both` also gives the 1000-class distribution."""

    name = "chromagan"
    input_size = SIZE
    release_signature = HDF5_SIGNATURE
    release_format = "Keras HDF5 file (the ChromaGAN release's format)"

    def __init__(self) -> None:
        super().__init__()
        self.vgg = nn.ModuleDict({n: SameConv2d(cin, cout, 3) for n, cin, cout in VGG})
        convs = {t: SameConv2d(cin, cout, k, s) for t, k, cin, cout, s in CONVS}
        self.global_conv = nn.ModuleList(convs[f"global_conv.{i}"] for i in range(4))
        self.global_bn = nn.ModuleList(keras_bn(512) for _ in range(4))
        self.global_fc = nn.ModuleList(nn.Linear(i, o) for _, i, o in DENSES[:3])
        self.class_fc = nn.ModuleList(nn.Linear(i, o) for _, i, o in DENSES[3:])
        self.mid_conv = nn.ModuleList(convs[f"mid_conv.{i}"] for i in range(2))
        self.mid_bn = nn.ModuleList([keras_bn(512), keras_bn(256)])
        self.fusion = convs["fusion"]
        self.color_conv = nn.ModuleList(convs[f"color_conv.{i}"] for i in range(5))

    def check_size(self, size: int) -> int:
        if size != SIZE:
            raise OptionError(f"chromagan runs at {SIZE}x{SIZE} only (its classification head takes a fixed "
                              f"7x7x512 map), got --size {size}; leave --size out")
        return size

    def trunk(self, l_norm: torch.Tensor) -> torch.Tensor:
        """VGG16 to block4_conv3 on the release's input: L / 100 tiled to 3 channels."""
        x = (l_norm + 0.5).expand(-1, 3, -1, -1)
        for name, _, _ in VGG:
            x = F.relu(self.vgg[name](x))
            if name in POOL_AFTER:                 # MaxPooling2D 2x2/2, 'valid'
                x = F.max_pool2d(x, 2)
        return x

    def heads(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """block4_conv3 features -> (sigmoid ab output N2HW in [0, 1], class distribution N x 1000)."""
        g = v
        for conv, bn in zip(self.global_conv, self.global_bn):
            g = bn(F.relu(conv(g)))
        flat = g.flatten(1)                          # torch's (C, H, W) order: the Dense rows are permuted to it
        gv = flat
        for fc in self.global_fc:
            gv = fc(gv)
        c = flat
        for fc in self.class_fc:
            c = fc(c)
        classes = torch.softmax(c, dim=1)
        m = v
        for conv, bn in zip(self.mid_conv, self.mid_bn):
            m = bn(F.relu(conv(m)))
        x = torch.cat([m, gv[:, :, None, None].expand(-1, -1, *m.shape[-2:])], dim=1)   # RepeatVector + Reshape
        x = F.relu(self.fusion(x))
        x = F.relu(self.color_conv[0](x))
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = F.relu(self.color_conv[1](x))
        x = F.relu(self.color_conv[2](x))
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = F.relu(self.color_conv[3](x))
        x = torch.sigmoid(self.color_conv[4](x))
        return F.interpolate(x, scale_factor=2.0, mode="nearest"), classes

    def forward_both(self, l_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ab N2HW in Lab units, the 1000 ImageNet-class distribution N x 1000).

        Inputs other than 224x224 are resized to it (bilinear) and ab back to the input's size."""
        h, w = l_norm.shape[-2:]
        x = l_norm if (h, w) == (SIZE, SIZE) else F.interpolate(l_norm, size=(SIZE, SIZE), mode="bilinear",
                                                                   align_corners=False, antialias=h > SIZE or w > SIZE)
        y, classes = self.heads(self.trunk(x))
        ab = y * 255.0 - 128.0                       # 8-bit Lab ab / 255 -> ab
        if (h, w) != (SIZE, SIZE):
            ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
        return ab, classes

    def classify(self, l_norm: torch.Tensor) -> torch.Tensor:
        """The predicted class distribution over ImageNet's 1000 classes (VGG16's order), N x 1000."""
        return self.forward_both(l_norm)[1]

    def forward(self, l_norm: torch.Tensor, **extras) -> torch.Tensor:
        return self.forward_both(l_norm)[0]

    def load_release_file(self, path: str | os.PathLike) -> None:
        load_keras_h5(self, path)


# --- the Keras HDF5 reader ------------------------------------------------------------------------

#: Keras names a Conv2D/BatchNormalization/Dense layer ``<prefix>_<n>``
_AUTO = re.compile(r"^(conv2d|batch_normalization|dense)_(\d+)$")
#: TensorFlow uniquifies a variable scope that exists already (a second VGG16 in the same graph,
#: as in the first version of ChromaGAN.py) by appending ``_<n>``: block1_conv1_1/kernel:0
_TF_SUFFIX = re.compile(r"^(block\d_conv\d|(?:conv2d|batch_normalization|dense)_\d+)_\d+$")


def _attr_list(group, name: str) -> list[str] | None:
    """A list attribute as Keras writes it (bytes; split into name0, name1, ... when large)."""
    if name in group.attrs:
        raw = list(group.attrs[name])
    elif f"{name}0" in group.attrs:
        raw, i = [], 0
        while f"{name}{i}" in group.attrs:
            raw += list(group.attrs[f"{name}{i}"])
            i += 1
    else:
        return None
    return [v.decode("utf8") if isinstance(v, (bytes, np.bytes_)) else str(v) for v in raw]


def _weights_of(group, h5py) -> list[tuple[str, object]]:
    """(weight name, dataset) of a layer group: its ``weight_names`` attribute, as Keras reads it,
    or every dataset under it when the attribute is absent."""
    names = _attr_list(group, "weight_names")
    if names is not None:
        out = []
        for n in names:
            ds = group.get(n)
            if not isinstance(ds, h5py.Dataset):
                raise KeyError(f"{group.name}/{n}")
            out.append((n, ds))
        return out
    found: list[tuple[str, object]] = []
    group.visititems(lambda n, obj: found.append((n, obj)) if isinstance(obj, h5py.Dataset) else None)
    return found


def _read_layers(root, h5py) -> dict[str, dict[str, object]]:
    """Keras layer name -> {weight ("kernel", "gamma", ...): dataset} over every layer group of
    ``root``; layers of nested models (the VGG16 trunk, or the generator and the critic inside the
    combined GAN) are named by their weights' own ``layer/weight:0`` names."""
    groups = _attr_list(root, "layer_names")
    groups = [g for g in groups if g in root] if groups is not None else sorted(root.keys())
    layers: dict[str, dict[str, object]] = {}
    for gname in groups:
        g = root[gname]
        if not isinstance(g, h5py.Group):
            continue
        items = _weights_of(g, h5py)
        prefixes = {n.rsplit("/", 1)[0] if "/" in n else gname for n, _ in items}
        for n, ds in items:
            layer = gname if len(prefixes) == 1 else (n.rsplit("/", 1)[0] if "/" in n else gname)
            layer = layer.rsplit("/", 1)[-1]
            m = _TF_SUFFIX.match(layer)
            if m and len(prefixes) > 1:
                layer = m.group(1)
            weight = n.rsplit("/", 1)[-1].split(":")[0]
            slot = layers.setdefault(layer, {})
            if weight in slot:
                raise ValueError(f"layer {layer} appears twice ({weight})")
            slot[weight] = ds
    return layers


def _align(kind: str, present: dict[str, dict[str, tuple]], want: list[dict[str, tuple]]) -> int:
    """The first number of ``kind``'s generator layers in this file: Keras numbers layers per session,
    so a file may start past the official code's numbering; the offset matching most layers wins."""
    nums = {int(_AUTO.match(n).group(2)): n for n in present}
    best, best_score = KERAS_FIRST[kind], -1
    for start in sorted({n - i for n in nums for i in range(len(want))} | {KERAS_FIRST[kind]}):
        if start < 1:
            continue
        score = sum(1 for i, w in enumerate(want) if (start + i) in nums and present[nums[start + i]] == w)
        if score > best_score or (score == best_score and start == KERAS_FIRST[kind]):
            best, best_score = start, score
    return best


def _few(items: list[str]) -> str:
    return ", ".join(items[:3]) + (f" (+{len(items) - 3} more)" if len(items) > 3 else "")


def _torch_view(kind: str, weight: str, arr: torch.Tensor, flat_rows: bool) -> torch.Tensor:
    """A Keras array as a (strided) view in torch's layout; copying it into the module's tensor is
    the one pass over the data."""
    if kind == "conv" and weight == "kernel":      # (kh, kw, cin, cout) -> (cout, cin, kh, kw)
        return arr.permute(3, 2, 0, 1)
    if kind == "dense" and weight == "kernel":     # (in, out) -> (out, in)
        if flat_rows:                              # rows in Flatten's (h, w, c) order -> torch's (c, h, w)
            h, w, c = FLAT_HWC
            return arr.T.reshape(-1, h * w, c).transpose(1, 2).reshape(-1, c, h, w)
        return arr.T
    return arr


TORCH_NAMES = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
               "moving_mean": "running_mean", "moving_variance": "running_var"}


def load_keras_h5(model: ChromaGAN, path: str | os.PathLike) -> ChromaGAN:
    """Fill ``model`` from a Keras HDF5 file of the ChromaGAN generator, strictly and by layer name.

    Reads the full-model layout (``model.save``: ``model_weights/<layer>/<layer>/kernel:0``, as the
    release's ``my_model_colorization.h5``) and the weights-only one (``save_weights``:
    ``<layer>/<layer>/kernel:0``), of the colorization model or of the combined GAN: the WGAN critic's
    five 4x4 convolutions are recognised by their shapes and skipped, and so is the optimizer state.
    Every tensor of the module must come from the file and every generator layer of the file must be
    used, with the shapes of the official code; otherwise a WeightsError names the first offenders.
    """
    try:
        import h5py
    except ImportError:
        raise WeightsError(f"reading {path} (Keras HDF5) needs h5py: pip install \"vidcolor[chromagan]\"") from None
    path = str(path)
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise WeightsError(f"weights file not found: {path}") from None
    except OSError as e:
        raise WeightsError(f"{path} is not a readable HDF5 file ({str(e)[:120]})") from None
    with f:
        root = f["model_weights"] if isinstance(f.get("model_weights"), h5py.Group) else f
        try:
            layers = _read_layers(root, h5py)
        except (KeyError, ValueError) as e:
            raise WeightsError(f"{path} is not a consistent Keras weights file ({str(e).strip(chr(39))})") from None
        shapes = {n: {w: tuple(ds.shape) for w, ds in ws.items()} for n, ws in layers.items()}

        # the critic of the combined GAN: ignored when it is exactly the official one
        critic = sorted((n for n, s in shapes.items() if _AUTO.match(n) and n.startswith("conv2d_")
                         and len(s.get("kernel", ())) == 4 and s["kernel"][:2] == (4, 4)),
                        key=lambda n: int(n.rsplit("_", 1)[1]))
        if [shapes[n]["kernel"] for n in critic] == list(CRITIC):
            for n in critic:
                del shapes[n]

        # which layer of the file is which: VGG16's names are fixed; conv2d_/batch_normalization_/dense_
        # are numbered in creation order from wherever the session's counters were
        layout = keras_layout()
        expected: dict[str, tuple[str, dict[str, tuple]]] = {n: v for n, v in layout.items() if not _AUTO.match(n)}
        for kind in KERAS_FIRST:
            mine = [v for n, v in layout.items() if n.startswith(kind + "_") and _AUTO.match(n)]
            present = {n: s for n, s in shapes.items() if (m := _AUTO.match(n)) and m.group(1) == kind}
            start = _align(kind, present, [w for _, w in mine])
            for i, v in enumerate(mine):
                expected[f"{kind}_{start + i}"] = v

        missing = [n for n in expected if n not in shapes]
        unexpected = [n for n in shapes if n not in expected and shapes[n]]
        wrong = []
        for n, (_, want) in expected.items():
            if n in shapes and shapes[n] != want:
                got = shapes[n]
                diff = [f"{w} {got.get(w, 'absent')} (want {s})" for w, s in want.items() if got.get(w) != s]
                diff += [f"{w} unexpected" for w in got if w not in want]
                wrong.append(f"{n} {diff[0]}")
        if missing or unexpected or wrong:
            parts = ([f"missing layer {_few(missing)}"] if missing else []) + \
                    ([f"unexpected layer {_few(unexpected)}"] if unexpected else []) + \
                    ([f"wrong shape {_few(wrong)}"] if wrong else [])
            raise WeightsError(f"{path} does not fit the ChromaGAN generator ({'; '.join(parts)})")

        own = model.state_dict()                   # tensors sharing the module's storage
        targets = {f"{tname}.{TORCH_NAMES[w]}": (n, w, tname) for n, (tname, want) in expected.items() for w in want}
        counters = [f"{tname}.num_batches_tracked" for tname, want in expected.values() if "gamma" in want]
        if set(targets) | set(counters) != set(own):  # pragma: no cover - the tables cover the module (tests)
            raise WeightsError(f"{path}: internal mapping error ({_few(sorted(set(own) ^ (set(targets) | set(counters))))})")
        with torch.no_grad():
            for key, (n, w, tname) in targets.items():
                want = expected[n][1]
                kind = "conv" if len(want.get("kernel", ())) == 4 else "dense" if "kernel" in want else "bn"
                arr = torch.from_numpy(np.asarray(layers[n][w][()], dtype=np.float32))
                dst = own[key]
                src = _torch_view(kind, w, arr, kind == "dense" and want["kernel"][0] == FLAT)
                (dst.view(src.shape) if src.shape != dst.shape else dst).copy_(src)
            for key in counters:                   # Keras keeps no counter (unused with a fixed momentum)
                own[key].zero_()
    return model


register(ChromaGAN, "Vitoria et al. 2020 (WACV), VGG16 + global/class/mid-level branches, 171 M params; "
         f"Keras release: --weights my_model_colorization.h5 ({RELEASE_URL})")
