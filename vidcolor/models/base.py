"""The small interface every colorizer implements.

A colorizer is a ``torch.nn.Module`` with a ``name``, the square ``input_size``
it was trained at, and ``forward(l_norm, **extras) -> ab``:

- ``l_norm``: float N1HW, the normalized luminance ``(L - 50) / 100``;
- returns ab in Lab units, N2HW (same H, W as the input).

Models that take more (user hints, a reference frame) name those extras in
their ``forward`` signature; the pipeline passes none of them by default.
"""

from __future__ import annotations

import torch
from torch import nn

from ..color import unnormalize_ab
from ..weights import WeightSpec

#: where Zhang et al. publish the official PyTorch checkpoints (richzhang/colorization, README)
ZHANG_RELEASES = "https://colorizers.s3.us-east-2.amazonaws.com/"


def zhang_release(name: str, filename: str, sha256: str, size: int, description: str) -> WeightSpec:
    """The spec of an official ECCV16/SIGGRAPH17 checkpoint (BSD-2-Clause, richzhang/colorization)."""
    return WeightSpec(name=name, model=name, filename=filename, url=ZHANG_RELEASES + filename, sha256=sha256,
                      size=size, license="BSD-2-Clause (richzhang/colorization)", description=description)


class Colorizer(nn.Module):
    name: str = "colorizer"
    input_size: int = 256

    def forward(self, l_norm: torch.Tensor, **extras) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    @staticmethod
    def ab_from_norm(ab_norm: torch.Tensor) -> torch.Tensor:
        return unnormalize_ab(ab_norm)


def conv_relu_stack(channels: list[int], dilation: int = 1, stride_last: int = 1,
                    leading_relu: bool = False, norm: bool = True) -> list[nn.Module]:
    """3x3 conv + ReLU layers through ``channels``, optionally a final BatchNorm.

    This reproduces the Sequential layout of Zhang et al.'s releases: the module
    indices (conv at 0, 2, 4, ...; BatchNorm last) are part of the checkpoint
    format, so do not reorder.
    """
    layers: list[nn.Module] = [nn.ReLU(True)] if leading_relu else []
    n = len(channels) - 1
    for i in range(n):
        stride = stride_last if i == n - 1 else 1
        layers.append(nn.Conv2d(channels[i], channels[i + 1], kernel_size=3, stride=stride,
                                padding=dilation, dilation=dilation, bias=True))
        layers.append(nn.ReLU(True))
    if norm:
        layers.append(nn.BatchNorm2d(channels[-1]))
    return layers
