"""The model zoo end to end: the seven DeOldify and DDColor releases through the CLI.

Checkpoints are made from vidcolor's own random-init models, after checking that their keys and
shapes are the official layouts, which the two model test files build by rule from the official
code, independently of vidcolor's modules:

- DeOldify: ``tests/test_deoldify.py`` ``expected_table`` (jantic/DeOldify at 5f86c28:
  ``deoldify/generators.py``, ``deoldify/unet.py``, the vendored fastai 1.0.56.dev0), saved as
  fastai's ``Learner.save`` writes it: ``{"model": state_dict, "opt": optimizer state}``, whose
  hyper-parameters hold a ``slice`` (the builtin ``weights_only=True`` must be allowed);
- DDColor: ``tests/test_ddcolor.py`` ``official_layout`` (piddnad/DDColor
  ``basicsr/archs/ddcolor_arch.py``), saved as basicsr's ``save_network``: ``{"params": state_dict}``.

No download and no GPU: the catalogue path is served by a loopback HTTP server.
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vidcolor import weights as W
from vidcolor.cli import main
from vidcolor.color import host_rgb_to_lab
from vidcolor.color import rgb_to_lab, to_float_rgb
from vidcolor.metrics.image import deltae2000_map
from vidcolor.models import create_model, ddcolor, deoldify, get_info, load_model
from vidcolor.pipeline import Engine, cpu_bf16

from conftest import audio_packets
from conftest import decode_timed as decode
from test_ddcolor import L_LAYOUT, T_LAYOUT, official_layout
from test_deoldify import expected_table
from test_errors import fails_cleanly

#: model -> (architecture key, the official layout, the release's file wrapper)
ZOO = {
    "deoldify-artistic": ("deep", lambda: expected_table("deep"), "fastai"),
    "deoldify-stable": ("wide", lambda: expected_table("wide"), "fastai"),
    "deoldify-video": ("wide", lambda: expected_table("wide"), "fastai"),
    "ddcolor-paper": ("convnext-l", lambda: official_layout(*L_LAYOUT), "basicsr"),
    "ddcolor-modelscope": ("convnext-l", lambda: official_layout(*L_LAYOUT), "basicsr"),
    "ddcolor-artistic": ("convnext-l", lambda: official_layout(*L_LAYOUT), "basicsr"),
    "ddcolor-paper-tiny": ("convnext-t", lambda: official_layout(*T_LAYOUT), "basicsr"),
}
#: a small square for the CLI runs (the release defaults, 336..560, take seconds per frame here)
SIZE = {"deoldify": ["--render-factor", "4"], "ddcolor": ["--size", "64"]}


def wrap(kind: str, sd: dict) -> dict:
    if kind == "fastai":   # fastai v1 Learner.save: the optimizer state's hypers hold slices
        return {"model": sd, "opt": {"hypers": [{"lr": slice(1e-5, 1e-3), "wd": 1e-2}], "state": {}}}
    return {"params": sd}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """One checkpoint file per architecture (release models that share one share the file)."""
    made: dict[str, object] = {}
    d = tmp_path_factory.mktemp("zoo")

    def get(name: str):
        arch, layout, kind = ZOO[name]
        if arch not in made:
            torch.manual_seed(0)
            sd = create_model(name).state_dict()
            assert {k: tuple(v.shape) for k, v in sd.items()} == layout()   # the official layout
            path = d / f"{arch}.pth"
            torch.save(wrap(kind, sd), path)
            made[arch] = path
        return made[arch]
    return get


def release_pipeline(model, rgb: np.ndarray, size: int) -> np.ndarray:
    """The release's own per-image functions (deoldify.filters / ddcolor.pipeline steps)."""
    with torch.inference_mode():
        if isinstance(model, deoldify.DeOldify):
            return deoldify.postprocess(rgb, model.forward_rgb(deoldify.preprocess(rgb, size // 16)))
        return ddcolor.postprocess(rgb, model.forward_rgb(ddcolor.preprocess(rgb, size)))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", list(ZOO))
def test_release_checkpoint_runs_end_to_end(name, checkpoints, clips, tmp_path):
    """A release-format file loads strictly and a clip goes through `vidcolor colorize`: every
    frame, its timestamp and the audio kept; each frame is what the release's own
    pre/post-processing makes of the input frame (through the encoder's loss)."""
    ckpt = checkpoints(name)
    src, out = clips["mp4_aac"], tmp_path / "out.mp4"
    size_args = SIZE[name.split("-")[0]]
    r = CliRunner().invoke(main, ["colorize", str(src), "-o", str(out), "--model", name, "--weights", str(ckpt),
                                  *size_args, "--temporal", "none", "--precision", "fp32", "--batch-size", "5", "-q"])
    assert r.exit_code == 0, r.output
    a, b = decode(src), decode(out)
    assert len(a) == len(b) == 12
    assert [t for t, _ in a] == pytest.approx([t for t, _ in b], abs=1e-3)
    assert audio_packets(src) == audio_packets(out)
    model = load_model(name, weights=ckpt)
    for k in (0, 7):
        want = release_pipeline(model, a[k][1], 64)
        assert psnr(b[k][1], want) > 33.0                  # x264 at crf 18, 96x64
    # the luminance is the input's, in the release's terms: DeOldify joins its chroma with the
    # original's YUV luma, DDColor with the original's Lab L (both before gamut clipping)
    def lum(f):
        if name.startswith("deoldify"):
            return cv2.cvtColor(f, cv2.COLOR_RGB2YUV)[..., 0].astype(np.float32)
        return host_rgb_to_lab(f)[..., 0] * 2.55
    la = np.stack([lum(f) for _, f in a])
    lb = np.stack([lum(f) for _, f in b])
    assert np.abs(la - lb).mean() < 4.0, np.abs(la - lb).mean()


@pytest.mark.parametrize("name", ["deoldify-artistic", "ddcolor-paper-tiny"])
def test_engine_is_the_release_pipeline_exactly(name, checkpoints):
    """With no temporal stage, the engine's frames are the release's, bit for bit, for a batch of
    real-sized frames of different content."""
    model = load_model(name, weights=checkpoints(name))
    from conftest import pan_frames
    frames = np.stack(pan_frames(3, w=120, h=90, name="coffee", gray=False))
    engine = Engine(model, "cpu", size=64, precision="fp32")
    got = engine(frames)
    assert got.dtype == np.uint8 and got.shape == frames.shape
    for f, g in zip(frames, got):
        assert np.array_equal(g, release_pipeline(model, f, 64))
    # 16-bit frames: rounded to 8 bits for the release, scaled back
    got16 = Engine(model, "cpu", size=64, precision="fp32")(frames.astype(np.uint16) * 257)
    assert got16.dtype == np.uint16 and np.array_equal(got16, got.astype(np.uint16) * 257)


def test_temporal_stage_smooths_release_models(checkpoints, clips, tmp_path):
    """The default flow smoothing runs on the release's output (its Lab ab at the model's size):
    frames differ from the unsmoothed run after the first, and stay at the input's luminance."""
    ckpt = checkpoints("deoldify-video")
    src = clips["mp4_aac"]
    runs = {}
    for t in ("none", "flow"):
        out = tmp_path / f"{t}.mkv"
        r = CliRunner().invoke(main, ["colorize", str(src), "-o", str(out), "--model", "deoldify-video",
                                      "--weights", str(ckpt), "--render-factor", "4", "--temporal", t,
                                      "--codec", "ffv1", "--precision", "fp32", "-q"])
        assert r.exit_code == 0, r.output
        runs[t] = np.stack([f for _, f in decode(out)])
    assert np.array_equal(runs["none"][0], runs["flow"][0])       # nothing to smooth with yet
    assert np.abs(runs["none"][1:].astype(int) - runs["flow"][1:]).max() > 0


def test_catalogue_download_then_colorize_without_weights(checkpoints, clips, tmp_path, monkeypatch, server):
    """`vidcolor weights download NAME` (size and sha256 checked), then `--model NAME` alone."""
    base, files = server
    ckpt = checkpoints("ddcolor-paper-tiny")
    payload = ckpt.read_bytes()
    spec = W.get_spec("ddcolor-paper-tiny")
    monkeypatch.setitem(W.CATALOGUE, spec.name, W.WeightSpec(
        **{**spec.__dict__, "sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}))
    monkeypatch.setenv("VIDCOLOR_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    files["/ddcolor_paper_tiny.pth"] = payload
    r = CliRunner().invoke(main, ["weights", "download", "ddcolor-paper-tiny", "--url",
                                  base + "/ddcolor_paper_tiny.pth", "-q"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cache" / "ddcolor_paper_tiny.pth").read_bytes() == payload
    r = CliRunner().invoke(main, ["weights", "list"])
    line = next(ln for ln in r.output.splitlines() if ln.startswith("ddcolor-paper-tiny"))
    assert "present" in line and "220 MB" in line
    out = tmp_path / "o.mp4"
    r = CliRunner().invoke(main, ["colorize", str(clips["noaudio"]), "-o", str(out), "--model", "ddcolor-paper-tiny",
                                  "--size", "64", "-q"])
    assert r.exit_code == 0, r.output
    assert len(decode(out)) == 12


def test_truncated_release_download_saves_nothing(tmp_path, monkeypatch, server):
    """A cut-off transfer of a real catalogue entry fails its size check; a full-size file with
    other bytes fails sha256 (ddcolor-paper has no published size: sha256 alone); nothing is kept."""
    base, files = server
    cache = tmp_path / "cache"
    monkeypatch.setenv("VIDCOLOR_HOME", str(cache))
    files["/short"] = b"PK\x03\x04" + b"\x00" * 4096
    r = CliRunner().invoke(main, ["weights", "download", "deoldify-video", "--url", base + "/short", "-q"])
    assert r.exit_code == 1 and "expected 874066230" in r.output and "nothing was saved" in r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(main, ["weights", "download", "ddcolor-paper", "--url", base + "/short", "-q"])
    assert r.exit_code == 1 and "sha256" in r.output
    assert not cache.exists() or list(cache.iterdir()) == []


def test_checkpoint_of_another_model_names_both(checkpoints, clips, tmp_path):
    ckpt = checkpoints("ddcolor-paper-tiny")
    err = fails_cleanly(["colorize", str(clips["mp4_aac"]), "-o", str(tmp_path / "o.mp4"), "--model",
                         "deoldify-artistic", "--weights", str(ckpt), "-q"], tmp_path / "o.mp4", [ckpt],
                        match="is a checkpoint of 'ddcolor-paper-tiny', not of 'deoldify-artistic'")
    assert "--model ddcolor-paper-tiny" in err
    # models sharing an architecture are all named
    err = fails_cleanly(["colorize", str(clips["mp4_aac"]), "-o", str(tmp_path / "o.mp4"), "--model",
                         "ddcolor-paper-tiny", "--weights", str(checkpoints("deoldify-stable")), "-q"],
                        tmp_path / "o.mp4", match="'deoldify-stable' or 'deoldify-video'")


def test_size_options_are_checked(checkpoints, clips, tmp_path):
    src, out = str(clips["mp4_aac"]), tmp_path / "o.mp4"
    fails_cleanly(["colorize", src, "-o", str(out), "--model", "ddcolor-paper-tiny", "--render-factor", "4"],
                  out, match="--render-factor is DeOldify's setting")
    fails_cleanly(["colorize", src, "-o", str(out), "--model", "deoldify-video", "--render-factor", "4",
                   "--size", "64"], out, match="not both")
    fails_cleanly(["colorize", src, "-o", str(out), "--model", "ddcolor-paper-tiny", "--weights",
                   str(checkpoints("ddcolor-paper-tiny")), "--size", "80"], out, match="multiple of 32")
    fails_cleanly(["colorize", src, "-o", str(out), "--model", "deoldify-video", "--weights",
                   str(checkpoints("deoldify-video")), "--size", "72"], out, match="multiple of 16")


def test_release_defaults_and_catalogue():
    sizes = {i.name: i.input_size for i in map(get_info, ZOO)}
    assert sizes == {"deoldify-artistic": 560, "deoldify-stable": 560, "deoldify-video": 336,
                     "ddcolor-paper": 512, "ddcolor-modelscope": 512, "ddcolor-artistic": 512,
                     "ddcolor-paper-tiny": 512}
    for name in ZOO:
        spec = W.get_spec(get_info(name).weights)
        assert spec.url.startswith("https://huggingface.co/") and len(spec.sha256) == 64
        assert ("MIT" if name.startswith("deoldify") else "Apache-2.0") in spec.license
        card = W.card(name)
        for heading in ("Source", "License", "Training data", "Preprocessing", "Parameters", "Speed"):
            assert f"## {heading}" in card, (name, heading)
        assert spec.sha256 in card


def test_hub_copy_without_the_classifier_head_loads(tmp_path):
    """The Hugging Face ``pytorch_model.bin`` copies (PyTorchModelHubMixin) lack ``head_cls``."""
    torch.manual_seed(0)
    sd = create_model("ddcolor-paper-tiny").state_dict()
    hub = {k: v for k, v in sd.items() if not k.startswith("encoder.arch.head_cls.")}
    assert len(sd) - len(hub) == 2
    torch.save(hub, tmp_path / "pytorch_model.bin")
    m = load_model("ddcolor-paper-tiny", weights=tmp_path / "pytorch_model.bin")
    assert all(torch.equal(m.state_dict()[k], v) for k, v in hub.items())


@pytest.mark.skipif(not cpu_bf16()[0], reason="this CPU has no native bf16 (AMX / AVX512-BF16)")
@pytest.mark.parametrize("name", list(ZOO))
def test_bf16_matches_fp32(name, checkpoints):
    """`--precision auto` picks bf16 + channels_last on this CPU: the colours stay within a
    ΔE2000 bound of fp32 (random weights, so this bounds the arithmetic, not a trained model)."""
    model = load_model(name, weights=checkpoints(name))
    from conftest import pan_frames
    frames = np.stack(pan_frames(2, w=96, h=64, name="coffee", gray=True))
    fp32 = Engine(model, "cpu", size=64, precision="fp32")(frames)
    auto = Engine(model, "cpu", size=64, precision="auto")
    assert auto.precision_choice.label == "bf16 + channels_last"
    bf16 = auto(frames)
    de = deltae2000_map(*(rgb_to_lab(to_float_rgb(torch.from_numpy(x))) for x in (bf16, fp32)))
    assert float(de.mean()) < 1.0 and float(de.max()) < 10.0


def test_compact_default_is_unchanged(clips, tmp_path, monkeypatch):
    """The zoo changes nothing for the default: `--model` defaults to the shipped compact model,
    which takes the L -> ab path (not a release pipeline), loads without any download, and the
    CLI's frames are the engine's on the same decoded input."""
    from vidcolor.models.base import ReleaseColorizer
    from vidcolor.options import DEFAULT_MODEL
    monkeypatch.setenv("VIDCOLOR_HOME", str(tmp_path / "empty-cache"))     # nothing downloaded
    assert DEFAULT_MODEL == "compact" and W.get_spec("compact").url is None
    model = load_model()
    assert not isinstance(model, ReleaseColorizer) and model.name == "compact"
    out = tmp_path / "o.mkv"
    r = CliRunner().invoke(main, ["colorize", str(clips["noaudio"]), "-o", str(out), "--codec", "ffv1",
                                  "--temporal", "none", "--precision", "fp32", "-q"])
    assert r.exit_code == 0, r.output
    src = np.stack([f for _, f in decode(clips["noaudio"])])
    got = np.stack([f for _, f in decode(out)])
    want = Engine(model, "cpu", precision="fp32")(src)
    diff = np.abs(got.astype(int) - want)               # ffv1 is lossless; 8-bit RGB<->YUV444 rounding remains
    assert diff.max() <= 3 and diff.mean() < 0.5
