"""The web app in a real browser (Debian's headless Chromium, driven by Playwright), against
`vidcolor serve` started as a user starts it, on a free loopback port: upload the sample
clip and a photo through the page, wait for the jobs, use the scrubber and the before/after
slider, download. With VIDCOLOR_SCREENSHOTS=DIR the pages are saved there (docs/ holds them)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("flask")

from vidcolor.media import synth  # noqa: E402

from conftest import decode_timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "bw_pan.mp4"
pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    data = tmp_path_factory.mktemp("serve")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vidcolor", "serve", "--port", str(port), "--data", str(data),
                             "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    while True:
        try:
            urllib.request.urlopen(base + "/api/models", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() - t0 > 60:
                proc.kill()
                pytest.fail(f"vidcolor serve did not start: {proc.stdout.read()}")
            time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert "Traceback" not in out, out


def shot(page, name: str, **kw) -> None:
    folder = os.environ.get("VIDCOLOR_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), **kw)


def upload(page, url: str, path: Path, screenshot: str | None = None) -> None:
    page.goto(url + "/")
    page.set_input_files("#file", str(path))
    if screenshot:
        shot(page, screenshot)
    page.click("#submit")
    page.wait_for_url("**/jobs/*")
    page.wait_for_function("['done', 'failed', 'cancelled'].includes(document.getElementById('state').dataset.state)",
                           timeout=180_000)
    assert page.get_attribute("#state", "data-state") == "done", page.inner_text("#error")


def test_video_through_the_page(page, url, tmp_path):
    upload(page, url, SAMPLE, screenshot="web_upload.png")
    assert page.is_visible("#players") and page.is_visible("#scrubber")
    assert not page.is_visible("#compare") and not page.is_visible("#running")
    # both players load their video (the gray preview and the H.264 result)
    page.wait_for_function("['video-before','video-after'].every(i => document.getElementById(i).readyState >= 2)")
    durations = page.evaluate("['video-before','video-after'].map(i => document.getElementById(i).duration)")
    assert durations[0] == pytest.approx(4.0, abs=0.1) and durations[1] == pytest.approx(4.0, abs=0.1)
    # the scrubber shows another pair of frames, and seeks the players there
    first = page.get_attribute("#still-after", "src")
    page.locator("#scrub").fill("20")
    page.wait_for_function("document.getElementById('still-after').complete")
    assert page.get_attribute("#still-after", "src") != first
    label = page.inner_text("#scrub-label")
    assert label.startswith("40 ")                       # 96 frames, a still every 2nd
    page.wait_for_function("Math.abs(document.getElementById('video-after').currentTime - 40/24) < 0.1")
    shot(page, "web_video.png", full_page=True)
    with page.expect_download() as dl:
        page.click("#download")
    out = tmp_path / dl.value.suggested_filename
    dl.value.save_as(out)
    assert out.name == "bw_pan_color.mp4"
    assert len(decode_timed(out)) == 96
    assert page.errors == []


def visible(page) -> np.ndarray:
    png = page.locator("#compare").screenshot()
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(float)


def chroma(bgr: np.ndarray) -> np.ndarray:
    """|a| + |b| per column (Lab, 8-bit OpenCV units)."""
    lab = cv2.cvtColor(bgr.astype(np.uint8), cv2.COLOR_BGR2LAB).astype(float)
    return np.abs(lab[..., 1:] - 128).sum(-1).mean(0)


def test_photo_slider_moves_and_changes_what_is_seen(page, url, tmp_path):
    photo = tmp_path / "portrait.png"
    gray = synth.to_gray([cv2.resize(synth.photo("astronaut"), (480, 360))])[0]
    cv2.imwrite(str(photo), gray)
    upload(page, url, photo)
    assert page.is_visible("#compare") and page.is_visible("#slider")
    assert not page.is_visible("#players") and not page.is_visible("#scrubber")
    page.wait_for_function("document.getElementById('after').naturalWidth > 0"
                           " && document.getElementById('before').naturalWidth > 0")
    middle = visible(page)
    c = chroma(middle)
    w = len(c)
    # left of the split: the gray input; right: the colour result
    assert c[: w // 2 - 5].mean() < 1.0 and c[w // 2 + 5:].mean() > 4 * max(c[: w // 2 - 5].mean(), 0.5)
    # drag the split to the left: more of the picture is in colour
    box = page.locator("#compare").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.15, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    assert float(page.input_value("#slider")) == pytest.approx(15, abs=2)
    left = visible(page)
    assert chroma(left)[int(w * 0.2): int(w * 0.45)].mean() > 4 * max(c[int(w * 0.2): int(w * 0.45)].mean(), 0.5)
    shot(page, "web_photo.png", full_page=True)
    # the range input moves it too, to the right: all gray
    page.locator("#slider").fill("100")
    assert chroma(visible(page)).mean() < 1.0
    assert page.errors == []


def test_bad_upload_shows_the_one_line_error(page, url, tmp_path):
    junk = tmp_path / "film.mp4"
    junk.write_bytes(b"this is not a film")
    page.goto(url + "/")
    page.set_input_files("#file", str(junk))
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert "not a photo, a video or a zip of frames" in page.inner_text("#error")
    assert page.url.rstrip("/") == url
