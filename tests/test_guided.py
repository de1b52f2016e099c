"""Guided colorization (issue 14): --reference propagation, --hints, --exemplar."""

from __future__ import annotations

import json
import tempfile

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from vidcolor.cli import main
from vidcolor.color import host_rgb_to_lab
from vidcolor.errors import InputError
from vidcolor.guide import guided
from vidcolor.guide.hints import load_hints_file, parse_color
from vidcolor.guide.transfer import BandStats, BandTransfer, band_weights
from vidcolor.media import synth
from vidcolor.pipeline import colorize_video

from conftest import audio_packets
from conftest import decode_timed as decode
from test_errors import fails_cleanly

W, H, SIDE, STEP, X0, Y0 = 128, 96, 32, 3, 10, 30
SHOT1, SHOT2 = 16, 8
RED, BLUE = (55.0, 40.0), (-10.0, -30.0)


def _texture(rng, shape, lo, hi, sigma):
    return cv2.GaussianBlur(rng.uniform(lo, hi, shape).astype(np.float32), (0, 0), sigma)


def _lab_to_rgb8(L, a, b):
    lab = np.dstack([L, np.broadcast_to(a, L.shape), np.broadcast_to(b, L.shape)]).astype(np.float32)
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255 + 0.5, 0, 255).astype(np.uint8)


def _gray_rgb(g):
    """A gray level image (0..255) -> an RGB frame whose Lab ab is 0."""
    L = cv2.cvtColor(np.repeat((g / 255.0).astype(np.float32)[..., None], 3, 2), cv2.COLOR_RGB2Lab)[..., 0]
    return _lab_to_rgb8(L, 0.0, 0.0)


