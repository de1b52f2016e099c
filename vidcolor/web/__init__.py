"""``vidcolor serve``: a local web app to colorize photos, videos and zips of frames.

Optional: ``pip install "vidcolor[web]"`` (Flask for the app, waitress to serve it).
:mod:`.app` holds the pages and the JSON API, :mod:`.jobs` the persistent queue and its
workers, :mod:`.runner` what a job does, :mod:`.uploads` what is accepted and how.
"""

from __future__ import annotations

from ..errors import OptionError


def require() -> None:
    """An OptionError naming the extra when Flask or waitress is missing."""
    import importlib.util

    missing = [m for m in ("flask", "waitress") if importlib.util.find_spec(m) is None]
    if missing:
        raise OptionError(f"vidcolor serve needs the web extra ({', '.join(missing)} missing): "
                          'pip install "vidcolor[web]"')
