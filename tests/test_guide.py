"""`vidcolor keyframes` and `vidcolor deflicker` (issue 14's first pieces) on real clips."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from vidcolor.cli import main
from vidcolor.color import host_rgb_to_lab
from vidcolor.media import synth

from conftest import audio_packets, pan_frames
from conftest import decode_timed as decode
from test_errors import fails_cleanly


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory):
    """20 frames of one photo's pan, then 20 of another: one cut, before frame 20."""
    frames = pan_frames(20, name="astronaut", gray=False) + pan_frames(20, name="coffee", gray=False)
    return synth.write_clip(tmp_path_factory.mktemp("shots") / "two.mp4", frames, fps=24, codec="ffv1",
                            pix_fmt="yuv444p", audio_codec="flac")


def test_keyframes_one_per_shot(two_shots, tmp_path):
    out = tmp_path / "keys"
    r = CliRunner().invoke(main, ["keyframes", str(two_shots), "-o", str(out)])
    assert r.exit_code == 0, r.output
    man = json.loads((out / "keyframes.json").read_text())
    ks = man["keyframes"]
    assert [(k["index"], k["reason"]) for k in ks] == [(0, "start"), (20, "cut")]
    frames = decode(two_shots)
    for k in ks:
        assert k["time"] == pytest.approx(frames[k["index"]][0], abs=1e-6)
        png = cv2.cvtColor(cv2.imread(str(out / k["file"])), cv2.COLOR_BGR2RGB)
        assert np.array_equal(png, frames[k["index"]][1])          # the frame itself, losslessly
    assert sorted(p.name for p in out.iterdir()) == ["keyframe_000000.png", "keyframe_000020.png", "keyframes.json"]
    # a second run into the same folder is refused (nothing overwritten) unless --overwrite
    fails_cleanly(["keyframes", str(two_shots), "-o", str(out)], out / "keyframes.json",
                  match="keyframes.json exists")


def test_keyframes_every_n_seconds_and_at_cuts(two_shots, tmp_path):
    out = tmp_path / "k"
    r = CliRunner().invoke(main, ["keyframes", str(two_shots), "-o", str(out), "--every", "0.5", "-q"])
    assert r.exit_code == 0, r.output
    ks = json.loads((out / "keyframes.json").read_text())["keyframes"]
    # 24 fps: frames 0, 12 (0.5 s), 20 (the cut), 24 (1.0 s), 36 (1.5 s)
    assert [(k["index"], k["reason"]) for k in ks] == [(0, "start"), (12, "every"), (20, "cut"), (24, "every"),
                                                      (36, "every")]
    fails_cleanly(["keyframes", str(two_shots), "-o", str(out), "--every", "0", "--overwrite"],
                  out / "nothing", match="--every must be in")


