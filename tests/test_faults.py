"""Fault injection: a failure in any stage ends the run within seconds with one
`vidcolor: error:` line that names the file and the cause, a non-zero exit, no
traceback, no temporary file left behind and the input untouched.

Every test has a hard time bound (pytest-timeout), so a hang fails the test
instead of stalling CI; the subprocess tests also bound their child.
"""

from __future__ import annotations

import errno
import hashlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import vidcolor.pipeline as P
from vidcolor.cli import main
from vidcolor.media import Frame, open_sink, open_source
from vidcolor.media.video import VideoSink
from vidcolor.models.base import Colorizer

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parent.parent


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Everything under ``folder`` (recursively), relative names."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("vidcolor: error:"), stderr
    assert "Traceback" not in stderr
    return lines[0]


# --- faults injected in-process, through the real CLI ------------------------------


class FailingSource:
    """A real video source that raises at frame ``k`` (a scanner unplugged, a bad sector)."""

    def __init__(self, inner, k: int):
        self._inner, self.k = inner, k
        for a in ("path", "kind", "width", "height", "fps", "frame_count", "time_base", "audio_streams"):
            setattr(self, a, getattr(inner, a))

    def __iter__(self):
        for f in self._inner:
            if f.index == self.k:
                raise RuntimeError("scanner unplugged")
            yield f

    def close(self):
        self._inner.close()


class BombColorizer(Colorizer):
    """A colorizer whose forward raises at its ``k``-th call (0-based)."""

    name = "bomb"
    input_size = 64

    def __init__(self, k: int):
        super().__init__()
        self.k, self.calls = k, 0
        self.conv = torch.nn.Conv2d(1, 2, 1)

    def forward(self, l_norm, **extras):
        self.calls += 1
        if self.calls > self.k:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return self.conv(l_norm)


class FailingVideoSink(VideoSink):
    """A real video sink whose k-th write (or its finish) fails like a real disk would."""

    fail_at: int | None = None
    fail_finish: BaseException | None = None
    fail_with: BaseException = OSError(errno.ENOSPC, "No space left on device")

    def _write(self, rgb, frame):
        if self.fail_at is not None and self.frames_written == self.fail_at:
            raise self.fail_with
        super()._write(rgb, frame)

    def _finish(self):
        if self.fail_finish is not None:
            self._mux_video(self.stream.encode(None))     # the file really holds frames then
            raise self.fail_finish
        return super()._finish()


def run_cli(args, input_file: Path, out_dir: Path, notes: list | None = None):
    """Run the CLI, expect a failure in one line; ``notes``: collect the notes printed before it
    (the batch-halving lines of an out-of-memory run) instead of refusing them."""
    before = digest(input_file)
    t0 = time.monotonic()
    r = CliRunner().invoke(main, args)
    seconds = time.monotonic() - t0
    assert r.exit_code == 1, (r.exit_code, r.output)
    stderr = r.stderr
    if notes is not None:
        lines = stderr.splitlines()
        notes += [ln for ln in lines if not ln.startswith("vidcolor: error:")]
        stderr = "\n".join(ln for ln in lines if ln.startswith("vidcolor: error:"))
    line = one_error_line(stderr)
    assert leftovers(out_dir) == [], leftovers(out_dir)      # no temp file, no output
    assert digest(input_file) == before
    assert seconds < 30, seconds
    return line


@pytest.fixture
def cli_args(clips, tmp_path, tiny_weights):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    src = clips["mp4_aac"]
    out = out_dir / "colored.mp4"
    return src, out_dir, out, ["colorize", str(src), "-o", str(out), "--model", "tiny", "--weights",
                               str(tiny_weights), "--batch-size", "2", "-q"]


@pytest.mark.parametrize("k", [0, 5])
def test_source_raises_at_frame_k(cli_args, monkeypatch, k):
    src, out_dir, out, args = cli_args
    real = P.open_source
    monkeypatch.setattr(P, "open_source", lambda *a, **kw: FailingSource(real(*a, **kw), k))
    line = run_cli(args, src, out_dir)
    assert f"reading {src} failed after {k // 2 * 2} frames: RuntimeError: scanner unplugged" in line


@pytest.mark.parametrize("k", [0, 3])
def test_model_raises_at_batch_k(cli_args, monkeypatch, k):
    src, out_dir, out, args = cli_args
    monkeypatch.setattr(P, "load_model", lambda *a, **kw: BombColorizer(k))
    line = run_cli(args, src, out_dir)
    assert f"colorizing frames {2 * k}-{2 * k + 1} of {src} failed: RuntimeError: CUDA error" in line


