"""DDColor: "Towards Photo-Realistic Image Colorization via Dual Decoders", Kang et al., ICCV 2023.

An independent implementation, written from the paper and from reading the official code
(github.com/piddnad/DDColor, Apache-2.0), whose ``state_dict()`` has exactly the keys and
shapes of the released checkpoints, so that they load with ``strict=True`` unchanged.

Architecture (paper Sec. 3; official ``basicsr/archs/ddcolor_arch.py`` and ``ddcolor/model.py``):

- **encoder** (``encoder.arch.*``): a ConvNeXt (Liu et al. 2022); -L (depths 3/3/27/3, dims
  192..1536) for ``ddcolor-paper/-modelscope/-artistic``, -T (3/3/9/3, 96..768) for
  ``ddcolor-paper-tiny``. The official ConvNeXt (``ddcolor_arch_utils/convnext.py``) adds one
  channels-first LayerNorm per stage, ``norm0..norm3``; DDColor reads the stage outputs
  *through* those norms (forward hooks in the official code) while the trunk itself runs
  on the un-normalized features. The classifier remnants ``norm`` (pooled LayerNorm) and
  ``head_cls`` (Linear -> 4) are in the checkpoints but unused by colorization.
- **pixel decoder** (``decoder.layers.{0,1,2}`` + ``decoder.last_shuf``): three U-Net blocks
  (``UnetBlockWide`` in ``ddcolor_arch_utils/unet.py``, fastai/DeOldify style) upsampling by 2
  with a PixelShuffle (1x1 conv + BatchNorm + ReLU + shuffle + a 2x2 "blur" average) and
  fusing the BatchNorm'ed skip feature with a 3x3 conv; then a x4 PixelShuffle to full
  resolution. Widths 512, 512, 256, 256 (``nf = 512``). Every conv is spectral-normalized
  (``torch.nn.utils.spectral_norm`` in the release: keys ``weight_orig/weight_u/weight_v``).
- **color decoder** (``decoder.color_decoder``, ``MultiScaleColorDecoder``): 100 learnable
  color queries (``query_feat`` + positional ``query_embed``), 9 layers of cross-attention ->
  self-attention -> FFN (post-norm, 8 heads, width 256, FFN 2048; ``nn.MultiheadAttention``,
  hence ``in_proj_weight``/``out_proj``), each layer attending to one of the three pixel
  decoder scales in turn (1/16, 1/8, 1/4) with a sine position embedding (DETR style) and a
  learned level embedding; an MLP maps the queries to 256-d color embeddings that are
  dot-multiplied with the full-resolution pixel features -> 100 maps.
- **fusion** (``refine_net.0.0``): a spectral-normalized 1x1 conv over the 100 maps and the
  (normalized) input image -> ab.
- buffers ``mean``/``std``: the ImageNet statistics the model normalizes its RGB input with.

The released ``.pth`` files (Hugging Face ``piddnad/DDColor-models``) hold ``{"params": state_dict}``
(basicsr's ``save_network``; the official loaders read ``torch.load(path)["params"]``). The
``piddnad/ddcolor_*`` Hugging Face repos hold the same weights saved by ``PyTorchModelHubMixin``
from the later ``ddcolor/model.py`` class, whose ConvNeXt no longer has ``head_cls``: build those
with ``head_cls=False``. (That the ``.pth`` files hold ``head_cls``: the official loaders went from
``strict=True`` to ``strict=False`` in the very commit that commented it out (1a190e2, Aug 2023,
before the Sep 2023 release); chaiNNer's spandrel drops exactly those two keys when loading them;
and the published byte sizes fit this layout, 442/604 tensors, with the same per-record zip
overhead for -T and -L, which the layout without ``head_cls`` does not.)

Pre/post-processing (:func:`preprocess`, :func:`postprocess`) follow the official pipeline
(``ddcolor/pipeline.py`` ``ColorizationPipeline.process``; earlier
``inference/colorization_pipline.py``) step by step, with OpenCV as it does.

Where the release's conventions differ from vidcolor's, vidcolor follows the release (the engine
hands this model the frames, :class:`~vidcolor.models.base.ReleaseColorizer`): Lab is OpenCV's
float conversion (not kornia's), the input is resized with ``cv2.resize`` bilinear (no
antialiasing), the predicted ab is upsampled with *nearest* (torch's ``F.interpolate`` default,
as the release; vidcolor's own models use bilinear), and the output is rounded from OpenCV's
clipped LAB2RGB. Only the temporal stage is vidcolor's: it smooths the predicted ab at the
model's size before the upsampling (``--temporal none`` leaves the release's pipeline as it is).
16-bit frames are rounded to 8 bits for it and scaled back.
"""

