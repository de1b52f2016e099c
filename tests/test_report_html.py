"""`vidcolor report` and `--report`: one self-contained HTML page from eval, metrics and bench results."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import pan_frames
from vidcolor import options
from vidcolor.bench import benchmark
from vidcolor.cli import main
from vidcolor.media import synth, write_image
from vidcolor.media.files import write_json
from vidcolor.metrics import registry
from vidcolor.metrics.gallery import SHEET_LABEL_HEIGHT, SHEET_ROW_HEIGHT, WorstFrames

pytestmark = pytest.mark.timeout(240)

METRICS = "psnr,ssim,deltae2000,colorfulness,warp_error,cdc"
W, H = 480, 320                                   # larger than a thumbnail: they are shrunk to 320 x 213


class Page(HTMLParser):
    """Every start tag with its attributes and the attributes of the elements around it."""

    VOID = {"img", "meta", "link", "br", "hr", "input"}

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict, list[dict]]] = []
        self._open: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a, [p for _, p in self._open]))
        if tag not in self.VOID:
            self._open.append((tag, a))

    def handle_endtag(self, tag):
        while self._open and self._open.pop()[0] != tag:
            pass

    def find(self, tag: str, **where) -> list[tuple[dict, list[dict]]]:
        """Tags with these attributes (``data_x=None``: has the attribute ``data-x``)."""
        def fits(a):
            return all(k.replace("_", "-") in a if v is None else a.get(k.replace("_", "-")) == v
                       for k, v in where.items())

        return [(a, ps) for t, a, ps in self.tags if t == tag and fits(a)]

    def plots(self) -> dict[str, str]:
        """data-plot marker -> the src of its image."""
        return {ps[-1]["data-plot"]: a["src"] for a, ps in self.find("img") if ps and "data-plot" in ps[-1]}


class Tables(HTMLParser):
    """The text of every table cell, per table, per row."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None