@pytest.mark.parametrize("k", [0, 7])
def test_sink_raises_at_frame_k(cli_args, monkeypatch, k):
    src, out_dir, out, args = cli_args

    def sink(*a, **kw):
        s = open_sink(*a, **kw)
        s.__class__ = FailingVideoSink
        s.fail_at = k
        return s

    monkeypatch.setattr(P, "open_sink", sink)
    line = run_cli(args, src, out_dir)
    assert line == f"vidcolor: error: disk full while writing {out}; free some space or write to another disk"


def test_sink_raises_a_bug_at_frame_k(cli_args, monkeypatch):
    """Not an OSError: still one line, naming the frame and the file."""
    src, out_dir, out, args = cli_args

    def sink(*a, **kw):
        s = open_sink(*a, **kw)
        s.__class__ = FailingVideoSink
        s.fail_at, s.fail_with = 4, ValueError("bad frame buffer")
        return s

    monkeypatch.setattr(P, "open_sink", sink)
    line = run_cli(args, src, out_dir)
    assert f"writing frame 4 to {out} failed: ValueError: bad frame buffer" in line


def test_sink_raises_in_finish(cli_args, monkeypatch):
    src, out_dir, out, args = cli_args

    def sink(*a, **kw):
        s = open_sink(*a, **kw)
        s.__class__ = FailingVideoSink
        s.fail_finish = OSError(errno.EIO, "Input/output error")
        return s

    monkeypatch.setattr(P, "open_sink", sink)
    line = run_cli(args, src, out_dir)
    assert line == f"vidcolor: error: cannot write {out}: Input/output error"


def test_image_sink_fails_mid_run(image_seq, tmp_path, tiny_weights, monkeypatch):
    """An image folder output whose 5th file cannot be written: the half-written folder goes."""
    from vidcolor.media import images

    real = images.write_image
    calls = {"n": 0}

    def write_image(path, rgb, quality=95):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, rgb, quality)

    monkeypatch.setattr(images, "write_image", write_image)
    out_dir = tmp_path / "o"
    out_dir.mkdir()
    target = out_dir / "frames"
    before = {p.name: digest(p) for p in image_seq.iterdir()}
    r = CliRunner().invoke(main, ["colorize", str(image_seq), "-o", str(target), "--model", "tiny",
                                  "--weights", str(tiny_weights), "-q"])
    assert r.exit_code == 1
    assert one_error_line(r.stderr) == f"vidcolor: error: disk full while writing {target}; free some space or " \
                                       "write to another disk"
    assert leftovers(out_dir) == []
    assert {p.name: digest(p) for p in image_seq.iterdir()} == before


def test_run_ends_within_seconds_when_the_encoder_dies(clips, tmp_path, tiny_weights):
    """The hang of 2026-12-01: the encode thread dies while the decode thread is blocked on
    a full queue. ``run`` must stop both threads and return the error promptly."""
    from vidcolor.models import load_model

    src = open_source(clips["mp4_aac"])
    sink = open_sink(tmp_path / "o.mp4", src)
    sink.__class__ = FailingVideoSink
    sink.fail_at = 0
    engine = P.Engine(load_model("tiny", weights=tiny_weights), "cpu")
    t0 = time.monotonic()
    with pytest.raises(Exception, match="disk full"):
        P.run(src, sink, engine, batch_size=1, queue_batches=1, progress=False)
    assert time.monotonic() - t0 < 5
    src.close()
    assert list(tmp_path.iterdir()) == []
    import threading

    deadline = time.monotonic() + 5
    while any(t.name in ("vidcolor-decode", "vidcolor-encode") for t in threading.enumerate()):
        assert time.monotonic() < deadline, [t.name for t in threading.enumerate()]
        time.sleep(0.05)


# --- a real full disk: RLIMIT_FSIZE in a child process -------------------------------

def limited(args: list[str], limit_bytes: int, cwd: Path, timeout: float = 120):
    """Run ``python -m vidcolor ARGS`` with a file-size limit (writes past it fail with EFBIG:
    Python ignores SIGXFSZ)."""
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "vidcolor", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec, env=env)


FULL = "file size limit reached while writing"


@pytest.fixture(scope="module")
def color_clip(tmp_path_factory) -> Path:
    from vidcolor.media import synth

    d = tmp_path_factory.mktemp("color")
    frames = synth.pan(synth.photo("astronaut"), 24, 160, 120)
    return synth.write_clip(d / "color.mp4", frames, fps=24)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("case", ["video-to-video", "folder-to-video", "video-to-folder"])