def flickering(frames, seed=0, cast=8.0):
    """Per-frame random global ab shifts (a flickering colorization) of color frames; L kept."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        lab = host_rgb_to_lab(f)
        lab[..., 1:] += rng.normal(0, cast, 2).astype(np.float32)
        out.append(np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255 + 0.5, 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def flicker_clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("flick")
    color = pan_frames(16, name="coffee", gray=False)
    gray = [np.repeat(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2) for f in color]
    return {"flicker": synth.write_clip(d / "flicker.mkv", flickering(color), fps=24, codec="ffv1",
                                        pix_fmt="yuv444p", audio_codec="flac"),
            "gray": synth.write_clip(d / "gray.mkv", gray, fps=24, codec="ffv1", pix_fmt="yuv444p",
                                     audio_codec=None),
            "short": synth.write_clip(d / "short.mkv", gray[:10], fps=24, codec="ffv1", pix_fmt="yuv444p",
                                      audio_codec=None),
            "color": color}


def mean_ab_jump(frames) -> float:
    """Mean |change| of the frame-average ab from one frame to the next (the flicker)."""
    means = np.array([host_rgb_to_lab(f)[..., 1:].mean(axis=(0, 1)) for f in frames])
    return float(np.abs(np.diff(means, axis=0)).mean())


def test_deflicker_removes_flicker_and_keeps_timing_audio_and_luminance(flicker_clip, tmp_path):
    src, out = flicker_clip["flicker"], tmp_path / "smooth.mkv"
    r = CliRunner().invoke(main, ["deflicker", str(src), "-o", str(out), "--codec", "ffv1", "-q"])
    assert r.exit_code == 0, r.output
    a, b = decode(src), decode(out)
    assert len(a) == len(b) == 16
    assert [t for t, _ in a] == pytest.approx([t for t, _ in b], abs=1e-3)
    assert audio_packets(src) == audio_packets(out)
    fa, fb = [f for _, f in a], [f for _, f in b]
    assert mean_ab_jump(fb) < 0.5 * mean_ab_jump(fa)                   # the global flicker is mostly gone
    la = np.stack([host_rgb_to_lab(f)[..., 0] for f in fa])
    lb = np.stack([host_rgb_to_lab(f)[..., 0] for f in fb])
    assert np.abs(la - lb).mean() < 1.0                                # the video's own luminance
    assert np.array_equal(fa[0], fb[0]) or np.abs(fa[0].astype(int) - fb[0]).max() <= 2   # nothing to smooth yet
    # closer to the true colours than the flickering input
    truth = np.stack(flicker_clip["color"]).astype(float)
    assert np.abs(np.stack(fb) - truth).mean() < np.abs(np.stack(fa) - truth).mean()


def test_deflicker_with_the_original_takes_its_luminance(flicker_clip, tmp_path):
    out = tmp_path / "o.mkv"
    r = CliRunner().invoke(main, ["deflicker", str(flicker_clip["flicker"]), "-o", str(out), "--codec", "ffv1",
                                  "--original", str(flicker_clip["gray"]), "-q"])
    assert r.exit_code == 0, r.output
    lg = np.stack([host_rgb_to_lab(f)[..., 0] for _, f in decode(flicker_clip["gray"])])
    lb = np.stack([host_rgb_to_lab(f)[..., 0] for _, f in decode(out)])
    assert np.abs(lg - lb).mean() < 1.0


def test_deflicker_refuses_a_mismatched_original_and_no_smoother(flicker_clip, tmp_path):
    out = tmp_path / "o.mp4"
    fails_cleanly(["deflicker", str(flicker_clip["flicker"]), "-o", str(out), "--original",
                   str(flicker_clip["short"])], out, [flicker_clip["flicker"]], match="has 16 frames but the original")
    fails_cleanly(["deflicker", str(flicker_clip["flicker"]), "-o", str(out), "--temporal", "none"], out,
                  match="choose a smoother")
    fails_cleanly(["deflicker", str(flicker_clip["flicker"]), "-o", str(flicker_clip["flicker"]), "--overwrite"],
                  tmp_path / "nothing", [flicker_clip["flicker"]], match="")


def test_deflicker_look_ahead_smooths_both_ways_and_cleans_up(flicker_clip, tmp_path, monkeypatch):
    """Forward-backward: the first frames are smoothed too (a forward pass leaves frame 0 as it is),
    the flicker drops at least as much as forward-only, timing and audio are kept, and the
    temporary folder of the first pass is gone afterwards."""
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    src = flicker_clip["flicker"]
    outs = {}
    for mode in ("forward", "look-ahead"):
        out = tmp_path / f"{mode}.mkv"
        extra = ["--look-ahead"] if mode == "look-ahead" else []
        r = CliRunner().invoke(main, ["deflicker", str(src), "-o", str(out), "--codec", "ffv1", "-q", *extra])
        assert r.exit_code == 0, r.output
        outs[mode] = decode(out)
    a = decode(src)
    b = outs["look-ahead"]
    assert [t for t, _ in a] == pytest.approx([t for t, _ in b], abs=1e-3)
    assert audio_packets(src) == audio_packets(tmp_path / "look-ahead.mkv")
    fa, ff, fb = ([f for _, f in x] for x in (a, outs["forward"], b))
    assert np.abs(fb[0].astype(int) - fa[0]).mean() > 1.0             # frame 0 smoothed with the future
    assert mean_ab_jump(fb) <= mean_ab_jump(ff) * 1.05
    truth = np.stack(flicker_clip["color"]).astype(float)
    assert np.abs(np.stack(fb) - truth).mean() < np.abs(np.stack(fa) - truth).mean()
    assert list((tmp_path / "tmp").iterdir()) == []                    # the look-ahead's files are removed