def decode(b64: str) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def chroma(rgb: np.ndarray) -> float:
    """Largest |a|, |b| (OpenCV 8-bit Lab, 128 = neutral) over the image."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(int)
    return float(np.abs(lab[..., 1:] - 128).max())


def big_frames(n: int) -> list[np.ndarray]:
    img = cv2.resize(synth.photo("astronaut"), (768, 768), interpolation=cv2.INTER_AREA)
    return synth.pan(img, n, W, H, step=6.0, y=120)


def write_seq(folder: Path, frames) -> Path:
    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        write_image(folder / f"f{i:03d}.png", f)
    return folder


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def metrics_run(work):
    """`vidcolor metrics --json --report` on a reference and a candidate whose color error differs per frame."""
    ref_frames = big_frames(10)
    shifts = [3, 25, 9, 40, 1, 17, 33, 5, 12, 28]      # distinct: the ranking of the worst frames is unique
    cand_frames = [np.clip(f.astype(int) + [s, 0, -s], 0, 255).astype(np.uint8) for f, s in zip(ref_frames, shifts)]
    ref, cand = write_seq(work / "ref", ref_frames), write_seq(work / "cand", cand_frames)
    js, page = work / "m.json", work / "m.html"
    r = run("metrics", ref, cand, "--metrics", METRICS, "--device", "cpu", "--json", js, "--report", page)
    assert r.exit_code == 0, r.output
    return json.loads(js.read_text()), page.read_text()


@pytest.fixture(scope="module")
def eval_run(work, tiny_weights):
    """`vidcolor eval --json --report` of the tiny model on two color inputs (a folder and a clip)."""
    seq = write_seq(work / "orig", big_frames(8))
    clip = synth.write_clip(work / "clip.mp4", pan_frames(6, gray=False), audio_codec=None)
    js, page = work / "e.json", work / "e.html"
    r = run("eval", seq, clip, "--model", "tiny", "--weights", tiny_weights, "--device", "cpu", "--batch-size", 4,
            "--metrics", METRICS, "--json", js, "--report", page)
    assert r.exit_code == 0, r.output
    return json.loads(js.read_text()), page.read_text(), js


@pytest.fixture(scope="module")
def bench_json(work, clips):
    rep = benchmark([clips["noaudio"]], ["tiny"], batch_sizes=[4], size=64, device="cpu", repeats=1,
                    random_weights=True, model_only=False)
    return write_json(work / "b.json", rep, indent=2)


def test_metrics_report_plots_worst_frames_and_thumbnails(metrics_run):
    data, text = metrics_run
    page = Page(text)
    assert data["kind"] == "metrics" and len(data["frames"]) == 10
    # one plot per metric present in the rows, and nothing else
    present = {m.name for m in registry.all() if any(r.get(c) is not None for r in data["frames"] for c in m.columns)}
    assert present == set(METRICS.split(","))
    plots = page.plots()
    assert {k for k in plots if k.startswith("frame-")} == {f"frame-{m}" for m in present}
    for src in (v for k, v in plots.items() if k.startswith("frame-")):
        assert src.startswith("data:image/png;base64,")
        assert cv2.imdecode(np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8), 0).shape[1] > 100

    # the worst frames: exactly the top K of CIEDE2000 (the primary metric), worst first
    k = options.WORST_FRAMES
    expected = [r["index"] for r in sorted(data["frames"], key=lambda r: r["deltae2000"], reverse=True)[:k]]
    shown = [a for a, _ in page.find("div", data_frame=None)]
    assert [int(a["data-index"]) for a in shown] == expected
    assert [json.loads(a["data-value"]) for a in shown] == [data["frames"][i]["deltae2000"] for i in expected]
    assert [w["index"] for w in data["images"]["worst"]] == expected
    assert {w["metric"] for w in data["images"]["worst"]} == {"deltae2000"}

    # each picture decodes to a thumbnail of the frame; gray is gray, the output is not
    for w in data["images"]["worst"]:
        gray, out, orig = (decode(w[key]) for key in ("gray", "output", "original"))
        assert gray.shape == out.shape == orig.shape == (round(H * 320 / W), 320, 3)
        assert chroma(gray) <= 3 < 20 < chroma(out)
        assert all(f"base64,{w[key]}" in text for key in ("gray", "output", "original"))
    sheet = decode(data["images"]["contact_sheet"])
    assert sheet.shape == (SHEET_LABEL_HEIGHT + options.SHEET_FRAMES * SHEET_ROW_HEIGHT,
                           3 * round(W * SHEET_ROW_HEIGHT / H), 3)
    assert page.find("figure", data_plot="contact-sheet")


def test_eval_json_has_rows_and_report_has_sheet_and_summary(eval_run):
    data, text, _ = eval_run
    page = Page(text)
    assert data["kind"] == "eval" and list(data["models"]) == ["gray", "tiny"]
    for entry in data["models"].values():
        assert len(entry["rows"]) == entry["frames"] == data["settings"]["frames"] == 8 + 6
    assert list(data["images"]["worst"]) == ["tiny"] and len(data["images"]["worst"]["tiny"]) == options.WORST_FRAMES
    for marker in ("summary", "frame-plots", "worst-frames", "contact-sheet"):
        assert page.find("section", data_section=marker), marker
    assert len(page.find("div", data_frame=None, data_model="tiny")) == options.WORST_FRAMES
    sources = [r["source"] for r in data["models"]["tiny"]["rows"]]
    assert sources == [data["settings"]["inputs"][0]] * 8 + [data["settings"]["inputs"][1]] * 6

    # the summary tables (means, then medians) hold the JSON summary's numbers, formatted as the registry says
    tables = Tables(text).tables
    first = data["models"]["gray"]["summary"]
    cols = [m for m in registry.table_metrics() if m.name in first]
    for stat, tab in zip(("mean", "median"), tables[:2]):
        assert tab[0] == ["model", *[m.header for m in cols], "frames"]
        body = {row[0]: row[1:] for row in tab[1:]}
        for label, entry in data["models"].items():
            for m, cell in zip(cols, body[label]):
                s = entry["summary"][m.name]
                assert cell == m.fmt.format(s["value"] if "value" in s else s[stat]), (stat, label, m.name)
            assert body[label][-1] == str(entry["frames"])
        assert body["original"][cols.index(registry.get("colorfulness"))] == \
            "{:.1f}".format(first["colorfulness_reference"][stat])
    assert 'class=num' in text


def test_bench_report_has_stage_chart_and_table(bench_json, work):
    out = work / "b.html"
    r = run("report", bench_json, "-o", out, "--title", "Speed")
    assert r.exit_code == 0, r.output
    text = out.read_text()
    page = Page(text)
    data = json.loads(bench_json.read_text())
    assert data["kind"] == "bench" and "<title>Speed</title>" in text
    assert page.find("section", data_section="bench-stages") and "bench-stages" in page.plots()
    assert page.plots()["bench-stages"].startswith("data:image/png;base64,")
    speed = Tables(text).tables[0]
    assert speed[0][:3] == ["config", "frames", "frames/s"] and "bound by" in speed[0] and "peak RSS MB" in speed[0]
    assert len(speed) == 1 + len(data["results"])
    for row, res in zip(speed[1:], data["results"]):
        assert row[0] == res["label"] or row[0].startswith(res["label"] + " (")
    assert [row[2] for row in speed[1:]] == [f"{res['fps']['median']:.2f}" for res in data["results"]]


def test_report_of_several_files_is_offline_and_renders(eval_run, bench_json, metrics_run, work, page, monkeypatch):
    monkeypatch.chdir(work)
    out = work / "all.html"
    r = run("report", eval_run[2].name, bench_json.name, "-o", out)
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert [a["data-kind"] for a, _ in Page(text).find("section", data_section="result")] == ["eval", "bench"]
    for doc in (out, work / "m.html"):
        html = doc.read_text()
        refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", html, re.I)
        assert refs and all(u.startswith("data:") for u in refs), [u[:40] for u in refs if not u.startswith("data:")]
        assert "<script" not in html and "url(" not in html and "@import" not in html
        page.goto(doc.resolve().as_uri())
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.complete ? e.naturalWidth : 0)")
        assert widths and min(widths) > 0
        assert page.errors == []
        if doc == out and os.environ.get("VIDCOLOR_SCREENSHOTS"):
            folder = Path(os.environ["VIDCOLOR_SCREENSHOTS"])
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / "report.png"), full_page=True)


def test_older_json_without_kind_images_or_rows_still_reports(eval_run, work):
    data = dict(eval_run[0])
    del data["kind"], data["images"]
    data["models"] = {k: {f: v for f, v in e.items() if f != "rows"} for k, e in data["models"].items()}
    old, out = write_json(work / "old.json", data), work / "old.html"
    r = run("report", old, "-o", out)
    assert r.exit_code == 0, r.output
    page = Page(out.read_text())
    assert page.find("section", data_section="result", data_kind="eval")
    assert not page.plots() and not page.find("div", data_frame=None)
    assert out.read_text().count("holds no images") == 2 and "holds no per-frame rows" in out.read_text()


def test_bad_inputs_are_one_line_errors(work, eval_run, monkeypatch):
    js = eval_run[2]
    (work / "bad.json").write_text("not json {")
    (work / "other.json").write_text('{"name": "not a vidcolor result"}')
    (work / "exists.html").write_text("keep me")
    cases = [
        (["report", work / "missing.json", "-o", work / "x.html"], "no such file"),
        (["report", work / "bad.json", "-o", work / "x.html"], "is not JSON"),
        (["report", work / "other.json", "-o", work / "x.html"], "not a result of vidcolor eval, metrics or bench"),
        (["report", js, "-o", work / "exists.html"], "already exists; pass --overwrite"),
        (["report", js, "-o", js, "--overwrite"], "is the input"),
    ]
    for args, message in cases:
        r = run(*args)
        assert r.exit_code != 0 and message in r.output, (args, r.output)
        assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert (work / "exists.html").read_text() == "keep me" and not (work / "x.html").exists()
    assert run("report", js, "-o", work / "exists.html", "--overwrite").exit_code == 0

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    r = run("report", js, "-o", work / "y.html")
    assert r.exit_code == 1 and 'pip install "vidcolor[report]"' in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (work / "y.html").exists()


def test_report_help_explains():
    r = run("report", "--help")
    assert r.exit_code == 0 and "self-contained" in r.output and "--overwrite" in r.output


def test_worst_frames_keep_k_thumbnails_and_the_earlier_of_ties():
    metric = registry.get("psnr")                    # worst = low
    w = WorstFrames(metric, k=3)
    frame = np.full((2, 640, 960, 3), 128, np.uint8)
    values = [30.0, 12.0, 25.0, 12.0, 40.0, 11.0, None, 12.0]
    for i in range(0, len(values), 2):
        w.offer([{"index": j, "psnr": v} for j, v in enumerate(values[i:i + 2], start=i)], frame, frame)
        assert len(w._heap) <= 3
    got = w.images()
    assert [(g["index"], g["value"]) for g in got] == [(5, 11.0), (1, 12.0), (3, 12.0)]
    assert decode(got[0]["output"]).shape == (213, 320, 3)
