"""SIGGRAPH17: "Real-Time User-Guided Image Colorization with Learned Deep Priors",
Zhang, Zhu, Isola, Geng, Lin, Yu & Efros (2017).

Layer names, Sequential indices and shapes follow the official PyTorch release
(``siggraph17-df00044c.pth``). Automatic mode by default: the hint inputs are
zeros. With hints, ``hints_ab`` is ab in Lab units (N2HW) and ``hints_mask`` is 1
where a hint is given (N1HW); they are normalized (ab / 110) as in the release.
"""

from __future__ import annotations

import torch
from torch import nn

from ..color import normalize_ab
from .registry import register
from .base import Colorizer, conv_relu_stack, zhang_release


class SIGGRAPH17(Colorizer):
    name = "siggraph17"
    input_size = 256
    takes_hints = True

    def __init__(self, classes: int = 529) -> None:
        super().__init__()
        self.model1 = nn.Sequential(*conv_relu_stack([4, 64, 64]))
        self.model2 = nn.Sequential(*conv_relu_stack([64, 128, 128]))
        self.model3 = nn.Sequential(*conv_relu_stack([128, 256, 256, 256]))
        self.model4 = nn.Sequential(*conv_relu_stack([256, 512, 512, 512]))
        self.model5 = nn.Sequential(*conv_relu_stack([512, 512, 512, 512], dilation=2))
        self.model6 = nn.Sequential(*conv_relu_stack([512, 512, 512, 512], dilation=2))
        self.model7 = nn.Sequential(*conv_relu_stack([512, 512, 512, 512]))
        self.model8up = nn.Sequential(nn.ConvTranspose2d(512, 256, kernel_size=4, stride=2, padding=1, bias=True))
        self.model3short8 = nn.Sequential(nn.Conv2d(256, 256, kernel_size=3, padding=1, bias=True))
        self.model8 = nn.Sequential(*conv_relu_stack([256, 256, 256], leading_relu=True))
        self.model9up = nn.Sequential(nn.ConvTranspose2d(256, 128, kernel_size=4, stride=2, padding=1, bias=True))
        self.model2short9 = nn.Sequential(nn.Conv2d(128, 128, kernel_size=3, padding=1, bias=True))
        self.model9 = nn.Sequential(*conv_relu_stack([128, 128], leading_relu=True))
        self.model10up = nn.Sequential(nn.ConvTranspose2d(128, 128, kernel_size=4, stride=2, padding=1, bias=True))
        self.model1short10 = nn.Sequential(nn.Conv2d(64, 128, kernel_size=3, padding=1, bias=True))
        self.model10 = nn.Sequential(
            nn.ReLU(True),
            nn.Conv2d(128, 128, kernel_size=3, padding=1, bias=True),
            nn.LeakyReLU(negative_slope=0.2),
        )
        # classification head of the release (used in training, kept for strict loading)
        self.model_class = nn.Sequential(nn.Conv2d(256, classes, kernel_size=1, bias=True))
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, kernel_size=1, bias=True), nn.Tanh())

    def forward(self, l_norm: torch.Tensor, hints_ab: torch.Tensor | None = None,
                hints_mask: torch.Tensor | None = None, **extras) -> torch.Tensor:
        n, _, h, w = l_norm.shape
        if hints_ab is None:
            hints_ab = l_norm.new_zeros((n, 2, h, w))
        if hints_mask is None:
            hints_mask = l_norm.new_zeros((n, 1, h, w))
        x = torch.cat([l_norm, normalize_ab(hints_ab), hints_mask], dim=1)
        c1 = self.model1(x)
        c2 = self.model2(c1[:, :, ::2, ::2])
        c3 = self.model3(c2[:, :, ::2, ::2])
        c4 = self.model4(c3[:, :, ::2, ::2])
        c7 = self.model7(self.model6(self.model5(c4)))
        c8 = self.model8(self.model8up(c7) + self.model3short8(c3))
        c9 = self.model9(self.model9up(c8) + self.model2short9(c2))
        c10 = self.model10(self.model10up(c9) + self.model1short10(c1))
        return self.ab_from_norm(self.model_out(c10))


register(SIGGRAPH17, "Zhang et al. 2017 (SIGGRAPH), automatic mode, hint inputs zero",
         zhang_release("siggraph17", "siggraph17-df00044c.pth",
                       "df00044c0a4d7c3edcecf6f75437ce346a66e7a42612d9b968e1a7e17dbc6f66", 136787426,
                       "Zhang et al. 2017, official PyTorch release"))
