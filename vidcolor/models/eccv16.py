"""ECCV16: "Colorful Image Colorization", Zhang, Isola & Efros (2016).

Layer names, Sequential indices and shapes follow the official PyTorch release
(``colorization_release_v2-9b330a0b.pth``) so that its state dict loads with
``strict=True``. The network predicts a distribution over 313 quantized ab bins;
``model_out`` (a bias-free 1x1 conv holding the bin centers) turns the softmax
into the expected ab, as in the release.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register
from .base import Colorizer, conv_relu_stack, zhang_release


class ECCV16(Colorizer):
    name = "eccv16"
    input_size = 256

    def __init__(self) -> None:
        super().__init__()
        self.model1 = nn.Sequential(*conv_relu_stack([1, 64, 64], stride_last=2))
        self.model2 = nn.Sequential(*conv_relu_stack([64, 128, 128], stride_last=2))
        self.model3 = nn.Sequential(*conv_relu_stack([128, 256, 256, 256], stride_last=2))
        self.model4 = nn.Sequential(*conv_relu_stack([256, 512, 512, 512]))
        self.model5 = nn.Sequential(*conv_relu_stack([512, 512, 512, 512], dilation=2))
        self.model6 = nn.Sequential(*conv_relu_stack([512, 512, 512, 512], dilation=2))
        self.model7 = nn.Sequential(*conv_relu_stack([512, 512, 512, 512]))
        self.model8 = nn.Sequential(
            nn.ConvTranspose2d(512, 256, kernel_size=4, stride=2, padding=1, bias=True),
            *conv_relu_stack([256, 256, 256], leading_relu=True, norm=False),
            nn.Conv2d(256, 313, kernel_size=1, bias=True),
        )
        self.softmax = nn.Softmax(dim=1)
        self.model_out = nn.Conv2d(313, 2, kernel_size=1, bias=False)
        self.upsample4 = nn.Upsample(scale_factor=4, mode="bilinear")

    def logits(self, l_norm: torch.Tensor) -> torch.Tensor:
        x = l_norm
        for block in (self.model1, self.model2, self.model3, self.model4, self.model5,
                      self.model6, self.model7, self.model8):
            x = block(x)
        return x

    def forward(self, l_norm: torch.Tensor, **extras) -> torch.Tensor:
        ab_norm = self.model_out(self.softmax(self.logits(l_norm)))
        return self.ab_from_norm(self.upsample4(ab_norm))


register(ECCV16, "Zhang et al. 2016 (ECCV), 32 M params, classification over 313 ab bins",
         zhang_release("eccv16", "colorization_release_v2-9b330a0b.pth",
                       "9b330a0bae53f4ded77b1e23defbf78beaa09c10ebc4c4999e8e4f4a160b93f9", 128976165,
                       "Zhang et al. 2016, official PyTorch release"))