from __future__ import annotations

import math
from typing import Mapping

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import color
from ..errors import OptionError
from ..weights import WeightSpec
from .base import ReleaseColorizer
from .registry import register

# ----------------------------------------------------------------------------------------------
# the releases
# ----------------------------------------------------------------------------------------------

#: ConvNeXt variants: (depths, dims); official ``Encoder``/``ImageEncoder`` in ddcolor_arch.py / model.py
ENCODERS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "convnext-t": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "convnext-l": ((3, 3, 27, 3), (192, 384, 768, 1536)),
}

#: the decoder hyper-parameters of every release (official ``build_ddcolor_model`` /
#: ``options/train/train_ddcolor.yml`` / the Hugging Face ``config.json`` files)
NF = 512                 # pixel decoder width
NUM_QUERIES = 100        # color queries
NUM_SCALES = 3           # multi-scale features the color decoder attends to
DEC_LAYERS = 9           # transformer decoder layers
HIDDEN = 256             # color decoder width
NHEADS = 8
FFN_DIM = 2048
NUM_OUTPUT = 2           # ab

#: where the authors publish the checkpoints (MODEL_ZOO.md, Hugging Face model repo)
HF_RELEASES = "https://huggingface.co/piddnad/DDColor-models/resolve/main/"
LICENSE = "Apache-2.0 (piddnad/DDColor)"


def _release(name: str, filename: str, sha256: str, size: int | None, description: str) -> WeightSpec:
    return WeightSpec(name=name, model=name, filename=filename, url=HF_RELEASES + filename, sha256=sha256,
                      size=size, license=LICENSE, description=description)


#: release name -> (encoder, WeightSpec). sha256 and sizes are the Git LFS pointers Hugging Face
#: publishes for piddnad/DDColor-models: the file pages
#: https://huggingface.co/piddnad/DDColor-models/blob/main/<file> ("Git LFS Details: SHA256"), the
#: commit pages 1969bc566dd63355b6eb8b909d28271e2230bfec ("update models": artistic, modelscope,
#: paper) and 8c3ddc6d98edc4aad9adc978e44d4fc428e2113d (paper_tiny), and the blame page of
#: ddcolor_modelscope.pth. The exact byte size of ddcolor_paper.pth was not found published
#: (its page shows "912 MB"): None until read from a pointer.
RELEASES: dict[str, tuple[str, WeightSpec]] = {
    "ddcolor-paper": ("convnext-l", _release(
        "ddcolor-paper", "ddcolor_paper.pth",
        "789781789db1bafc2165e1cf9658580f871cce64a81901ec49127877813f10b9", None,
        "DDColor-L trained on ImageNet (the paper's model)")),
    "ddcolor-modelscope": ("convnext-l", _release(
        "ddcolor-modelscope", "ddcolor_modelscope.pth",
        "17c460d7e55b32a598370621d77173be59e03c24b0823f06821db23a50c263ce", 911950059,
        "DDColor-L trained on ImageNet with BigColor's data cleaning (the authors' default)")),
    "ddcolor-artistic": ("convnext-l", _release(
        "ddcolor-artistic", "ddcolor_artistic.pth",
        "a591ee5beedad36de703d8977e92d0c30c1eedc6453fd1b300f3b460842a23a9", 911950059,
        "DDColor-L trained on ImageNet + private data with many artistic images, without colorfulness loss")),
    "ddcolor-paper-tiny": ("convnext-t", _release(
        "ddcolor-paper-tiny", "ddcolor_paper_tiny.pth",
        "81dd643904f4664c3718513e3320ae3db0c567f0d3e18398606659adee7bfc17", 220393145,
        "DDColor-T trained on ImageNet (the paper's training scheme)")),
}

