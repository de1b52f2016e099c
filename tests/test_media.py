"""Frame sources and sinks: formats, order, bit depth, timestamps."""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from vidcolor.errors import InputError, OutputError
from vidcolor.media import Frame, iter_batches, natural_key, open_source
from vidcolor.media.images import ImageSequenceSink, PhotoSink
from vidcolor.media.video import VideoSource


@pytest.mark.parametrize("key", ["mp4_aac", "mkv_opus", "10bit", "gray", "vfr", "odd"])
def test_video_source_any_pixel_format_to_rgb8(clips, key):
    src = open_source(clips[key])
    frames = list(src)
    assert src.kind == "video"
    assert len(frames) == 12
    assert all(f.rgb.dtype == np.uint8 and f.rgb.shape == (src.height, src.width, 3) for f in frames)
    assert [f.index for f in frames] == list(range(12))
    # B&W content stays B&W whatever the pixel format: R, G and B agree closely
    rgb = frames[5].rgb.astype(int)
    assert np.abs(rgb[..., 0] - rgb[..., 1]).mean() < 2.5
    # content really is the pan (not black): a plausible spread of grays
    assert 20 < rgb.mean() < 235 and rgb.std() > 20
    src.close()


def test_video_source_keeps_every_timestamp(clips):
    with av.open(str(clips["vfr"])) as c:
        want = [(f.pts, float(f.time)) for f in c.decode(video=0)]
    src = open_source(clips["vfr"])
    got = [(f.pts, f.time) for f in src]
    assert got == want
    assert [round(t * 30) for _, t in got] == [0, 1, 2, 4, 5, 8, 9, 10, 14, 15, 16, 20]


def test_odd_size_is_reported_exactly(clips):
    src = open_source(clips["odd"])
    assert (src.width, src.height) == (95, 63)


def test_image_sequence_natural_order_and_gray(image_seq):
    src = open_source(image_seq, fps=12)
    frames = list(src)
    assert [f.name for f in frames] == [f"frame{i}.png" for i in range(1, 13)]
    assert src.kind == "images" and src.fps == Fraction(12) and src.frame_count == 12
    assert frames[0].rgb.shape == (64, 96, 3) and frames[0].rgb.dtype == np.uint8
    assert np.array_equal(frames[0].rgb[..., 0], frames[0].rgb[..., 2])
    assert frames[3].time == pytest.approx(3 / 12)


def test_image_glob_and_16bit(image_seq16):
    src = open_source(str(image_seq16 / "img_*.png"))
    frames = list(src)
    assert len(frames) == 4 and src.bit_depth == 16
    assert frames[2].rgb.dtype == np.uint16
    assert int(frames[2].rgb.max()) > 255


def test_single_photo(tmp_path):
    p = tmp_path / "p.jpg"
    cv2.imwrite(str(p), np.full((30, 40), 128, np.uint8))
    src = open_source(p)
    assert src.kind == "photo" and src.frame_count == 1
    assert list(src)[0].rgb.shape == (30, 40, 3)


def test_natural_key():
    assert sorted(["f10.png", "f2.png", "f1.png"], key=natural_key) == ["f1.png", "f2.png", "f10.png"]


def test_batches_split_on_size_change():
    from vidcolor.media import Frame

    fs = [Frame(i, np.zeros((4 + (i >= 3), 4, 3), np.uint8), i, i) for i in range(7)]
    sizes = [len(b) for b in iter_batches(fs, 2)]
    assert sizes == [2, 1, 2, 2]


def test_image_sink_appears_only_on_finish(tmp_path):
    out = tmp_path / "out"
    sink = ImageSequenceSink(out)
    black = np.zeros((4, 4, 3), np.uint8)
    sink.write(black, Frame(0, black, 0, 0.0, name="a.png"))
    assert not out.exists()
    sink.finish()
    assert [p.name for p in out.iterdir()] == ["a.png"]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_image_sink_pattern_and_abort(tmp_path):
    sink = ImageSequenceSink(tmp_path / "o" / "f_%03d.png")
    black = np.zeros((4, 4, 3), np.uint8)
    sink.write(black, Frame(0, black, 0, 0.0))
    sink.write(black, Frame(1, black, 1, 1 / 24))
    assert sorted(p.name for p in sink.tmp.iterdir()) == ["f_001.png", "f_002.png"]
    sink.abort()
    assert list(tmp_path.iterdir()) == []


