"""The benchmark harness measures the real pipeline and reports a consistent table."""

from __future__ import annotations

import json

from click.testing import CliRunner

from vidcolor.bench import PeakRSS, benchmark, to_markdown
from vidcolor.cli import main
from vidcolor.pipeline import STAGES


def test_benchmark_report(clips):
    rep = benchmark([clips["mp4_aac"]], ["tiny"], batch_sizes=[4], size=64, device="cpu", repeats=2,
                    random_weights=True)
    assert [r["label"] for r in rep["results"]] == ["transcode (no model)", "tiny b4"]
    base, tiny = rep["results"]
    for r in (base, tiny):
        assert r["frames"] == 12 and r["repeats"] == 2
        assert r["fps"]["min"] <= r["fps"]["median"] <= r["fps"]["max"]
        assert abs(sum(r["stage_share"].values()) - 1) < 1e-6
        assert r["peak_rss_mb"] > 50
    # the baseline runs no model; the model configuration spends time in every pipeline stage
    assert base["stage_ms_per_frame"]["model"]["max"] == 0 and base["stage_ms_per_frame"]["decode"]["median"] > 0
    assert all(tiny["stage_ms_per_frame"][s]["median"] > 0 for s in ("decode", "prepare", "model", "compose", "encode"))
    assert base["fps_vs_transcode"] == 1.0 and 0 < tiny["fps_vs_transcode"]
    md = to_markdown(rep)
    assert "tiny b4" in md and rep["machine"]["cores"] >= 1 and all(f"{s} ms" in md for s in STAGES)


def test_quality_summary_for_color_input(tmp_path):
    from conftest import pan_frames

    from vidcolor.bench import is_color
    from vidcolor.media import synth

    color_clip = synth.write_clip(tmp_path / "color.mp4", pan_frames(6, gray=False), audio_codec=None)
    gray_clip = synth.write_clip(tmp_path / "gray.mp4", pan_frames(6), audio_codec=None)
    assert is_color(color_clip) and not is_color(gray_clip)
    rep = benchmark([color_clip, gray_clip], ["tiny"], batch_sizes=[4], size=64, device="cpu", repeats=1,
                    random_weights=True, baseline=False)
    assert list(rep["quality"]) == [str(color_clip)]
    q = rep["quality"][str(color_clip)]["summary"]
    assert set(q) == {"gray", "tiny"} and q["gray"]["psnr"]["mean"] > 15
    assert "Quality on color.mp4" in to_markdown(rep)


def test_peak_rss_sees_an_allocation():
    import numpy as np

    import time

    import mmap

    with PeakRSS() as m:
        before = m.current()
        # 64 MB of fresh pages, touched: an anonymous mapping (np.ones may be served from heap
        # memory that earlier tests freed and that is still resident, and then RSS does not grow)
        block = mmap.mmap(-1, 64 * 2**20)
        np.frombuffer(block, np.uint8)[:] = 1
        deadline = time.monotonic() + 5            # the sampler thread may be starved on a loaded machine
        while m.peak - before <= 50 * 2**20 and time.monotonic() < deadline:
            time.sleep(0.02)
        block.close()                              # freed before the context exits: only the sampler saw it
    assert m.peak - before > 50 * 2**20


def test_cli_bench_json(clips, tmp_path):
    j = tmp_path / "b.json"
    r = CliRunner().invoke(main, ["bench", str(clips["noaudio"]), "--model", "tiny", "--random-weights",
                                  "--size", "64", "--repeats", "1", "--no-baseline", "--device", "cpu",
                                  "--json", str(j), "-q"])
    assert r.exit_code == 0, r.output
    rep = json.loads(j.read_text())
    assert len(rep["results"]) == 1 and rep["results"][0]["frames"] == 12
    p = rep["results"][0]["precision"]                 # what --precision auto picked on this CPU, and why
    assert p["chosen"] in ("fp32", "bf16 + channels_last") and p["reason"].startswith("auto: the CPU has")
    assert f"| noaudio.mp4 | tiny b8 ({p['chosen']}: {p['reason']}) |" in r.output
    assert "native CPU bf16:" in r.output


def test_bound_by_names_the_busiest_thread():
    from vidcolor.bench import bound_by

    ms = dict.fromkeys(STAGES, 1.0)
    assert bound_by({**ms, "encode": 9.0}) == "encode"
    assert bound_by({**ms, "decode": 5.0}) == "decode"
    # the engine thread does prepare + model + temporal + compose: 2+2+1+1 = 6 > decode 5
    assert bound_by({**ms, "decode": 5.0, "prepare": 2.0, "model": 2.0}) == "engine (prepare)"
    assert bound_by({**ms, "model": 8.0}) == "engine (model)"


def test_precision_and_layout_variants(clips, tmp_path):
    j = tmp_path / "b.json"
    r = CliRunner().invoke(main, ["bench", str(clips["noaudio"]), "--model", "compact", "--random-weights",
                                  "--size", "64", "--repeats", "1", "--device", "cpu", "--batch-size", "6",
                                  "--precision", "fp32", "--precision", "bf16", "--channels-last",
                                  "--json", str(j), "-q"])
    assert r.exit_code == 0, r.output
    rep = json.loads(j.read_text())
    labels = [x["label"] for x in rep["results"]]
    assert labels == ["transcode (no model)", "compact b6 fp32", "compact b6 fp32 channels_last",
                      "compact b6 bf16", "compact b6 bf16 channels_last"]
    for row in rep["results"][1:]:
        assert row["frames"] == 12 and row["model_only_fps"] > 0
        assert row["bound_by"] in ("decode", "encode") or row["bound_by"].startswith("engine (")
    assert rep["results"][3]["config"]["precision"] == "bf16"
    assert "model-only fps" in r.output and "| compact b6 bf16 channels_last |" in r.output
