"""``pix2pix``: the conditional GAN of Isola et al. (2017), trained L -> ab.

The generator is the paper's U-Net (appendix 6.1.1): an encoder of 4x4 stride-2
convolutions, each ``LeakyReLU(0.2) -> conv -> BatchNorm`` (no LeakyReLU before the
first, no BatchNorm on the first and the innermost), and a mirror decoder of
``ReLU -> 4x4 stride-2 transposed conv -> BatchNorm`` with dropout 0.5 on the three
innermost up-steps; every up-step but the innermost takes the encoder feature of its
resolution concatenated to its input, and the outermost ends in ``tanh``. Widths
follow the paper's C64-C128-C256-C512-C512... with ``ngf`` in place of 64 and the
width capped at ``8 * ngf``. ``depth`` down-steps: 8 for the paper's 256x256 U-Net, 7
for its 128x128 one. It predicts ab / 110 (vidcolor's normalization) from the
normalized L, so it is a colorizer like any other (``--model pix2pix --weights CKPT``).

The discriminator is the paper's 70x70 PatchGAN (appendix 6.1.2): C64-C128-C256-C512
(4x4 convs, the first three stride 2, the fourth stride 1, LeakyReLU 0.2, no
BatchNorm on the first) and a 4x4 conv to one logit per 70x70 patch, looking at
``(L, ab)`` together: the conditional GAN sees the input with the colors.

Two deliberate differences from the paper's test-time use: vidcolor runs the
generator in eval mode, so dropout is off and BatchNorm uses its running statistics
(the paper keeps dropout on as its noise and normalizes with test-batch statistics);
a colorizer of film must give the same colors to the same frame every time. Inputs of
any size are padded by reflection to a multiple of ``2 ** depth`` and cropped back.
Training: :mod:`vidcolor.train` (``vidcolor train --model pix2pix``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..color import AB_NORM
from ..errors import OptionError
from .base import Colorizer
from .registry import register


def _down(cin: int, cout: int, first: bool, norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [] if first else [nn.LeakyReLU(0.2, True)]
    layers.append(nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=not norm))
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers)


def _up(cin: int, cout: int, last: bool, dropout: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ReLU(True), nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=last)]
    if last:
        layers.append(nn.Tanh())
    else:
        layers.append(nn.BatchNorm2d(cout))
        if dropout:
            layers.append(nn.Dropout(0.5))
    return nn.Sequential(*layers)


class Pix2Pix(Colorizer):
    """U-Net generator: l_norm N1HW -> ab N2HW (Lab units)."""

    name = "pix2pix"
    input_size = 256
    train_loss = "cgan"

    def __init__(self, ngf: int = 32, depth: int = 7) -> None:
        super().__init__()
        if depth < 5:
            raise ValueError("depth must be at least 5 (three dropout up-steps inside the two outer ones)")
        self.depth = depth
        widths = [min(ngf * 2 ** i, ngf * 8) for i in range(depth)]
        self.down = nn.ModuleList(
            _down(1 if i == 0 else widths[i - 1], widths[i], first=i == 0, norm=0 < i < depth - 1)
            for i in range(depth))
        # up[i] produces the resolution of down[i]'s input: its output width is that of the skip it meets
        ups = []
        for i in range(depth):
            cin = widths[i] if i == depth - 1 else 2 * widths[i]
            cout = 2 if i == 0 else widths[i - 1]
            ups.append(_up(cin, cout, last=i == 0, dropout=i >= depth - 3))   # the paper's CD512-CD1024-CD1024
        self.up = nn.ModuleList(ups)

    def check_size(self, size: int) -> int:
        if size < 2 ** self.depth:
            raise OptionError(f"pix2pix ({self.depth} down-steps) needs a size of at least {2 ** self.depth}, "
                              f"got {size}")
        return size

    def forward(self, l_norm: torch.Tensor, **extras) -> torch.Tensor:
        h, w = l_norm.shape[-2:]
        m = 2 ** self.depth
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:   # reflection needs a pad smaller than the side; tiny inputs are extended instead
            x = F.pad(l_norm, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
        else:
            x = l_norm
        skips = []
        for d in self.down:
            x = d(x)
            skips.append(x)
        y = self.up[-1](skips[-1])
        for i in range(self.depth - 2, -1, -1):
            y = self.up[i](torch.cat([y, skips[i]], 1))
        return y[..., :h, :w] * AB_NORM

    def discriminator(self) -> "PatchGAN":
        """A fresh 70x70 PatchGAN to train this generator against (``ndf`` = ``ngf``)."""
        return PatchGAN(ndf=self.down[0][0].out_channels)


class PatchGAN(nn.Module):
    """70x70 PatchGAN on (L_norm, ab / 110), N3HW -> one logit per patch, N1H'W'."""

    def __init__(self, ndf: int = 32, in_channels: int = 3) -> None:
        super().__init__()
        c = [ndf, ndf * 2, ndf * 4, ndf * 8]
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, c[0], 4, stride=2, padding=1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(c[0], c[1], 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c[1]), nn.LeakyReLU(0.2, True),
            nn.Conv2d(c[1], c[2], 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c[2]), nn.LeakyReLU(0.2, True),
            nn.Conv2d(c[2], c[3], 4, stride=1, padding=1, bias=False), nn.BatchNorm2d(c[3]), nn.LeakyReLU(0.2, True),
            nn.Conv2d(c[3], 1, 4, stride=1, padding=1),
        )

    def forward(self, l_norm: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([l_norm, ab / AB_NORM], 1))


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """The paper's initialization: conv weights ~ N(0, 0.02), BatchNorm weights ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


register(Pix2Pix, "the pix2pix conditional GAN (Isola et al. 2017): U-Net generator L -> ab, trained with a "
                  "70x70 PatchGAN (`vidcolor train --model pix2pix`); pass --weights CKPT")
