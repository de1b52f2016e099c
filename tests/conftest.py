"""Shared fixtures: small clips and image sequences made from scikit-image's photos,
and a tiny deterministic colorizer so pipeline tests run in seconds on a CPU."""

from __future__ import annotations

import http.server
import threading
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from vidcolor.media import synth
from vidcolor.models import register
from vidcolor.models.base import Colorizer


class TinyColorizer(Colorizer):
    """ab = 50 * tanh(conv1x1(l_norm)) * L/100: a fixed, smooth, luminance-dependent color
    that, like real colorizers, gives dark pixels little chroma (stays near the sRGB gamut)."""

    name = "tiny"
    input_size = 64

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[[[2.0]]], [[[-3.0]]]]))
            self.conv.bias.copy_(torch.tensor([0.3, 0.2]))

    def forward(self, l_norm, **extras):
        return 50.0 * torch.tanh(self.conv(l_norm)) * (l_norm + 0.5).clamp(0, 1)


register(TinyColorizer, "test-only 1x1 conv colorizer")


def decode_timed(path) -> list[tuple[float, np.ndarray]]:
    """(presentation time in s, RGB frame) of every frame of a video's first stream."""
    import av
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [(float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(s)]


def audio_packets(path) -> list[tuple[int, bytes]]:
    """(pts, payload) of every audio packet of a file's first audio stream."""
    import av
    with av.open(str(path)) as c:
        return [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size]


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("w") / "tiny.pt"
    torch.save(TinyColorizer().state_dict(), p)
    return p


def pan_frames(n: int = 12, w: int = 96, h: int = 64, name: str = "astronaut", gray: bool = True) -> list[np.ndarray]:
    img = cv2.resize(synth.photo(name), (256, 256), interpolation=cv2.INTER_AREA)
    frames = synth.pan(img, n, w, h, step=3.0, y=40)
    return synth.to_gray(frames) if gray else frames


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Small test clips: AAC-in-MP4, Opus-in-MKV, VFR, 10-bit, odd size, gray pixels, no audio."""
    d = tmp_path_factory.mktemp("clips")
    fr = pan_frames()
    out = {
        "mp4_aac": synth.write_clip(d / "aac.mp4", fr, fps=24),
        "mkv_opus": synth.write_clip(d / "opus.mkv", fr, fps=25, audio_codec="libopus"),
        "vfr": synth.write_clip(d / "vfr.mp4", fr, pts=[0, 1, 2, 4, 5, 8, 9, 10, 14, 15, 16, 20],
                                time_base=Fraction(1, 30), fps=30),
        "10bit": synth.write_clip(d / "tenbit.mkv", fr, codec="libx265", pix_fmt="yuv420p10le",
                                  audio_codec=None, options={"x265-params": "log-level=error"}),
        "odd": synth.write_clip(d / "odd.mp4", [np.ascontiguousarray(f[:63, :95]) for f in fr], fps=24,
                                pix_fmt="yuv444p"),
        "gray": synth.write_clip(d / "gray.mkv", fr, codec="ffv1", pix_fmt="gray", audio_codec="flac"),
        "noaudio": synth.write_clip(d / "noaudio.mp4", fr, fps=24, audio_codec=None),
    }
    return out


@pytest.fixture(scope="session")
def image_seq(tmp_path_factory) -> Path:
    """frame1.png .. frame12.png (8-bit gray, 1 channel) — natural order differs from lexical."""
    d = tmp_path_factory.mktemp("seq")
    for i, f in enumerate(pan_frames(), start=1):
        cv2.imwrite(str(d / f"frame{i}.png"), f[:, :, 0])
    return d


@pytest.fixture(scope="session")
def image_seq16(tmp_path_factory) -> Path:
    """Four 16-bit RGB PNGs."""
    d = tmp_path_factory.mktemp("seq16")
    for i, f in enumerate(pan_frames(4, gray=False)):
        v = f.astype(np.uint16) * 257 + np.uint16(i)
        cv2.imwrite(str(d / f"img_{i:03d}.png"), cv2.cvtColor(v, cv2.COLOR_RGB2BGR))
    return d


@pytest.fixture
def server():
    """A loopback HTTP server serving whatever bytes the test puts in ``files``."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    httpd.shutdown()
    httpd.server_close()


CHROMIUM = "/usr/bin/chromium"   # Debian's chromium, installed by .ci/run (apt-get)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by Playwright (the system browser: Playwright cannot
    download its own offline). Skipped where either is missing, except where
    ``VIDCOLOR_REQUIRE_BROWSER`` is set (``.ci/run`` sets it): there that is a failure."""
    import os
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not Path(CHROMIUM).exists():
        if os.environ.get("VIDCOLOR_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests need playwright (pip install -e '.[web,test]') and {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"no playwright or no {CHROMIUM}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors and page errors in ``page.errors``."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray instance with 2 CPUs, shared by every cluster test (started once: ~5 s).
    Skipped where Ray is not installed, except where ``VIDCOLOR_REQUIRE_RAY`` is set (``.ci/run``
    sets it): there that is a failure. Workers see the ``compact`` model (shipped), not the
    test-only ``tiny`` one registered above (they do not import this file)."""
    import os
    try:
        import ray
    except ImportError:
        if os.environ.get("VIDCOLOR_REQUIRE_RAY"):
            pytest.fail('cluster tests need Ray: pip install -e ".[cluster]"')
        pytest.skip("no ray")
    import logging
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield ray
    ray.shutdown()
