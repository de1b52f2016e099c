"""Classification accuracy (`vidcolor eval --classify`, the ``classify`` metric).

No network and no real ImageNet weights: a torchvision AlexNet with seeded random
weights is saved under torchvision's own file name in a temporary torch hub cache, and
every value is checked against an independent computation with torchvision's own
``AlexNet_Weights.IMAGENET1K_V1.transforms()`` on PIL images and the same network.
Random weights make the classes meaningless, but the computation must agree exactly.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision
from click.testing import CliRunner
from PIL import Image

from vidcolor import temporal as _temporal
from vidcolor.cli import main
from vidcolor.errors import OptionError, WeightsError
from vidcolor.evaluate import table, table_columns
from vidcolor.media import synth, write_image
from vidcolor.metrics import classify, registry, report
from vidcolor.metrics.gallery import to_gray_frames
from vidcolor.models import load_model
from vidcolor.pipeline import Engine, Stats

ALEX = "alexnet-owt-7be5be79.pth"
VGG = "vgg16-397923af.pth"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
SIZE = (192, 128)  # small frames: the classifier resizes them to 256 anyway


def _random_alexnet() -> torch.nn.Module:
    """Seeded random AlexNet. Zero biases, so the classes depend on the image (the random
    biases alone would pick nearly the same classes for every input)."""
    torch.manual_seed(2)
    net = torchvision.models.alexnet(weights=None).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.bias.zero_()
    return net


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    return _random_alexnet()


@pytest.fixture(scope="module")
def cached_hub(tmp_path_factory, net) -> Path:
    hub = tmp_path_factory.mktemp("hub")
    (hub / "checkpoints").mkdir()
    torch.save(net.state_dict(), hub / "checkpoints" / ALEX)
    return hub


@pytest.fixture
def hub(cached_hub, monkeypatch) -> Path:
    """The torch hub cache holds (only) the random AlexNet, for this test only."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(cached_hub))
    return cached_hub


@pytest.fixture
def empty_hub(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "nohub"))
    return tmp_path / "nohub"


def _photos() -> list[np.ndarray]:
    return [cv2.resize(synth.photo(n), SIZE, interpolation=cv2.INTER_AREA) for n in PHOTOS]


def _write(folder: Path, frames) -> Path:
    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        write_image(folder / f"f{i:03d}.png", f)
    return folder


@torch.no_grad()
def _top5(net, images: list[np.ndarray]) -> list[list[int]]:
    """Independent: torchvision's own transforms on PIL images, one image at a time."""
    t = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.transforms()
    return [net(t(Image.fromarray(im))[None])[0].topk(5).indices.tolist() for im in images]


def _expected(net, refs, cands) -> list[dict]:
    out = []
    for r, c in zip(_top5(net, refs), _top5(net, cands)):
        out.append({"top1": float(c[0] == r[0]), "top5": float(r[0] in c)})
    return out