def test_photo_sink_refuses_second_frame(tmp_path):
    sink = PhotoSink(tmp_path / "x.png")
    black = np.zeros((4, 4, 3), np.uint8)
    sink.write(black, Frame(0, black, 0, 0.0))
    with pytest.raises(OutputError):
        sink.write(black, Frame(1, black, 1, 1 / 24))
    sink.abort()
    assert list(tmp_path.iterdir()) == []


def test_video_source_errors(tmp_path, clips):
    with pytest.raises(InputError, match="not found"):
        VideoSource(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(InputError, match="cannot be opened as media"):
        VideoSource(junk)


def test_rotation_flag_is_applied(tmp_path):
    p = tmp_path / "rot.mp4"
    with av.open(str(p), "w") as out:
        s = out.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = 64, 32, "yuv420p"
        s.set_display_rotation(90)              # counter-clockwise, as phones write it
        for i in range(3):
            img = np.zeros((32, 64, 3), np.uint8)
            img[:, :10] = 255                   # a white band on the left edge
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for pkt in s.encode(f):
                out.mux(pkt)
        for pkt in s.encode(None):
            out.mux(pkt)
    src = open_source(p)
    frames = list(src)
    assert (src.width, src.height) == (32, 64) and src.rotation == 90
    bright_rows = np.where(frames[0].rgb[..., 0].mean(axis=1) > 128)[0]
    assert bright_rows.min() >= 52 and bright_rows.max() == 63   # the left band is now at the bottom
    # the decoder's planes are turned the same way (Y follows the RGB; chroma is half size)
    lazy = list(open_source(p, planes=True))
    y, u, v = lazy[0].planes
    assert y.shape == (64, 32) and u.shape == v.shape == (32, 16) and lazy[0].size == (64, 32)
    assert np.array_equal(lazy[0].rgb, frames[0].rgb)
    assert np.abs(cv2.cvtColor(frames[0].rgb, cv2.COLOR_RGB2GRAY).astype(int) - y).mean() < 20
    assert np.array_equal(np.where(y.mean(axis=1) > 128)[0], bright_rows)


def _decoder_yuv420(path):
    """PyAV's own yuv420p arrays (Y, U, V) of every frame, and its RGB."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            a = f.to_ndarray(format="yuv420p")
            h, w = f.height, f.width
            u = a[h:].reshape(-1)
            out.append(((a[:h], u[:u.size // 2].reshape(h // 2, w // 2), u[u.size // 2:].reshape(h // 2, w // 2)),
                        f.to_ndarray(format="rgb24")))
    return out


def test_planes_are_the_decoders_and_rgb_is_made_lazily_with_the_same_pixels(clips):
    want = _decoder_yuv420(clips["mp4_aac"])
    eager = list(open_source(clips["mp4_aac"]))
    src = open_source(clips["mp4_aac"], planes=True)
    lazy = list(src)
    assert (src.height, src.width) == (64, 96) and len(lazy) == len(want) == 12
    for f, e, (yuv, rgb) in zip(lazy, eager, want):
        assert f.planes is not None and e.planes is None and e.has_rgb
        assert not f.has_rgb and f.size == (64, 96)                  # nothing converted yet
        assert all(np.array_equal(p, q) for p, q in zip(f.planes, yuv))
        assert not f.planes[0].flags.writeable
        assert np.array_equal(f.rgb, e.rgb) and np.array_equal(f.rgb, rgb) and f.has_rgb
        assert (f.pts, f.time, f.duration) == (e.pts, e.time, e.duration)
    src.close()


@pytest.mark.parametrize("key", ["10bit", "gray", "odd"])
def test_other_pixel_formats_give_rgb_and_no_planes(clips, key):
    with open_source(clips[key], planes=True) as src:
        frames = list(src)
    assert all(f.planes is None and f.has_rgb and f.rgb.shape == (src.height, src.width, 3) for f in frames)


def test_lazy_frames_batch_and_convert_in_the_iterating_thread(clips):
    src = open_source(clips["mp4_aac"], planes=True)
    batches = list(iter_batches(src, 5))
    assert [len(b) for b in batches] == [5, 5, 2] and all(f.has_rgb for b in batches for f in b)
    src.close()
