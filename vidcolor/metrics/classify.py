"""Classification accuracy of colorized images: the "semantic interpretability" test of
Zhang et al. (2016, "Colorful Image Colorization", section 3.1).

An ImageNet classifier from torchvision (AlexNet by default; VGG16 or ResNet-50 with the
``classifier`` option) labels each original and its colorized version. Per frame:

- ``top1``: 1.0 when the classifier's top-1 class on the colorized image equals its
  top-1 class on the original, else 0.0;
- ``top5``: 1.0 when the original's top-1 class is among the colorized image's top 5.

Means over frames are the accuracies (agreement with the original's prediction, not
with ground-truth labels, which film has none of). The gray row of `vidcolor eval` is
the baseline: a colorizer that helps recognition scores above it.

Preprocessing is the weights' own (``<Enum>.transforms()``, e.g. resize the short side
to 256, bilinear with antialiasing, center crop 224, ImageNet mean/std), applied to the
frame quantized to 8 bits on the scoring device. On the CPU this equals torchvision's
transforms on a PIL image exactly (torchvision's native uint8 resize, used on AVX2,
AVX-512 and ARM64 CPUs, computes what PIL does); on a GPU the resize runs in float and
is rounded back to 8 bits (within one 8-bit level of PIL's).

The weights come from the torch hub cache only (``torch.hub.get_dir()/checkpoints/<file
torchvision names>``, as the LPIPS backbone does): nothing here downloads. They are
read with ``torch.load(weights_only=True)`` and loaded strictly. When the file is
absent, the registry's ``missing`` hook makes ``--metrics all`` skip the metric with a
warning and asking for it by name (``--classify``, ``--metrics classify``) a
:class:`~vidcolor.errors.WeightsError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision import models as tv_models
from torchvision.transforms.v2 import functional as TF

from vidcolor.errors import OptionError, WeightsError
from vidcolor.metrics import registry
from vidcolor.options import CLASSIFIER, CLASSIFIERS
from vidcolor.weights import load_state_dict

#: classifier -> (torchvision builder, weights enum, member): pinned, so a torchvision whose
#: DEFAULT changes does not change the numbers silently
WEIGHTS = {
    "alexnet": ("alexnet", "AlexNet_Weights", "IMAGENET1K_V1"),
    "vgg16": ("vgg16", "VGG16_Weights", "IMAGENET1K_V1"),
    "resnet50": ("resnet50", "ResNet50_Weights", "IMAGENET1K_V2"),
}
assert set(WEIGHTS) == set(CLASSIFIERS), "vidcolor.options.CLASSIFIERS names the classifiers above"
TOPK = 5


def weights_enum(net: str = CLASSIFIER):
    """The torchvision weights enum member of a classifier (``AlexNet_Weights.IMAGENET1K_V1``)."""
    if net not in WEIGHTS:
        raise OptionError(f"unknown classifier {net!r}: choose one of {', '.join(WEIGHTS)}")
    _, enum, member = WEIGHTS[net]
    return getattr(getattr(tv_models, enum), member)


def weights_path(net: str = CLASSIFIER) -> Path:
    """Where torchvision looks for the classifier's ImageNet weights (the torch hub cache)."""
    name = Path(weights_enum(net).url).name
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def missing_weights(net: str = CLASSIFIER) -> str | None:
    """A one-line message if the classifier's weights are not in the cache, else None."""
    path = weights_path(net)
    if path.is_file():
        return None
    return (f"classification accuracy needs torchvision's {net} ImageNet weights at {path}: not found "
            f"(download {path.name} from {weights_enum(net).url} into {path.parent}, or set TORCH_HOME)")


def preprocessing(net: str = CLASSIFIER) -> dict:
    """The weights' own transforms, as numbers: resize (short side), crop, mean, std, interpolation."""
    t = weights_enum(net).transforms()
    return {"resize": int(t.resize_size[0]), "crop": int(t.crop_size[0]), "mean": tuple(t.mean),
            "std": tuple(t.std), "interpolation": t.interpolation, "antialias": bool(t.antialias)}


def describe_preprocessing(net: str = CLASSIFIER) -> str:
    """:func:`preprocessing` in words, for the reports' settings."""
    p = preprocessing(net)
    return (f"RGB quantized to 8 bits, short side resized to {p['resize']} ({p['interpolation'].value}"
            f"{', antialias' if p['antialias'] else ''}), center crop {p['crop']}, normalized with ImageNet "
            f"mean {list(p['mean'])} and std {list(p['std'])} ({weights_enum(net)}.transforms())")


