"""The small interface every colorizer implements.

A colorizer is a ``torch.nn.Module`` with a ``name``, the square ``input_size``
it was trained at, and ``forward(l_norm, **extras) -> ab``:

- ``l_norm``: float N1HW, the normalized luminance ``(L - 50) / 100``;
- returns ab in Lab units, N2HW (same H, W as the input).

Models that take more (user hints, a reference frame) name those extras in
their ``forward`` signature; the pipeline passes none of them by default.

A :class:`ReleaseColorizer` (DeOldify, DDColor) brings its release's own RGB pre- and
post-processing; the engine then hands it the frames themselves (see that class).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..color import unnormalize_ab
from ..weights import WeightSpec

#: the first bytes of every HDF5 file (Keras' .h5 checkpoints)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

#: where Zhang et al. publish the official PyTorch checkpoints (richzhang/colorization, README)
ZHANG_RELEASES = "https://colorizers.s3.us-east-2.amazonaws.com/"


def zhang_release(name: str, filename: str, sha256: str, size: int, description: str) -> WeightSpec:
    """The spec of an official ECCV16/SIGGRAPH17 checkpoint (BSD-2-Clause, richzhang/colorization)."""
    return WeightSpec(name=name, model=name, filename=filename, url=ZHANG_RELEASES + filename, sha256=sha256,
                      size=size, license="BSD-2-Clause (richzhang/colorization)", description=description)


class Colorizer(nn.Module):
    name: str = "colorizer"
    input_size: int = 256
    #: state-dict key prefixes a checkpoint may lack (unused by colorization, e.g. a classifier
    #: head some copies of a release drop); the model's own values fill them
    optional_keys: tuple[str, ...] = ()
    #: the model takes user hints itself: ``forward(l_norm, hints_ab=N2HW Lab units, hints_mask=N1HW)``
    takes_hints: bool = False
    #: ``vidcolor train``'s default loss for it (:data:`vidcolor.options.TRAIN_LOSSES`)
    train_loss: str = "class"
    #: a release that is not a PyTorch checkpoint: the first bytes of its files (e.g.
    #: :data:`HDF5_SIGNATURE`) and what to call them; :func:`~vidcolor.models.load_weights_into`
    #: hands such a file to :meth:`load_release_file` instead of reading a state dict
    release_signature: bytes | None = None
    release_format: str = ""

    def load_release_file(self, path) -> None:  # pragma: no cover - interface
        """Fill every parameter and buffer from a file of the release's own format, strictly
        (a WeightsError naming the file and the offending layers otherwise)."""
        raise NotImplementedError

    def check_size(self, size: int) -> int:
        """``--size`` for this model (an OptionError if it cannot take it); the engine calls it."""
        return size

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


class ReleaseColorizer(Colorizer):
    """A colorizer that runs with its release's own pre- and post-processing.

    The engine gives it the frames (NHWC uint8 RGB) instead of L, so that a frame comes out as
    the release's own inference code would colour it:

    1. :meth:`prepare` -> the network input, N3SS float32 on the host (the release's resize and
       gray conversion, at the square side ``size``);
    2. :meth:`forward_rgb` -> the network's raw output (on the device, in the engine's precision);
    3. the temporal stage, if any: :meth:`to_lab` gives (L, ab) of the output at the model's
       size, the smoother changes ab, :meth:`from_lab` puts it back into the raw output;
    4. :meth:`finish` -> the colorized frames, NHWC uint8 at the original size (the release's
       upsampling and luminance join).

    With ``--temporal none`` steps 1, 2 and 4 are the release's pipeline, unchanged.
    ``forward(l_norm)`` stays available (eval, bench's model-only timing) through the gray RGB of L.
    """

    def prepare(self, frames: np.ndarray, size: int) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def forward_rgb(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def to_lab(self, out: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def from_lab(self, out: torch.Tensor, x: torch.Tensor, L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def finish(self, frames: np.ndarray, out: torch.Tensor) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError
