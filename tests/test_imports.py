"""`vidcolor --help` and the frames commands do not load torch (seconds and ~0.6 GB);
the library's torch-backed names still resolve on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
import vidcolor, vidcolor.cli, vidcolor.frames, vidcolor.temporal, vidcolor.temporal.scenes
from click.testing import CliRunner
for args in (["--help"], ["frames", "extract", "--help"], ["frames", "dedup", "--help"], ["colorize", "--help"]):
    assert CliRunner().invoke(vidcolor.cli.main, args).exit_code == 0, args
print(sorted(m for m in ("torch", "kornia", "lpips", "torchvision") if m in sys.modules))
"""


def test_cli_and_frames_do_not_import_torch():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_library_names_resolve_lazily():
    import vidcolor
    from vidcolor import Engine, colorize_video, load_model
    from vidcolor.pipeline import Engine as E2

    assert Engine is E2 and callable(colorize_video) and callable(load_model)
    assert "compact" in [m.name for m in vidcolor.available_models()]
    assert {"colorize_video", "Engine", "load_model"} <= set(dir(vidcolor))
    with pytest.raises(AttributeError, match="no_such_name"):
        vidcolor.no_such_name
