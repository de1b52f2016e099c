"""End-to-end colorization: frames, timing, audio, luminance, image outputs."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
import torch

from vidcolor import colorize_video
from vidcolor.color import rgb_to_lab, to_float_rgb
from vidcolor.media import open_source

from conftest import TinyColorizer


def lab_of(frames: list[np.ndarray]) -> np.ndarray:
    x = to_float_rgb(torch.from_numpy(np.stack(frames)))
    return rgb_to_lab(x).permute(0, 2, 3, 1).numpy()


def decode(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [(f.pts, float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(s)], s.average_rate


def audio_packets(path):
    with av.open(str(path)) as c:
        return [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size]


def run(src, out, **kw):
    kw.setdefault("quiet", True)
    return colorize_video(src, out, model=TinyColorizer(), size=64, batch_size=5, **kw)


@pytest.mark.parametrize("key,ext", [("mp4_aac", ".mp4"), ("mkv_opus", ".mkv"), ("vfr", ".mp4")])
def test_video_keeps_frames_timing_and_audio(clips, tmp_path, key, ext):
    src = clips[key]
    out = tmp_path / f"out{ext}"
    res = run(src, out)
    a, rate_a = decode(src)
    b, rate_b = decode(out)
    assert res.frames == len(a) == len(b) == 12
    if key != "vfr":   # a VFR stream's average rate is derived from packet durations; its timestamps are the truth
        assert rate_a == rate_b
    assert [t for _, t, _ in a] == pytest.approx([t for _, t, _ in b], abs=1e-3)
    assert audio_packets(src) == audio_packets(out)  # copied packet for packet
    # luminance is the input's; chroma is new
    la, lb = lab_of([f for *_, f in a]), lab_of([f for *_, f in b])
    assert np.abs(la[..., 0] - lb[..., 0]).mean() < 1.5
    assert np.abs(la[..., 1:]).mean() < 2.0 < 8.0 < np.abs(lb[..., 1:]).mean()


def test_vfr_timestamps_survive_in_mkv(clips, tmp_path):
    # Matroska cannot store the AAC track's negative priming timestamps, so its muxer shifts
    # every stream by the priming delay; the VFR pattern itself must be intact.
    out = tmp_path / "vfr_out.mkv"
    run(clips["vfr"], out)
    b, _ = decode(out)
    t0 = b[0][1]
    assert t0 < 0.03
    assert [round((t - t0) * 30) for _, t, _ in b] == [0, 1, 2, 4, 5, 8, 9, 10, 14, 15, 16, 20]


def test_10bit_and_gray_sources(clips, tmp_path):
    for key in ("10bit", "gray"):
        out = tmp_path / f"{key}.mp4"
        assert run(clips[key], out).frames == 12
        b, _ = decode(out)
        assert len(b) == 12


def test_audio_reencoded_when_container_refuses_it(clips, tmp_path):
    notes = []
    out = tmp_path / "flac_in.webm"
    colorize_video(clips["gray"], out, model=TinyColorizer(), size=64, quiet=True, codec="libvpx-vp9",
                   notify=notes.append)
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "opus"
    assert any("re-encoding" in n for n in notes)


def test_odd_size_with_420(clips, tmp_path):
    notes = []
    out = tmp_path / "odd_out.mp4"
    colorize_video(clips["odd"], out, model=TinyColorizer(), size=64, quiet=True, notify=notes.append)
    b, _ = decode(out)
    assert b[0][2].shape == (64, 96, 3) and len(b) == 12
    assert any("odd" in n for n in notes)
    # the exact size with a lossless codec
    out2 = tmp_path / "odd_out.mkv"
    run(clips["odd"], out2, codec="ffv1")
    b2, _ = decode(out2)
    assert b2[0][2].shape == (63, 95, 3)


@pytest.mark.parametrize("codec,ext", [("ffv1", ".mkv"), ("prores_ks", ".mov")])
def test_archival_codecs(clips, tmp_path, codec, ext):
    out = tmp_path / f"arch_{codec}{ext}"
    run(clips["noaudio"], out, codec=codec)
    b, _ = decode(out)
    assert len(b) == 12


def test_image_sequence_keeps_names_and_fps(image_seq, tmp_path):
    out = tmp_path / "seq_out"
    run(image_seq, out)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"frame{i}.png" for i in range(1, 13))
    src = cv2.imread(str(image_seq / "frame3.png"), cv2.IMREAD_UNCHANGED)
    got = cv2.cvtColor(cv2.imread(str(out / "frame3.png")), cv2.COLOR_BGR2RGB)
    l_in = lab_of([np.repeat(src[:, :, None], 3, 2)])[..., 0]
    l_out = lab_of([got])[..., 0]
    assert np.abs(l_in - l_out).mean() < 0.6   # PNG is lossless: only rounding/gamut clipping


def test_image_sequence_to_video_with_fps(image_seq, tmp_path):
    out = tmp_path / "seq.mp4"
    run(image_seq, out, fps=12.5)
    b, rate = decode(out)
    assert len(b) == 12 and float(rate) == pytest.approx(12.5)
    assert b[-1][1] == pytest.approx(11 / 12.5, abs=1e-3)


def test_video_to_pattern(clips, tmp_path):
    run(clips["noaudio"], tmp_path / "pat" / "f_%04d.png")
    assert sorted(p.name for p in (tmp_path / "pat").iterdir()) == [f"f_{i:04d}.png" for i in range(1, 13)]


def test_16bit_in_16bit_out(image_seq16, tmp_path):
    out = tmp_path / "o16"
    run(image_seq16, out)
    img = cv2.imread(str(out / "img_002.png"), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint16 and img.shape == (64, 96, 3)


def test_photo_in_photo_out(tmp_path):
    from vidcolor.media.synth import photo, to_gray

    p = tmp_path / "bw.png"
    g = to_gray([cv2.resize(photo("chelsea"), (80, 60))])[0]
    cv2.imwrite(str(p), g)
    out = tmp_path / "color.png"
    assert run(p, out).frames == 1
    img = cv2.imread(str(out))
    assert img.shape == (60, 80, 3)
    assert len(list(tmp_path.iterdir())) == 2


def test_batch_size_does_not_change_result(clips, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    colorize_video(clips["noaudio"], a, model=TinyColorizer(), size=64, batch_size=1, quiet=True)
    colorize_video(clips["noaudio"], b, model=TinyColorizer(), size=64, batch_size=7, quiet=True)
    for p in sorted(a.iterdir()):
        assert np.array_equal(cv2.imread(str(p)), cv2.imread(str(b / p.name)))


def test_cli_colorize_with_weights(clips, tmp_path, tiny_weights):
    from click.testing import CliRunner

    from vidcolor.cli import main

    out = tmp_path / "cli.mp4"
    r = CliRunner().invoke(main, ["colorize", str(clips["mp4_aac"]), "-o", str(out), "--model", "tiny",
                                  "--weights", str(tiny_weights), "--size", "64", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "12 frames" in r.stderr
    assert len(open_source(out).__iter__().__next__().rgb) == 64