@pytest.fixture(scope="module")
def square(tmp_path_factory):
    """A textured square moving right by STEP px a frame over a static textured background for
    SHOT1 frames, then a cut to a darker scene of SHOT2 frames; and a coloured version of frame 0
    (square red, background blue): the reference."""
    rng = np.random.default_rng(0)
    bg = _texture(rng, (H, W), 110, 230, 1.5)
    tex = _texture(rng, (SIDE, SIDE), 20, 110, 1.0)
    gray = []
    for t in range(SHOT1):
        g = bg.copy()
        x = X0 + STEP * t
        g[Y0:Y0 + SIDE, x:x + SIDE] = tex
        gray.append(_gray_rgb(g))
    dark = _texture(rng, (H, W), 5, 60, 1.5)
    gray += [_gray_rgb(np.roll(dark, 2 * t, axis=1)) for t in range(SHOT2)]
    L0 = host_rgb_to_lab(gray[0])[..., 0]
    inside = np.zeros((H, W), bool)
    inside[Y0:Y0 + SIDE, X0:X0 + SIDE] = True
    ref = np.where(inside[..., None], _lab_to_rgb8(L0, *RED), _lab_to_rgb8(L0, *BLUE))
    d = tmp_path_factory.mktemp("square")
    clip = synth.write_clip(d / "square.mkv", gray, fps=24, codec="ffv1", pix_fmt="yuv444p", audio_codec="flac")
    cv2.imwrite(str(d / "ref0.png"), cv2.cvtColor(ref, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(d / "shot2.png"), cv2.cvtColor(gray[SHOT1 + 2], cv2.COLOR_RGB2BGR))
    return {"clip": clip, "dir": d, "gray": gray, "ref": ref}


def _ab(frames):
    return np.stack([host_rgb_to_lab(f)[..., 1:] for f in frames])


def _box(t, shrink=4):
    x = X0 + STEP * t
    return slice(Y0 + shrink, Y0 + SIDE - shrink), slice(x + shrink, x + SIDE - shrink)


def test_reference_follows_the_motion_and_stops_at_the_cut(square, tmp_path, monkeypatch):
    keys = tmp_path / "keys"
    r = CliRunner().invoke(main, ["keyframes", str(square["clip"]), "-o", str(keys), "-q"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in keys.glob("*.png")) == ["keyframe_000000.png", f"keyframe_{SHOT1:06d}.png"]
    # the user colours the first keyframe and leaves the second shot to the model
    (keys / f"keyframe_{SHOT1:06d}.png").unlink()
    cv2.imwrite(str(keys / "keyframe_000000.png"), cv2.cvtColor(square["ref"], cv2.COLOR_RGB2BGR))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out, auto = tmp_path / "guided.mkv", tmp_path / "auto.mkv"
    r = CliRunner().invoke(main, ["colorize", str(square["clip"]), "-o", str(out), "--reference", str(keys),
                                  "--codec", "ffv1", "-q"])
    assert r.exit_code == 0, r.output
    assert list(scratch.iterdir()) == []                        # the chroma store is gone
    r = CliRunner().invoke(main, ["colorize", str(square["clip"]), "-o", str(auto), "--codec", "ffv1", "-q"])
    assert r.exit_code == 0, r.output
    src, g, a = decode(square["clip"]), decode(out), decode(auto)
    assert len(g) == len(src) == SHOT1 + SHOT2
    assert [t for t, _ in g] == pytest.approx([t for t, _ in src], abs=1e-3)
    assert audio_packets(out) == audio_packets(square["clip"])
    ab = _ab([f for _, f in g])
    for t in range(SHOT1):
        sq = ab[t][_box(t)]
        assert sq[..., 0].mean() > 35 and sq[..., 1].mean() > 20, (t, sq.mean((0, 1)))     # red, where it moved
        bg = ab[t][5:25, 5:W - 5]                                                            # background above it
        assert bg[..., 0].mean() < -3 and bg[..., 1].mean() < -18, (t, bg.mean((0, 1)))
    # where the square was at frame 0 is background again by the last frame of the shot
    left = ab[SHOT1 - 1][Y0 + 4:Y0 + SIDE - 4, X0 + 2:X0 + 2 * STEP * 2]
    assert left[..., 0].mean() < 10, left.mean((0, 1))
    # the luminance is the film's
    Lg = np.stack([host_rgb_to_lab(f)[..., 0] for _, f in g])
    Ls = np.stack([host_rgb_to_lab(f)[..., 0] for _, f in src])
    assert np.abs(Lg - Ls).mean() < 1.0
    # the second shot has no keyframe: the automatic colours, untouched by the red reference
    second = np.stack([f for _, f in g[SHOT1:]]).astype(int)
    plain = np.stack([f for _, f in a[SHOT1:]]).astype(int)
    assert np.abs(second - plain).mean() < 1.0 and np.abs(second - plain).max() <= 8


def test_a_keyframe_in_the_middle_propagates_both_ways(square, tmp_path):
    """A reference at frame 8 colours frames 0..15 (backward and forward), not the next shot."""
    L8 = host_rgb_to_lab(square["gray"][8])[..., 0]
    inside = np.zeros((H, W), bool)
    inside[_box(8, 0)] = True
    ref = np.where(inside[..., None], _lab_to_rgb8(L8, *RED), _lab_to_rgb8(L8, *BLUE))
    p = tmp_path / "r8.png"
    cv2.imwrite(str(p), cv2.cvtColor(ref, cv2.COLOR_RGB2BGR))
    out = tmp_path / "o"
    colorize_video(square["clip"], out, reference=[f"8={p}"], quiet=True)
    frames = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in sorted(out.glob("*.png"))]
    ab = _ab(frames)
    for t in (0, 4, 8, 12, 15):
        assert ab[t][_box(t)][..., 0].mean() > 35, t
    assert ab[SHOT1 + 1][..., 0].mean() < 20


def test_bad_references_get_one_clear_line(square, tmp_path):
    clip, d = square["clip"], square["dir"]
    out = tmp_path / "o.mkv"
    # the wrong frame: the second shot's picture given for frame 0
    fails_cleanly(["colorize", str(clip), "-o", str(out), "--reference", f"0={d / 'shot2.png'}", "-q"], out,
                  inputs=[clip], match="does not match frame 0")
    wide = tmp_path / "wide.png"
    cv2.imwrite(str(wide), cv2.resize(cv2.imread(str(d / "ref0.png")), (W * 2, H)))
    fails_cleanly(["colorize", str(clip), "-o", str(out), "--reference", f"0={wide}", "-q"], out,
                  match="aspect ratio")
    fails_cleanly(["colorize", str(clip), "-o", str(out), "--reference", f"99={d / 'ref0.png'}", "-q"], out,
                  match="guidance is given for frame 99")
    odd = tmp_path / "odd"
    odd.mkdir()
    cv2.imwrite(str(odd / "shot2_frame10.png"), cv2.imread(str(d / "ref0.png")))
    fails_cleanly(["colorize", str(clip), "-o", str(out), "--reference", str(odd), "-q"], out,
                  match="exactly one number")
    # any size of the right aspect ratio is fine: it is resized
    big = tmp_path / "keyframe_000000.png"
    cv2.imwrite(str(big), cv2.resize(cv2.imread(str(d / "ref0.png")), (W * 2, H * 2), interpolation=cv2.INTER_CUBIC))
    r = CliRunner().invoke(main, ["colorize", str(clip), "-o", str(out), "--reference", f"0={big}", "-q",
                                  "--codec", "ffv1"])
    assert r.exit_code == 0, r.output


def test_reference_match_and_parsing(tmp_path):
    rng = np.random.default_rng(1)
    a = _texture(rng, (40, 60), 0, 100, 2)
    assert guided.luminance_match(a, a * 0.8 + 10) == pytest.approx(1.0)     # a graded copy matches
    assert guided.luminance_match(a, _texture(rng, (40, 60), 0, 100, 2)) < 0.5
    for name in ("keyframe_000007.png", "keyframe_000123.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "keyframes.json").write_text("{}")                          # not an image: ignored
    refs = guided.parse_references([tmp_path])
    assert refs == {7: tmp_path / "keyframe_000007.png", 123: tmp_path / "keyframe_000123.png"}
    with pytest.raises(InputError, match="two references"):
        guided.parse_references([tmp_path, f"7={tmp_path / 'keyframe_000123.png'}"])
    with pytest.raises(InputError, match="not a file"):
        guided.parse_references([f"3={tmp_path / 'none.png'}"])


# --- hints ---------------------------------------------------------------------------

def test_hints_json_is_validated(tmp_path):
    def bad(doc, match):
        p = tmp_path / "h.json"
        p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        with pytest.raises(InputError, match=match):
            load_hints_file(p)

    bad("{nope", "not valid JSON")
    bad({"points": []}, 'list "frames"')
    bad({"frames": []}, "is empty")
    bad({"frames": [{"points": [{"x": 1, "y": 2, "color": "#ff0000"}]}]}, "'frame' is missing")
    bad({"frames": [{"frame": -1, "points": [{"x": 1, "y": 2, "color": "#ff0000"}]}]}, "integer >= 0")
    bad({"frames": [{"frame": 0, "points": [{"x": 1, "y": 2, "color": "red"}]}]}, "#rrggbb")
    bad({"frames": [{"frame": 0, "points": [{"x": 1, "y": 2, "color": [300, 0, 0]}]}]}, "0..255")
    bad({"frames": [{"frame": 0, "points": [{"x": 1, "color": "#ff0000"}]}]}, "'y' is missing")
    bad({"frames": [{"frame": 0, "pionts": []}]}, "unknown key")
    bad({"frames": [{"frame": 0}]}, "no points, strokes or scribble")
    bad({"frames": [{"frame": 0, "strokes": [{"points": [[1]], "color": "#00ff00"}]}]}, r"\[x, y\] pairs")
    bad({"frames": [{"frame": 0, "strokes": [{"points": [[1, 2]], "color": "#00ff00", "width": 0}]}]}, "width")
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"frames": [
        {"frame": 3, "points": [{"x": 5, "y": 6, "color": "#c83c28", "radius": 2}],
         "strokes": [{"points": [[0, 0], [10, 4]], "color": [40, 90, 200], "width": 3}], "scribble": "s.png"}]}))
    h = load_hints_file(ok)[3]
    assert len(h.items) == 2 and h.scribbles == [tmp_path / "s.png"]
    lab = cv2.cvtColor(np.array([[[200, 60, 40]]], np.float32) / 255, cv2.COLOR_RGB2Lab)[0, 0]
    assert parse_color("#c83c28", "x") == pytest.approx((lab[1], lab[2]), abs=1e-4)


