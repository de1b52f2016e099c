"""Per-frame image metrics on batched tensors (CPU or GPU).

Input convention, the same for every function here:

- RGB images are float tensors ``(N, 3, H, W)`` with values in ``[0, data_range]``;
  the default ``data_range=1.0`` is the device convention of :mod:`vidcolor.color`
  (host uint8 NHWC frames -> :func:`vidcolor.color.to_float_rgb`). Metrics whose
  definition is on the 8-bit scale (colorfulness) rescale to 0..255 internally;
  PSNR and SSIM are scale-invariant as long as ``data_range`` matches the values.
- Lab images are float tensors ``(N, 3, H, W)``: L in [0, 100], a/b in Lab units
  (:func:`vidcolor.color.rgb_to_lab`); ab maps are ``(N, 2, H, W)``.
- Every function returns one value per image: a float tensor ``(N,)`` on the
  input's device.

:func:`numpy_metric` wraps any of them for uint8 HxWx3 / NxHxWx3 numpy arrays.

PSNR, SSIM, CIEDE2000, colorfulness and AuC register here (:mod:`.registry`) as the
``psnr``, ``ssim``, ``deltae2000``, ``colorfulness`` and ``auc`` metrics of the reports.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidcolor.color import to_float_rgb

from vidcolor.metrics import registry

SSIM_SETTINGS = {
    "window": "gaussian",
    "sigma": 1.5,
    "win_size": 11,
    "use_sample_covariance": False,
    "K1": 0.01,
    "K2": 0.03,
    "data_range": 255,
    "channels": "mean of per-channel SSIM (RGB)",
    "border": "5-pixel border excluded (valid filtering), as scikit-image",
}
AUC_MAX_THRESHOLD = 150


def _check_pair(pred: torch.Tensor, target: torch.Tensor, channels: int | None = 3) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"shape mismatch: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.ndim != 4 or (channels is not None and pred.shape[1] != channels):
        raise ValueError(f"expected (N, {channels or 'C'}, H, W) tensors, got {tuple(pred.shape)}")
    if not (pred.is_floating_point() and target.is_floating_point()):
        raise TypeError("expected float tensors (use vidcolor.color.to_float_rgb for uint8 frames)")


@registry.register(name="psnr", kind="image", header="PSNR", fmt="{:.2f}", worst="low", order=10,
                   settings={"data_range": 255, "over": "RGB, all channels and pixels"})
def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, over all channels and pixels.

    pred, target: float (N, C, H, W) in [0, data_range]. Returns (N,); ``inf``
    where the images are identical. On uint8 frames scaled to [0, 1] this equals
    ``skimage.metrics.peak_signal_noise_ratio(..., data_range=255)``.
    """
    _check_pair(pred, target, channels=None)
    mse = (pred - target).pow(2).mean(dim=(1, 2, 3)).double()
    return (10.0 * torch.log10(data_range**2 / mse)).to(pred.dtype)


