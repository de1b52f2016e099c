"""Make samples/bw_pan.mp4: a 4-second black-and-white clip with sound.

A slow pan across two of scikit-image's bundled color photos (the astronaut,
then the coffee cup after a cut), converted to gray (Lab L kept, a = b = 0),
320x240 at 24 frames/s, H.264 + a quiet AAC chord. Run from the repository root:

    python samples/make_sample.py
"""

from pathlib import Path

from vidcolor.media.synth import pan, photo, to_gray, write_clip


def main(out: Path = Path(__file__).with_name("bw_pan.mp4")) -> Path:
    import cv2

    astro = cv2.resize(photo("astronaut"), (400, 400), interpolation=cv2.INTER_AREA)
    coffee = cv2.resize(photo("coffee"), (480, 320), interpolation=cv2.INTER_AREA)
    frames = pan(astro, 60, 320, 240, step=1.2, y=60) + pan(coffee, 36, 320, 240, step=1.5, y=40)
    return write_clip(out, to_gray(frames), fps=24, options={"crf": "20", "preset": "slow"})


if __name__ == "__main__":
    print(main())