def test_registered_with_torchvision_file_names():
    m = registry.get("classify")
    assert m.columns == ("top1", "top5") and m.worst == "low" and m.consumes == "rgb" and m.kind == "image"
    assert m.load is not None and m.missing is not None
    assert m.table_cells() == [("top1", "top-1"), ("top5", "top-5")]
    assert [c for c in table_columns() if c[0] in ("top1", "top5")] == [("top1", "top-1", "{:.3f}"),
                                                                         ("top5", "top-5", "{:.3f}")]
    urls = {"alexnet": torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url,
            "vgg16": torchvision.models.VGG16_Weights.IMAGENET1K_V1.url,
            "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V2.url}
    for net, url in urls.items():
        assert classify.weights_path(net) == Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
    assert [classify.weights_path(n).name for n in urls] == [ALEX, VGG, "resnet50-11ad3fa6.pth"]
    with pytest.raises(OptionError, match="resnet18"):
        classify.weights_path("resnet18")
    with pytest.raises(OptionError, match="resnet18"):
        report.parse_metrics("psnr", classifier="resnet18")
    with pytest.raises(ValueError, match="column_headers"):
        registry.Metric(name="x", kind="image", compute=lambda p, t: p, column_headers={"y": "Y"})


def test_per_frame_values_equal_torchvision_on_pil(hub, net, tmp_path):
    refs = _photos()
    gray = list(to_gray_frames(np.stack(refs), torch.device("cpu")))
    cands = [gray[0], np.ascontiguousarray(refs[1][..., ::-1]), refs[2], gray[3]]  # gray, BGR, itself, gray
    ref_dir, cand_dir = _write(tmp_path / "ref", refs), _write(tmp_path / "cand", cands)

    # the metric loads exactly the cached file, strictly
    model = classify.Classifier("alexnet")
    assert all(torch.equal(a, b) for a, b in zip(model.model.state_dict().values(), net.state_dict().values()))
    # its preprocessing is torchvision's transforms of a PIL image, exactly (on the CPU)
    t = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.transforms()
    x = torch.from_numpy(np.stack(refs)).permute(0, 3, 1, 2).float() / 255
    mine = (model.crops(x).float() / 255 - model.mean) / model.std
    native = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512") or platform.machine() in ("aarch64", "arm64")
    torch.testing.assert_close(mine, torch.stack([t(Image.fromarray(r)) for r in refs]), rtol=0,
                               atol=1e-6 if native else 1 / 255 / min(t.std) + 1e-6)  # else: float resize, rounded

    rep = report.compare(ref_dir, cand_dir, metrics="psnr,classify", device="cpu")
    expected = _expected(net, refs, cands)
    assert [{k: f[k] for k in ("top1", "top5")} for f in rep["frames"]] == expected
    assert {e["top1"] for e in expected} == {0.0, 1.0}, "the images should make the test discriminate"
    assert expected[2] == {"top1": 1.0, "top5": 1.0}  # the original itself
    s = rep["summary"]
    assert s["top1"]["mean"] == pytest.approx(np.mean([e["top1"] for e in expected]))
    assert s["top5"]["mean"] == pytest.approx(np.mean([e["top5"] for e in expected]))
    assert [w["value"] for w in s["top1"]["worst"]][0] == 0.0  # worst = lowest
    st = rep["settings"]["classify"]
    assert st["classifier"] == "alexnet" and st["file"] == ALEX and "IMAGENET1K_V1" in st["weights"]
    assert "256" in st["preprocessing"] and "center crop 224" in st["preprocessing"]

    same = report.compare(ref_dir, ref_dir, metrics="classify", device="cpu")
    assert [(f["top1"], f["top5"]) for f in same["frames"]] == [(1.0, 1.0)] * len(refs)
    assert same["summary"]["top1"]["mean"] == same["summary"]["top5"]["mean"] == 1.0


def test_eval_classify_prints_and_writes_top1_top5(hub, net, tmp_path, tiny_weights):
    refs = _photos()[:3]
    folder = _write(tmp_path / "orig", refs)
    js, md = tmp_path / "e.json", tmp_path / "e.md"
    r = CliRunner().invoke(main, ["eval", str(folder), "--model", "tiny", "--weights", str(tiny_weights),
                                  "--device", "cpu", "--classify", "--json", str(js), "--markdown", str(md)])
    assert r.exit_code == 0, r.output
    assert "top-1/top-5 skipped" not in r.output
    lines = r.output.splitlines()
    head = next(ln for ln in lines if ln.startswith("model"))
    assert "top-1" in head.split() and "top-5" in head.split()
    assert head.split().index("top-5") == head.split().index("top-1") + 1
    data = json.loads(js.read_text())
    assert list(data["models"]) == ["gray", "tiny"]
    assert data["settings"]["classify"]["classifier"] == "alexnet" and data["settings"]["classify"]["file"] == ALEX
    assert data["settings"]["metrics"] == report.parse_metrics("all", warn=lambda _: None)  # --classify adds to all
    assert "classify" in data["settings"]["metrics"] and "psnr" in data["settings"]["metrics"]

    # the rows equal the independent computation, for the gray input and for the model's output
    dev = torch.device("cpu")
    gray = to_gray_frames(np.stack(refs), dev)
    eng = Engine(load_model("tiny", weights=tiny_weights, device=dev), dev, size=None, stats=Stats())
    eng.smoother = _temporal.make_smoother(data["settings"]["temporal"], None)
    outs = list(eng(gray))
    exp_gray, exp_tiny = _expected(net, refs, list(gray)), _expected(net, refs, outs)
    got = {label: [{k: row[k] for k in ("top1", "top5")} for row in entry["rows"]]
           for label, entry in data["models"].items()}
    assert got == {"gray": exp_gray, "tiny": exp_tiny}
    assert exp_gray != exp_tiny, "the model's output should change some prediction"

    header, rows = table(data)
    i1, i5 = header.index("top-1"), header.index("top-5")
    by = {row[0]: row for row in rows}
    for label in ("gray", "tiny"):
        s = data["models"][label]["summary"]
        assert by[label][i1] == f"{s['top1']['mean']:.3f}" and by[label][i5] == f"{s['top5']['mean']:.3f}"
        row_line = next(ln for ln in lines if ln.split()[:1] == [label])
        assert row_line.split()[i1] == by[label][i1] and row_line.split()[i5] == by[label][i5]
        assert f"| {label} |" in md.read_text() and " | ".join(by[label]) in md.read_text()
    text = md.read_text()
    assert "| top-1 | top-5 |" in text and "- classify: classifier=alexnet" in text


def test_eval_report_shows_top1_top5(hub, tmp_path, tiny_weights):
    """--classify beside --metrics adds to them; the HTML report's tables have both columns."""
    folder = _write(tmp_path / "orig", _photos()[:2])
    js, html = tmp_path / "e.json", tmp_path / "e.html"
    r = CliRunner().invoke(main, ["eval", str(folder), "--model", "tiny", "--weights", str(tiny_weights),
                                  "--device", "cpu", "--metrics", "psnr", "--classify", "alexnet", "--json", str(js),
                                  "--report", str(html)])
    assert r.exit_code == 0, r.output
    data = json.loads(js.read_text())
    assert data["settings"]["metrics"] == ["psnr", "classify"]
    page = html.read_text()
    assert page.count("<th>model</th><th class=num>PSNR</th><th class=num>top-1</th><th class=num>top-5</th>") == 2
    for stat in ("mean", "median"):
        s = data["models"]["tiny"]["summary"]
        assert f"<td class=num>{s['top1'][stat]:.3f}</td><td class=num>{s['top5'][stat]:.3f}</td>" in page
    assert 'data-plot="frame-classify"' in page


def test_missing_weights_default_skips_with_one_warning_explicit_fails(empty_hub, tmp_path, tiny_weights):
    folder = _write(tmp_path / "orig", _photos()[:2])
    base = ["eval", str(folder), "--model", "tiny", "--weights", str(tiny_weights), "--device", "cpu"]
    r = CliRunner().invoke(main, base)
    assert r.exit_code == 0, r.output
    skipped = [ln for ln in r.output.splitlines() if "top-1/top-5 skipped" in ln]
    assert len(skipped) == 1 and ALEX in skipped[0] and str(empty_hub / "checkpoints") in skipped[0]
    assert "top-1" not in next(ln for ln in r.output.splitlines() if ln.startswith("model")).split()

    for args, file, other in ((["--classify"], ALEX, VGG), (["--metrics", "classify"], ALEX, VGG),
                              (["--metrics", "psnr", "--classify", "vgg16"], VGG, ALEX)):
        r = CliRunner().invoke(main, base + args)
        assert r.exit_code != 0, args
        out = r.output.strip().splitlines()
        assert len(out) == 1 and file in out[0] and other not in out[0] and "Traceback" not in r.output, out
        assert "TORCH_HOME" in out[0] and str(empty_hub / "checkpoints") in out[0]
    r = CliRunner().invoke(main, ["metrics", str(folder), str(folder), "--classify"])
    assert r.exit_code != 0 and len(r.output.strip().splitlines()) == 1 and ALEX in r.output

    with pytest.raises(WeightsError, match=ALEX):
        classify.Classifier("alexnet")
    with pytest.raises(WeightsError, match=VGG):
        report.parse_metrics("psnr", classifier="vgg16", require=["classify"])
    warnings: list[str] = []
    assert "classify" not in report.parse_metrics("all", warn=warnings.append)
    assert len([w for w in warnings if w.startswith("top-1/top-5 skipped")]) == 1


def test_vgg16_named_when_only_alexnet_is_cached(hub, tmp_path, tiny_weights):
    assert classify.missing_weights("alexnet") is None
    assert "classify" in report.parse_metrics(None, warn=lambda _: None)  # in the default set when cached
    msg = classify.missing_weights("vgg16")
    assert VGG in msg and ALEX not in msg
    folder = _write(tmp_path / "orig", _photos()[:1])
    r = CliRunner().invoke(main, ["eval", str(folder), "--model", "tiny", "--weights", str(tiny_weights),
                                  "--device", "cpu", "--metrics", "psnr", "--classify", "vgg16"])
    assert r.exit_code != 0 and len(r.output.strip().splitlines()) == 1 and VGG in r.output, r.output
    r = CliRunner().invoke(main, ["eval", "--help"])
    assert "--classify" in r.output and "alexnet" in r.output


def test_wrong_or_corrupt_file_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    torch.manual_seed(0)
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), tmp_path / "checkpoints" / ALEX)
    with pytest.raises(WeightsError, match="does not hold torchvision's alexnet ImageNet weights") as e:
        classify.Classifier("alexnet")
    assert "\n" not in str(e.value)
    (tmp_path / "checkpoints" / ALEX).write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable PyTorch checkpoint"):
        classify.Classifier("alexnet")
