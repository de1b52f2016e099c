"""`vidcolor frames dedup`: perceptual hashes, the multi-index hash index, grouping, actions."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from vidcolor.errors import OptionError
from vidcolor.frames import dedup, dhash, find_duplicates, hamming, hash_hex, near_pairs, phash
from vidcolor.frames.dedup import choose_chunks
from vidcolor.frames.hashing import bits_to_hash, hash_to_bits, phash_bits

ORIGINALS = ["astronaut", "camera", "chelsea", "clock", "coffee", "coins", "colorwheel", "immunohistochemistry",
             "moon", "page", "rocket", "text", "brick", "gravel", "grass"]


def brute_pairs(hashes: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The oracle for :func:`near_pairs`: every pair compared (small N only)."""
    h = np.asarray(hashes, dtype=np.uint64)
    d = np.bitwise_count(h[:, None] ^ h[None, :]).astype(np.int64)
    i, j = np.nonzero(np.triu(d <= threshold, k=1))
    return i.astype(np.int64), j.astype(np.int64), d[i, j]


def _img(name):
    from skimage import data

    im = getattr(data, name)()
    if im.ndim == 2:
        im = np.repeat(im[:, :, None], 3, axis=2)
    return np.ascontiguousarray(im[:, :, :3])


def _jpeg(rgb, q):
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _crop(rgb, f):
    h, w = rgb.shape[:2]
    dy, dx = int(h * f), int(w * f)
    return rgb[dy:h - dy, dx:w - dx]


def _save(path, rgb, q=95):
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, q] if path.suffix == ".jpg" else []
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """15 distinct photos + 5 planted near-duplicates -> (folder, {copy: original})."""
    root = tmp_path_factory.mktemp("imgs")
    for n in ORIGINALS:
        _save(root / f"{n}.png", _img(n))
    a, c, ch, r = _img("astronaut"), _img("coffee"), _img("chelsea"), _img("rocket")
    h, w = a.shape[:2]
    _save(root / "sub" / "astro_small.jpg", cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA), q=80)
    _save(root / "sub" / "coffee_q30.jpg", _jpeg(c, 30), q=30)
    _save(root / "z_chelsea_crop.png", _crop(ch, 0.02))
    hr, wr = r.shape[:2]
    small = cv2.resize(r, (int(wr * 0.7), int(hr * 0.7)), interpolation=cv2.INTER_AREA)
    _save(root / "z_rocket_mix.jpg", _crop(small, 0.01), q=60)
    _save(root / "sub" / "astro_crop.jpg", _crop(a, 0.015), q=85)
    planted = {"sub/astro_small.jpg": "astronaut.png", "sub/coffee_q30.jpg": "coffee.png",
               "z_chelsea_crop.png": "chelsea.png", "z_rocket_mix.jpg": "rocket.png",
               "sub/astro_crop.jpg": "astronaut.png"}
    return root, planted


# --- hashes ---------------------------------------------------------------------


def test_hash_bit_order_and_hex_follow_imagehash():
    bits = np.zeros(64, bool)
    bits[0] = True                                   # first bit (row 0, col 0) is the MSB
    assert hash_hex(bits_to_hash(bits)) == "8000000000000000"
    bits[:] = False
    bits[63] = True
    assert hash_hex(bits_to_hash(bits)) == "0000000000000001"
    h = 0x0123456789ABCDEF
    assert int(bits_to_hash(hash_to_bits(h))) == h


def test_dhash_of_a_horizontal_ramp_is_all_ones_and_its_mirror_all_zeros():
    ramp = np.tile(np.linspace(0, 255, 90).astype(np.uint8), (80, 1))
    assert dhash(ramp) == 2**64 - 1
    assert dhash(ramp[:, ::-1]) == 0


def test_phash_uses_unnormalized_dct_and_median():
    g = np.random.default_rng(0).random((32, 32)) * 255
    from scipy.fftpack import dct    # imagehash's own call

    coef = dct(dct(g, axis=0), axis=1)[:8, :8]
    assert np.array_equal(phash_bits(g), (coef > np.median(coef)).reshape(64))
    assert int(phash_bits(g).sum()) == 32        # the median splits 64 coefficients in two


def test_hashes_are_stable_under_resize_and_jpeg_but_not_across_photos():
    a = _img("astronaut")
    small = cv2.resize(a, (256, 256), interpolation=cv2.INTER_AREA)
    for fn in (phash, dhash):
        assert hamming(fn(a), fn(small)) <= 4
        assert hamming(fn(a), fn(_jpeg(a, 30))) <= 6
        assert hamming(fn(a), fn(_img("coffee"))) > 12


# --- the index -------------------------------------------------------------------


