"""The colorizer registry: name -> class, input size, default weights.

Each model's own file calls :func:`register`; :func:`load_model` builds one and loads
its weights (catalogue, local file or random).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Callable

import torch

from .. import weights as W
from ..options import DEFAULT_MODEL
from ..errors import OptionError, WeightsError
from .base import Colorizer


@dataclass(frozen=True)
class ModelInfo:
    name: str
    factory: Callable[[], Colorizer]
    input_size: int          # the square side it was trained at: the engine's default --size
    weights: str | None      # catalogue name of its default weights
    description: str


_REGISTRY: dict[str, ModelInfo] = {}


def register(cls: Callable[[], Colorizer], description: str, weights: W.WeightSpec | None = None,
             name: str | None = None, input_size: int | None = None) -> ModelInfo:
    """Make a colorizer available by name; called by each model's own file.

    ``cls``: the class (or a factory); its ``name`` and ``input_size`` attributes are used
    unless given here. ``weights``: its default checkpoint, added to the catalogue of
    :mod:`vidcolor.weights` (None: the model has none; ``--weights PATH`` is then needed).
    """
    name = name or cls.name
    info = ModelInfo(name, cls, int(input_size or cls.input_size), weights.name if weights else None, description)
    if weights is not None:
        W.add(weights)
    _REGISTRY[name] = info
    return info


def unregister(name: str) -> None:
    """Remove a model (tests)."""
    _REGISTRY.pop(name, None)


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


def _fit(own: dict, sd: dict, optional: tuple[str, ...] = ()) -> tuple[list, list, list]:
    """(missing, unexpected, wrong-shape) keys of ``sd`` against the shapes ``own``; BatchNorm
    counters and ``optional`` prefixes may be absent."""
    def may_lack(k: str) -> bool:
        return k.endswith("num_batches_tracked") or k.startswith(optional)

    missing = [k for k in own if k not in sd and not may_lack(k)]
    unexpected = [k for k in sd if k not in own and not k.endswith("num_batches_tracked")]
    wrong = [k for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k])]
    return missing, unexpected, wrong


@functools.lru_cache(maxsize=None)
def _layout(name: str) -> tuple[dict, tuple[str, ...]]:
    """Key -> shape of model ``name``'s state dict, built on the meta device (no memory, fast)."""
    try:
        with torch.device("meta"):
            m = get_info(name).factory()
    except Exception:  # noqa: BLE001 - a model whose constructor computes on data: build it for real
        m = get_info(name).factory()
    return {k: tuple(v.shape) for k, v in m.state_dict().items()}, tuple(m.optional_keys)


def identify(sd: dict) -> list[str]:
    """The registered models whose layout ``sd`` fits exactly (several share an architecture)."""
    fits = []
    for info in available():
        own, optional = _layout(info.name)
        if not any(_fit(own, sd, optional)):
            fits.append(info.name)
    return fits


#: how PyTorch checkpoints start: a zip archive (torch >= 1.6) or a pickle (the legacy format)
TORCH_SIGNATURES = (b"PK\x03\x04", b"\x80")


def _head(path: str | os.PathLike, n: int = 16) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""      # missing or unreadable: the PyTorch reader says which


def _release_weights(model: Colorizer, path: str | os.PathLike) -> bool:
    """Hand ``path`` to the model's own reader when it is a file of the model's release format
    (True); refuse one of another model's release format; False: read it as a PyTorch checkpoint."""
    head = _head(path)
    sig = getattr(model, "release_signature", None)
    if sig and head.startswith(sig):
        model.load_release_file(path)
        return True
    if not head or head.startswith(TORCH_SIGNATURES):
        return False
    if sig:
        raise WeightsError(f"{path} is neither a {model.release_format} nor a PyTorch checkpoint")
    readers = [i.name for i in available() if (s := getattr(i.factory, "release_signature", None))
               and head.startswith(s)]
    if readers:
        raise WeightsError(f"{path} is not a PyTorch checkpoint but a "
                           f"{getattr(get_info(readers[0]).factory, 'release_format', 'release file')}: "
                           f"use --model {' or --model '.join(readers)}")
    return False


def load_weights_into(model: Colorizer, path: str | os.PathLike) -> Colorizer:
    """Load a checkpoint strictly; a mismatch names the model, the file and the keys, and the
    model the file was made for when it is one of ours. A file of the model's release format
    (:attr:`~vidcolor.models.base.Colorizer.release_signature`) goes to the model's own reader."""
    if _release_weights(model, path):
        return model
    sd = W.load_state_dict(path)
    own = model.state_dict()
    missing, unexpected, wrong = _fit({k: tuple(v.shape) for k, v in own.items()}, sd, model.optional_keys)
    if missing or unexpected or wrong:
        fits = identify(sd)
        if fits:
            raise WeightsError(f"{path} is a checkpoint of {' or '.join(repr(f) for f in fits)}, not of "
                               f"'{model.name}': use --model {fits[0]}")

        def few(keys):
            return ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")
        parts = []
        if missing:
            parts.append(f"missing {few(missing)}")
        if unexpected:
            parts.append(f"unexpected {few(unexpected)}")
        if wrong:
            parts.append(f"wrong shape {few(wrong)}")
        raise WeightsError(f"{path} does not fit the '{model.name}' architecture ({'; '.join(parts)}) "
                           "nor any other vidcolor model")
    # Releases saved before/after torch 0.4.1 differ only by BatchNorm's counters; copies of a
    # release may drop its unused (optional) keys: both are filled from the model's own values.
    for k in own:
        if k not in sd:
            sd[k] = own[k].clone()
    for k in [k for k in sd if k.endswith("num_batches_tracked") and k not in own]:
        del sd[k]
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
