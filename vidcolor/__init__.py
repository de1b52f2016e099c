"""vidcolor: colorize black-and-white video and image sequences.

Python API (the CLI only wraps these)::

    import vidcolor
    vidcolor.colorize_video("film.mp4", "film_color.mp4", model="eccv16")
    model = vidcolor.load_model("eccv16", weights="colorization_release_v2-9b330a0b.pth")
"""

from __future__ import annotations

import importlib

from .errors import InputError, OptionError, OutputError, VidcolorError, WeightsError

__version__ = "0.1.0"

# torch-backed parts load on first use, so that `import vidcolor` (and the CLI's help and
# frames commands) stays light: name -> (module, attribute)
_LAZY = {"colorize_video": (".pipeline", "colorize_video"), "Engine": (".pipeline", "Engine"),
         "Result": (".pipeline", "Result"), "Stats": (".pipeline", "Stats"),
         "load_model": (".models", "load_model"), "available_models": (".models", "available")}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module, __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vidcolor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = ["colorize_video", "load_model", "available_models", "Engine", "Result", "Stats",
           "VidcolorError", "InputError", "OutputError", "WeightsError", "OptionError", "__version__"]
