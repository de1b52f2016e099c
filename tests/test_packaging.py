"""The shipped default model is package data: a built wheel holds it, and vidcolor
installed from that wheel (not from this checkout) colorizes the sample with no options.

(.ci/run also installs the wheel into a fresh virtual environment, dependencies and all.)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from vidcolor import weights as W
from vidcolor.media import open_source

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # a copy of the tracked files, so that the build never writes into the checkout
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.split(b"\0")
    for f in filter(None, files):
        rel = Path(f.decode())
        if not (ROOT / rel).exists() and not (ROOT / rel).is_symlink():
            continue                                     # deleted in the work tree
        dst = src / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / rel).is_symlink():
            dst.symlink_to(os.readlink(ROOT / rel))
        else:
            dst.write_bytes((ROOT / rel).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(src)], check=True, capture_output=True, timeout=240)
    (whl,) = out.glob("vidcolor-*.whl")
    return whl


def test_wheel_holds_the_shipped_model(wheel):
    spec = W.get_spec("compact")
    with zipfile.ZipFile(wheel) as z:
        data = z.read(f"vidcolor/shipped/{spec.filename}")
        names = z.namelist()
    assert len(data) == spec.size
    assert hashlib.sha256(data).hexdigest() == spec.sha256
    assert "vidcolor/shipped/README.md" in names          # the model card travels with it
    for card in ("deoldify-video", "ddcolor-paper-tiny"):       # the zoo's model cards too
        assert f"vidcolor/cards/{card}.md" in names


def test_installed_wheel_colorizes_offline(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=120)
    work = tmp_path / "work"
    work.mkdir()
    # the installed copy comes first on the path; the checkout is not on it (cwd is elsewhere)
    env = {**os.environ, "PYTHONPATH": str(target), "VIDCOLOR_HOME": str(tmp_path / "empty-cache")}
    probe = subprocess.run([sys.executable, "-c", "import vidcolor, vidcolor.models, vidcolor.weights as W; "
                            "print(vidcolor.__file__); print(W.resolve('compact'))"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    module, weights = probe.stdout.split()
    assert Path(module).is_relative_to(target) and Path(weights).is_relative_to(target), probe.stdout
    r = subprocess.run([sys.executable, "-m", "vidcolor", "colorize", str(ROOT / "samples" / "bw_pan.mp4"),
                        "-o", "out.mp4", "-q"], cwd=work, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    with open_source(work / "out.mp4") as s:
        assert s.frame_count == 96 and len(s.audio_streams) == 1
