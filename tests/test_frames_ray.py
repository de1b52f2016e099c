"""`frames extract --ray` and `frames dedup --ray` on a real local Ray instance (2 CPUs): the
very files, manifests and groups of a run on one machine; a worker that dies is retried."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import pan_frames
from vidcolor import cluster
from vidcolor.cli import main
from vidcolor.errors import InputError
from vidcolor.frames import ExtractOptions, dedup, extract, hash_table, hash_table_on_ray
from vidcolor.frames.manifest import read_jsonl
from vidcolor.media import synth

pytestmark = pytest.mark.timeout(120)
dedup_mod = importlib.import_module("vidcolor.frames.dedup")  # the module, not the function

PHOTOS = ["astronaut", "camera", "chelsea", "coffee", "rocket", "moon", "clock", "coins"]


@pytest.fixture(scope="module")
def films(tmp_path_factory) -> Path:
    """films/pan.mp4 (a slow pan: some frames dropped), films/reel2/shots.mp4 (4 shots, each
    held 3 frames), films/stills/ (an image sequence)."""
    root = tmp_path_factory.mktemp("films")
    synth.write_clip(root / "pan.mp4", pan_frames(16, gray=False), fps=24, audio_codec=None)
    shots = [cv2.resize(synth.photo(n), (96, 64), interpolation=cv2.INTER_AREA) for n in PHOTOS[:4]]
    (root / "reel2").mkdir()
    synth.write_clip(root / "reel2" / "shots.mp4", [s for s in shots for _ in range(3)], fps=24, audio_codec=None,
                     options={"crf": "12", "preset": "ultrafast"})
    return root


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) -> its bytes."""
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def test_extract_on_ray_writes_the_local_runs_files(ray_local, films, tmp_path):
    """One task per source; frames, per-source manifests, markers and the top-level manifest
    are byte for byte those of the local run, and so are the results."""
    opts = ExtractOptions(pairs=True)
    local = extract([films], tmp_path / "local", opts, csv=True, quiet=True)
    on_ray = extract([films], tmp_path / "ray", opts, csv=True, quiet=True, ray=cluster.DEFAULT_ADDRESS)
    assert [(s.key, s.decoded, s.kept, s.skipped) for s in on_ray.sources] == \
        [(s.key, s.decoded, s.kept, s.skipped) for s in local.sources]
    assert [s.key for s in local.sources] == ["pan", "reel2/shots"] and 0 < local.kept < local.decoded
    a, b = tree(tmp_path / "local"), tree(tmp_path / "ray")
    assert sorted(a) == sorted(b) and a == b
    assert read_jsonl(tmp_path / "ray" / "manifest.jsonl") == read_jsonl(tmp_path / "local" / "manifest.jsonl")
    assert any(k.endswith("_gray.png") for k in b) and "reel2/shots/.complete.json" in b
    again = extract([films], tmp_path / "ray", opts, csv=True, quiet=True, ray=cluster.DEFAULT_ADDRESS)
    assert [s.skipped for s in again.sources] == [True, True] and tree(tmp_path / "ray") == b