class Classifier(torch.nn.Module):
    """A torchvision ImageNet classifier with its weights' preprocessing.

    ``topk(rgb)``: float RGB (N, 3, H, W) in [0, 1] -> the top-5 class indices (N, 5), best
    first. ``weights``: a state dict to use instead of the cached file (tests).
    The reference's predictions are reused while the same reference arrives again (the
    models of `eval` are scored one after the other against the same original frames).
    """

    def __init__(self, net: str = CLASSIFIER, weights: dict | None = None) -> None:
        super().__init__()
        self.prep = preprocessing(net)  # an unknown net is an OptionError
        self.net_name = net
        if weights is None:
            msg = missing_weights(net)
            if msg:
                raise WeightsError(msg)
            path = weights_path(net)
            weights = load_state_dict(path)  # torch.load(weights_only=True); a junk file is one line
        else:
            path = "the given state dict"
        with torch.device("meta"):  # no random initialization: every tensor comes from the file
            self.model = getattr(tv_models, WEIGHTS[net][0])(weights=None)
        try:
            self.model.load_state_dict(weights, strict=True, assign=True)
        except RuntimeError as e:
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            why = lines[1] if len(lines) > 1 else lines[0] if lines else type(e).__name__
            why = why if len(why) <= 120 else why[:117] + "..."
            raise WeightsError(f"{path} does not hold torchvision's {net} ImageNet weights ({why}); "
                               f"download {Path(weights_enum(net).url).name} again from {weights_enum(net).url}") \
                from None
        self.model.float().eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(self.prep["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.prep["std"]).view(1, 3, 1, 1), persistent=False)
        self._ref: tuple[torch.Tensor, torch.Tensor] | None = None  # (8-bit crops, their top-k)

    def crops(self, rgb: torch.Tensor) -> torch.Tensor:
        """Float RGB (N, 3, H, W) in [0, 1] -> the classifier's 8-bit input crops (N, 3, crop, crop)."""
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"expected RGB (N, 3, H, W), got {tuple(rgb.shape)}")
        x = (rgb.float() * 255).round_().clamp_(0, 255).to(torch.uint8).contiguous()
        x = TF.resize(x, [self.prep["resize"]], interpolation=self.prep["interpolation"],
                      antialias=self.prep["antialias"])
        return TF.center_crop(x, [self.prep["crop"]])

    @torch.inference_mode()
    def logits_of_crops(self, crops: torch.Tensor) -> torch.Tensor:
        x = (crops.float() / 255 - self.mean) / self.std
        return self.model(x)

    def topk(self, rgb: torch.Tensor, k: int = TOPK) -> torch.Tensor:
        return self.logits_of_crops(self.crops(rgb)).topk(k, dim=1).indices

    def reference_topk(self, rgb: torch.Tensor) -> torch.Tensor:
        """:meth:`topk` of the reference, reused when the same crops come again."""
        crops = self.crops(rgb)
        if self._ref is not None and self._ref[0].shape == crops.shape and torch.equal(self._ref[0], crops):
            return self._ref[1]
        top = self.logits_of_crops(crops).topk(TOPK, dim=1).indices
        self._ref = (crops, top)
        return top


def agreement(pred: torch.Tensor, target: torch.Tensor, model: Classifier) -> dict[str, torch.Tensor]:
    """The ``classify`` metric: ``{"top1": (N,), "top5": (N,)}`` of 1.0/0.0 per image pair
    (candidate first), against the classifier's top-1 class on the reference."""
    ref_top1 = model.reference_topk(target)[:, 0]
    cand = model.topk(pred)
    return {"top1": (cand[:, 0] == ref_top1).float(),
            "top5": (cand == ref_top1[:, None]).any(dim=1).float()}


def _settings(options) -> dict:
    net = options["classifier"]
    w = weights_enum(net)
    return {"classifier": net, "weights": f"torchvision {w}", "file": Path(w.url).name,
            "preprocessing": describe_preprocessing(net),
            "top1": "top-1 class of the colorized image == top-1 class of the original",
            "top5": "top-1 class of the original among the top 5 of the colorized image"}


registry.register(registry.Metric(
    name="classify", kind="image", columns=("top1", "top5"), header="top-1/top-5",
    column_headers={"top1": "top-1", "top5": "top-5"}, fmt="{:.3f}", worst="low", order=65, table_order=67,
    compute=agreement,
    load=lambda options, device: Classifier(options["classifier"]).to(device),
    missing=lambda options: missing_weights(options["classifier"]),
    missing_note="its classifier weights are not cached",
    settings=_settings,
))
