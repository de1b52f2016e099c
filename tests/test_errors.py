"""Bad input gets one clear line on stderr, a non-zero exit, no traceback, no file
under the output name, and the input untouched. One test per case."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
import torch
from click.testing import CliRunner

from vidcolor.cli import main
from vidcolor.media import synth


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""


def fails_cleanly(args, out: Path, inputs=(), match: str = "", code: int = 1):
    before = {p: digest(p) for p in inputs}
    listing = sorted(os.listdir(out.parent)) if out.parent.exists() else None
    r = CliRunner().invoke(main, args)
    assert r.exit_code == code, (r.exit_code, r.output)
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("vidcolor: error:") and match in err, err
    assert "Traceback" not in r.output
    if listing is not None:
        assert sorted(os.listdir(out.parent)) == listing    # nothing new, not even a temp file
    else:
        assert not out.exists()
    for p, d in before.items():
        assert digest(p) == d
    return err


@pytest.fixture
def W(tiny_weights):
    return ["--model", "tiny", "--weights", str(tiny_weights), "--size", "64", "-q"]


def test_missing_input(tmp_path, W):
    fails_cleanly(["colorize", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4"), *W],
                  tmp_path / "o.mp4", match="input not found")


def test_not_a_media_file(tmp_path, W):
    bad = tmp_path / "notes.mp4"
    bad.write_text("shopping list\n" * 50)
    fails_cleanly(["colorize", str(bad), "-o", str(tmp_path / "o.mp4"), *W], tmp_path / "o.mp4", [bad],
                  match="cannot be opened as media")


def test_truncated_file(clips, tmp_path, W):
    cut = tmp_path / "cut.mp4"
    data = clips["mp4_aac"].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    fails_cleanly(["colorize", str(cut), "-o", str(tmp_path / "o.mp4"), *W], tmp_path / "o.mp4", [cut],
                  match="truncated")


def test_no_video_stream(tmp_path, W):
    audio = tmp_path / "voice.m4a"
    with av.open(str(audio), "w") as out:
        s = out.add_stream("aac", rate=48000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(synth.tone(0.2)[:, :1024].copy(), format="fltp", layout="stereo")
        frame.sample_rate = 48000
        frame.pts = 0
        for p in s.encode(frame):
            out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    fails_cleanly(["colorize", str(audio), "-o", str(tmp_path / "o.mp4"), *W], tmp_path / "o.mp4", [audio],
                  match="no video stream")


def test_zero_frames(tmp_path, W):
    empty = tmp_path / "empty.avi"     # AVI can hold a video stream with no frames at all
    with av.open(str(empty), "w") as out:
        s = out.add_stream("mpeg4", rate=24)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    fails_cleanly(["colorize", str(empty), "-o", str(tmp_path / "o.mp4"), *W], tmp_path / "o.mp4", [empty],
                  match="no decodable frames")
    folder = tmp_path / "nothing"
    folder.mkdir()
    fails_cleanly(["colorize", str(folder), "-o", str(tmp_path / "o2"), *W], tmp_path / "o2",
                  match="no images")


def test_output_is_input(clips, tmp_path, W):
    src = tmp_path / "same.mp4"
    src.write_bytes(clips["mp4_aac"].read_bytes())
    fails_cleanly(["colorize", str(src), "-o", str(src), *W, "--overwrite"], src, [src], match="is the input")


def test_output_folder_is_input_folder(image_seq, W):
    fails_cleanly(["colorize", str(image_seq), "-o", str(image_seq), *W, "--overwrite"], image_seq / "x",
                  list(image_seq.iterdir()), match="is the input")


def test_existing_output_needs_overwrite(clips, tmp_path, W):
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"precious")
    fails_cleanly(["colorize", str(clips["mp4_aac"]), "-o", str(out), *W], out, [out], match="--overwrite")
    assert out.read_bytes() == b"precious"


def test_unwritable_output_folder(clips, tmp_path, W):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    out = blocker / "sub" / "o.mp4"
    fails_cleanly(["colorize", str(clips["mp4_aac"]), "-o", str(out), *W], tmp_path / "zzz", [blocker],
                  match="is a file, not a folder")


def test_missing_weights(clips, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCOLOR_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    err = fails_cleanly(["colorize", str(clips["mp4_aac"]), "-o", str(tmp_path / "o.mp4"), "--model", "eccv16"],
                        tmp_path / "o.mp4", match="vidcolor weights download eccv16")
    assert "--weights PATH" in err


def test_weights_of_another_architecture(clips, tmp_path, tiny_weights):
    fails_cleanly(["colorize", str(clips["mp4_aac"]), "-o", str(tmp_path / "o.mp4"), "--model", "eccv16",
                   "--weights", str(tiny_weights)], tmp_path / "o.mp4", [tiny_weights],
                  match="is a checkpoint of 'tiny', not of 'eccv16': use --model tiny")


def test_weights_that_are_not_a_checkpoint(clips, tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(os.urandom(2000))
    fails_cleanly(["colorize", str(clips["mp4_aac"]), "-o", str(tmp_path / "o.mp4"), "--model", "eccv16",
                   "--weights", str(junk)], tmp_path / "o.mp4", [junk], match="not a readable PyTorch checkpoint")


def test_weights_with_wrong_hash(tmp_path, server, monkeypatch):
    base, files = server
    files["/colorization_release_v2-9b330a0b.pth"] = b"not the real checkpoint"
    monkeypatch.setenv("VIDCOLOR_HOME", str(tmp_path / "cache"))
    from vidcolor import weights as Wt

    spec = Wt.CATALOGUE["eccv16"]
    monkeypatch.setitem(Wt.CATALOGUE, "eccv16", Wt.WeightSpec(**{**spec.__dict__, "size": None}))
    fails_cleanly(["weights", "download", "eccv16", "-q", "--url", base + "/colorization_release_v2-9b330a0b.pth"],
                  tmp_path / "cache" / "x", match="failed its sha256 check")
    assert not any((tmp_path / "cache").iterdir())


def test_bad_option_values(clips, tmp_path, W):
    fails_cleanly(["colorize", str(clips["mp4_aac"]), "-o", str(tmp_path / "o.mp4"), *W, "--batch-size", "0"],
                  tmp_path / "o.mp4", match="--batch-size")
    fails_cleanly(["colorize", str(clips["mp4_aac"]), "-o", str(tmp_path / "o.mp4"), *W, "--device", "cuda"],
                  tmp_path / "o.mp4", match="no CUDA GPU") if not torch.cuda.is_available() else None
    fails_cleanly(["colorize", str(clips["mp4_aac"]), "-o", str(tmp_path / "o.mp4"), "--model", "nope"],
                  tmp_path / "o.mp4", match="unknown model 'nope'")


def test_ctrl_c_leaves_nothing(tmp_path):
    """SIGINT to a real `vidcolor colorize` process in the middle of a run."""
    from vidcolor.models import create_model

    frames = synth.to_gray(synth.pan(synth.photo("coffee"), 48, 160, 120))
    src = synth.write_clip(tmp_path / "long.mp4", frames, fps=24)
    w = tmp_path / "eccv16_random.pth"
    torch.manual_seed(0)
    torch.save(create_model("eccv16").state_dict(), w)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "colored.mp4"
    before = digest(src)
    proc = subprocess.Popen([sys.executable, "-m", "vidcolor", "colorize", str(src), "-o", str(out),
                             "--model", "eccv16", "--weights", str(w), "--batch-size", "2", "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as from a terminal: a job started in the background by a non-interactive
                            # shell (CI) inherits SIGINT ignored, and Python then installs no handler
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not any(out_dir.iterdir()):   # the temp output exists: mid-run
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("vidcolor: interrupted")
    assert "Traceback" not in err
    assert list(out_dir.iterdir()) == []
    assert digest(src) == before