def _gaussian_kernel(sigma: float, radius: int, device, dtype) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _valid_gaussian(t: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Separable filter of every (H, W) plane of t (N, C, H, W), keeping only the
    pixels whose window lies inside the image: (N, C, H - 2r, W - 2r).

    On the CPU OpenCV's sepFilter2D is ~10x faster than torch's convolution;
    on other devices, with autograd or half precision, torch does it.
    """
    r = (k.numel() - 1) // 2
    n, c, h, w = t.shape
    if t.device.type == "cpu" and not t.requires_grad and t.dtype in (torch.float32, torch.float64):
        kn = k.numpy()
        planes = t.reshape(n * c, h, w).numpy()
        out = np.stack([cv2.sepFilter2D(p, -1, kn, kn, borderType=cv2.BORDER_REFLECT)[r : h - r, r : w - r]
                        for p in planes])
        return torch.from_numpy(out).view(n, c, h - 2 * r, w - 2 * r)
    kh = k.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    kv = k.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    return F.conv2d(F.conv2d(t, kh, groups=c), kv, groups=c)


@registry.register(name="ssim", kind="image", header="SSIM", fmt="{:.4f}", worst="low", order=20,
                   settings=SSIM_SETTINGS)
def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    sigma: float = 1.5,
) -> torch.Tensor:
    """Structural similarity per image, the setting colorization papers use.

    Gaussian window (sigma 1.5, 11x11, truncated at 3.5 sigma), population
    (not sample) covariance, K1=0.01, K2=0.03, mean over the map without the
    5-pixel border, averaged over channels. Agrees with
    ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255, channel_axis=-1)`` on the
    uint8 images (to ~1e-6).

    pred, target: float (N, C, H, W) in [0, data_range], H and W >= 11. Returns (N,).
    """
    _check_pair(pred, target, channels=None)
    radius = int(3.5 * sigma + 0.5)
    if min(pred.shape[-2:]) < 2 * radius + 1:
        raise ValueError(f"SSIM needs images of at least {2 * radius + 1}x{2 * radius + 1} pixels")
    n, c = pred.shape[:2]
    x = pred / data_range
    y = target / data_range
    # subtracting each image's mean makes the local moments numerically stable
    # (SSIM only sees them through variances, covariances and the means added back)
    mx = x.mean(dim=(2, 3), keepdim=True)
    my = y.mean(dim=(2, 3), keepdim=True)
    x = x - mx
    y = y - my
    k = _gaussian_kernel(sigma, radius, x.device, x.dtype)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return _valid_gaussian(t, k)

    fx, fy = blur(x), blur(y)
    vx = blur(x * x) - fx * fx
    vy = blur(y * y) - fy * fy
    cxy = blur(x * y) - fx * fy
    ux, uy = fx + mx, fy + my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * ux * uy + c1) * (2 * cxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3))


def deltae2000_map(lab_pred: torch.Tensor, lab_target: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 color difference per pixel (kL = kC = kH = 1).

    lab_pred, lab_target: float (N, 3, H, W) Lab. Returns (N, H, W). Follows
    Sharma et al. (2005) as implemented in ``skimage.color.deltaE_ciede2000``.
    """
    _check_pair(lab_pred, lab_target)
    L1, a1, b1 = lab_target.unbind(1)
    L2, a2, b2 = lab_pred.unbind(1)
    two_pi = 2 * math.pi
    c7 = (0.5 * (torch.hypot(a1, b1) + torch.hypot(a2, b2))) ** 7
    scale = 1 + 0.5 * (1 - torch.sqrt(c7 / (c7 + 25.0**7)))
    a1, a2 = a1 * scale, a2 * scale
    C1, C2 = torch.hypot(a1, b1), torch.hypot(a2, b2)
    h1 = torch.remainder(torch.atan2(b1, a1), two_pi)
    h2 = torch.remainder(torch.atan2(b2, a2), two_pi)

    Lbar = 0.5 * (L1 + L2)
    tmp = (Lbar - 50) ** 2
    L_term = (L2 - L1) / (1 + 0.015 * tmp / torch.sqrt(20 + tmp))

    Cbar = 0.5 * (C1 + C2)
    C_term = (C2 - C1) / (1 + 0.045 * Cbar)

    h_diff = h2 - h1
    h_sum = h1 + h2
    CC = C1 * C2
    zero = CC == 0
    dH = h_diff - two_pi * (h_diff > math.pi).to(h_diff.dtype) + two_pi * (h_diff < -math.pi).to(h_diff.dtype)
    dH = torch.where(zero, torch.zeros_like(dH), dH)
    dH_term = 2 * torch.sqrt(CC) * torch.sin(dH / 2)

    wrap = (~zero) & (h_diff.abs() > math.pi)
    low, high = (wrap & (h_sum < two_pi)).to(h_sum.dtype), (wrap & (h_sum >= two_pi)).to(h_sum.dtype)
    Hbar = h_sum + two_pi * (low - high)
    Hbar = torch.where(zero, Hbar * 2, Hbar) * 0.5

    T = (
        1
        - 0.17 * torch.cos(Hbar - math.radians(30))
        + 0.24 * torch.cos(2 * Hbar)
        + 0.32 * torch.cos(3 * Hbar + math.radians(6))
        - 0.20 * torch.cos(4 * Hbar - math.radians(63))
    )
    H_term = dH_term / (1 + 0.015 * Cbar * T)

    c7 = Cbar**7
    Rc = 2 * torch.sqrt(c7 / (c7 + 25.0**7))
    dtheta = math.radians(30) * torch.exp(-(((torch.rad2deg(Hbar) - 275) / 25) ** 2))
    R_term = -torch.sin(2 * dtheta) * Rc * C_term * H_term

    dE2 = L_term**2 + C_term**2 + H_term**2 + R_term
    return torch.sqrt(dE2.clamp_min(0))