def test_extract_on_ray_finishes_the_good_sources_and_reports_the_bad_one(ray_local, films, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(films / "pan.mp4", src / "good.mp4")
    (src / "bad.mp4").write_text("not a video")
    with pytest.raises(InputError, match="bad.mp4"):
        extract([src], tmp_path / "out", quiet=True, ray=cluster.DEFAULT_ADDRESS)
    assert (tmp_path / "out" / "good" / ".complete.json").is_file()        # a rerun has only bad.mp4 left
    assert not (tmp_path / "out" / "bad" / ".complete.json").exists()


def test_extract_cli_with_ray_prints_the_local_summary(ray_local, films, tmp_path):
    """`--ray FILM` takes FILM as an input (click would make it the address)."""
    common = ["--method", "hash", "--csv"]
    local = CliRunner().invoke(main, ["frames", "extract", str(films), "-o", str(tmp_path / "local"), *common])
    assert local.exit_code == 0, local.output
    r = CliRunner().invoke(main, ["frames", "extract", "--ray", str(films), "-o", str(tmp_path / "ray"), *common])
    assert r.exit_code == 0, r.output
    assert r.output.replace(str(tmp_path / "ray"), "OUT") == local.output.replace(str(tmp_path / "local"), "OUT")
    assert "pan: " in r.output and "reel2/shots: " in r.output and "frames from 2 source(s)" in r.output
    assert tree(tmp_path / "ray") == tree(tmp_path / "local")
    r = CliRunner().invoke(main, ["frames", "extract", str(films / "pan.mp4"), "-o", str(tmp_path / "one"),
                                  "--ray=local", "-q"])
    assert r.exit_code == 0, r.output                                     # Ray already up: used as it is
    assert (tmp_path / "one" / "pan" / ".complete.json").is_file()
    r = CliRunner().invoke(main, ["frames", "extract", "-o", str(tmp_path / "none"), "--ray"])
    assert r.exit_code == 2 and "Missing argument" in r.output


# --- dedup ----------------------------------------------------------------------


def _save(path: Path, rgb: np.ndarray, q: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, q] if path.suffix == ".jpg" else []
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> Path:
    """sets/{a,b,c}: 8 photos in a/, copies of some of them (smaller, recompressed, cropped)
    in b/ and c/ (near-duplicates across folders and within c/), an unreadable file, and a
    frame as `frames extract --pairs` writes it (a copy of a/clock.png) with its gray input."""
    root = tmp_path_factory.mktemp("sets")
    imgs = {n: cv2.resize(synth.photo(n), (192, 160), interpolation=cv2.INTER_AREA) for n in PHOTOS}
    for n, im in imgs.items():
        _save(root / "a" / f"{n}.png", im)
    _save(root / "b" / "astro_small.jpg", cv2.resize(imgs["astronaut"], (96, 80), interpolation=cv2.INTER_AREA))
    _save(root / "b" / "coffee_q30.jpg", imgs["coffee"], q=30)
    _save(root / "b" / "deep" / "rocket.jpg", imgs["rocket"][1:-1, 1:-1], q=70)
    _save(root / "c" / "chelsea_1.jpg", imgs["chelsea"], q=60)
    _save(root / "c" / "chelsea_2.jpg", imgs["chelsea"], q=40)
    _save(root / "c" / "000001.png", imgs["clock"])
    cv2.imwrite(str(root / "c" / "000001_gray.png"), cv2.cvtColor(imgs["clock"], cv2.COLOR_RGB2GRAY))
    (root / "c" / "broken.jpg").write_bytes(b"not an image")
    return root


def _same_report(x, y) -> None:
    keys = ("hash", "threshold", "keep", "action", "images", "groups_count", "duplicates_count", "groups",
            "unreadable")
    a, b = x.to_json(), y.to_json()
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}


def test_hash_table_on_ray_is_the_local_table(ray_local, sets, monkeypatch):
    files = sorted(p for p in sets.rglob("*") if p.is_file())
    local = hash_table(files, "phash", sharpness=True)
    for bounds in ([(0, 5), (5, 6), (6, 11), (11, len(files))], None):
        t = hash_table_on_ray(files, "phash", sharpness=True, bounds=bounds)
        for f in ("hash", "width", "height", "sharpness", "ok"):
            np.testing.assert_array_equal(getattr(t, f), getattr(local, f))
    assert (~local.ok).sum() == 1
    monkeypatch.chdir(sets)                                    # relative paths reach the workers as absolute ones
    rel = [f.relative_to(sets) for f in files]
    np.testing.assert_array_equal(hash_table_on_ray(rel, "dhash", bounds=[(0, 3), (3, len(rel))]).hash,
                                  hash_table(rel, "dhash").hash)


@pytest.mark.parametrize("keep", ["first", "largest", "sharpest"])
def test_dedup_of_several_folders_on_ray_equals_the_local_dedup(ray_local, sets, monkeypatch, keep):
    """Three folders as one set, hashed in chunks of 3 images by Ray tasks: the same groups,
    kept images, reasons and distances as without Ray; paths relative to their parent."""
    monkeypatch.setattr(dedup_mod, "CHUNK_MIN", 3)
    assert len(dedup_mod.chunk_bounds(15, 2)) == 5            # 15 files: 14 images + 1 unreadable
    folders = [sets / "a", sets / "b", sets / "c"]
    local = dedup(folders, keep=keep, quiet=True)
    on_ray = dedup(folders, keep=keep, quiet=True, ray=cluster.DEFAULT_ADDRESS)
    _same_report(local, on_ray)
    assert local.folder == sets.resolve() and local.images == 14 and local.unreadable == ["c/broken.jpg"]
    found = {d["file"]: g["kept"] for g in local.groups for d in g["duplicates"]}
    if keep == "first":
        assert found == {"b/astro_small.jpg": "a/astronaut.png", "b/coffee_q30.jpg": "a/coffee.png",
                         "b/deep/rocket.jpg": "a/rocket.png", "c/chelsea_1.jpg": "a/chelsea.png",
                         "c/chelsea_2.jpg": "a/chelsea.png", "c/000001.png": "a/clock.png"}
    else:
        assert len(found) == 6


