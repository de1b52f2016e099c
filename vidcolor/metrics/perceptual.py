"""LPIPS (Zhang et al. 2018) through the ``lpips`` package.

The package's linear heads ship inside it; the backbone (AlexNet, VGG16 or
SqueezeNet 1.1) comes from torchvision's pretrained weights in the torch hub
cache. Nothing here downloads: the cache is checked before the network is built,
and a missing file raises :class:`~vidcolor.errors.WeightsError` naming it.

Registered as the ``lpips`` metric (:mod:`.registry`): the reports build one
:class:`LPIPS` per run (``load``, net from the ``lpips_net`` option) and skip the
metric with a warning under ``all`` when the backbone is not cached (``missing``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from vidcolor.errors import OptionError, WeightsError
from vidcolor.metrics import registry
from vidcolor.options import LPIPS_NET, LPIPS_NETS

# torchvision's checkpoint file for each backbone lpips uses
BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}
assert set(BACKBONE_FILES) == set(LPIPS_NETS), "vidcolor.options.LPIPS_NETS names the backbones above"


def backbone_path(net: str = LPIPS_NET) -> Path:
    """Where torchvision looks for the ImageNet weights of an LPIPS backbone."""
    if net not in BACKBONE_FILES:
        raise OptionError(f"unknown LPIPS network {net!r}: choose one of {', '.join(BACKBONE_FILES)}")
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_FILES[net]


def missing_backbone(net: str = LPIPS_NET) -> str | None:
    """A one-line message if the backbone weights are not in the cache, else None."""
    path = backbone_path(net)
    if path.is_file():
        return None
    return (
        f"LPIPS ({net}) needs torchvision's ImageNet weights at {path}: not found "
        f"(download {path.name} from https://download.pytorch.org/models/{path.name} into {path.parent}, "
        "or set TORCH_HOME)"
    )


class LPIPS(torch.nn.Module):
    """LPIPS distance per image pair.

    forward(pred, target): float RGB (N, 3, H, W) in [0, 1] (rescaled to the [-1, 1]
    the package expects) -> (N,). ``pnet_rand=True`` builds a random backbone (for
    tests of the plumbing only; its values mean nothing).
    """

    def __init__(self, net: str = LPIPS_NET, pnet_rand: bool = False) -> None:
        super().__init__()
        if not pnet_rand:
            msg = missing_backbone(net)
            if msg:
                raise WeightsError(msg)
        else:
            backbone_path(net)  # validates the name
        import lpips

        self.net_name = net
        with warnings.catch_warnings():  # torchvision's 'pretrained=' deprecation, inside lpips
            warnings.simplefilter("ignore", UserWarning)
            self.model = lpips.LPIPS(net=net, pnet_rand=pnet_rand, verbose=False).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"shape mismatch: {tuple(pred.shape)} vs {tuple(target.shape)}")
        return self.model(pred * 2 - 1, target * 2 - 1).flatten()


registry.register(registry.Metric(
    name="lpips", kind="image", header="LPIPS", fmt="{:.4f}", order=30,
    compute=lambda pred, target, model: model(pred, target),
    load=lambda options, device: LPIPS(options["lpips_net"]).to(device),
    missing=lambda options: missing_backbone(options["lpips_net"]),
    missing_note="its backbone weights are not cached",
    settings=lambda options: {"package": "lpips", "net": options["lpips_net"], "version": "0.1", "inputs": "[-1, 1]"},
))