#: the key the released .pth files wrap their state dict in (basicsr ``save_network``)
CHECKPOINT_KEY = "params"


def unwrap_checkpoint(obj: Mapping) -> dict:
    """The state dict of a loaded DDColor checkpoint: ``obj["params"]`` for the ``.pth``
    releases, ``obj`` itself for a bare state dict (Hugging Face ``pytorch_model.bin``)."""
    if CHECKPOINT_KEY in obj and isinstance(obj[CHECKPOINT_KEY], Mapping):
        return dict(obj[CHECKPOINT_KEY])
    return dict(obj)


# ----------------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------------

class SpectralConv2d(nn.Module):
    """A Conv2d whose weight is divided by its largest singular value (Miyato et al. 2018).

    Stores exactly what ``torch.nn.utils.spectral_norm`` stores (``weight_orig``, ``bias``,
    buffers ``weight_u``/``weight_v``), and computes the same weight: in eval mode
    ``W / (u^T W_mat v)`` with the stored vectors; in training mode after one power
    iteration that updates them in place.
    """

    def __init__(self, cin: int, cout: int, kernel_size: int, bias: bool, padding: int = 0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        self.padding = padding
        self.eps = eps
        if bias:
            self.bias = nn.Parameter(torch.zeros(cout))
        else:
            self.register_parameter("bias", None)
        w = torch.empty(cout, cin, kernel_size, kernel_size)
        nn.init.kaiming_normal_(w)
        self.weight_orig = nn.Parameter(w)
        self.register_buffer("weight_u", F.normalize(torch.randn(cout), dim=0, eps=eps))
        self.register_buffer("weight_v", F.normalize(torch.randn(cin * kernel_size * kernel_size), dim=0, eps=eps))
        if w.device.type != "meta":  # random init: start from a converged estimate of sigma
            with torch.no_grad():
                for _ in range(5):
                    self._power_iteration()

    def _power_iteration(self) -> None:
        mat = self.weight_orig.detach().flatten(1)
        self.weight_v.copy_(F.normalize(mat.t() @ self.weight_u, dim=0, eps=self.eps))
        self.weight_u.copy_(F.normalize(mat @ self.weight_v, dim=0, eps=self.eps))

    def weight(self) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                self._power_iteration()
        u, v = self.weight_u.clone(), self.weight_v.clone()
        # sigma in fp32 whatever the autocast: a bf16 sigma would scale every weight by its
        # rounding error (up to 0.4 %)
        with torch.autocast(self.weight_orig.device.type, enabled=False):
            sigma = torch.dot(u.float(), self.weight_orig.float().flatten(1) @ v.float())
        return self.weight_orig / sigma.to(self.weight_orig.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of an NCHW tensor (ConvNeXt's "channels_first" norm)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.weight.shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """7x7 depthwise conv -> LayerNorm -> 4x MLP (GELU) -> layer scale, residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """ConvNeXt (Liu et al. 2022) returning the four stage outputs through ``norm0..norm3``."""

    def __init__(self, depths: tuple[int, ...], dims: tuple[int, ...], head_cls: bool = True) -> None:
        super().__init__()
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(3, dims[0], kernel_size=4, stride=4), LayerNorm2d(dims[0]))]
            + [nn.Sequential(LayerNorm2d(dims[i]), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2))
               for i in range(3)])
        self.stages = nn.ModuleList(nn.Sequential(*[ConvNeXtBlock(d) for _ in range(n)])
                                    for n, d in zip(depths, dims))
        for i, d in enumerate(dims):
            self.add_module(f"norm{i}", LayerNorm2d(d))
        # classifier remnants of the release: unused for colorization, kept for strict loading
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        if head_cls:
            self.head_cls = nn.Linear(dims[-1], 4)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
            feats.append(getattr(self, f"norm{i}")(x))  # the trunk goes on un-normalized
        return feats


