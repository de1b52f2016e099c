"""`vidcolor frames extract`: ffmpeg's mpdecimate rule, hash/SSIM rules, sampling, manifest, resume."""

from __future__ import annotations

import importlib
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from vidcolor.color import host_rgb_to_l
from vidcolor.errors import OptionError
from vidcolor.frames import ExtractOptions, Mpdecimate, Selector, extract, gray_l, select_frames, timecode
from vidcolor.frames.manifest import read_jsonl
from vidcolor.frames.mpdecimate import block_sads, plane_differs, yuv420_planes
from vidcolor.media import Frame, open_source
from vidcolor.media.synth import pan, photo, write_clip

W, H = 160, 96
extract_mod = importlib.import_module("vidcolor.frames.extract")  # the module, not the function


def _frames(arrays, fps=24.0):
    return [Frame(i, a, i, i / fps) for i, a in enumerate(arrays)]


def _noisy(img, rng, amp=2):
    n = rng.integers(-amp, amp + 1, img.shape)
    return np.clip(img.astype(np.int16) + n, 0, 255).astype(np.uint8)


def _distinct_shots(k):
    """k clearly different 160x96 crops of bundled photos."""
    out = []
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        img = photo(name)
        for j in range(3):
            y, x = 40 + 70 * j, 30 + 90 * j
            out.append(np.ascontiguousarray(img[y:y + H, x:x + W]))
    return out[:k]


@pytest.fixture(scope="module")
def repeated():
    """Distinct frames each repeated 1-4 times with +-2 noise; -> (frames, indices of first copies)."""
    rng = np.random.default_rng(3)
    shots = _distinct_shots(10)
    reps = [1, 3, 2, 4, 1, 2, 3, 1, 4, 2]
    frames, firsts = [], []
    for img, r in zip(shots, reps):
        firsts.append(len(frames))
        frames += [img] + [_noisy(img, rng) for _ in range(r - 1)]
    return frames, firsts


# --- ffmpeg's rule, on planes -------------------------------------------------


