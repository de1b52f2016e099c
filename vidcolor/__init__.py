"""vidcolor: colorize black-and-white video and image sequences.

Python API (the CLI only wraps these)::

    import vidcolor
    vidcolor.colorize_video("film.mp4", "film_color.mp4", model="eccv16")
    model = vidcolor.load_model("eccv16", weights="colorization_release_v2-9b330a0b.pth")
"""

from .errors import InputError, OptionError, OutputError, VidcolorError, WeightsError
from .models import available as available_models
from .models import load_model
from .pipeline import Engine, Result, Stats, colorize_video

__version__ = "0.1.0"

__all__ = ["colorize_video", "load_model", "available_models", "Engine", "Result", "Stats",
           "VidcolorError", "InputError", "OutputError", "WeightsError", "OptionError", "__version__"]