class Encoder(nn.Module):
    def __init__(self, encoder: str, head_cls: bool = True) -> None:
        super().__init__()
        depths, dims = ENCODERS[encoder]
        self.arch = ConvNeXt(depths, dims, head_cls=head_cls)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.arch(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels)
    with torch.no_grad():
        bn.bias.fill_(1e-3)
    return bn


class PixelShuffleUp(nn.Module):
    """Upsample by ``scale``: 1x1 conv to ``cout * scale^2`` (+ BatchNorm when ``bn``), ReLU,
    PixelShuffle, then the anti-checkerboard blur (replicate-pad left/top, 2x2 mean)."""

    def __init__(self, cin: int, cout: int, scale: int, bn: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [SpectralConv2d(cin, cout * scale * scale, 1, bias=not bn)]
        if bn:
            layers.append(_bn(cout * scale * scale))
        self.conv = nn.Sequential(*layers)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pixel_shuffle(F.relu(self.conv(x)), self.scale)
        return F.avg_pool2d(F.pad(x, (1, 0, 1, 0), mode="replicate"), 2, stride=1)


class UNetBlock(nn.Module):
    """x2 PixelShuffle of the coarse input, concatenated with the BatchNorm'ed skip, ReLU, 3x3 conv."""

    def __init__(self, up_in: int, skip_in: int, out: int) -> None:
        super().__init__()
        self.shuf = PixelShuffleUp(up_in, out, scale=2, bn=True)
        self.bn = _bn(skip_in)
        self.conv = nn.Sequential(SpectralConv2d(out + skip_in, out, 3, bias=False, padding=1),
                                  nn.ReLU(inplace=True), _bn(out))

    def forward(self, up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.shuf(up)
        if up.shape[-2:] != skip.shape[-2:]:
            raise ValueError(f"DDColor needs input sides that are multiples of 32 (features {tuple(up.shape[-2:])} "
                             f"vs {tuple(skip.shape[-2:])})")
        return self.conv(F.relu(torch.cat([up, self.bn(skip)], dim=1)))


def sine_position_embedding(h: int, w: int, dim: int, device=None, temperature: float = 10000.0) -> torch.Tensor:
    """DETR's 2-D sine embedding, normalized to [0, 2pi]: (dim, h, w), first half from y, second from x;
    within each half the channels alternate sin/cos of the same frequency."""
    half = dim // 2
    eps = 1e-6
    y = torch.arange(1, h + 1, dtype=torch.float32, device=device) / (h + eps) * (2 * math.pi)
    x = torch.arange(1, w + 1, dtype=torch.float32, device=device) / (w + eps) * (2 * math.pi)
    k = torch.arange(half, dtype=torch.float32, device=device)
    freq = temperature ** (2 * torch.div(k, 2, rounding_mode="floor") / half)

    def encode(t: torch.Tensor) -> torch.Tensor:  # (n,) -> (half, n)
        a = t[:, None] / freq
        return torch.where(k.long() % 2 == 0, a.sin(), a.cos()).t()

    ey, ex = encode(y), encode(x)
    return torch.cat([ey[:, :, None].expand(half, h, w), ex[:, None, :].expand(half, h, w)], dim=0)


class CrossAttentionLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(HIDDEN, NHEADS)
        self.norm = nn.LayerNorm(HIDDEN)

    def forward(self, q, memory, pos, query_pos):
        out = self.multihead_attn(q + query_pos, memory + pos, memory, need_weights=False)[0]
        return self.norm(q + out)


class SelfAttentionLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(HIDDEN, NHEADS)
        self.norm = nn.LayerNorm(HIDDEN)

    def forward(self, q, query_pos):
        qk = q + query_pos
        return self.norm(q + self.self_attn(qk, qk, q, need_weights=False)[0])


class FFNLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear1 = nn.Linear(HIDDEN, FFN_DIM)
        self.linear2 = nn.Linear(FFN_DIM, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN)

    def forward(self, q):
        return self.norm(q + self.linear2(F.relu(self.linear1(q))))


class MLP(nn.Module):
    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class ColorDecoder(nn.Module):
    """Color queries refined by cross-attention over the pixel decoder's multi-scale features."""

    def __init__(self, in_channels: tuple[int, ...]) -> None:
        super().__init__()
        self.transformer_self_attention_layers = nn.ModuleList(SelfAttentionLayer() for _ in range(DEC_LAYERS))
        self.transformer_cross_attention_layers = nn.ModuleList(CrossAttentionLayer() for _ in range(DEC_LAYERS))
        self.transformer_ffn_layers = nn.ModuleList(FFNLayer() for _ in range(DEC_LAYERS))
        self.decoder_norm = nn.LayerNorm(HIDDEN)
        self.query_feat = nn.Embedding(NUM_QUERIES, HIDDEN)
        self.query_embed = nn.Embedding(NUM_QUERIES, HIDDEN)
        self.level_embed = nn.Embedding(NUM_SCALES, HIDDEN)
        self.input_proj = nn.ModuleList(nn.Conv2d(c, HIDDEN, kernel_size=1) for c in in_channels)
        self.color_embed = MLP([HIDDEN, HIDDEN, HIDDEN, HIDDEN])

    def forward(self, scales: list[torch.Tensor], pixels: torch.Tensor) -> torch.Tensor:
        n = pixels.shape[0]
        mem, pos = [], []
        for i, f in enumerate(scales):  # -> (HW, N, C), the layout nn.MultiheadAttention takes
            mem.append((self.input_proj[i](f).flatten(2) + self.level_embed.weight[i][None, :, None]).permute(2, 0, 1))
            p = sine_position_embedding(f.shape[2], f.shape[3], HIDDEN, device=f.device).to(f.dtype)
            pos.append(p.flatten(1).t()[:, None, :].expand(-1, n, -1))
        query_pos = self.query_embed.weight[:, None, :].expand(-1, n, -1)
        q = self.query_feat.weight[:, None, :].expand(-1, n, -1)
        for i in range(DEC_LAYERS):
            lvl = i % NUM_SCALES
            q = self.transformer_cross_attention_layers[i](q, mem[lvl], pos[lvl], query_pos)
            q = self.transformer_self_attention_layers[i](q, query_pos)
            q = self.transformer_ffn_layers[i](q)
        emb = self.color_embed(self.decoder_norm(q).transpose(0, 1))  # (N, Q, C)
        return torch.einsum("nqc,nchw->nqhw", emb, pixels)


class Decoder(nn.Module):
    """Pixel decoder (U-Net blocks + x4 shuffle) and color decoder."""

    def __init__(self, enc_dims: tuple[int, ...]) -> None:
        super().__init__()
        outs = (NF, NF, NF // 2)
        ins = (enc_dims[3], NF, NF)
        skips = (enc_dims[2], enc_dims[1], enc_dims[0])
        self.layers = nn.Sequential(*[UNetBlock(i, s, o) for i, s, o in zip(ins, skips, outs)])
        self.last_shuf = PixelShuffleUp(NF // 2, NF // 2, scale=4, bn=False)
        self.color_decoder = ColorDecoder(outs)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = feats[3]
        scales = []
        for block, skip in zip(self.layers, (feats[2], feats[1], feats[0])):
            x = block(x, skip)
            scales.append(x)  # 1/16, 1/8, 1/4 of the input
        return self.color_decoder(scales, self.last_shuf(x))


# ----------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------

def gray_rgb_from_l(L: torch.Tensor) -> torch.Tensor:
    """N1HW L in [0, 100] -> N3HW sRGB in [0, 1] of the color (L, 0, 0): the gray the official
    pipeline feeds the network (there through OpenCV's LAB2RGB, whose tables agree to ~1e-4)."""
    fy = (L + 16.0) / 116.0
    y = torch.where(fy > 6.0 / 29.0, fy ** 3, L * (27.0 / 24389.0))
    v = torch.where(y <= 0.0031308, 12.92 * y, 1.055 * y.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)
    return v.clamp(0.0, 1.0).expand(-1, 3, -1, -1)


class DDColor(ReleaseColorizer):
    name = "ddcolor"
    input_size = 512      # the size the official pipeline runs the released models at
    #: the classifier head the Hugging Face ``pytorch_model.bin`` copies drop (unused here)
    optional_keys = ("encoder.arch.head_cls.",)

    def __init__(self, encoder: str = "convnext-l", head_cls: bool = True, name: str | None = None) -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"unknown DDColor encoder '{encoder}'; one of {sorted(ENCODERS)}")
        if name:
            self.name = name
        self.encoder_name = encoder
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.encoder = Encoder(encoder, head_cls=head_cls)
        self.decoder = Decoder(ENCODERS[encoder][1])
        self.refine_net = nn.Sequential(nn.Sequential(SpectralConv2d(NUM_QUERIES + 3, NUM_OUTPUT, 1, bias=True)))

    def forward_rgb(self, x: torch.Tensor) -> torch.Tensor:
        """The official network: N3HW RGB in [0, 1] (the gray image of :func:`preprocess`; sides
        multiples of 32) -> ab N2HW in Lab units at the same size. As the release (``do_normalize``
        False), the input is normalized with the ImageNet ``mean``/``std`` and the output is not
        rescaled."""
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"DDColor needs input sides that are multiples of 32, got {tuple(x.shape[-2:])}")
        x = (x - self.mean) / self.std
        colors = self.decoder(self.encoder(x))
        return self.refine_net(torch.cat([colors, x], dim=1))

    def forward(self, l_norm: torch.Tensor, **extras) -> torch.Tensor:
        """vidcolor's interface: ``(L - 50) / 100`` N1HW -> ab N2HW. Builds the gray RGB of L
        (what :func:`preprocess` gives, from L instead of from the resized RGB) and runs
        :meth:`forward_rgb`."""
        return self.forward_rgb(gray_rgb_from_l(l_norm * 100.0 + 50.0).to(l_norm.dtype))

    # --- the engine's interface (ReleaseColorizer): the release's own pre/post-processing ---

    def check_size(self, size: int) -> int:
        if size % 32:
            raise OptionError(f"{self.name} needs a --size that is a multiple of 32 (got {size}; "
                              f"the release runs at {self.input_size})")
        return size

    def prepare(self, frames: np.ndarray, size: int) -> torch.Tensor:
        """NHWC uint8 RGB -> N3SS: :func:`preprocess` of every frame (cv2 bilinear, gray via Lab)."""
        return torch.cat([preprocess(f, size) for f in frames])

    def to_lab(self, out: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The prediction is ab already; L is that of the gray input."""
        return color.rgb_to_l(x.float()), out.float()

    def from_lab(self, out, x, L, ab):
        return ab

    def finish(self, frames: np.ndarray, out: torch.Tensor) -> np.ndarray:
        """:func:`postprocess` of every frame: nearest ab upsampling, the original's L, rounding."""
        out = out.detach().float().cpu()
        return np.stack([postprocess(f, out[i]) for i, f in enumerate(frames)])


def build(release: str) -> DDColor:
    """The architecture of a release name of :data:`RELEASES` (random weights)."""
    encoder, _ = RELEASES[release]
    return DDColor(encoder, name=release)


# ----------------------------------------------------------------------------------------------
# official pre/post-processing (ddcolor/pipeline.py, ColorizationPipeline.process)
# ----------------------------------------------------------------------------------------------

def _as_rgb_float(rgb_uint8: np.ndarray) -> np.ndarray:
    img = np.asarray(rgb_uint8)
    if img.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    # pipeline: ``img = (img_bgr / 255.0).astype(np.float32)``
    return (img / 255.0).astype(np.float32)


def preprocess(rgb_uint8: np.ndarray, size: int = 512) -> torch.Tensor:
    """HxWx3 (or HxW) uint8 RGB -> the official model input, 1x3xSxS float32 RGB in [0, 1].

    ``ColorizationPipeline.process`` (ddcolor/pipeline.py): the image scaled to [0, 1] float32 is
    resized to ``size``x``size`` with ``cv2.resize`` (default filter: bilinear, ``INTER_LINEAR``,
    aspect not kept), its L taken with ``cv2.cvtColor(..., COLOR_BGR2Lab)``, and the Lab image
    (L, 0, 0) converted back with ``COLOR_LAB2RGB``: a gray RGB image. (The official code reads
    BGR; RGB in with RGB2Lab gives the same L.) The network itself then applies the ImageNet
    mean/std (:meth:`DDColor.forward_rgb`).
    """
    img = _as_rgb_float(rgb_uint8)
    small = cv2.resize(img, (size, size))
    L = cv2.cvtColor(small, cv2.COLOR_RGB2Lab)[:, :, :1]
    gray_lab = np.concatenate([L, np.zeros_like(L), np.zeros_like(L)], axis=-1)
    gray_rgb = cv2.cvtColor(gray_lab, cv2.COLOR_LAB2RGB)
    return torch.from_numpy(np.ascontiguousarray(gray_rgb.transpose(2, 0, 1))).float().unsqueeze(0)


def upsample_ab(ab_small: torch.Tensor, height: int, width: int) -> np.ndarray:
    """1x2xsxs (or 2xsxs) ab -> HxWx2 float32: ``F.interpolate(output_ab, size=(h, w))`` as the
    official pipeline, i.e. torch's default mode, *nearest*."""
    ab = ab_small.detach().float().cpu()
    if ab.dim() == 3:
        ab = ab[None]
    return F.interpolate(ab, size=(height, width))[0].numpy().transpose(1, 2, 0)


def postprocess(orig_rgb: np.ndarray, ab_small: torch.Tensor) -> np.ndarray:
    """The colorized image: the predicted ab resized to the original size (nearest, as the
    release) joined with the original image's L (``COLOR_BGR2Lab`` of the [0, 1] float image at
    full resolution), converted with ``COLOR_LAB2RGB`` (OpenCV clips to [0, 1]) and quantized
    with ``(x * 255).round().astype(uint8)`` — ``ColorizationPipeline.process`` (RGB for BGR)."""
    img = _as_rgb_float(orig_rgb)
    h, w = img.shape[:2]
    orig_l = cv2.cvtColor(img, cv2.COLOR_RGB2Lab)[:, :, :1]
    lab = np.concatenate([orig_l, upsample_ab(ab_small, h, w)], axis=-1).astype(np.float32)
    rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    return (rgb * 255.0).round().astype(np.uint8)


def colorize_image(model: DDColor, rgb_uint8: np.ndarray, size: int = 512) -> np.ndarray:
    """The whole official pipeline on one image (the model's device and dtype)."""
    p = next(model.parameters())
    x = preprocess(rgb_uint8, size).to(device=p.device, dtype=p.dtype)
    with torch.inference_mode():
        ab = model.forward_rgb(x)
    return postprocess(rgb_uint8, ab)


_USES = {
    "ddcolor-paper": "DDColor-L (Kang et al. ICCV 2023, Apache-2.0): the paper's ImageNet model; "
                     "vivid, photo-realistic colour",
    "ddcolor-modelscope": "DDColor-L (Apache-2.0), ImageNet after BigColor's data cleaning: the authors' "
                          "default, the most natural colour",
    "ddcolor-artistic": "DDColor-L (Apache-2.0), ImageNet + private artistic images, no colourfulness loss: "
                        "calmer colour, paintings and illustrations",
    "ddcolor-paper-tiny": "DDColor-T (Apache-2.0): ConvNeXt-T, 4x fewer parameters; the fast DDColor",
}


def _factory(release: str):
    def make() -> DDColor:
        return build(release)
    return make


for _name, (_enc, _spec) in RELEASES.items():
    register(_factory(_name), _USES[_name], _spec, name=_name, input_size=DDColor.input_size)
