"""Make samples/bw_pan.mp4: a 4-second black-and-white clip with sound, and its coloured keyframes.

A slow pan across two of scikit-image's bundled color photos (the astronaut,
then the coffee cup after a cut), converted to gray (Lab L kept, a = b = 0),
320x240 at 24 frames/s, H.264 + a quiet AAC chord. ``samples/bw_pan_keys/`` holds the colour
originals of its two keyframes (frames 0 and 60, the first of each shot), named as
``vidcolor keyframes`` names them: stand-ins for keyframes coloured by hand, for the
``--reference`` example of the README. Run from the repository root:

    python samples/make_sample.py
"""

from pathlib import Path

HERE = Path(__file__).parent


def colour_frames():
    import cv2

    from vidcolor.media.synth import pan, photo

    astro = cv2.resize(photo("astronaut"), (400, 400), interpolation=cv2.INTER_AREA)
    coffee = cv2.resize(photo("coffee"), (480, 320), interpolation=cv2.INTER_AREA)
    return pan(astro, 60, 320, 240, step=1.2, y=60) + pan(coffee, 36, 320, 240, step=1.5, y=40)


def main(out: Path = HERE / "bw_pan.mp4", keys: Path = HERE / "bw_pan_keys") -> Path:
    import cv2

    from vidcolor.keyframes import keyframe_name
    from vidcolor.media.synth import to_gray, write_clip

    frames = colour_frames()
    keys.mkdir(exist_ok=True)
    for i in (0, 60):
        cv2.imwrite(str(keys / keyframe_name(i)), cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR))
    return write_clip(out, to_gray(frames), fps=24, options={"crf": "20", "preset": "slow"})


if __name__ == "__main__":
    print(main())
