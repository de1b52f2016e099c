"""Colorizer registry: name -> factory, plus weight resolution.

``load_model("eccv16")`` builds the module and loads its catalogue weights
(cache or torch hub folder); ``load_model("eccv16", weights="file.pth")`` loads a
local file; ``pretrained=False`` gives random weights (speed tests, training).
New models register with :func:`register` and need no change to the pipeline.
"""

from __future__ import annotations

from ..options import DEFAULT_MODEL
from .base import Colorizer
from .registry import (ModelInfo, available, create_model, get_info, load_model, load_weights_into, register,
                       unregister)

# the models: one file each, registering itself on import (adding a model: a file + a line here)
from . import chromagan, compact, ddcolor, deoldify, eccv16, pix2pix, siggraph17  # noqa: E402,F401

__all__ = ["Colorizer", "ModelInfo", "register", "unregister", "available", "get_info", "create_model",
           "load_model", "load_weights_into", "DEFAULT_MODEL"]
