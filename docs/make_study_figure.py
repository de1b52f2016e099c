"""Make docs/study.png, the README's picture of `vidcolor study`: the page during a trial and at its
question, built from the sample's two colour keyframes with the shipped model. Needs Playwright and
Debian's Chromium (/usr/bin/chromium). Run from the repository root:

    python docs/make_study_figure.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidcolor.study import build_study  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "study.html"
        build_study([ROOT / "samples" / "bw_pan_keys"], ["compact"], output=page_path, seconds=1.5, side=480, seed=1)
        shots = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 720, "height": 560})
            page.goto(page_path.as_uri())
            page.click("#start")
            page.wait_for_selector("body[data-state=showing]")
            shots.append(page.screenshot())
            page.wait_for_selector("body[data-state=question]")
            shots.append(page.screenshot())
            browser.close()
    imgs = [cv2.imdecode(np.frombuffer(s, np.uint8), cv2.IMREAD_COLOR) for s in shots]
    sep = np.full((imgs[0].shape[0], 12, 3), 255, np.uint8)
    cv2.imwrite(str(ROOT / "docs" / "study.png"), np.hstack([imgs[0], sep, imgs[1]]))
    print("wrote docs/study.png")


if __name__ == "__main__":
    main()