def _random_with_clusters(n, rng, k=60, flips=8):
    h = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    for c in range(k):                                # planted clusters: a few bits flipped
        base = h[c]
        for t in range(1 + c % 4):
            bits = rng.choice(64, size=rng.integers(0, flips + 1), replace=False)
            h[n - 1 - (4 * c + t)] = base ^ np.uint64(sum(1 << int(b) for b in bits))
    h[5] = h[6]                                       # an exact duplicate
    return h


@pytest.mark.parametrize("threshold", [0, 1, 3, 6, 8, 10])
def test_index_finds_exactly_the_brute_force_pairs(threshold):
    h = _random_with_clusters(3000, np.random.default_rng(threshold))
    got, ref = near_pairs(h, threshold), brute_pairs(h, threshold)
    assert len(ref[0]) > 0
    for g, r in zip(got, ref):
        assert np.array_equal(g, r)


@pytest.mark.parametrize("chunks", [2, 3, 5, 7])
def test_index_is_exact_for_any_chunk_count(chunks):
    h = _random_with_clusters(1500, np.random.default_rng(7))
    for g, r in zip(near_pairs(h, 6, chunks=chunks), brute_pairs(h, 6)):
        assert np.array_equal(g, r)


def test_chunk_count_grows_with_the_set():
    assert choose_chunks(1000, 8) > choose_chunks(1_000_000, 8) >= 2


def _brute_groups(h, r, prio):
    """Greedy leaders by brute force: best first, each ungrouped item takes ungrouped items within r."""
    order = np.lexsort((np.arange(h.size), prio))
    owner = {}
    for u in order:
        if u in owner:
            continue
        owner[u] = u
        for v in order:
            if v not in owner and hamming(h[u], h[v]) <= r:
                owner[v] = u
    groups = {}
    for v, u in owner.items():
        if v != u:
            groups.setdefault(u, [u]).append(v)
    return sorted(sorted(g) for g in groups.values())


@pytest.mark.parametrize("prio_kind", ["index", "random"])
def test_groups_equal_brute_force_groups(prio_kind):
    rng = np.random.default_rng(11)
    h = _random_with_clusters(400, rng, k=40, flips=10)
    prio = np.arange(h.size) if prio_kind == "index" else rng.random(h.size)
    got = sorted(sorted(g) for g in find_duplicates(h, 8, prio))
    assert got == _brute_groups(h, 8, prio)
    assert all(hamming(h[g[0]], h[x]) <= 8 for g in find_duplicates(h, 8, prio) for x in g)


# --- dedup on files ---------------------------------------------------------------


def test_planted_near_duplicates_are_found_and_nothing_else(planted):
    root, plant = planted
    rep = dedup(root, quiet=True)
    found = {d["file"]: g["kept"] for g in rep.groups for d in g["duplicates"]}
    assert found == plant
    assert rep.images == len(ORIGINALS) + len(plant) and rep.unreadable == []
    assert all(d["distance"] <= 8 for g in rep.groups for d in g["duplicates"])


def test_keep_largest_and_sharpest(planted):
    root, _ = planted
    rep = dedup(root, keep="largest", quiet=True)
    astro = next(g for g in rep.groups if "astronaut.png" in [g["kept"]] + [d["file"] for d in g["duplicates"]])
    assert astro["kept"] == "astronaut.png" and astro["reason"] == "largest (512x512)"
    rep = dedup(root, keep="sharpest", quiet=True)
    coffee = next(g for g in rep.groups if g["kept"] in ("coffee.png", "sub/coffee_q30.jpg"))
    assert coffee["reason"].startswith("sharpest")