def test_dedup_on_ray_moves_what_the_local_dedup_moves(ray_local, sets, tmp_path, monkeypatch):
    monkeypatch.setattr(dedup_mod, "CHUNK_MIN", 2)
    runs = {}
    for how in ("local", "ray"):
        work = tmp_path / how
        shutil.copytree(sets, work / "sets")
        rep = dedup([work / "sets" / "a", work / "sets" / "c", work / "sets" / "b"], move_to=work / "dups",
                    json_path=work / "r.json", quiet=True, ray=cluster.DEFAULT_ADDRESS if how == "ray" else None)
        runs[how] = rep, tree(work / "dups"), tree(work / "sets")
    (lrep, ldups, lleft), (rrep, rdups, rleft) = runs["local"], runs["ray"]
    _same_report(lrep, rrep)
    assert ldups == rdups and lleft == rleft
    assert "c/000001.png" in ldups and "c/000001_gray.png" in ldups      # the companion follows its frame
    assert set(ldups) == {d[k] for g in lrep.groups for d in g["duplicates"] for k in ("file", "companion") if k in d}
    assert json.loads((tmp_path / "ray" / "r.json").read_text())["folders"] == \
        [str((tmp_path / "ray" / "sets" / f).resolve()) for f in "acb"]


def test_dedup_cli_with_ray_over_folders(ray_local, sets, tmp_path):
    """`dedup a b --ray` and `dedup --ray a b` (a: an input, not an address) print what
    `dedup a b` prints; a folder inside another one given is refused."""
    a, b, c = (str(sets / f) for f in "abc")
    local = CliRunner().invoke(main, ["frames", "dedup", a, b, c])
    assert local.exit_code == 0, local.output
    assert "keep a/astronaut.png" in local.output and "drop b/astro_small.jpg" in local.output
    for args in ([a, b, c, "--ray"], ["--ray", a, b, c], [a, b, c, "--ray=local"]):
        r = CliRunner().invoke(main, ["frames", "dedup", *args])
        assert r.exit_code == 0, r.output
        assert r.output == local.output
    one = CliRunner().invoke(main, ["frames", "dedup", a, "--ray", "-q"])
    assert one.exit_code == 0 and "8 images, 0 groups of near-duplicates; would remove 0" in one.output
    bad = CliRunner().invoke(main, ["frames", "dedup", str(sets), b])
    assert bad.exit_code == 1 and "inside" in bad.output and "Traceback" not in bad.output
    bad = CliRunner().invoke(main, ["frames", "dedup", a, b, "--move-to", str(sets / "b" / "dups")])
    assert bad.exit_code == 1 and "inside" in bad.output and not (sets / "b" / "dups").exists()
    bad = CliRunner().invoke(main, ["frames", "dedup", "--ray"])
    assert bad.exit_code == 2 and "Missing argument" in bad.output
    bad = CliRunner().invoke(main, ["frames", "dedup", a, "--ray=nowhere"])
    assert bad.exit_code == 1 and "not a Ray address" in bad.output


# --- retries and errors -----------------------------------------------------------


def _die_first_time(marker: str, log: str, value: int) -> int:
    """Kills its own worker process (as the OOM killer would) on the first attempt; the retry
    finds the marker and returns. Every attempt logs its process id."""
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return value * 2
    os._exit(1)


def test_a_worker_that_dies_is_retried(ray_local, tmp_path):
    ray_local.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker, log = tmp_path / "died", tmp_path / "attempts"
    out = cluster.ordered(cluster.map_tasks(_die_first_time, [(str(marker), str(log), 21)]), 1)
    assert out == [(42, None)]
    pids = log.read_text().split()
    assert marker.exists() and len(pids) == 2 and pids[0] != pids[1]
    marker.unlink()
    out = cluster.ordered(cluster.map_tasks(_die_first_time, [(str(marker), str(log), 1)], max_retries=0), 1)
    assert out[0][0] is None and isinstance(out[0][1], cluster.TaskFailed)
    assert "died 1 time" in str(out[0][1])


def test_ray_not_installed_is_one_line(films, sets, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)                 # `import ray` raises ImportError
    for args in (["extract", str(films), "-o", str(tmp_path / "out"), "--ray"],
                 ["dedup", str(sets / "a"), str(sets / "b"), "--ray"]):
        r = CliRunner().invoke(main, ["frames", *args])
        assert r.exit_code == 1 and "Traceback" not in r.output
        assert r.output.strip().splitlines() == ['vidcolor: error: --ray needs Ray: pip install "vidcolor[cluster]" '
                                                 '(or pip install "ray>=2.9")']
    assert not (tmp_path / "out").exists()


def test_pairs_in_a_fresh_process_as_a_worker_runs_them(films, tmp_path):
    """A Ray worker (or a CLI run) has not imported torch when its first gray input is made:
    the two writer threads must not import it at once (a half-imported torch, 5 runs in 8)."""
    import subprocess

    code = ("import sys; from vidcolor.frames import ExtractOptions, extract; "
            "extract([sys.argv[1]], sys.argv[2], ExtractOptions(pairs=True), quiet=True); "
            "assert 'torch' in sys.modules")
    for k in range(3):
        r = subprocess.run([sys.executable, "-c", code, str(films / "pan.mp4"), str(tmp_path / f"o{k}")],
                           capture_output=True, text=True, timeout=100)
        assert r.returncode == 0, r.stderr[-500:]
    assert tree(tmp_path / "o0") == tree(tmp_path / "o2")
