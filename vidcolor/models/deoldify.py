"""DeOldify's generators (Jason Antic, MIT), rebuilt in plain torch so the official files load unchanged.

The three released generator checkpoints are fastai v1 ``DynamicUnet`` variants
(jantic/DeOldify: ``deoldify/generators.py``, ``deoldify/unet.py``, ``deoldify/layers.py``
and the fastai 1.0.56.dev0 copy vendored in that repository, ``fastai/layers.py``):

=================  =====================  ==========  =========  ====================
file               builder                encoder     nf_factor  default render_factor
=================  =====================  ==========  =========  ====================
ColorizeArtistic   ``gen_inference_deep``  ResNet34    1.5        35 (image)
ColorizeStable     ``gen_inference_wide``  ResNet101   2          35 (image)
ColorizeVideo      ``gen_inference_wide``  ResNet101   2          21 (video)
=================  =====================  ==========  =========  ====================

Both builders pass ``blur=True, norm_type=NormType.Spectral, self_attention=True,
y_range=(-3, 3)`` and ``n_classes=3``. ``Learner.save`` stores
``{'model': DynamicUnet.state_dict(), 'opt': ...}``; the U-Net is a fastai ``SequentialEx``,
so every key starts with ``layers.N``. The module below keeps that exact tree:

- ``layers.0``: the torchvision ResNet without its head (``create_body``: the children up to
  ``[-2]``: conv1, bn1, relu, maxpool, layer1..layer4 at ``layers.0.0`` .. ``layers.0.7``);
- ``layers.1``: BatchNorm of the encoder output; ``layers.2``: ReLU;
- ``layers.3``: the middle convs ``ni -> 2ni -> ni`` (``custom_conv_layer``: conv, ReLU, BN);
- ``layers.4`` .. ``layers.7``: four U-Net blocks fed by the encoder outputs at indices
  6, 5, 4, 2 (layer3, layer2, layer1, relu: where the activation size changes,
  ``_get_sfs_idxs`` at 256 px), self-attention in the second one (``i == len - 3``);
- ``layers.8``: fastai's ``PixelShuffle_ICNR`` (weight-normed 1x1 conv, its default
  ``norm_type``): back to the input size;
- ``layers.9``: ``MergeLayer(dense=True)``: concatenate the input image (3 channels);
- ``layers.10``: ``res_block`` (two spectral-normed 3x3 convs with bias + ReLU, no BN, a
  residual add; itself a ``SequentialEx``, hence ``layers.10.layers.0`` ..);
- ``layers.11``: the 1x1 spectral-normed conv to 3 channels (with bias);
- ``layers.12``: ``SigmoidRange(-3, 3)``.

Spectral norm is torch's (``weight_orig`` parameter, ``weight_u``/``weight_v`` buffers), as
fastai imports it from ``torch.nn.utils``. Every conv outside the encoder, the final
``PixelShuffle_ICNR`` excepted, is spectral-normed; those followed by BatchNorm have no bias.

Forward quirks kept on purpose (they are what the weights were trained with):

- every pixel-shuffle upsampler blurs (``ReplicationPad2d((1, 0, 1, 0))`` + ``AvgPool2d(2, 1)``)
  whatever its ``blur`` flag: the code tests ``if self.blur`` where ``self.blur`` is the pooling
  module (always true). fastai fixed this in 1.0.56 (``do_blur``), but DeOldify's own
  ``CustomPixelShuffle_ICNR`` and its vendored fastai (1.0.56.dev0) keep the old behaviour;
- a U-Net block resizes its upsampled input to the skip's size (``nearest``) when they differ
  (the ResNet's stride-2 stages round up: render sides that are not multiples of 32).

Pre/post-processing, as ``deoldify/filters.py`` (``ColorizerFilter``) and fastai do it, is the
small pure functions at the end of this file: :func:`preprocess`, :func:`postprocess`.

Where the release's conventions differ from vidcolor's, vidcolor follows the release (the engine
hands this model the frames, :class:`~vidcolor.models.base.ReleaseColorizer`): the chroma is
joined with the original in OpenCV's YUV (the original's Y), not in Lab; resizes are PIL's
bilinear, not torch's; the gray input is PIL's 601 luma, not Lab L; the output is truncated to
uint8, not rounded. Only the temporal stage is vidcolor's: it smooths the Lab ab of the
generator's output at the render size, before the release's post-processing
(``--temporal none`` leaves the release's pipeline exactly as it is). 16-bit frames are rounded
to 8 bits for it (the release is 8-bit) and scaled back.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.nn.utils import spectral_norm

from .. import color
from ..errors import OptionError
from ..weights import WeightSpec
from .base import ReleaseColorizer
from .registry import register

#: fastai ``imagenet_stats`` (fastai/vision/data.py): the data pipeline normalizes x and y with it
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: ``ColorizerFilter.render_base``: the model sees a square of side ``16 * render_factor``
RENDER_BASE = 16
#: the generator's last layer, ``SigmoidRange(*y_range)`` with ``y_range=(-3., 3.)`` (generators.py)
Y_RANGE = (-3.0, 3.0)
#: encoder child indices whose outputs feed the U-Net blocks, deepest first (``_get_sfs_idxs``)
SKIP_INDICES = (6, 5, 4, 2)


@dataclass(frozen=True)
class Variant:
    name: str               # vidcolor model name
    checkpoint: str         # the official file name
    arch: str               # torchvision constructor
    kind: str               # "deep" (DynamicUnetDeep) or "wide" (DynamicUnetWide)
    nf_factor: float
    render_factor: int      # the official default (deoldify/visualize.py)


#: the three releases; render factors from ``get_artistic_image_colorizer`` (35),
#: ``get_stable_image_colorizer`` (35) and ``get_stable_video_colorizer``/``get_video_colorizer`` (21)
VARIANTS: dict[str, Variant] = {
    "artistic": Variant("deoldify-artistic", "ColorizeArtistic_gen.pth", "resnet34", "deep", 1.5, 35),
    "stable": Variant("deoldify-stable", "ColorizeStable_gen.pth", "resnet101", "wide", 2, 35),
    "video": Variant("deoldify-video", "ColorizeVideo_gen.pth", "resnet101", "wide", 2, 21),
}

#: Hugging Face mirror of the official files (the original data.deepai.org / Dropbox links are dead).
#: sha256 and sizes are the Git LFS pointers of commit 448956a "Upload 3 files":
#: https://huggingface.co/spensercai/DeOldify/commit/448956a51080c3e5fb29a4e0f3e09457afd94eb0
DEOLDIFY_MIRROR = "https://huggingface.co/spensercai/DeOldify/resolve/main/"
DEOLDIFY_LICENSE = "MIT (jantic/DeOldify)"
WEIGHTS: dict[str, WeightSpec] = {
    "artistic": WeightSpec(
        name="deoldify-artistic", model="deoldify-artistic", filename="ColorizeArtistic_gen.pth",
        url=DEOLDIFY_MIRROR + "ColorizeArtistic_gen.pth",
        sha256="3f750246fa220529323b85a8905f9b49c0e5d427099185334d048fb5b5e22477", size=255144681,
        license=DEOLDIFY_LICENSE, description="DeOldify Artistic generator (ResNet34 deep U-Net)"),
    "stable": WeightSpec(
        name="deoldify-stable", model="deoldify-stable", filename="ColorizeStable_gen.pth",
        url=DEOLDIFY_MIRROR + "ColorizeStable_gen.pth",
        sha256="ca9cd7f43fb8b222c9a70f7b292e305a000694b0ff9d2ae4a6747b1a2e1ee5af", size=874066230,
        license=DEOLDIFY_LICENSE, description="DeOldify Stable generator (ResNet101 wide U-Net)"),
    "video": WeightSpec(
        name="deoldify-video", model="deoldify-video", filename="ColorizeVideo_gen.pth",
        url=DEOLDIFY_MIRROR + "ColorizeVideo_gen.pth",
        sha256="e3d98bb6a222354c79f95485c2f078a89dc724e9183662506d9e0f5aafac83ad", size=874066230,
        license=DEOLDIFY_LICENSE, description="DeOldify Video generator (ResNet101 wide U-Net)"),
}


# ----------------------------------------------------------------------------------------------
# building blocks


def _sn_conv(ni: int, nf: int, ks: int, bias: bool, one_d: bool = False) -> nn.Module:
    """A spectral-normed conv, kaiming-normal initialized (fastai ``init_default``)."""
    conv = (nn.Conv1d if one_d else nn.Conv2d)(ni, nf, kernel_size=ks, padding=(ks - 1) // 2, bias=bias)
    nn.init.kaiming_normal_(conv.weight)
    if bias:
        nn.init.zeros_(conv.bias)
    return spectral_norm(conv)


def _conv_block(ni: int, nf: int, ks: int = 3, relu: bool = True, bn: bool = True,
                self_attention: bool = False) -> nn.Sequential:
    """conv (bias only without BN), ReLU, BatchNorm, self-attention: each optional, in that order.

    With the spectral norm type this is ``custom_conv_layer(..., extra_bn=True)`` (bn=True) or
    fastai's ``conv_layer`` (bn=False: ``NormType.Spectral`` is not a batchnorm type).
    """
    layers: list[nn.Module] = [_sn_conv(ni, nf, ks, bias=not bn)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    if bn:
        layers.append(nn.BatchNorm2d(nf))
    if self_attention:
        layers.append(SelfAttention(nf))
    return nn.Sequential(*layers)


class SelfAttention(nn.Module):
    """SAGAN self-attention over all positions: 1x1 Conv1d query/key (C/8) and value (C), spectral-normed,
    ``gamma`` starting at 0 (fastai ``SelfAttention``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.query = _sn_conv(channels, channels // 8, 1, bias=False, one_d=True)
        self.key = _sn_conv(channels, channels // 8, 1, bias=False, one_d=True)
        self.value = _sn_conv(channels, channels, 1, bias=False, one_d=True)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)                                               # N, C, HW
        q, k, v = self.query(flat), self.key(flat), self.value(flat)
        attn = torch.softmax(torch.bmm(q.transpose(1, 2), k), dim=1)      # N, HW, HW; normalized over dim 1
        return (self.gamma * torch.bmm(v, attn) + flat).view_as(x)


class _WeightNormConv1x1(nn.Module):
    """A 1x1 conv with bias under weight normalization, parameters named like
    ``torch.nn.utils.weight_norm`` (``weight_g`` N111, ``weight_v``), without its deprecation."""

    def __init__(self, ni: int, nf: int) -> None:
        super().__init__()
        v = torch.empty(nf, ni, 1, 1)
        nn.init.kaiming_normal_(v)
        self.bias = nn.Parameter(torch.zeros(nf))
        self.weight_g = nn.Parameter(v.flatten(1).norm(dim=1).view(nf, 1, 1, 1))
        self.weight_v = nn.Parameter(v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = self.weight_v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        return F.conv2d(x, self.weight_v * (self.weight_g / norm), self.bias)


class _ShuffleUp(nn.Module):
    """x2 upsampling: 1x1 conv to ``4 * nf``, ReLU, PixelShuffle, then the blur (always on, see the module doc).

    ``spectral=True``: DeOldify's ``CustomPixelShuffle_ICNR`` (spectral-normed conv + BatchNorm);
    ``spectral=False``: fastai's ``PixelShuffle_ICNR`` with its default weight norm (conv with bias).
    """

    def __init__(self, ni: int, nf: int, spectral: bool) -> None:
        super().__init__()
        if spectral:
            self.conv = _conv_block(ni, nf * 4, ks=1, relu=False, bn=True)
        else:
            self.conv = nn.Sequential(_WeightNormConv1x1(ni, nf * 4))
        self.shuf = nn.PixelShuffle(2)
        self.pad = nn.ReplicationPad2d((1, 0, 1, 0))
        self.blur = nn.AvgPool2d(2, stride=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blur(self.pad(self.shuf(self.relu(self.conv(x)))))


class _UnetBlock(nn.Module):
    """Upsample the decoder path, concatenate the BatchNormed skip, ReLU, then the convs.

    ``UnetBlockDeep`` has ``conv1`` + ``conv2``; ``UnetBlockWide`` a single ``conv``.
    """

    def __init__(self, up_in: int, skip_in: int, up_out: int, convs: list[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self.shuf = _ShuffleUp(up_in, up_out, spectral=True)
        self.bn = nn.BatchNorm2d(skip_in)
        for name, module in convs:
            setattr(self, name, module)
        self._conv_names = [name for name, _ in convs]
        self.relu = nn.ReLU()

    def forward(self, up_in: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.shuf(up_in)
        if up.shape[-2:] != skip.shape[-2:]:
            up = F.interpolate(up, size=skip.shape[-2:], mode="nearest")
        x = self.relu(torch.cat([up, self.bn(skip)], dim=1))
        for name in self._conv_names:
            x = getattr(self, name)(x)
        return x


def _deep_block(up_in: int, skip_in: int, final: bool, self_attention: bool, nf_factor: float):
    """``UnetBlockDeep``: shuffle to ``up_in // 2``, then two convs of ``int(ni * nf_factor)``
    (``ni // 2`` for the last block)."""
    up_out = up_in // 2
    ni = up_out + skip_in
    nf = int((ni // 2 if final else ni) * nf_factor)
    block = _UnetBlock(up_in, skip_in, up_out, [("conv1", _conv_block(ni, nf)),
                                                 ("conv2", _conv_block(nf, nf, self_attention=self_attention))])
    return block, nf


def _wide_block(up_in: int, skip_in: int, n_out: int, self_attention: bool):
    """``UnetBlockWide``: shuffle to ``n_out // 2``, one conv to ``n_out // 2``."""
    half = n_out // 2
    block = _UnetBlock(up_in, skip_in, half, [("conv", _conv_block(half + skip_in, half,
                                                                    self_attention=self_attention))])
    return block, half


class _DenseMerge(nn.Module):
    """``MergeLayer(dense=True)``: no parameters; the concatenation with the input happens in
    :meth:`DeOldify.forward_rgb` (fastai passes the input along as ``x.orig``)."""

    def forward(self, x: torch.Tensor, orig: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, orig], dim=1)


class _ResMerge(nn.Module):
    """``MergeLayer(dense=False)``: the residual add closing ``res_block``."""

    def forward(self, x: torch.Tensor, orig: torch.Tensor) -> torch.Tensor:
        return x + orig


class _ResBlock(nn.Module):
    """fastai ``res_block(nf, norm_type=Spectral)``: two 3x3 conv+ReLU (with bias, no BN) and an add.
    A ``SequentialEx``, so its modules sit in ``layers``."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([_conv_block(nf, nf, bn=False), _conv_block(nf, nf, bn=False), _ResMerge()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[2](self.layers[1](self.layers[0](x)), x)


class _SigmoidRange(nn.Module):
    def __init__(self, low: float, high: float) -> None:
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x) * (self.high - self.low) + self.low


def _resnet_body(arch: str) -> tuple[nn.Sequential, list[int]]:
    """The torchvision ResNet up to (without) avgpool/fc, and the channels of its children's
    outputs at :data:`SKIP_INDICES` plus the last one."""
    net = getattr(torchvision.models, arch)(weights=None)
    body = nn.Sequential(*list(net.children())[:-2])
    widths = {2: net.bn1.num_features}
    for idx, layer in zip((4, 5, 6, 7), (net.layer1, net.layer2, net.layer3, net.layer4)):
        last = layer[-1]
        widths[idx] = (last.bn3 if hasattr(last, "bn3") else last.bn2).num_features
    return body, [widths[i] for i in SKIP_INDICES] + [widths[7]]


# ----------------------------------------------------------------------------------------------
# the generator


class DeOldify(ReleaseColorizer):
    """An official DeOldify generator; ``state_dict()`` has the checkpoints' keys and shapes.

    :meth:`forward_rgb` is the generator itself: ImageNet-normalized N3HW RGB (the gray image
    as RGB, see :func:`preprocess`) in, the raw ``SigmoidRange(-3, 3)`` output N3HW out, which is
    ImageNet-normalized RGB (see :func:`postprocess`). H and W must be even (in DeOldify they
    are ``16 * render_factor``).
    """

    name = "deoldify"
    input_size = 16 * 35

    def __init__(self, variant: str = "artistic") -> None:
        super().__init__()
        try:
            spec = VARIANTS[variant]
        except KeyError:
            raise ValueError(f"unknown DeOldify variant '{variant}'; choose one of: {', '.join(VARIANTS)}") from None
        self.variant = spec
        self.name = spec.name
        self.input_size = RENDER_BASE * spec.render_factor
        self.render_factor = spec.render_factor

        encoder, (*skips, ni) = _resnet_body(spec.arch)
        in_ch = encoder[0].in_channels
        middle = nn.Sequential(_conv_block(ni, ni * 2), _conv_block(ni * 2, ni))
        layers: list[nn.Module] = [encoder, nn.BatchNorm2d(ni), nn.ReLU(), middle]
        with torch.no_grad():                      # fastai's batchnorm_2d init
            layers[1].bias.fill_(1e-3)

        x = ni
        for i, skip in enumerate(skips):
            final = i == len(skips) - 1
            attention = i == len(skips) - 3
            if spec.kind == "deep":
                block, x = _deep_block(x, skip, final, attention, spec.nf_factor)
            else:
                nf = int(512 * spec.nf_factor)
                block, x = _wide_block(x, skip, nf // 2 if final else nf, attention)
            with torch.no_grad():
                block.bn.bias.fill_(1e-3)
            layers.append(block)

        layers.append(_ShuffleUp(x, x, spectral=False))        # the encoder's stem halved the size
        layers.append(_DenseMerge())
        x += in_ch
        layers.append(_ResBlock(x))
        layers.append(_conv_block(x, 3, ks=1, relu=False, bn=False))
        layers.append(_SigmoidRange(*Y_RANGE))
        self.layers = nn.ModuleList(layers)
        self._converge_spectral_norms()

    @torch.no_grad()
    def _converge_spectral_norms(self, iterations: int = 10) -> None:
        """Random init: run the power iterations torch's spectral norm would run in training, so
        that eval mode divides by the true largest singular value (with the random ``u``, ``v``
        torch starts from, ``u^T W v`` is tiny and activations overflow). A checkpoint's own
        ``weight_u``/``weight_v`` replace these when it loads."""
        for mod in self.modules():
            w, u, v = (getattr(mod, k, None) for k in ("weight_orig", "weight_u", "weight_v"))
            if w is None or u is None or w.device.type == "meta":
                continue
            mat = w.flatten(1)
            for _ in range(iterations):
                v.copy_(F.normalize(mat.t() @ u, dim=0, eps=1e-12))
                u.copy_(F.normalize(mat @ v, dim=0, eps=1e-12))

    def forward_rgb(self, x: torch.Tensor) -> torch.Tensor:
        """The official generator: normalized N3HW in, raw N3HW in (-3, 3) out (same H, W)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected an N3HW tensor, got shape {tuple(x.shape)}")
        if x.shape[-2] % 2 or x.shape[-1] % 2:
            raise ValueError(f"DeOldify needs even H and W (16 * render_factor), got {tuple(x.shape[-2:])}")
        L = self.layers
        feats: dict[int, torch.Tensor] = {}
        h = x
        for i, child in enumerate(L[0]):
            h = child(h)
            if i in SKIP_INDICES:
                feats[i] = h
        h = L[3](L[2](L[1](h)))
        for j, idx in enumerate(SKIP_INDICES):
            h = L[4 + j](h, feats[idx])
        h = L[9](L[8](h), x)
        return L[12](L[11](L[10](h)))

    # --- the engine's interface (ReleaseColorizer): the release's own pre/post-processing ---
    #: ``--render-factor N`` is ``--size 16 N``
    render_base = RENDER_BASE

    def check_size(self, size: int) -> int:
        if size % RENDER_BASE:
            raise OptionError(f"{self.name} renders at 16 x --render-factor: --size must be a multiple of "
                              f"{RENDER_BASE} (got {size}; the release default is --render-factor "
                              f"{self.render_factor}, i.e. --size {self.input_size})")
        return size

    def prepare(self, frames: np.ndarray, size: int) -> torch.Tensor:
        """NHWC uint8 RGB -> N3SS: :func:`preprocess` of every frame (PIL stretch, gray, ImageNet norm)."""
        return torch.cat([normalize(to_gray_rgb(scale_to_square(f, size))) for f in frames])

    def to_lab(self, out: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The generator's RGB (denormalized, clamped to [0, 1] as :func:`denormalize`) as L, ab."""
        lab = color.rgb_to_lab(_denorm(out).clamp(0, 1))
        return lab[:, :1], lab[:, 1:]

    def from_lab(self, out, x, L, ab):
        return _renorm(color.lab_to_rgb(torch.cat([L, ab], dim=1)))

    def finish(self, frames: np.ndarray, out: torch.Tensor) -> np.ndarray:
        """:func:`postprocess` of every frame: truncate to uint8, PIL stretch back, YUV join."""
        out = out.detach().float().cpu()
        return np.stack([postprocess(f, out[i:i + 1]) for i, f in enumerate(frames)])

    def forward(self, l_norm: torch.Tensor, **extras) -> torch.Tensor:
        """vidcolor's L -> ab interface (eval, bench's model timing): the gray RGB of L through the
        generator, its output's Lab ab. The engine's colorize path uses the release's own
        pre/post-processing instead (:meth:`prepare`, :meth:`finish`)."""
        L = l_norm * 100.0 + 50.0
        gray = color.lab_to_rgb(torch.cat([L, torch.zeros_like(L), torch.zeros_like(L)], dim=1))
        return self.to_lab(self.forward_rgb(_renorm(gray).to(l_norm.dtype)), gray)[1]


def _stats(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(IMAGENET_MEAN, device=t.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=t.device)[:, None, None]
    return mean, std


def _denorm(out: torch.Tensor) -> torch.Tensor:
    mean, std = _stats(out)
    return out.float() * std + mean


def _renorm(rgb: torch.Tensor) -> torch.Tensor:
    mean, std = _stats(rgb)
    return (rgb.float() - mean) / std


class DeOldifyArtistic(DeOldify):
    name = "deoldify-artistic"
    input_size = RENDER_BASE * VARIANTS["artistic"].render_factor

    def __init__(self) -> None:
        super().__init__("artistic")


class DeOldifyStable(DeOldify):
    name = "deoldify-stable"
    input_size = RENDER_BASE * VARIANTS["stable"].render_factor

    def __init__(self) -> None:
        super().__init__("stable")


class DeOldifyVideo(DeOldify):
    name = "deoldify-video"
    input_size = RENDER_BASE * VARIANTS["video"].render_factor

    def __init__(self) -> None:
        super().__init__("video")


# ----------------------------------------------------------------------------------------------
# pre/post-processing, as the release does it (deoldify/filters.py, fastai v1)


def _pil():
    from PIL import Image  # torchvision's dependency; imported lazily
    return Image


def _bilinear():
    Image = _pil()
    return getattr(Image, "Resampling", Image).BILINEAR


def render_side(render_factor: int) -> int:
    """``ColorizerFilter.filter``: ``render_sz = render_factor * self.render_base`` (16)."""
    if int(render_factor) < 1:
        raise ValueError(f"render_factor must be >= 1, got {render_factor}")
    return RENDER_BASE * int(render_factor)


def scale_to_square(rgb: np.ndarray, side: int) -> np.ndarray:
    """``BaseFilter._scale_to_square``: a plain stretch to ``side x side``, PIL ``BILINEAR``
    (PIL's filter, which widens its support when shrinking: not cv2's INTER_LINEAR)."""
    return np.asarray(_pil().fromarray(rgb).resize((side, side), resample=_bilinear()))


def to_gray_rgb(rgb: np.ndarray) -> np.ndarray:
    """``ColorizerFilter._transform``: ``image.convert('LA').convert('RGB')``: PIL's ITU-R 601-2
    luma (integer, rounded) copied into the three channels."""
    return np.asarray(_pil().fromarray(rgb).convert("LA").convert("RGB"))


def normalize(rgb: np.ndarray) -> torch.Tensor:
    """``BaseFilter._model_process``: ``pil2tensor(img, float32)``, ``div_(255)``, then the
    ``imagenet_stats`` normalization ``(x - mean) / std``: HW3 uint8 -> 13HW float32."""
    x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return ((x - mean) / std)[None]


def preprocess(gray_rgb_uint8: np.ndarray, render_factor: int) -> torch.Tensor:
    """The model input for one HW3 uint8 RGB image, as ``BaseFilter._get_model_ready_image`` +
    ``_model_process``: stretch to ``16 * render_factor`` (PIL bilinear), *then* to gray, then
    normalize. Returns a 13SS float32 tensor."""
    if gray_rgb_uint8.dtype != np.uint8 or gray_rgb_uint8.ndim != 3 or gray_rgb_uint8.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {gray_rgb_uint8.dtype} {gray_rgb_uint8.shape}")
    side = render_side(render_factor)
    return normalize(to_gray_rgb(scale_to_square(gray_rgb_uint8, side)))


def denormalize(generator_out: torch.Tensor) -> np.ndarray:
    """Generator output (3HW or 13HW) -> HW3 uint8 RGB, as the release's chain does it:
    ``Learner.pred_batch(reconstruct=True)`` denormalizes (``x * std + mean``; the data's
    ``normalize(imagenet_stats, do_y=True)``), ``ImageList.reconstruct`` clamps to [0, 1]
    (``Image(t.float().clamp(min=0, max=1))``), ``BaseFilter._model_process`` calls
    ``self.denorm(..., do_x=False)`` (a no-op) and ``image2np(out * 255).astype(np.uint8)``
    (truncation, not rounding)."""
    out = generator_out.detach().float().cpu()
    if out.dim() == 4:
        if out.shape[0] != 1:
            raise ValueError(f"one image at a time, got a batch of {out.shape[0]}")
        out = out[0]
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    img = (out * std + mean).clamp(min=0, max=1)
    return (img * 255).permute(1, 2, 0).numpy().astype(np.uint8)


def unsquare(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """``BaseFilter._unsquare``: back to the original size, PIL ``BILINEAR``."""
    return np.asarray(_pil().fromarray(rgb).resize((width, height), resample=_bilinear()))


def join_luminance(raw_color: np.ndarray, orig_rgb: np.ndarray) -> np.ndarray:
    """``ColorizerFilter._post_process``: OpenCV ``COLOR_RGB2YUV`` of both (uint8), the
    original's Y with the colorized U, V, back with ``COLOR_YUV2RGB``."""
    color_yuv = cv2.cvtColor(np.ascontiguousarray(raw_color), cv2.COLOR_RGB2YUV)
    hires = cv2.cvtColor(np.ascontiguousarray(orig_rgb), cv2.COLOR_RGB2YUV)
    hires[:, :, 1:3] = color_yuv[:, :, 1:3]
    return cv2.cvtColor(hires, cv2.COLOR_YUV2RGB)


def postprocess(orig_rgb: np.ndarray, generator_out: torch.Tensor, post_process: bool = True) -> np.ndarray:
    """The final HW3 uint8 RGB image at the original's size, as ``ColorizerFilter.filter``:
    :func:`denormalize`, :func:`unsquare` to ``orig_rgb``'s size, then (``post_process``, the
    release's default) :func:`join_luminance` with the original. (The release then adds a
    watermark by default, ``get_watermarked``; that is not reproduced.)"""
    if orig_rgb.dtype != np.uint8 or orig_rgb.ndim != 3 or orig_rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {orig_rgb.dtype} {orig_rgb.shape}")
    raw = unsquare(denormalize(generator_out), orig_rgb.shape[0], orig_rgb.shape[1])
    return join_luminance(raw, orig_rgb) if post_process else raw


_USES = {
    "artistic": "DeOldify Artistic (Antic, MIT): ResNet34 deep U-Net; the most vivid, detailed colour, "
                "for photos; needs --render-factor tuning",
    "stable": "DeOldify Stable (Antic, MIT): ResNet101 wide U-Net; more conservative colour, fewer "
              "artefacts on faces and landscapes",
    "video": "DeOldify Video (Antic, MIT): ResNet101 wide U-Net trained for temporal consistency; "
             "the release's choice for film (render factor 21)",
}
for _cls in (DeOldifyArtistic, DeOldifyStable, DeOldifyVideo):
    _v = _cls.name.split("-", 1)[1]
    register(_cls, _USES[_v], WEIGHTS[_v])
