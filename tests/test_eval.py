"""The evaluation protocol (`vidcolor eval`) and the `metrics` / `eval` commands."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import pan_frames
from vidcolor.cli import main
from vidcolor.errors import InputError, OptionError, OutputError
from vidcolor.evaluate import ContactSheet, evaluate, to_gray_frames
from vidcolor.media import read_image, write_image
from vidcolor.metrics import colorfulness, psnr, report
from vidcolor.metrics.gallery import SHEET_ROW_HEIGHT
from vidcolor.pipeline import colorize_video


def _write_seq(folder, frames):
    folder.mkdir()
    for i, f in enumerate(frames):
        write_image(folder / f"f{i:03d}.png", f)
    return folder


@pytest.fixture(scope="module")
def color_seq(tmp_path_factory):
    return _write_seq(tmp_path_factory.mktemp("eval") / "orig", pan_frames(6, gray=False))


def test_gray_frames_keep_l_and_drop_color():
    frames = np.stack(pan_frames(2, gray=False))
    gray = to_gray_frames(frames, torch.device("cpu"))
    assert gray.dtype == np.uint8 and gray.shape == frames.shape
    assert np.abs(gray[..., 0].astype(int) - gray[..., 2]).max() <= 1  # neutral
    lab_o = cv2.cvtColor(frames[0], cv2.COLOR_RGB2LAB)[..., 0].astype(int)
    lab_g = cv2.cvtColor(gray[0], cv2.COLOR_RGB2LAB)[..., 0].astype(int)
    assert np.abs(lab_o - lab_g).max() <= 2  # 8-bit L, same luminance


@pytest.mark.parametrize("smoothing", ["none", "ema"])
def test_eval_rows_match_colorize_output_scored_separately(tmp_path, color_seq, tiny_weights, smoothing):
    res = evaluate([color_seq], ["tiny"], [tiny_weights], metrics="psnr,ssim,colorfulness,warp_error,cdc",
                   device="cpu", batch_size=4, temporal=smoothing, contact_sheet=tmp_path / "sheet.png",
                   sheet_frames=3)
    assert list(res["models"]) == ["gray", "tiny"]
    assert set(res["models"]["tiny"]) >= {"summary", "frames", "model_seconds"}
    s_gray, s_tiny = res["models"]["gray"]["summary"], res["models"]["tiny"]["summary"]
    assert res["models"]["tiny"]["frames"] == 6
    assert set(s_tiny) == {"psnr", "ssim", "colorfulness", "colorfulness_reference", "warp_error",
                           "cdc_d1", "cdc_d2", "cdc_d4", "cdc"}
    assert s_gray["colorfulness"]["mean"] < 1.0 < s_tiny["colorfulness"]["mean"]
    assert s_gray["psnr"]["worst"][0]["source"] == str(color_seq)

    # the gray row is the gray frames themselves, scored against the originals
    orig = np.stack([read_image(p) for p in sorted(color_seq.iterdir())])
    gray = to_gray_frames(orig, torch.device("cpu"))
    t = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    assert s_gray["psnr"]["mean"] == pytest.approx(psnr(t(gray), t(orig)).mean().item(), abs=1e-4)

    # the model row equals `colorize` on the gray frames, scored with `metrics`
    gray_dir = _write_seq(tmp_path / "gray", list(gray))
    colorize_video(gray_dir, tmp_path / "colored", model="tiny", weights=tiny_weights, device="cpu",
                   batch_size=4, quiet=True, temporal=smoothing)
    rep = report.compare(color_seq, tmp_path / "colored", metrics="psnr,ssim,colorfulness,warp_error,cdc",
                         device="cpu")
    for key in ("psnr", "ssim", "colorfulness", "warp_error", "cdc_d2"):
        assert s_tiny[key]["mean"] == pytest.approx(rep["summary"][key]["mean"], rel=1e-6), key
    assert s_tiny["cdc"]["value"] == pytest.approx(rep["summary"]["cdc"]["value"], rel=1e-6)
    colored = np.stack([read_image(p) for p in sorted((tmp_path / "colored").iterdir())])
    assert s_tiny["colorfulness"]["mean"] == pytest.approx(colorfulness(t(colored)).mean().item(), rel=1e-5)

    sheet = read_image(tmp_path / "sheet.png")
    assert sheet.shape == (22 + 3 * SHEET_ROW_HEIGHT, 3 * SHEET_ROW_HEIGHT * 96 // 64, 3)
    assert res["settings"]["contact_sheet"] == str(tmp_path / "sheet.png")


def test_contact_sheet_rounds_16bit_frames_to_nearest():
    x = np.minimum(np.stack(pan_frames(1, gray=False))[0], 254)
    sheet = ContactSheet(1, 1, ["a", "b", "c"])
    sheet.add(0, "a", x)
    sheet.add(0, "b", x.astype(np.uint16) * 257 + 128)  # just below x + 1/2: rounds to x
    sheet.add(0, "c", x.astype(np.uint16) * 257 + 129)  # just above: x + 1
    cells = sheet.rows[0]
    assert cells["a"].dtype == cells["b"].dtype == np.uint8
    assert np.array_equal(cells["a"], cells["b"])
    assert np.array_equal(cells["c"], cv2.resize(x + 1, cells["a"].shape[1::-1], interpolation=cv2.INTER_AREA))


def test_eval_option_errors(tmp_path, color_seq, tiny_weights):
    with pytest.raises(OptionError, match="one per model"):
        evaluate([color_seq], ["tiny", "tiny"], [tiny_weights], device="cpu")
    with pytest.raises(OptionError, match="--temporal"):
        evaluate([color_seq], ["tiny"], [tiny_weights], device="cpu", temporal="blur")
    with pytest.raises(OutputError, match="one of the inputs"):
        evaluate([color_seq], ["tiny"], [tiny_weights], device="cpu", contact_sheet=color_seq)


def test_eval_command_prints_rows_and_writes_reports(tmp_path, color_seq, tiny_weights):
    js, md = tmp_path / "e.json", tmp_path / "e.md"
    r = CliRunner().invoke(main, ["eval", str(color_seq), "--model", "tiny", "--weights", str(tiny_weights),
                                  "--device", "cpu", "--metrics", "psnr,ssim,cdc", "--json", str(js),
                                  "--markdown", str(md)])
    assert r.exit_code == 0, r.output
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()}
    assert rows["model"][:3] == ["model", "PSNR", "SSIM"] and "gray" in rows and "tiny" in rows
    data = json.loads(js.read_text())
    assert set(data) == {"kind", "models", "images", "settings"} and set(data["models"]) == {"gray", "tiny"}
    assert float(rows["tiny"][1]) == pytest.approx(data["models"]["tiny"]["summary"]["psnr"]["mean"], abs=0.01)
    assert "| gray |" in md.read_text()


def test_metrics_command(tmp_path, color_seq, monkeypatch):
    js, cs = tmp_path / "m.json", tmp_path / "m.csv"
    r = CliRunner().invoke(main, ["metrics", str(color_seq), str(color_seq), "--metrics", "ssim,cdc",
                                  "--device", "cpu", "--json", str(js), "--csv", str(cs)])
    assert r.exit_code == 0, r.output
    data = json.loads(js.read_text())
    assert set(data) == {"kind", "frames", "summary", "images", "settings"} and len(data["frames"]) == 6
    assert data["summary"]["ssim"]["mean"] == pytest.approx(1.0) and data["summary"]["cdc"]["value"] > 0  # a pan
    assert len(cs.read_text().splitlines()) == 7

    short = _write_seq(tmp_path / "short", pan_frames(4, gray=False))
    r = CliRunner().invoke(main, ["metrics", str(color_seq), str(short), "--device", "cpu"])
    assert r.exit_code == 1 and "frame counts differ" in r.output and "Traceback" not in r.output

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "nohub"))
    r = CliRunner().invoke(main, ["metrics", str(color_seq), str(color_seq), "--metrics", "lpips"])
    assert r.exit_code == 1 and "alexnet-owt-7be5be79.pth" in r.output and len(r.output.strip().splitlines()) == 1

    before = (color_seq / "f000.png").read_bytes()
    r = CliRunner().invoke(main, ["metrics", str(color_seq), str(color_seq), "--json", str(color_seq / "f000.png")])
    assert r.exit_code == 1 and "inside the input folder" in r.output
    assert (color_seq / "f000.png").read_bytes() == before


def test_metrics_on_videos(tmp_path):
    from vidcolor.media import synth

    frames = pan_frames(8, gray=False)
    a = synth.write_clip(tmp_path / "a.mkv", frames, codec="ffv1", pix_fmt="bgr0", audio_codec=None)
    b = synth.write_clip(tmp_path / "b.mp4", frames, audio_codec=None)
    short = synth.write_clip(tmp_path / "short.mkv", frames[:6], codec="ffv1", pix_fmt="bgr0", audio_codec=None)
    rep = report.compare(a, b, metrics="psnr,ssim,warp_error,cdc", device="cpu")
    assert len(rep["frames"]) == 8 and rep["frames"][0]["index"] == 0 and "name" not in rep["frames"][0]
    assert 25 < rep["summary"]["psnr"]["mean"] < 60 and rep["summary"]["warp_error"]["frames"] == 7
    same = report.compare(a, a, metrics="psnr,ssim", device="cpu")
    assert math.isinf(same["summary"]["psnr"]["median"]) and same["summary"]["ssim"]["mean"] == pytest.approx(1.0)
    with pytest.raises(InputError, match="frame counts differ"):
        report.compare(a, short, metrics="psnr", device="cpu")