def test_full_disk_colorize(case, clips, image_seq, tmp_path):
    src = {"video-to-video": clips["mp4_aac"], "folder-to-video": image_seq, "video-to-folder": clips["mp4_aac"]}[case]
    out_dir = tmp_path / "disk"
    out_dir.mkdir()
    out = out_dir / ("frames" if case == "video-to-folder" else "colored.mp4")
    inputs = [src] if src.is_file() else sorted(src.iterdir())
    before = [digest(p) for p in inputs]
    r = limited(["colorize", str(src), "-o", str(out), "--size", "64", "-q", "--crf", "0"], 4_000, tmp_path)
    assert r.returncode == 1, r.stderr
    assert one_error_line(r.stderr) == (f"vidcolor: error: {FULL} {out} (a quota or `ulimit -f`); raise the limit "
                                        "or write to another disk")
    assert leftovers(out_dir) == []
    assert [digest(p) for p in inputs] == before


@pytest.mark.timeout(240)
@pytest.mark.parametrize("command", ["metrics", "eval", "extract", "train"])
def test_full_disk_reports_and_tools(command, color_clip, tmp_path):
    out_dir = tmp_path / "disk"
    out_dir.mkdir()
    clip = str(color_clip)
    args, target, limit = {
        "metrics": (["metrics", clip, clip, "--metrics", "psnr,ssim", "--json", str(out_dir / "m.json")],
                    out_dir / "m.json", 2_000),
        "eval": (["eval", clip, "--model", "compact", "--size", "64", "--metrics", "psnr",
                  "--json", str(out_dir / "e.json")], out_dir / "e.json", 1_000),
        "extract": (["frames", "extract", clip, "-o", str(out_dir / "frames"), "-q"], out_dir / "frames", 20_000),
        "train": (["train", clip, "-o", str(out_dir / "run.pt"), "--steps", "2", "--batch-size", "2", "--size", "32",
                   "--device", "cpu"], out_dir / "run.pt", 100_000),
    }[command]
    r = limited(args, limit, tmp_path, timeout=200)
    assert r.returncode == 1, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert "Traceback" not in r.stderr, r.stderr
    assert line.startswith("vidcolor: error: " + FULL), r.stderr
    assert str(target) in line or str(target.parent) in line, line
    # bench/extract/train write their outputs beside the target only: no temporary is left
    assert [p for p in leftovers(out_dir) if ".vidcolor-" in p or p.endswith("-tmp")] == []
    if command in ("metrics", "eval", "train"):
        assert not target.exists()


