"""``compact``: a small, fast classification colorizer (1.8 M parameters).

Same formulation as ECCV16 (Zhang et al. 2016): per pixel, a distribution over
the in-gamut ab bins of :mod:`.abbins`, trained with the class-rebalanced
soft-encoded cross-entropy and decoded with the annealed mean. The network is a
small U-Net: a strided encoder down to 1/16 with dilated convolutions there for
context, and a decoder back to 1/4 with additive skips; the logits live at 1/4 of
the input size and the decoded ab is upsampled bilinearly, as in ECCV16.

The bin centers and the decoding settings are buffers, so a checkpoint
carries what it was trained and tuned with: the annealed-mean ``temperature``
and a per-bin ``decode_bias`` added to the logits before decoding. The
rebalanced loss teaches the network ``p(q|x) * w(q)`` (w: the class weights);
a bias of ``-alpha * log w`` undoes a share ``alpha`` of that at decode time,
between vivid (0) and the calibrated posterior (1). Both are tuned on held-out
training images (:func:`vidcolor.train.sweep_decoding`). Fully convolutional: any input
size works (padded by reflection to a multiple of 16, cropped back).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..weights import WeightSpec
from .abbins import ab_bins, annealed_mean
from .registry import register
from .base import Colorizer

#: stride of the deepest feature map; inputs are padded to a multiple of it
STRIDE = 16
#: stride of the logits relative to the input
OUT_STRIDE = 4


def conv_bn(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 conv (no bias) + BatchNorm + ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Compact(Colorizer):
    """l_norm N1HW -> ab N2HW (Lab units); ``logits`` gives N x Q x H/4 x W/4."""

    name = "compact"
    input_size = 256

    def __init__(self, widths: tuple[int, int, int, int] = (24, 48, 96, 192), temperature: float = 0.38) -> None:
        super().__init__()
        c1, c2, c3, c4 = widths
        self.register_buffer("ab_centers", ab_bins())                       # Q x 2
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        q = self.ab_centers.shape[0]
        self.register_buffer("decode_bias", torch.zeros(q))
        self.enc1 = conv_bn(1, c1, stride=2)                                                      # 1/2
        self.enc2 = nn.Sequential(conv_bn(c1, c2, stride=2), conv_bn(c2, c2))                     # 1/4
        self.enc3 = nn.Sequential(conv_bn(c2, c3, stride=2), conv_bn(c3, c3), conv_bn(c3, c3))    # 1/8
        self.enc4 = nn.Sequential(conv_bn(c3, c4, stride=2), conv_bn(c4, c4, dilation=2),
                                  conv_bn(c4, c4, dilation=2), conv_bn(c4, c4))                   # 1/16
        self.up3 = conv_bn(c4, c3)
        self.dec3 = nn.Sequential(conv_bn(c3, c3), conv_bn(c3, c3))                               # 1/8
        self.up2 = conv_bn(c3, c2)
        self.dec2 = conv_bn(c2, c2)                                                               # 1/4
        self.head = nn.Conv2d(c2, q, 1)

    def logits(self, l_norm: torch.Tensor) -> torch.Tensor:
        """l_norm N1HW with H, W multiples of 16 -> logits N x Q x H/4 x W/4."""
        x2 = self.enc2(self.enc1(l_norm))
        x3 = self.enc3(x2)
        x4 = self.enc4(x3)
        y3 = self.dec3(self.up3(F.interpolate(x4, scale_factor=2.0, mode="bilinear", align_corners=False)) + x3)
        y2 = self.dec2(self.up2(F.interpolate(y3, scale_factor=2.0, mode="bilinear", align_corners=False)) + x2)
        return self.head(y2)

    def forward(self, l_norm: torch.Tensor, **extras) -> torch.Tensor:
        h, w = l_norm.shape[-2:]
        ph, pw = (-h) % STRIDE, (-w) % STRIDE
        x = F.pad(l_norm, (0, pw, 0, ph), mode="reflect") if ph or pw else l_norm
        logits = self.logits(x) + self.decode_bias.view(1, -1, 1, 1)
        ab = annealed_mean(logits, self.ab_centers, self.temperature)
        ab = F.interpolate(ab, scale_factor=float(OUT_STRIDE), mode="bilinear", align_corners=False)
        return ab[..., :h, :w]


register(Compact, "vidcolor's own, 1.8 M params, classification over in-gamut ab bins; ships with vidcolor",
         # the weights that ship in vidcolor/shipped/ (how they were made: its README.md)
         WeightSpec(name="compact", model="compact", filename="compact.pt", url=None,
                    sha256="6550106eadba451fa38ff27cbca8f35a00fcb0c5d7325cb273de7493a0e54308", size=7286005,
                    license="BSD-2-Clause (vidcolor); trained on ImageNet/BSDS500/Urban100 samples (research use)",
                    description="compact, trained with `vidcolor train` on 2,316 photos (2-core CPU, 38 min)"))