def test_move_delete_json_and_cli(planted, tmp_path):
    from vidcolor.cli import main

    src, plant = planted
    root = tmp_path / "set"
    for f in src.rglob("*"):
        if f.is_file():
            (root / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            (root / f.relative_to(src)).write_bytes(f.read_bytes())
    (root / "broken.jpg").write_bytes(b"not an image")
    r = CliRunner().invoke(main, ["frames", "dedup", str(root), "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["duplicates_count"] == len(plant) and rep["unreadable"] == ["broken.jpg"]
    assert "would remove 5" in r.output and all((root / f).exists() for f in plant)   # dry run changes nothing
    r = CliRunner().invoke(main, ["frames", "dedup", str(root), "--move-to", str(tmp_path / "dups")])
    assert r.exit_code == 0, r.output
    assert all((tmp_path / "dups" / f).is_file() and not (root / f).exists() for f in plant)
    r = CliRunner().invoke(main, ["frames", "dedup", str(root), "--delete"])
    assert r.exit_code == 0 and "deleted 0" in r.output
    bad = CliRunner().invoke(main, ["frames", "dedup", str(root), "--move-to", str(root / "x")])
    assert bad.exit_code == 1 and "inside" in bad.output
    bad = CliRunner().invoke(main, ["frames", "dedup", str(root), "--delete", "--dry-run"])
    assert bad.exit_code == 1 and "choose one" in bad.output
    with pytest.raises(OptionError):
        dedup(root, threshold=65)


def test_gray_companions_are_not_compared_and_follow_their_frame(tmp_path):
    a = _img("coffee")
    gray = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
    _save(tmp_path / "000001.png", a)
    cv2.imwrite(str(tmp_path / "000001_gray.png"), gray)
    _save(tmp_path / "000007.png", _jpeg(a, 50))
    cv2.imwrite(str(tmp_path / "000007_gray.png"), gray)
    cv2.imwrite(str(tmp_path / "lonely_gray.png"), cv2.cvtColor(_img("rocket"), cv2.COLOR_RGB2GRAY))
    rep = dedup(tmp_path, delete=True, quiet=True)
    assert rep.images == 3                                   # 2 color frames + the gray without a partner
    assert [(g["kept"], [(d["file"], d["companion"]) for d in g["duplicates"]]) for g in rep.groups] == \
        [("000001.png", [("000007.png", "000007_gray.png")])]
    assert sorted(f.name for f in tmp_path.iterdir()) == ["000001.png", "000001_gray.png", "lonely_gray.png"]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """A clip of 3 shots, each followed by a brighter copy of itself: mpdecimate keeps all 6
    frames (every block moved by 24 levels), pHash sees 3 pairs of near-duplicates."""
    from vidcolor.media.synth import write_clip

    shots = [cv2.resize(_img(n), (160, 96), interpolation=cv2.INTER_AREA) for n in ("astronaut", "coffee", "rocket")]
    frames = [f for s in shots for f in (s, np.clip(s.astype(int) + 24, 0, 255).astype(np.uint8))]
    d = tmp_path_factory.mktemp("extracted")
    return write_clip(d / "shots.mp4", frames, fps=24, audio_codec=None, options={"crf": "10", "preset": "ultrafast"})


def _listed(manifest):
    from vidcolor.frames.manifest import read_jsonl

    return [(manifest.parent / r[k]) for r in read_jsonl(manifest) for k in ("file", "gray_file") if r.get(k)]


@pytest.mark.parametrize("where", ["extraction folder", "source folder", "move"])
def test_removing_duplicates_updates_the_extraction_manifests(tmp_path, extracted, where):
    import csv

    from vidcolor.frames import ExtractOptions, extract
    from vidcolor.frames.manifest import read_jsonl

    out = tmp_path / "out"
    extract([extracted], out, ExtractOptions(pairs=True), csv=True, quiet=True)
    top, per_source = out / "manifest.jsonl", out / "shots" / "manifest.jsonl"
    assert [r["index"] for r in read_jsonl(top)] == list(range(6))
    root = out / "shots" if where == "source folder" else out
    rep = dedup(root, delete=where != "move", move_to=tmp_path / "dups" if where == "move" else None, quiet=True)
    removed = {root / d[k] for g in rep.groups for d in g["duplicates"] for k in ("file", "companion")}
    assert len(removed) == 6 and not any(p.exists() for p in removed)      # 3 frames + their gray inputs
    assert sorted(rep.manifests) == sorted(str(m) for m in (top, per_source))
    for m in (top, per_source):
        listed = _listed(m)
        assert len(listed) == 6 and all(p.is_file() for p in listed)      # 3 frames + gray, all present
        assert not {p.resolve() for p in listed} & {p.resolve() for p in removed}
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        assert [int(r["index"]) for r in csv.DictReader(f)] == [r["index"] for r in read_jsonl(top)]
    assert not list(out.rglob(".*-tmp*"))                                   # rewritten atomically
    again = dedup(root, delete=True, quiet=True)                            # nothing left to remove
    assert again.duplicates == 0 and again.manifests == []
    marker = json.loads((out / "shots" / ".complete.json").read_text())
    assert (marker["decoded"], marker["kept"], marker["removed_by_dedup"]) == (6, 3, 3)
    rerun = extract([extracted], out, ExtractOptions(pairs=True), csv=True, quiet=True)
    assert [(s.skipped, s.kept) for s in rerun.sources] == [(True, 3)]      # what is on disk now
    assert [r["index"] for r in read_jsonl(top)] == [r["index"] for r in read_jsonl(per_source)]


def test_dry_run_and_foreign_jsonl_leave_manifests_alone(tmp_path):
    a = _img("coffee")
    _save(tmp_path / "a.png", a)
    _save(tmp_path / "b.jpg", _jpeg(a, 50))
    other = tmp_path / "manifest.jsonl"
    other.write_text('{"file": "b.jpg", "note": "not an extraction manifest"}\n')
    before = other.read_text()
    assert dedup(tmp_path, quiet=True).duplicates == 1 and (tmp_path / "b.jpg").exists()
    rep = dedup(tmp_path, delete=True, quiet=True)
    assert rep.duplicates == 1 and not (tmp_path / "b.jpg").exists()
    assert rep.manifests == [] and other.read_text() == before
