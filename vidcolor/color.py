"""Lab conversion and the normalization constants, in one place.

Lab is CIE L*a*b* of sRGB under D65: L in [0, 100], a/b roughly in [-110, 110].
The conversions are kornia's (they match scikit-image's to ~1e-4) and run on
whatever device the tensor is on. Tensors are float NCHW; host frames are
uint8/uint16 NHWC and are converted once, here.

The ECCV16/SIGGRAPH17 normalization (Zhang et al.) is ``(L - 50) / 100`` for the
luminance input and ``ab / 110`` for chrominance; every model in
:mod:`vidcolor.models` uses these constants.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from kornia.color import lab_to_rgb as _k_lab_to_rgb
from kornia.color import rgb_to_lab as _k_rgb_to_lab

L_CENT = 50.0
L_NORM = 100.0
AB_NORM = 110.0


def normalize_l(L: torch.Tensor) -> torch.Tensor:
    """L in [0, 100] -> model input, about [-0.5, 0.5]."""
    return (L - L_CENT) / L_NORM



def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    """ab in Lab units -> about [-1, 1]."""
    return ab / AB_NORM


def unnormalize_ab(ab_norm: torch.Tensor) -> torch.Tensor:
    return ab_norm * AB_NORM


def to_float_rgb(frames: torch.Tensor) -> torch.Tensor:
    """uint8/uint16 NHWC (any device) -> float32 NCHW RGB in [0, 1]."""
    if frames.dtype == torch.uint8:
        scale = 255.0
    elif frames.dtype in (torch.uint16, torch.int32, torch.int64):
        scale = 65535.0
    else:
        raise TypeError(f"expected uint8 or uint16 frames, got {frames.dtype}")
    return frames.permute(0, 3, 1, 2).float().div_(scale)


def from_float_rgb(rgb: torch.Tensor, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    """float NCHW RGB in [0, 1] -> uint8/uint16 NHWC, rounded and clipped."""
    scale = 255.0 if dtype == torch.uint8 else 65535.0
    out = rgb.clamp(0.0, 1.0).mul(scale).round_().permute(0, 2, 3, 1)
    if dtype == torch.uint8:
        return out.to(torch.uint8).contiguous()
    # torch has limited uint16 support; go through int32, the host casts to uint16
    return out.to(torch.int32).contiguous()


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """float NCHW sRGB in [0, 1] -> Lab NCHW (L in [0, 100])."""
    return _k_rgb_to_lab(rgb.float())


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Lab NCHW -> float sRGB NCHW in [0, 1] (out-of-gamut values clipped)."""
    return _k_lab_to_rgb(lab.float(), clip=True)


def rgb_to_l(rgb: torch.Tensor) -> torch.Tensor:
    """float NCHW sRGB in [0, 1] -> L channel N1HW, without computing a and b."""
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055).pow(2.4), rgb / 12.92)
    # Y of sRGB/D65 (Y_n = 1)
    y = 0.212671 * lin[:, 0:1] + 0.715160 * lin[:, 1:2] + 0.072169 * lin[:, 2:3]
    eps = 216.0 / 24389.0
    kappa = 24389.0 / 27.0
    fy = torch.where(y > eps, y.clamp_min(eps).pow(1.0 / 3.0), (kappa * y + 16.0) / 116.0)
    return 116.0 * fy - 16.0


def resize(x: torch.Tensor, size: tuple[int, int] | int, mode: str = "bilinear") -> torch.Tensor:
    """Resize NCHW to (h, w) (or a square side) with antialiasing when shrinking."""
    if isinstance(size, int):
        size = (size, size)
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=shrink and mode in ("bilinear", "bicubic"))


def compose(L_full: torch.Tensor, ab_small: torch.Tensor) -> torch.Tensor:
    """Original full-size L (N1HW) + model-size ab (N2hw) -> float RGB NCHW in [0, 1].

    ab is upsampled bilinearly; L is used unchanged, so the output's luminance is
    the input's, pixel for pixel (before the final rounding and gamut clipping).
    """
    ab = resize(ab_small.float(), tuple(L_full.shape[-2:]))
    return lab_to_rgb(torch.cat([L_full.float(), ab], dim=1))


# --- host (CPU) path --------------------------------------------------------------
# On a CPU, torch's elementwise kernels at full resolution cost more than a compact model;
# OpenCV's float Lab conversion is ~10x faster and agrees with kornia to 0.2 L units on the
# way in and exactly for in-gamut colors on the way out (it clips out-of-gamut colors
# differently). The Engine uses these when the device is the CPU, kornia on a GPU.

def host_rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """One HxWx3 uint8/uint16 RGB frame -> HxWx3 float32 Lab (OpenCV, D65; L in [0, 100])."""
    scale = 1.0 / (255.0 if rgb.dtype == np.uint8 else 65535.0)
    return cv2.cvtColor(rgb.astype(np.float32) * scale, cv2.COLOR_RGB2Lab)


def host_rgb_to_l(frames: np.ndarray) -> np.ndarray:
    """NHWC uint8/uint16 RGB -> N x H x W float32 L in [0, 100] (OpenCV, D65)."""
    out = np.empty(frames.shape[:3], np.float32)
    for i, f in enumerate(frames):
        out[i] = host_rgb_to_lab(f)[..., 0]
    return out


def host_compose(L: np.ndarray, ab_small: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """Full-size L (N x H x W float32) + small ab (N x 2 x h x w float32) -> NHWC RGB ``dtype``.

    ab is upsampled bilinearly (half-pixel centers, like torch's align_corners=False).
    """
    n, h, w = L.shape
    scale = 255.0 if dtype == np.uint8 else 65535.0
    out = np.empty((n, h, w, 3), dtype)
    lab = np.empty((h, w, 3), np.float32)
    for i in range(n):
        lab[..., 0] = L[i]
        small = np.ascontiguousarray(ab_small[i].transpose(1, 2, 0))
        lab[..., 1:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) if small.shape[:2] != (h, w) else small
        rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
        out[i] = np.clip(rgb * scale + 0.5, 0, scale).astype(dtype)
    return out


def gray_to_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """Color float RGB NCHW -> the same frames with ab = 0 (what a B&W film would show)."""
    L = rgb_to_l(rgb)
    return lab_to_rgb(torch.cat([L, torch.zeros_like(L), torch.zeros_like(L)], dim=1))