def test_block_grid_matches_ffmpeg_loops():
    """Blocks at y = 0,4,..<h-7 and x = 8,12,..<w-7, SAD of 8x8, checked against a direct loop."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (37, 45), dtype=np.uint8)
    b = rng.integers(0, 256, (37, 45), dtype=np.uint8)
    sads = block_sads(a, b)
    ref = [[int(np.abs(a[y:y + 8, x:x + 8].astype(int) - b[y:y + 8, x:x + 8]).sum())
            for x in range(8, 45 - 7, 4)] for y in range(0, 37 - 7, 4)]
    assert sads.tolist() == ref


def test_plane_thresholds_hi_lo_frac():
    ref = np.zeros((64, 64), np.uint8)
    cur = ref.copy()
    cur[0:8, 8:16] = 12                 # one block SAD 768 = hi, not above it
    assert plane_differs(cur, ref)[0] is False
    cur[0, 8] = 13                      # 769 > hi
    assert plane_differs(cur, ref) == (True, 769)
    # t = int((64//16)*(64//16)*0.33) = 5; blocks with SAD > lo (320): each 8x8 area at 6/px = 384
    cur = ref.copy()
    cur[0:8, 8:16] = 6                  # block (0, 8): 384 > lo; blocks half over it: 192
    d = block_sads(cur, ref)
    assert d[0, 0] == 384 and d[0, 1] == d[1, 0] == 192 and int((d > 320).sum()) == 1
    assert plane_differs(cur, ref)[0] is False
    cur[0:32, 8:48] = 6                 # 7 x 9 = 63 blocks inside it, far more than t
    assert int((block_sads(cur, ref) > 320).sum()) == 63 and plane_differs(cur, ref)[0] is True
    cur = ref.copy()
    cur[0:8, 8:32] = 6                  # blocks x = 8..24: exactly t = 5 above lo, not more
    assert int((block_sads(cur, ref) > 320).sum()) == 5 and plane_differs(cur, ref)[0] is False
    cur[0:8, 32:36] = 6                 # block x = 28 joins: 6 > t
    assert plane_differs(cur, ref)[0] is True


def test_max_positive_and_negative_follow_drop_count():
    same = np.zeros((32, 32), np.uint8)
    one = lambda p: [p]  # noqa: E731 - a single plane

    def seq(mx, n):
        dec = Mpdecimate(max=mx, planes=one)
        return [dec.step(same)[0] for _ in range(n)]

    assert seq(0, 6) == [True, False, False, False, False, False]
    # at most 2 consecutive drops
    assert seq(2, 7) == [True, False, False, True, False, False, True]
    # -3: dropped frames at least 3 apart (2 keeps between drops); -1 behaves as -2
    assert seq(-3, 7) == [True, True, False, True, True, False, True]
    assert seq(-1, 5) == seq(-2, 5) == [True, False, True, False, True]


def test_reference_is_last_kept_frame_so_slow_drift_is_kept():
    """+1 per frame never exceeds lo against the previous frame, but does against the last kept."""
    dec = Mpdecimate(planes=lambda p: [p])
    kept = [dec.step(np.full((64, 64), 50 + i, np.uint8))[0] for i in range(12)]
    # after 6 levels SAD = 384 > lo in every block -> kept; then again 6 later
    assert [i for i, k in enumerate(kept) if k] == [0, 6]


def test_yuv_planes_from_rgb_match_the_decoders_planes(clip):
    """PyAV made the RGB from the decoder's Y/U/V; converting back gives them again (to rounding)."""
    import av

    with av.open(str(clip)) as c:
        f = next(iter(c.decode(video=0)))
        yuv = f.to_ndarray(format="yuv420p")
        rgb = f.to_ndarray(format="rgb24")
    h, w = f.height, f.width
    y, u, v = yuv[:h], yuv[h:].reshape(2, h // 2, w // 2)[0], yuv[h:].reshape(2, h // 2, w // 2)[1]
    ours = yuv420_planes(rgb, "bt601")                 # an untagged stream: swscale's BT.601
    for a, b in zip(ours, (y, u, v)):
        d = np.abs(a.astype(int) - b)
        assert d.mean() < 1.5 and np.percentile(d, 99) <= 3
    assert np.abs(ours[0].astype(int) - y).mean() < np.abs(yuv420_planes(rgb, "bt709")[0].astype(int) - y).mean()


@pytest.mark.parametrize("band", [8, 20, 64])
def test_band_shortcut_gives_the_full_comparisons_decisions(repeated, band):
    """Deciding on a central band when it suffices changes no decision (band=0: always full)."""
    frames, _ = repeated
    soft = cv2.GaussianBlur(photo("coffee"), (0, 0), 3)
    seq = frames + pan(soft, 30, W, H, step=0.25, y=120) + frames[:5]
    for mx in (0, 2, -3):
        full, fast = Mpdecimate(max=mx, band=0), Mpdecimate(max=mx, band=band)
        a = [full.step(f)[0] for f in seq]
        b = [fast.step(f)[0] for f in seq]
        assert a == b and 10 < sum(a) < len(seq)


def test_chroma_planes_have_ceil_half_size():
    y, u, v = yuv420_planes(np.zeros((35, 51, 3), np.uint8))
    assert y.shape == (35, 51) and u.shape == v.shape == (18, 26)


# --- the selector on frames ---------------------------------------------------


@pytest.mark.parametrize("method", ["mpdecimate", "hash", "ssim"])
def test_repeats_with_noise_keep_exactly_the_distinct_frames(repeated, method):
    frames, firsts = repeated
    kept = [k.frame.index for k in select_frames(_frames(frames), ExtractOptions(method=method))]
    assert kept == firsts


def test_static_shot_keeps_one_frame():
    rng = np.random.default_rng(1)
    img = _distinct_shots(1)[0]
    frames = _frames([img] + [_noisy(img, rng, 1) for _ in range(40)])
    assert [k.frame.index for k in select_frames(frames, ExtractOptions())] == [0]


def test_scene_cut_starts_new_scene_and_is_kept():
    rng = np.random.default_rng(2)
    a, b = _distinct_shots(4)[0], _distinct_shots(4)[3]
    frames = _frames([_noisy(a, rng, 1) for _ in range(20)] + [_noisy(b, rng, 1) for _ in range(20)])
    kept = list(select_frames(frames, ExtractOptions()))
    assert [(k.frame.index, k.scene) for k in kept] == [(0, 0), (20, 1)]


def test_slow_pan_keeps_a_frame_each_time_the_view_has_moved_enough():
    soft = cv2.GaussianBlur(photo("coffee"), (0, 0), 3)     # out-of-focus background, 1/4 px per frame
    frames = _frames(pan(soft, 40, W, H, step=0.25, y=120))
    idx = [k.frame.index for k in select_frames(frames, ExtractOptions())]
    assert idx[0] == 0 and 3 <= len(idx) <= 20     # neither everything nor only the first
    gaps = np.diff(idx)
    assert gaps.max() - gaps.min() <= 1             # a constant motion is sampled evenly
    # each kept frame differs from the previous kept one in ffmpeg's sense, each dropped one does not
    ref = yuv420_planes(frames[0].rgb)
    for f in frames[1:]:
        planes = yuv420_planes(f.rgb)
        differs = any(plane_differs(c, r)[0] for c, r in zip(planes, ref))
        assert differs == (f.index in idx)
        if differs:
            ref = planes


def test_min_gap_and_per_scene():
    shots = _distinct_shots(12)
    frames = _frames(shots[:6], fps=4.0)               # 0.25 s apart, all distinct
    idx = [k.frame.index for k in select_frames(frames, ExtractOptions(min_gap=0.5))]
    assert idx == [0, 2, 4]
    rng = np.random.default_rng(4)
    a, b = shots[0], shots[9]
    pan_a = pan(a, 30, W - 20, H - 10, step=1.5)       # one scene of moving content
    pan_b = pan(b, 30, W - 20, H - 10, step=1.5)
    kept = list(select_frames(_frames([_noisy(f, rng, 1) for f in pan_a + pan_b]), ExtractOptions(per_scene=2)))
    assert [k.scene for k in kept] == [0, 0, 1, 1] and kept[2].frame.index == 30


def test_bad_options_are_option_errors():
    with pytest.raises(OptionError):
        ExtractOptions(method="nope")
    with pytest.raises(OptionError):
        ExtractOptions(method="hash", threshold=70)
    with pytest.raises(OptionError):
        ExtractOptions(format="gif")


def test_timecode():
    assert timecode(0) == "00:00:00.000"
    assert timecode(3725.0416) == "01:02:05.042"


# --- files, manifest, pairs, resume -------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory, repeated):
    frames, _ = repeated
    return write_clip(tmp_path_factory.mktemp("clip") / "rep.mp4", frames, fps=24, audio_codec=None,
                      options={"crf": "12", "preset": "ultrafast"})


def test_extract_video_writes_frames_and_manifest(tmp_path, clip, repeated):
    _, firsts = repeated
    res = extract([clip], tmp_path / "out", csv=True, quiet=True)
    assert [s.kept for s in res.sources] == [len(firsts)]
    rows = read_jsonl(tmp_path / "out" / "manifest.jsonl")
    assert [r["index"] for r in rows] == firsts
    r = rows[1]
    assert r["file"] == f"rep/{firsts[1]:06d}.png" and (tmp_path / "out" / r["file"]).is_file()
    assert r["timecode"] == timecode(firsts[1] / 24) and abs(r["time"] - firsts[1] / 24) < 1e-6
    assert r["method"] == "mpdecimate" and r["distance"] > 768 and r["scene"] >= 0 and len(r["hash"]) == 16
    assert rows[0]["distance"] == -1
    assert (tmp_path / "out" / "manifest.csv").read_text().splitlines()[0].startswith("file,")
    # the per-source manifest has names relative to its own folder
    assert read_jsonl(tmp_path / "out" / "rep" / "manifest.jsonl")[1]["file"] == f"{firsts[1]:06d}.png"
    saved = cv2.imread(str(tmp_path / "out" / r["file"]))
    assert saved.shape == (H, W, 3)
    with open_source(clip) as src:                  # the RGB made lazily (writer threads) = the eager RGB
        eager = [f.rgb for f in src]
    for r in rows:
        assert np.array_equal(cv2.imread(str(tmp_path / "out" / r["file"]))[..., ::-1], eager[r["index"]])


@pytest.mark.parametrize("opts", [dict(min_scene_len=1), dict(max=2, min_scene_len=1, scene_threshold=5),
                                  dict(hi=6400, lo=3200, frac=0.9, max=-3)])
def test_decoder_planes_give_the_rgb_paths_decisions_without_converting(clip, repeated, opts):
    """The selector on the decoder's own planes keeps the frames (and finds the scenes) that it
    keeps when every frame is converted to RGB and back to 4:2:0, and reads no frame's RGB."""
    opts = ExtractOptions(**opts)
    got = {}
    for planes in (False, True):
        with open_source(clip, planes=planes) as src:
            sel = Selector(opts, "yuv420", *src.colorspace)
            frames = list(src)
            assert all(f.planes is not None for f in frames) == planes
            kept, scene = [], []
            for f in frames:
                kept.append(sel.offer(f) is not None)
                scene.append(sel.scene)
            got[planes] = kept, scene
            if planes:
                assert not any(f.has_rgb for f in frames)      # kept frames' RGB is left to the writers
    assert got[True] == got[False]
    assert sum(got[True][0]) >= len(repeated[1]) and max(got[True][1]) >= 1   # real drops, real cuts


def test_pairs_gray_is_l_of_the_color_frame(tmp_path, clip):
    extract([clip], tmp_path, ExtractOptions(pairs=True), quiet=True)
    rows = read_jsonl(tmp_path / "manifest.jsonl")
    from skimage.color import rgb2lab

    for r in rows[:3]:
        color = cv2.cvtColor(cv2.imread(str(tmp_path / r["file"])), cv2.COLOR_BGR2RGB)
        gray = cv2.imread(str(tmp_path / r["gray_file"]), cv2.IMREAD_UNCHANGED)
        assert gray.ndim == 2 and gray.dtype == np.uint8
        L = rgb2lab(color)[..., 0]
        err = np.abs(gray.astype(float) * 100 / 255 - L)
        # rounding to 1/255 of 100 (<= 0.196) + OpenCV's L (the CPU engine's) vs scikit-image (< 0.25)
        assert err.max() < 100 / 255 / 2 + 0.25 and err.mean() < 0.15
        assert np.array_equal(gray, gray_l(color))
        assert np.array_equal(gray, np.rint(host_rgb_to_l(color[None])[0] * 2.55).astype(np.uint8))
    assert np.array_equal(gray_l(np.full((2, 2, 3), 255, np.uint8)), np.full((2, 2), 255, np.uint8))
    assert np.array_equal(gray_l(np.zeros((2, 2, 3), np.uint16)), np.zeros((2, 2), np.uint16))
    white16 = gray_l(np.full((2, 2, 3), 65535, np.uint16))
    assert white16.dtype == np.uint16 and np.abs(white16.astype(int) - 65535).max() <= 10


def test_image_sequence_and_jpeg(tmp_path, repeated):
    frames, firsts = repeated
    seq = tmp_path / "seq"
    seq.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(seq / f"f{i}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    extract([seq], tmp_path / "out", ExtractOptions(format="jpg", quality=90), quiet=True)
    rows = read_jsonl(tmp_path / "out" / "manifest.jsonl")
    assert [r["index"] for r in rows] == firsts
    assert rows[1]["name"] == f"f{firsts[1]}.png" and rows[1]["file"].endswith(".jpg")


@pytest.mark.parametrize("where", ["writer", "decoder"])
def test_resume_after_interruption(tmp_path, clip, repeated, monkeypatch, where):
    _, firsts = repeated
    out = tmp_path / "out"
    real, real_offer = extract_mod._write_frame, extract_mod.Selector.offer
    calls = {"n": 0}

    def flaky(folder, row, kept, opts):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        real(folder, row, kept, opts)

    def flaky_offer(self, frame):
        if frame.index == 12:                          # Ctrl-C in the main loop, writes in flight
            raise KeyboardInterrupt
        return real_offer(self, frame)

    if where == "writer":
        monkeypatch.setattr(extract_mod, "_write_frame", flaky)
    else:
        monkeypatch.setattr(extract_mod.Selector, "offer", flaky_offer)
    with pytest.raises(KeyboardInterrupt):
        extract([clip], out, quiet=True)
    monkeypatch.setattr(extract_mod.Selector, "offer", real_offer)
    src = out / "rep"
    assert not (src / ".complete.json").exists() and not (src / "manifest.jsonl").exists()
    for f in src.iterdir():       # nothing half-written under a final name: every final PNG decodes
        assert f.name.startswith(".") or cv2.imread(str(f)) is not None
    (src / ".000099.vidcolor-1-tmp.png").write_bytes(b"partial")     # as a killed writer leaves it
    monkeypatch.setattr(extract_mod, "_write_frame", real)
    res = extract([clip], out, quiet=True)
    assert res.sources[0].kept == len(firsts) and not res.sources[0].skipped
    assert sorted(f.name for f in src.iterdir() if not f.name.startswith(".") and f.suffix == ".png") == \
        [f"{i:06d}.png" for i in firsts]
    assert not list(src.glob(".*-tmp*"))
    again = extract([clip], out, quiet=True)                          # complete: skipped
    assert again.sources[0].skipped and again.sources[0].kept == len(firsts)
    with pytest.raises(OptionError):                                  # other settings, same folder
        extract([clip], out, ExtractOptions(method="hash"), quiet=True)


def test_folder_of_videos_and_cli(tmp_path, clip):
    from vidcolor.cli import main

    vids = tmp_path / "vids"
    (vids / "a").mkdir(parents=True)
    (vids / "b").mkdir()
    (vids / "a" / "x.mp4").write_bytes(clip.read_bytes())
    (vids / "b" / "x.mp4").write_bytes(clip.read_bytes())
    r = CliRunner().invoke(main, ["frames", "extract", str(vids), "-o", str(tmp_path / "out"), "--method", "hash",
                                  "--hash", "dhash", "--threshold", "6", "--csv", "--quiet"])
    assert r.exit_code == 0, r.output
    rows = read_jsonl(tmp_path / "out" / "manifest.jsonl")
    assert {r["source_key"] for r in rows} == {"a/x", "b/x"} and rows[0]["file"].startswith("a/x/")
    assert rows[0]["method"] == "hash" and rows[0]["hash_kind"] == "dhash"
    bad = CliRunner().invoke(main, ["frames", "extract", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o2")])
    assert bad.exit_code == 1 and "not found" in bad.output and "Traceback" not in bad.output
    json.loads((tmp_path / "out" / "a" / "x" / ".complete.json").read_text())
