"""The real-vs-fake perceptual study (`vidcolor study`): the page and its key, the page
driven in headless Chromium (as tests/test_web_browser.py does), and the scoring."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from scipy.stats import beta

from vidcolor import study
from vidcolor.cli import main
from vidcolor.errors import InputError, OptionError, OutputError
from vidcolor.media import read_image, synth, write_image
from vidcolor.metrics.gallery import to_gray_frames
from vidcolor.models import load_model
from vidcolor.pipeline import Engine

DATA_URI = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")


def crops(n: int) -> list[np.ndarray]:
    """``n`` small color photos of varied sizes and aspect ratios (landscape and portrait)."""
    out = []
    for i in range(n):
        src = synth.photo(["astronaut", "coffee", "chelsea"][i % 3])
        h, w = src.shape[:2]
        ch, cw = (h // 2, w // 3) if i % 2 else (h // 3, w // 2)
        y, x = (i * 37) % (h - ch), (i * 53) % (w - cw)
        crop = src[y:y + ch, x:x + cw]
        out.append(cv2.resize(crop, (crop.shape[1] // 2, crop.shape[0] // 2), interpolation=cv2.INTER_AREA))
    return out


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("study") / "originals_xq"
    d.mkdir()
    for i, rgb in enumerate(crops(7)):
        write_image(d / f"shot{i + 1}.png", rgb)
    return d


def independent_resize(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = side / max(h, w)
    return cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


def jpeg_tables(data: bytes) -> list[bytes]:
    """The quantization (DQT) and sampling (SOF) segments of a JPEG: its encoder settings."""
    out, i = [], 2
    while i < len(data) and data[i] == 0xFF and data[i + 1] != 0xDA:
        n = int.from_bytes(data[i + 2:i + 4], "big")
        if data[i + 1] in (0xDB, 0xC0, 0xC2):
            seg = data[i:i + 2 + n]
            out.append(seg if data[i + 1] == 0xDB else seg[:5] + seg[9:])     # SOF without the image size
        i += 2 + n
    return out


def load(page: Path) -> tuple[dict, dict]:
    return study.page_data(page.read_text()), json.loads(study.key_path(page).read_text())


# --- build -------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_page_hides_the_conditions_and_holds_every_version(tmp_path, photos, tiny_weights, fmt):
    out = tmp_path / "study.html"
    res = study.build_study([photos], ["tiny", "compact"], [tiny_weights, None], output=out, side=80, device="cpu",
                            fmt=fmt, seconds=2.5)
    assert res["page"] == out and res["key"] == tmp_path / "study.key.json" and res["images"] == 7
    text = out.read_text()
    data, key = load(out)
    # nothing in the page says which version is which: no model name, file name or URL
    bare = DATA_URI.sub("", text)
    for word in ("tiny", "compact", "shot1", "originals_xq", tiny_weights.stem):
        assert word not in bare, word
    meta = json.dumps({k: v for k, v in data.items() if k != "src"})
    assert "real" not in meta and "condition" not in meta
    assert "http://" not in text and "https://" not in text
    assert set(re.findall(r'(?:src|href)="([^"]*)"', bare)) <= {"data:,", "#"}           # nothing fetched
    assert "url(" not in bare and "@import" not in bare and "fetch(" not in bare
    assert set(data) == {"study", "seconds", "images", "src"} and data["seconds"] == 2.5
    assert data["study"] == key["study"] == study.study_id(key) == res["study"]
    # (models + 1) versions per image, with opaque ids, none in the page twice
    files = sorted(photos.iterdir())
    assert key["images"] == [str(f) for f in files]
    assert len(key["versions"]) == 7 * 3 and set(data["src"]) == set(key["versions"])
    for ids, f in zip(data["images"], files):
        assert {key["versions"][v]["condition"] for v in ids} == {"real", "tiny", "compact"}
        assert {key["versions"][v]["image"] for v in ids} == {str(f)}
    # a slot is the same condition for every image (the page balances slots), in random order
    slots = [[key["versions"][v]["condition"] for v in ids] for ids in data["images"]]
    assert all(s == slots[0] for s in slots)
    assert all(re.fullmatch(r"v[0-9a-f]{12}", v) for v in key["versions"])
    mime = {"png": "image/png", "jpg": "image/jpeg"}[fmt]
    assert all(uri.startswith(f"data:{mime};base64,") for uri in data["src"].values())

    # every version decodes to what it should be, computed here independently
    engine = Engine(load_model("tiny", weights=tiny_weights, device="cpu"), "cpu")
    tables = set()
    for ids, f in zip(data["images"], files):
        real = independent_resize(read_image(f), 80)
        assert max(real.shape[:2]) == 80
        fake = engine(to_gray_frames(real[None], torch.device("cpu")))[0]
        by = {key["versions"][v]["condition"]: v for v in ids}
        got = {c: study.decode_data_uri(data["src"][v]) for c, v in by.items()}
        assert all(g.shape == real.shape for g in got.values())
        if fmt == "png":
            assert np.array_equal(got["real"], real)
            assert np.array_equal(got["tiny"], fake)
        else:
            for c, want in (("real", real), ("tiny", fake)):
                assert np.abs(got[c].astype(int) - want).mean() < 6, c     # within JPEG's error (4:2:0, 80 px)
                ok, buf = cv2.imencode(".jpg", cv2.cvtColor(want, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
                again = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                assert np.array_equal(got[c], again), c                      # encoded exactly so
            import base64
            for v in ids:
                tables.add(b"".join(jpeg_tables(base64.b64decode(data["src"][v].split(",", 1)[1]))))
        assert not np.array_equal(got["real"], got["tiny"])
    if fmt == "jpg":
        assert len(tables) == 1          # same quantization tables and chroma sampling for every version
    assert key["settings"]["format"] == fmt and key["settings"]["side"] == 80


def test_build_refuses_overwrites_and_checks_options(tmp_path, photos, tiny_weights):
    out = tmp_path / "s.html"
    kw = dict(models=["tiny"], weights=[tiny_weights], device="cpu", side=48)
    study.build_study([photos], output=out, seed=3, **kw)
    page, key = out.read_bytes(), study.key_path(out).read_text()
    with pytest.raises(OutputError, match="already exists"):
        study.build_study([photos], output=out, **kw)
    assert out.read_bytes() == page
    # a seed makes the build reproducible: the same page, the same ids
    study.build_study([photos], output=out, seed=3, overwrite=True, **kw)
    assert out.read_bytes() == page
    assert json.loads(study.key_path(out).read_text())["versions"] == json.loads(key)["versions"]
    # without a seed, ids nobody can derive (a new study each time)
    study.build_study([photos], output=tmp_path / "t.html", **kw)
    assert load(tmp_path / "t.html")[1]["study"] != json.loads(key)["study"]
    with pytest.raises(OptionError, match="one per model"):
        study.build_study([photos], output=tmp_path / "u.html", models=["tiny", "tiny"], weights=[tiny_weights])
    with pytest.raises(OptionError, match="--seconds"):
        study.build_study([photos], output=tmp_path / "u.html", seconds=0, **kw)
    with pytest.raises(OptionError, match=r"\.html"):
        study.build_study([photos], output=tmp_path / "u.json", **kw)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        study.build_study([tmp_path / "empty"], output=tmp_path / "u.html", **kw)
    assert not (tmp_path / "u.html").exists() and not (tmp_path / "u.key.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]        # no temporaries left


def test_build_never_writes_over_an_input(tmp_path, tiny_weights):
    html = tmp_path / "b.html"
    html.write_text("not a photo")
    with pytest.raises(InputError, match="not an image"):
        study.build_study([html], ["tiny"], [tiny_weights], output=tmp_path / "c.html", device="cpu")
    folder = tmp_path / "photos.html"          # a folder of photos with the page's name
    folder.mkdir()
    write_image(folder / "a.png", crops(1)[0])
    before = (folder / "a.png").read_bytes()
    with pytest.raises(OutputError, match="is the input"):
        study.build_study([folder], ["tiny"], [tiny_weights], output=folder, device="cpu", overwrite=True)
    assert (folder / "a.png").read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["a.png"]


# --- the page in a real browser ------------------------------------------------------

def no_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollHeight <= innerHeight"
                         " && document.documentElement.scrollWidth <= innerWidth")


@pytest.mark.timeout(120)
def test_participant_in_the_browser(page, photos, tiny_weights, tmp_path):
    out = tmp_path / "study.html"
    res = study.build_study([photos], ["tiny", "compact"], [tiny_weights, None], output=out, seconds=0.3,
                            side=96, device="cpu")
    key = json.loads(res["key"].read_text())
    page.goto(out.as_uri())
    assert page.get_attribute("body", "data-state") == "intro" and no_scroll(page)
    assert "7" in page.inner_text("#n-images") and page.is_visible("#start")
    assert not page.is_visible("#stimulus")
    page.click("#start")
    n = len(key["images"])
    shown = []
    for i in range(1, n + 1):
        page.wait_for_function(f"document.body.dataset.trial === '{i}' && document.body.dataset.state === 'showing'",
                               polling="raf")
        assert page.is_visible("#stimulus") and not page.is_visible("#question")
        vid = page.get_attribute("#stimulus", "data-version")
        assert page.inner_text("#progress") == f"{i} / {n}"
        # no answer is taken while the photo is shown (the buttons are not there; the keys do nothing)
        state = page.evaluate("() => { if (document.body.dataset.state !== 'showing') return 'late';"
                              " document.dispatchEvent(new KeyboardEvent('keydown', {key: 'r'}));"
                              " return document.body.dataset.state; }")
        assert state in ("showing", "late")
        page.wait_for_function(f"document.body.dataset.trial === '{i}' && document.body.dataset.state === 'question'")
        assert not page.is_visible("#stimulus") and page.is_visible("#answer-real") and page.is_visible("#answer-fake")
        assert page.get_attribute("#trial", "data-version") == vid and no_scroll(page)
        shown.append(vid)
        real = key["versions"][vid]["condition"] == "tiny"
        if i % 2:
            page.click("#answer-real" if real else "#answer-fake")
        else:
            page.keyboard.press("r" if real else "f")
    page.wait_for_function("document.body.dataset.state === 'done'")
    assert page.is_visible("#done") and "Thank you" in page.inner_text("#done") and no_scroll(page)
    with page.expect_download() as dl:
        page.click("#download")
    name = dl.value.suggested_filename
    assert re.fullmatch(rf"answers-{res['study']}-\d{{8}}T\d{{6}}Z\.json", name), name
    answers_file = tmp_path / name
    dl.value.save_as(answers_file)
    ans = json.loads(answers_file.read_text())
    assert ans["study"] == res["study"] and isinstance(ans["participant_seed"], int)
    assert "Chrome" in ans["user_agent"]
    assert [t["trial"] for t in ans["trials"]] == list(range(1, n + 1))
    assert [t["version"] for t in ans["trials"]] == shown
    assert all(t["shown_ms"] >= 280 and t["rt_ms"] >= 0 for t in ans["trials"])  # the photo stayed 0.3 s
    # each image exactly once, the conditions balanced
    images = [key["versions"][v]["image"] for v in shown]
    assert sorted(images) == sorted(key["images"])
    conds = [key["versions"][v]["condition"] for v in shown]
    counts = [conds.count(c) for c in ("real", "tiny", "compact")]
    assert sum(counts) == n and max(counts) - min(counts) <= 1, counts

    res_score = study.score([answers_file], res["key"])
    c = res_score["conditions"]
    assert res_score["participants"] == 1 and res_score["trials"] == n
    assert [c[k]["trials"] for k in ("real", "tiny", "compact")] == counts
    assert c["tiny"]["rate"] == 1.0 and c["compact"]["rate"] == 0.0 and c["real"]["rate"] == 0.0
    assert c["real"]["role"] == "control"
    # and through the command line
    r = CliRunner().invoke(main, ["study", "--score", str(answers_file), "--key", str(res["key"])])
    assert r.exit_code == 0, r.output
    assert re.search(r"^tiny\s+\d+\s+\d+\s+100\.0%", r.stdout, re.M), r.stdout
    assert page.errors == []


# --- scoring -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def built(photos, tiny_weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored") / "study.html"
    study.build_study([photos], ["tiny", "tiny"], [tiny_weights, tiny_weights], output=out, side=40, device="cpu")
    return out, study.key_path(out), json.loads(study.key_path(out).read_text())


def exact_ci(k: int, n: int, a: float = 0.05) -> tuple[float, float]:
    lo = 0.0 if k == 0 else beta.ppf(a / 2, k, n - k + 1)
    hi = 1.0 if k == n else beta.ppf(1 - a / 2, k + 1, n - k)
    return lo, hi


def write_answers(path: Path, sid: str, trials: list[tuple[str, str]], seed: int) -> Path:
    path.write_text(json.dumps({"kind": "vidcolor-study-answers", "format": 1, "study": sid, "participant_seed": seed,
                                "user_agent": "test", "started": "2024-01-01T00:00:00.000Z",
                                "trials": [{"trial": i + 1, "version": v, "answer": a, "rt_ms": 500}
                                           for i, (v, a) in enumerate(trials)]}))
    return path


def test_score_pools_participants_with_exact_intervals(tmp_path, built):
    _, key_file, key = built
    by = {}
    for v, info in key["versions"].items():
        by.setdefault(info["condition"], []).append(v)
    want = {"real": (10, 7), "tiny": (12, 0), "tiny#2": (5, 5)}
    trials = []
    for cond, (n, k) in want.items():
        trials += [(by[cond][j % len(by[cond])], "real" if j < k else "fake") for j in range(n)]
    files = [write_answers(tmp_path / f"p{p}.json", key["study"], trials[p::3], seed=p) for p in range(3)]
    res = study.score(files, key_file)
    assert res["participants"] == 3 and res["trials"] == 27
    assert list(res["conditions"]) == ["real", "tiny", "tiny#2"]
    for cond, (n, k) in want.items():
        c = res["conditions"][cond]
        assert (c["trials"], c["judged_real"]) == (n, k)
        assert c["rate"] == pytest.approx(k / n)
        assert c["ci"] == pytest.approx(exact_ci(k, n), abs=1e-9)
    assert sum(d["tiny"]["trials"] for d in res["images"].values() if "tiny" in d) == 12

    out = tmp_path / "scores.json"
    r = CliRunner().invoke(main, ["study", "--score", *map(str, files), "--key", str(key_file), "--json", str(out)])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["condition", "trials", "judged"]
    assert lines[-1].startswith("real (control")                   # the control comes last
    lo, hi = exact_ci(7, 10)
    assert "70.0%" in lines[-1] and f"{100 * lo:.1f}-{100 * hi:.1f}%" in lines[-1]
    assert "3 participant(s), 27 trials" in r.stderr
    assert json.loads(out.read_text())["conditions"]["tiny#2"]["rate"] == 1.0


def one_line_error(args, match: str) -> str:
    r = CliRunner().invoke(main, args)
    assert r.exit_code != 0, r.output
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return err


def test_score_refuses_other_studies_and_bad_files(tmp_path, built):
    page, key_file, key = built
    v = next(iter(key["versions"]))
    other = write_answers(tmp_path / "other.json", "0123456789abcdef", [(v, "real")], seed=1)
    one_line_error(["study", "--score", str(other), "--key", str(key_file)], "not of study " + key["study"])
    with pytest.raises(InputError, match="its own study's key"):
        study.score([other], key_file)
    good = write_answers(tmp_path / "good.json", key["study"], [(v, "real")], seed=2)
    one_line_error(["study", "--score", str(good)], "--score needs --key")
    one_line_error(["study", "--score", str(tmp_path / "missing.json"), "--key", str(key_file)], "does not exist")
    one_line_error(["study", "--score", str(good), "--key", str(tmp_path / "nokey.json")], "does not exist")
    one_line_error(["study", "--score", str(good), str(good), "--key", str(key_file)], "same participant")
    one_line_error(["study", "--score", str(key_file), "--key", str(key_file)], "is the study key")
    one_line_error(["study", "--score", str(good), "--key", str(good)], "not the key")
    (tmp_path / "junk.json").write_text("{ not json")
    one_line_error(["study", "--score", str(tmp_path / "junk.json"), "--key", str(key_file)], "not readable JSON")
    edited = json.loads(key_file.read_text())
    edited["versions"][v]["condition"] = "tiny" if edited["versions"][v]["condition"] == "real" else "real"
    (tmp_path / "edited.key.json").write_text(json.dumps(edited))
    one_line_error(["study", "--score", str(good), "--key", str(tmp_path / "edited.key.json")], "was modified")
    bad = write_answers(tmp_path / "bad.json", key["study"], [(v, "maybe")], seed=3)
    one_line_error(["study", "--score", str(bad), "--key", str(key_file)], "expected real or fake")
    one_line_error(["study", "--score", "--key", str(key_file)], "needs the answer files")
    one_line_error(["study", "--score", str(good), "--key", str(key_file), "--model", "tiny"], "only apply when building")
    # building: one line too
    one_line_error(["study", str(page.parent)], "--model")
    one_line_error(["study", str(tmp_path / "none"), "--model", "tiny", "-o", str(tmp_path / "x.html")], "does not exist")
    one_line_error(["study", str(page), "--model", "tiny", "-o", str(page), "--overwrite"], "not an image")
    one_line_error(["study", key["images"][0], "--model", "tiny", "-o", str(page)], "already exists")
    one_line_error(["study", key["images"][0], "--model", "tiny", "-o", str(tmp_path / "y.html"), "--seconds", "-1"],
                   "--seconds")
