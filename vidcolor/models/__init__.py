"""Colorizer registry: name -> factory, plus weight resolution.

``load_model("eccv16")`` builds the module and loads its catalogue weights
(cache or torch hub folder); ``load_model("eccv16", weights="file.pth")`` loads a
local file; ``pretrained=False`` gives random weights (speed tests, training).
New models register with :func:`register` and need no change to the pipeline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch

from .. import weights as W
from ..defaults import DEFAULT_MODEL
from ..errors import OptionError, WeightsError
from .base import Colorizer


@dataclass(frozen=True)
class ModelInfo:
    name: str
    factory: Callable[[], Colorizer]
    weights: str | None      # catalogue name of its default weights
    description: str


_REGISTRY: dict[str, ModelInfo] = {}


def register(name: str, factory: Callable[[], Colorizer], weights: str | None, description: str) -> None:
    _REGISTRY[name] = ModelInfo(name, factory, weights, description)


def available() -> list[ModelInfo]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_info(name: str) -> ModelInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise OptionError(f"unknown model '{name}'; choose one of: {', '.join(sorted(_REGISTRY))}") from None


def create_model(name: str) -> Colorizer:
    """The architecture ``name`` with random weights."""
    return get_info(name).factory()


def load_weights_into(model: Colorizer, path: str | os.PathLike) -> Colorizer:
    """Load a checkpoint strictly; a mismatch names the model, the file and the keys."""
    sd = W.load_state_dict(path)
    own = model.state_dict()
    # Releases saved before/after torch 0.4.1 differ only by BatchNorm's counters.
    for k in own:
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = own[k].clone()
    for k in [k for k in sd if k.endswith("num_batches_tracked") and k not in own]:
        del sd[k]
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [k for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        def few(keys):
            return ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")
        parts = []
        if missing:
            parts.append(f"missing {few(missing)}")
        if unexpected:
            parts.append(f"unexpected {few(unexpected)}")
        if wrong:
            parts.append(f"wrong shape {few(wrong)}")
        raise WeightsError(f"{path} does not fit the '{model.name}' architecture: {'; '.join(parts)}. "
                           "Pick the --model this file was made for")
    model.load_state_dict(sd, strict=True)
    return model


def load_model(name: str = DEFAULT_MODEL, weights: str | os.PathLike | None = None,
               device: str | torch.device = "cpu", pretrained: bool = True) -> Colorizer:
    """Build model ``name`` in eval mode on ``device``.

    ``weights``: a local checkpoint path; default: the model's catalogue weights
    (a WeightsError with the download command when they are not present);
    ``pretrained=False``: random initialization.
    """
    info = get_info(name)
    model = info.factory()
    if weights is not None:
        load_weights_into(model, weights)
    elif pretrained:
        if info.weights is None:
            raise WeightsError(f"model '{name}' has no default weights; pass --weights PATH")
        load_weights_into(model, W.resolve(info.weights))
    return model.eval().to(device)


def _register_builtin() -> None:
    from .compact import Compact
    from .eccv16 import ECCV16
    from .siggraph17 import SIGGRAPH17

    register("eccv16", ECCV16, "eccv16", "Zhang et al. 2016 (ECCV), 32 M params, classification over 313 ab bins")
    register("siggraph17", SIGGRAPH17, "siggraph17", "Zhang et al. 2017 (SIGGRAPH), automatic mode, hint inputs zero")
    register("compact", Compact, "compact", "vidcolor's own, 1.8 M params, classification over in-gamut ab bins; "
             "ships with vidcolor")


_register_builtin()

__all__ = ["Colorizer", "ModelInfo", "register", "available", "get_info", "create_model",
           "load_model", "load_weights_into", "DEFAULT_MODEL"]