@registry.register(name="deltae2000", kind="image", consumes="lab", header="dE00", fmt="{:.2f}", order=40,
                   settings={"formula": "CIEDE2000, kL=kC=kH=1", "lab": "sRGB D65 (kornia)",
                             "reduce": "mean over pixels"})
def deltae2000(lab_pred: torch.Tensor, lab_target: torch.Tensor) -> torch.Tensor:
    """Mean CIEDE2000 difference per image. Lab (N, 3, H, W) -> (N,)."""
    return deltae2000_map(lab_pred, lab_target).mean(dim=(1, 2))


def colorfulness(rgb: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Colorfulness M of Hasler & Suesstrunk (2003) per image, on the 0..255 scale.

    rg = R - G, yb = (R + G) / 2 - B;
    M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2),
    population standard deviations over the pixels. rgb: float (N, 3, H, W) in
    [0, data_range]. Returns (N,); 0 for a gray image.
    """
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W), got {tuple(rgb.shape)}")
    x = rgb.double() * (255.0 / data_range)
    r, g, b = x.unbind(1)
    rg = (r - g).flatten(1)
    yb = (0.5 * (r + g) - b).flatten(1)
    std = torch.sqrt(rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False))
    mean = torch.sqrt(rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2)
    return (std + 0.3 * mean).to(rgb.dtype)


@registry.register(name="colorfulness", kind="image", columns=("colorfulness", "colorfulness_reference"),
                   header="colorful", fmt="{:.1f}", worst=None, order=50, table_order=65,
                   reference_column="colorfulness_reference",
                   settings={"formula": "Hasler & Suesstrunk 2003", "scale": "0..255 RGB"})
def _colorfulness_pair(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """The ``colorfulness`` metric: both the candidate's and the reference's (N,) values."""
    return {"colorfulness": colorfulness(pred), "colorfulness_reference": colorfulness(target)}


@registry.register(name="auc", kind="image", consumes="ab", header="AuC", fmt="{:.4f}", worst="low", order=60,
                   settings={"thresholds": f"0..{AUC_MAX_THRESHOLD} ab units, step 1",
                             "integration": "trapezoid, normalized to 1"})
def auc_ab(ab_pred: torch.Tensor, ab_true: torch.Tensor, max_threshold: int = AUC_MAX_THRESHOLD) -> torch.Tensor:
    """Raw ab accuracy AuC of Zhang et al. (2016), per image, in [0, 1].

    acc(t) = share of pixels whose ab L2 error is <= t, for integer t = 0..max_threshold;
    AuC = trapezoidal area under acc(t) over [0, max_threshold] divided by max_threshold.
    ab_pred, ab_true: float (N, 2, H, W) in Lab units. Returns (N,).
    """
    _check_pair(ab_pred, ab_true, channels=2)
    err = torch.linalg.vector_norm(ab_pred - ab_true, dim=1)
    # a pixel counts for every threshold t >= ceil(err); its weight is the
    # trapezoid weight of those thresholds (1/2 at both ends of the range)
    k = torch.ceil(err).clamp(0, max_threshold + 1)
    weight = (max_threshold + 1 - k) - 0.5 * (k == 0).to(k.dtype) - 0.5 * (k <= max_threshold).to(k.dtype)
    return weight.mean(dim=(1, 2)) / max_threshold


def numpy_metric(fn: Callable[..., torch.Tensor], *images: np.ndarray, **kwargs) -> np.ndarray:
    """Apply an RGB metric of this module to uint8 numpy images (HxWx3 or NxHxWx3).

    Returns a float64 array (N,) (a 0-d array for single images).
    """
    single = images[0].ndim == 3
    tensors = [to_float_rgb(torch.from_numpy(np.ascontiguousarray(im[None] if single else im))) for im in images]
    out = fn(*tensors, **kwargs).double().cpu().numpy()
    return out[0] if single else out