def test_bench_report_on_a_full_disk(color_clip, tmp_path, monkeypatch):
    """bench's JSON and Markdown are written atomically: a disk that fills while writing
    them leaves neither file nor temporary (the benchmark's own video is written elsewhere,
    so the disk is filled in-process, at the report write)."""
    out_dir = tmp_path / "disk"
    out_dir.mkdir()
    real = Path.write_bytes

    def write_bytes(self, data):
        if self.parent == out_dir:
            real(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    target = out_dir / "b.json"
    r = CliRunner().invoke(main, ["bench", str(color_clip), "--random-weights", "--size", "64", "--repeats", "1",
                                  "--no-quality", "-q", "--json", str(target), "--markdown", str(out_dir / "b.md")])
    assert r.exit_code == 1, r.output
    assert one_error_line(r.stderr) == f"vidcolor: error: disk full while writing {target}; free some space or " \
                                       "write to another disk"
    assert leftovers(out_dir) == []


# --- missing folders are created; impossible ones are one clear line ------------------------

def test_missing_output_folders_are_created(tmp_path):
    """The command that hung on 2026-12-01: now it works and makes the folders."""
    r = subprocess.run([sys.executable, "-m", "vidcolor", "colorize", str(ROOT / "samples" / "bw_pan.mp4"),
                        "-o", "missing_dir/sub/out.mp4", "--size", "64", "-q"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with open_source(tmp_path / "missing_dir" / "sub" / "out.mp4") as s:
        assert s.frame_count == 96 and len(s.audio_streams) == 1


@pytest.mark.parametrize("command", ["colorize", "metrics", "eval", "extract", "train", "bench", "dedup"])
def test_output_folder_that_cannot_be_created(command, color_clip, tmp_path, image_seq):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    target = blocker / "sub" / "out"
    clip = str(color_clip)
    args = {
        "colorize": ["colorize", clip, "-o", str(target) + ".mp4", "--size", "64", "-q"],
        "metrics": ["metrics", clip, clip, "--metrics", "psnr", "--json", str(target) + ".json"],
        "eval": ["eval", clip, "--model", "compact", "--size", "64", "--json", str(target) + ".json"],
        "extract": ["frames", "extract", clip, "-o", str(target), "-q"],
        "train": ["train", clip, "-o", str(target) + ".pt", "--steps", "1"],
        "bench": ["bench", clip, "--random-weights", "--repeats", "1", "-q", "--markdown", str(target) + ".md"],
        "dedup": ["frames", "dedup", str(_dup_folder(tmp_path, image_seq)), "--move-to", str(target), "-q"],
    }[command]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1, r.output
    line = one_error_line(r.stderr)
    assert f"{blocker} is a file, not a folder" in line or f"cannot create {blocker}" in line \
        or "Not a directory" in line, line
    assert blocker.read_text() == "not a folder"


def _dup_folder(tmp_path: Path, image_seq: Path) -> Path:
    d = tmp_path / "dups"
    d.mkdir(exist_ok=True)
    first = sorted(image_seq.iterdir())[0]
    for name in ("a.png", "b.png"):
        (d / name).write_bytes(first.read_bytes())
    return d


def test_dedup_moves_into_new_folders(tmp_path, image_seq):
    d = _dup_folder(tmp_path, image_seq)
    target = tmp_path / "new" / "deeper"
    r = CliRunner().invoke(main, ["frames", "dedup", str(d), "--move-to", str(target), "-q"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in d.iterdir()) == ["a.png"]
    assert sorted(p.name for p in target.iterdir()) == ["b.png"]


def test_reports_into_new_folders(color_clip, tmp_path):
    out = tmp_path / "reports" / "2026" / "m.json"
    r = CliRunner().invoke(main, ["metrics", str(color_clip), str(color_clip), "--metrics", "psnr,ssim",
                                  "--json", str(out), "--csv", str(out.with_suffix(".csv"))])
    assert r.exit_code == 0, r.output
    import json

    rep = json.loads(out.read_text())
    assert len(rep["frames"]) == 24 and rep["summary"]["ssim"]["mean"] == pytest.approx(1.0)
    assert len(out.with_suffix(".csv").read_text().splitlines()) == 25


def test_unexpected_error_is_one_line(clips, tmp_path, monkeypatch):
    """A bug outside every stage (here: in loading the model) still ends with one line."""
    def broken(*a, **kw):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(P, "load_model", broken)
    monkeypatch.delenv("VIDCOLOR_DEBUG", raising=False)
    r = CliRunner().invoke(main, ["colorize", str(clips["mp4_aac"]), "-o", str(tmp_path / "o.mp4"), "-q"])
    assert r.exit_code == 1
    line = one_error_line(r.stderr)
    assert "unexpected ZeroDivisionError: division by zero" in line and "VIDCOLOR_DEBUG=1" in line
    assert list(tmp_path.iterdir()) == []


def test_frames_arrays_are_not_needed_by_sinks_for_timing():
    """The Sink interface: one write(rgb, frame) for every kind; a video sink refuses a
    second frame size with one clear InputError (the one-size rule lives in the video sink)."""
    import tempfile

    from vidcolor.errors import InputError

    with tempfile.TemporaryDirectory() as d:
        sink = VideoSink(Path(d) / "v.mp4", 32, 24, 24)
        sink.write(np.zeros((24, 32, 3), np.uint8), Frame(0, None, 0, 0.0, make_rgb=lambda: None))
        with pytest.raises(InputError, match="b.png is 16x16, the first frame 32x24: a video needs one size"):
            sink.write(np.zeros((16, 16, 3), np.uint8), Frame(1, None, 1, 1 / 24, name="b.png",
                                                               make_rgb=lambda: None))
        sink.abort()
        assert os.listdir(d) == []


def test_a_multi_line_library_error_is_still_one_line(cli_args, monkeypatch):
    """torch's out-of-memory messages span several lines: the run still prints one, with the hint."""
    src, out_dir, out, args = cli_args

    class OOM(BombColorizer):
        def forward(self, l_norm, **extras):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.\n"
                                              "GPU 0 has a total capacity of 79.1 GiB\nof which 1.2 GiB is free.")

    monkeypatch.setattr(P, "load_model", lambda *a, **kw: OOM(0))
    notes: list[str] = []
    line = run_cli(args, src, out_dir, notes)
    assert "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity" in line
    # the batch was halved first (2 -> 1), then the error stood at one frame per call
    assert notes == ["vidcolor: out of memory at 2 frames per model call; continuing with 1"]
    assert line.endswith("out of memory even at 1 frame per model call: try a smaller --size or --device cpu")
