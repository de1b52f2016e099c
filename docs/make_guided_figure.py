"""Make docs/guided_workflow.jpg, the README's picture of the keyframe workflow.

On the shipped sample (samples/bw_pan.mp4 and the colour keyframes in samples/bw_pan_keys/):
the gray keyframe, its coloured version (the reference), then a frame 50 frames later coloured
by the automatic model alone, with ``--reference``, and the original colour frame. Run from the
repository root:

    python docs/make_guided_figure.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "samples"))

from make_sample import colour_frames  # noqa: E402

from vidcolor.pipeline import colorize_video  # noqa: E402

FRAME = 50


def label(img: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((28, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    return np.vstack([bar, img])


def main(out: Path = ROOT / "docs" / "guided_workflow.jpg") -> Path:
    clip, keys = ROOT / "samples" / "bw_pan.mp4", ROOT / "samples" / "bw_pan_keys"
    with tempfile.TemporaryDirectory() as tmp:
        auto, guided = Path(tmp) / "auto", Path(tmp) / "guided"
        colorize_video(clip, auto, quiet=True)
        colorize_video(clip, guided, reference=[keys], quiet=True)
        read = lambda d, i: cv2.imread(str(sorted(d.glob("*.png"))[i]))   # BGR
        gray = cv2.cvtColor(cv2.imread(str(keys / "keyframe_000000.png"), cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2BGR)
        tiles = [label(gray, "1. keyframe 0 (vidcolor keyframes)"),
                 label(cv2.imread(str(keys / "keyframe_000000.png")), "2. keyframe 0, coloured by you"),
                 label(read(auto, FRAME), f"frame {FRAME}: automatic (compact)"),
                 label(read(guided, FRAME), f"frame {FRAME}: 3. --reference"),
                 label(cv2.cvtColor(colour_frames()[FRAME], cv2.COLOR_RGB2BGR), f"frame {FRAME}: the original")]
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    row = np.hstack([x for t in tiles for x in (t, gap)][:-1])
    cv2.imwrite(str(out), row, [cv2.IMWRITE_JPEG_QUALITY, 88])
    return out


if __name__ == "__main__":
    print(main())