def _two_regions():
    """A photo: a mid-gray textured left half (L ~ 50) and a bright one (L ~ 80) on the right."""
    rng = np.random.default_rng(2)
    g = np.where(np.arange(W)[None, :] < W // 2, _texture(rng, (H, W), 100, 130, 1.0),
                 _texture(rng, (H, W), 190, 215, 1.0))
    return _gray_rgb(g)


def test_hints_colour_each_region_through_levin(tmp_path):
    photo = tmp_path / "two.png"
    cv2.imwrite(str(photo), cv2.cvtColor(_two_regions(), cv2.COLOR_RGB2BGR))
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps({"frames": [{"frame": 0, "strokes": [
        {"points": [[10, 20], [40, 70]], "color": "#2a8c3c", "width": 3},       # green on the left
        {"points": [[90, 20], [110, 70]], "color": "#f0b478", "width": 3}]}]}))   # light orange on the right
    out = tmp_path / "out.png"
    r = CliRunner().invoke(main, ["colorize", str(photo), "-o", str(out), "--hints", str(hints), "-q"])
    assert r.exit_code == 0, r.output
    ab = host_rgb_to_lab(cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB))[..., 1:]
    green, orange = parse_color("#2a8c3c", ""), parse_color("#f0b478", "")   # in gamut at the regions' L
    left, right = ab[8:H - 8, 6:W // 2 - 6].mean((0, 1)), ab[8:H - 8, W // 2 + 6:W - 6].mean((0, 1))
    assert np.abs(left - green).max() < 12, (left, green)
    assert np.abs(right - orange).max() < 12, (right, orange)


def test_a_scribble_layer_is_a_hint(tmp_path):
    photo = _two_regions()
    p = tmp_path / "two.png"
    cv2.imwrite(str(p), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    layer = np.zeros((H, W, 4), np.uint8)
    cv2.line(layer, (20, 10), (40, 80), (42, 140, 210, 255), 4)          # blue (RGBA), left half
    s = tmp_path / "scribble.png"
    cv2.imwrite(str(s), cv2.cvtColor(layer, cv2.COLOR_RGBA2BGRA))
    out = tmp_path / "out.png"
    r = CliRunner().invoke(main, ["colorize", str(p), "-o", str(out), "--hints", f"0={s}", "-q"])
    assert r.exit_code == 0, r.output
    ab = host_rgb_to_lab(cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB))[..., 1:]
    assert ab[10:H - 10, 8:W // 2 - 8, 1].mean() < -20                   # the left half turned blue
    assert ab[10:H - 10, W // 2 + 8:W - 8, 1].mean() > -10                # the right half did not
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), cv2.resize(cv2.cvtColor(layer, cv2.COLOR_RGBA2BGRA), (W // 2, H // 2)))
    fails_cleanly(["colorize", str(p), "-o", str(tmp_path / "o2.png"), "--hints", f"0={small}", "-q"],
                  tmp_path / "o2.png", match="draw the scribble over the keyframe")


def test_siggraph17_takes_hints_through_its_own_channels(tmp_path):
    from vidcolor.models import load_model

    net = load_model("siggraph17", pretrained=False)
    calls = []
    forward = net.forward

    def spy(l_norm, hints_ab=None, hints_mask=None, **kw):
        calls.append((None if hints_ab is None else hints_ab.clone(), None if hints_mask is None else hints_mask.clone()))
        return forward(l_norm, hints_ab=hints_ab, hints_mask=hints_mask, **kw)

    net.forward = spy
    photo = tmp_path / "two.png"
    cv2.imwrite(str(photo), cv2.cvtColor(_two_regions(), cv2.COLOR_RGB2BGR))
    hints = tmp_path / "h.json"
    hints.write_text(json.dumps({"frames": [{"frame": 0, "points": [{"x": 32, "y": 48, "color": "#d2502a"}]}]}))
    colorize_video(photo, tmp_path / "o.png", model=net, hints=[hints], quiet=True, device="cpu")
    hinted = [(ab, m) for ab, m in calls if m is not None]
    assert len(hinted) == 1 and len(calls) == 2                      # the automatic pass, then the hinted frame
    ab, m = hinted[0]
    assert m.shape == (1, 1, 256, 256) and int(m.sum()) == 1          # one point at the model's own input
    y, x = np.argwhere(m[0, 0].numpy() > 0)[0]
    assert (y, x) == (round(48 * 256 / H), round(32 * 256 / W))
    assert tuple(ab[0, :, y, x].numpy()) == pytest.approx(parse_color("#d2502a", ""), abs=1e-3)


# --- exemplar ------------------------------------------------------------------------

def test_band_transfer_matches_the_statistics():
    rng = np.random.default_rng(3)
    L = rng.uniform(0, 100, (50, 60)).astype(np.float32)
    assert band_weights(L).sum(0) == pytest.approx(np.ones_like(L), abs=1e-6)
    src = np.stack([rng.normal(5, 12, L.shape), rng.normal(-3, 9, L.shape)]).astype(np.float32)
    dst = np.stack([rng.normal(30, 6, L.shape), rng.normal(20, 4, L.shape)]).astype(np.float32)
    tr = BandTransfer.fit(BandStats(1).add(L, src), BandStats(1).add(L, dst))
    out = tr(L, src)
    assert out.reshape(2, -1).mean(1) == pytest.approx(dst.reshape(2, -1).mean(1), abs=0.01)
    assert out.reshape(2, -1).std(1) == pytest.approx(dst.reshape(2, -1).std(1), rel=0.001)
    # spread is never increased: a calm source keeps its spread, moved to the target's mean
    calm = tr.fit(BandStats(1).add(L, dst), BandStats(1).add(L, src))(L, dst)
    assert calm.reshape(2, -1).std(1) == pytest.approx(dst.reshape(2, -1).std(1), rel=0.02)
    # per band: dark pixels take the dark colours of the target, bright ones the bright colours
    dst2 = np.where(L < 50, np.array([40.0, 0.0])[:, None, None], np.array([-40.0, 0.0])[:, None, None])
    tr5 = BandTransfer.fit(BandStats().add(L, src * 0), BandStats().add(L, dst2.astype(np.float32)))
    mapped = tr5(L, src * 0)
    assert mapped[0][L < 20].mean() > 25 and mapped[0][L > 80].mean() < -25


def test_exemplar_recolours_each_shot_with_one_mapping(square, tmp_path, monkeypatch):
    ex = tmp_path / "ex.png"
    photo = synth.photo("coffee")
    cv2.imwrite(str(ex), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    fits = []
    real_fit = BandTransfer.fit.__func__
    monkeypatch.setattr(BandTransfer, "fit", classmethod(lambda cls, s, d: fits.append(1) or real_fit(cls, s, d)))
    out, auto = tmp_path / "e", tmp_path / "a"
    colorize_video(square["clip"], out, exemplar=ex, quiet=True)
    assert len(fits) == 2                                           # one mapping per shot
    colorize_video(square["clip"], auto, quiet=True)
    read = lambda d: [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in sorted(d.glob("*.png"))]
    e_ab, a_ab = _ab(read(out)), _ab(read(auto))
    target = host_rgb_to_lab(photo)[..., 1:].reshape(-1, 2).mean(0)
    # the result's mean colour moved towards the exemplar's
    assert np.linalg.norm(e_ab.reshape(-1, 2).mean(0) - target) < np.linalg.norm(a_ab.reshape(-1, 2).mean(0) - target) - 3
    fails_cleanly(["colorize", str(square["clip"]), "-o", str(tmp_path / "x.mkv"), "--exemplar",
                   str(square["dir"] / "shot2.png"), "-q"], tmp_path / "x.mkv", match="no colour")
