"""Archive scale on one machine: many inputs into a folder, and segmented runs that resume.

Segmented runs are compared with one-piece runs of the same film: with a lossless codec the
frames are identical bit for bit (the warm-up overlap rebuilds the temporal state); with H.264
the frame count, every timestamp and every audio packet are. A run killed with SIGKILL at random
moments and resumed gives the same file, packet for packet, as an uninterrupted one.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import audio_packets, decode_timed, pan_frames
from vidcolor import batch, segments
from vidcolor.cli import main
from vidcolor.errors import InputError, OptionError
from vidcolor.media import synth
from vidcolor.media.files import is_temp
from vidcolor.pipeline import ColorizeOptions, colorize_video



@pytest.fixture(scope="module")
def fast(tiny_weights) -> dict:
    """The test-only colorizer: fast, deterministic."""
    return dict(model="tiny", weights=str(tiny_weights), device="cpu")


def video_packets(path) -> list[tuple]:
    """(pts, dts, duration, keyframe, payload) of every video packet."""
    with av.open(str(path)) as c:
        return [(p.pts, p.dts, p.duration, p.is_keyframe, bytes(p)) for p in c.demux(video=0) if p.size]


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> Path:
    """A 3 s, 24 fps clip with AAC audio (72 frames): three 1 s segments."""
    d = tmp_path_factory.mktemp("film")
    return synth.write_clip(d / "film.mp4", pan_frames(72), fps=24)


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if is_temp(p) or segments.WORK_TAG in p.name]


# --- segments -----------------------------------------------------------------------

def test_overlap_follows_the_strength():
    assert segments.overlap_frames("none", 0.8) == 0
    n = segments.overlap_frames("flow", 0.8)
    assert 0.8 ** n < 1e-3 <= 0.8 ** (n - 1)          # the past's weight just below the seam threshold
    assert segments.overlap_frames("ema", 0.999) == segments.options.SEGMENT_MAX_OVERLAP


@pytest.mark.parametrize("temporal", ["none", "flow"])
def test_segmented_run_equals_one_piece_bit_for_bit(fast, film, tmp_path, temporal):
    """Lossless output: every frame of the segmented run equals the one-piece run's, also across
    the two seams, because each segment's temporal state is rebuilt from the frames before it."""
    opts = ColorizeOptions(codec="ffv1", temporal=temporal, **fast)
    colorize_video(film, tmp_path / "one.mkv", quiet=True, **opts.kwargs())
    res = segments.colorize_segmented(film, tmp_path / "seg.mkv", opts, seconds=1.0, quiet=True)
    assert res.frames == 72
    one, seg = decode_timed(tmp_path / "one.mkv"), decode_timed(tmp_path / "seg.mkv")
    assert [t for t, _ in seg] == [t for t, _ in one] and len(seg) == 72
    for (_, a), (_, b) in zip(one, seg):
        np.testing.assert_array_equal(a, b)
    assert audio_packets(tmp_path / "seg.mkv") == audio_packets(tmp_path / "one.mkv")
    assert not leftovers(tmp_path)


def test_segments_start_on_keyframes_and_keep_timing(fast, film, tmp_path):
    """H.264: one keyframe per segment start, the source's timestamps and audio, no work folder left."""
    opts = ColorizeOptions(**fast)
    colorize_video(film, tmp_path / "one.mp4", quiet=True, **opts.kwargs())
    segments.colorize_segmented(film, tmp_path / "seg.mp4", opts, seconds=1.0, quiet=True)
    src = decode_timed(film)
    seg = decode_timed(tmp_path / "seg.mp4")
    assert [t for t, _ in seg] == [t for t, _ in src] == [t for t, _ in decode_timed(tmp_path / "one.mp4")]
    with av.open(str(tmp_path / "seg.mp4")) as c:
        tb = c.streams.video[0].time_base
    keys = sorted(p[0] * tb for p in video_packets(tmp_path / "seg.mp4") if p[3])
    assert [float(k) for k in keys][:3] == [0.0, 1.0, 2.0]
    assert audio_packets(tmp_path / "seg.mp4") == audio_packets(film)
    assert not leftovers(tmp_path)


def test_resume_after_an_interruption_gives_the_same_file(fast, film, tmp_path):
    """Stopped in its second segment, a rerun keeps segment 0, redoes the rest, and the joined
    file is packet for packet the uninterrupted run's."""
    opts = ColorizeOptions(codec="ffv1", **fast)     # lossless: equal packets = equal frames (see KILL_SCRIPT)
    segments.colorize_segmented(film, tmp_path / "whole.mkv", opts, seconds=1.0, quiet=True)

    class Stop(Exception):
        pass

    def stop(n):
        if n > 30:
            raise Stop

    target = tmp_path / "cut.mkv"
    with pytest.raises(Stop):
        segments.colorize_segmented(film, target, opts, seconds=1.0, quiet=True, on_batch=stop)
    work = segments.work_dir(target)
    assert not target.exists() and (work / "seg_00000.json").exists() and not (work / "seg_00001.json").exists()
    assert not [p for p in work.iterdir() if is_temp(p)]        # the aborted segment removed its temporary
    seen = []
    res = segments.colorize_segmented(film, target, opts, seconds=1.0, quiet=True, notify=seen.append)
    assert any("1 of 3 segments already done" in m for m in seen)
    assert res.frames == 72
    assert video_packets(target) == video_packets(tmp_path / "whole.mkv")
    assert audio_packets(target) == audio_packets(tmp_path / "whole.mkv")
    assert not work.exists()


def test_resume_refuses_other_settings_and_overwrite_starts_over(fast, film, tmp_path):
    target = tmp_path / "out.mp4"
    work = segments.work_dir(target)

    def stop(n):
        if n > 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        segments.colorize_segmented(film, target, ColorizeOptions(**fast), seconds=1.0, quiet=True, on_batch=stop)
    with pytest.raises(OptionError, match=r"other settings \(settings.crf: 18 -> 30|crf: 18 -> 30"):
        segments.colorize_segmented(film, target, ColorizeOptions(crf=30, **fast), seconds=1.0, quiet=True)
    assert (work / "seg_00000.json").exists()                  # nothing lost by the refusal
    res = segments.colorize_segmented(film, target, ColorizeOptions(crf=30, **fast), seconds=1.0, quiet=True,
                                      overwrite=True)
    assert res.frames == 72 and target.exists() and not work.exists()


def test_damaged_segment_is_redone(fast, film, tmp_path):
    """A segment whose video does not have its recorded size (a torn write) is not trusted."""
    opts = ColorizeOptions(codec="ffv1", **fast)
    target = tmp_path / "out.mkv"

    def stop(n):
        if n > 50:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        segments.colorize_segmented(film, target, opts, seconds=1.0, quiet=True, on_batch=stop)
    work = segments.work_dir(target)
    rec = json.loads((work / "seg_00001.json").read_text())
    with open(work / rec["file"], "r+b") as f:
        f.truncate(rec["bytes"] // 2)
    segments.colorize_segmented(film, target, opts, seconds=1.0, quiet=True)
    segments.colorize_segmented(film, tmp_path / "ref.mkv", opts, seconds=1.0, quiet=True)
    assert video_packets(target) == video_packets(tmp_path / "ref.mkv")


def test_segmented_image_sequence_input(fast, image_seq, tmp_path):
    """Frames of a folder, at --fps, cut by time like a video."""
    opts = ColorizeOptions(fps=4, codec="ffv1", **fast)
    segments.colorize_segmented(image_seq, tmp_path / "seg.mkv", opts, seconds=1.0, quiet=True)
    colorize_video(image_seq, tmp_path / "one.mkv", quiet=True, **opts.kwargs())
    a, b = decode_timed(tmp_path / "one.mkv"), decode_timed(tmp_path / "seg.mkv")
    assert len(b) == 12 and [t for t, _ in a] == [t for t, _ in b]
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b))


def test_resume_refuses_image_outputs(fast, film, tmp_path):
    with pytest.raises(OptionError, match="write videos"):
        segments.colorize_segmented(film, tmp_path / "frames", ColorizeOptions(**fast), quiet=True)


KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import conftest  # registers the test-only model
from vidcolor.cli import main
main(["colorize", {film!r}, "-o", {out!r}, "--model", "tiny", "--weights", {weights!r}, "--device", "cpu", "--resume",
      "--segment-seconds", "0.5", "--codec", "ffv1", "-q"])
"""


@pytest.mark.timeout(600)
def test_kill_9_at_random_moments_then_resume_gives_identical_output(fast, tmp_path):
    """SIGKILL (no cleanup at all) at random moments, several times; each rerun continues; the
    final file has the frames, timestamps and audio packets of an uninterrupted run. Lossless
    (ffv1), so that equal packets mean equal frames: the libx264 in PyAV's wheel gives different
    bytes for the same frames from run to run when it uses threads, interrupted or not
    (benchmarks/RESULTS.md, "Archive scale"); its timestamps are checked above."""
    film = synth.write_clip(tmp_path / "long.mp4", pan_frames(480, w=320, h=240), fps=24)   # 20 s, 40 segments
    tests = str(Path(__file__).parent)

    def start(out: Path) -> subprocess.Popen:
        code = KILL_SCRIPT.format(tests=tests, film=str(film), out=str(out), weights=fast["weights"])
        return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    t0 = time.monotonic()
    p = start(tmp_path / "whole.mkv")
    assert p.wait(timeout=300) == 0, p.stderr.read().decode()
    whole = time.monotonic() - t0

    target = tmp_path / "killed.mkv"
    work = segments.work_dir(target)
    rng = random.Random(16)
    kills, progress = 0, []
    for _ in range(4):
        p = start(target)
        time.sleep(rng.uniform(0.3, 0.5) * whole)
        if p.poll() is not None:                    # finished before this kill
            break
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        kills += 1
        progress.append(len(list(work.glob("seg_*.json"))) if work.exists() else 0)
    assert kills >= 3, f"the run finished before it could be killed 3 times ({whole:.1f} s per run)"
    assert max(progress) > 0, f"no kill came after a complete segment ({progress}, {whole:.1f} s per run)"
    if not target.exists() or work.exists():        # (a kill between the join's rename and the cleanup)
        p = start(target)
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()
    assert video_packets(target) == video_packets(tmp_path / "whole.mkv")     # frames, timestamps, bytes
    assert audio_packets(target) == audio_packets(tmp_path / "whole.mkv")
    assert len(decode_timed(target)) == 480
    assert not leftovers(tmp_path), leftovers(tmp_path)


# --- many inputs ---------------------------------------------------------------------

@pytest.fixture
def archive(tmp_path, clips) -> Path:
    """archive/a.mp4, archive/reel2/b.mkv, archive/reel2/broken.mp4 (text), archive/.hidden.mp4."""
    root = tmp_path / "archive"
    (root / "reel2").mkdir(parents=True)
    (root / "a.mp4").write_bytes(clips["mp4_aac"].read_bytes())
    (root / "reel2" / "b.mkv").write_bytes(clips["mkv_opus"].read_bytes())
    (root / "reel2" / "broken.mp4").write_text("not a video")
    (root / ".hidden.mp4").write_bytes(clips["mp4_aac"].read_bytes())
    return root


def test_plan_mirrors_names_suffix_and_ext(archive, tmp_path, image_seq):
    items = batch.plan([str(archive)], tmp_path / "out", suffix="_color")
    assert [i.name for i in items] == ["a_color.mp4", "reel2/b_color.mp4", "reel2/broken_color.mp4"]
    assert items[1].output == tmp_path / "out" / "reel2" / "b_color.mp4"
    items = batch.plan([str(archive / "a.mp4"), str(image_seq)], tmp_path / "out", ext="mkv")
    assert [i.name for i in items] == ["a.mkv", image_seq.name + ".mkv"]
    assert batch.plan([str(archive / "a.mp4")], tmp_path / "o", codec="ffv1")[0].name == "a.mkv"
    with pytest.raises(OptionError, match="would both be written"):
        batch.plan([str(archive / "a.mp4"), str(archive / "a.mp4")], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no videos"):
        batch.plan([str(tmp_path / "empty")], tmp_path / "o2")


def test_is_many_keeps_the_single_input_meaning(archive, image_seq):
    assert not batch.is_many([str(archive / "a.mp4")])                # -o is the output file / image folder
    assert not batch.is_many([str(image_seq)])                        # a folder of images is one film
    assert batch.is_many([str(archive)])                              # a folder of videos
    assert batch.is_many([str(archive / "a.mp4")], ext=".mkv")
    assert batch.is_many([str(archive / "*.mp4")])
    assert batch.is_many([str(archive / "a.mp4"), str(archive / "a.mp4")])


def test_cli_many_inputs_report_skip_and_exit_code(fast, archive, tmp_path):
    out = tmp_path / "out"
    args = ["colorize", str(archive), "-o", str(out), "--model", "tiny", "--weights", fast["weights"], "--device", "cpu", "-q"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1, r.output
    assert "FAILED   reel2/broken.mp4" in r.output and "cannot be opened as media" in r.output
    assert "2 done, 0 skipped, 1 failed" in r.output and "Traceback" not in r.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4")) == ["a.mp4", "reel2/b.mp4"]
    assert len(decode_timed(out / "reel2" / "b.mp4")) == 12
    assert audio_packets(out / "a.mp4") == audio_packets(archive / "a.mp4")
    mtime = (out / "a.mp4").stat().st_mtime_ns
    (archive / "reel2" / "broken.mp4").unlink()
    r = CliRunner().invoke(main, args)                                # the rerun does only what is left
    assert r.exit_code == 0 and "0 done, 2 skipped, 0 failed" in r.output
    assert (out / "a.mp4").stat().st_mtime_ns == mtime
    assert not leftovers(tmp_path)


def test_cli_refuses_guidance_with_many_inputs(archive, tmp_path):
    r = CliRunner().invoke(main, ["colorize", str(archive), "-o", str(tmp_path / "o"), "--exemplar",
                                  str(archive / "a.mp4")])
    assert r.exit_code == 1 and "guide one film" in r.output


@pytest.mark.timeout(300)
def test_jobs_2_runs_films_in_parallel_processes_with_the_same_result(archive, tmp_path):
    """--jobs 2 (two worker processes; the shipped model, which they can load) writes the same
    frames as --jobs 1."""
    (archive / "reel2" / "broken.mp4").unlink()
    common = ["--model", "compact", "--size", "64", "--device", "cpu", "--codec", "ffv1", "-q"]
    r1 = CliRunner().invoke(main, ["colorize", str(archive), "-o", str(tmp_path / "o1"), *common])
    r2 = CliRunner().invoke(main, ["colorize", str(archive), "-o", str(tmp_path / "o2"), "--jobs", "2", *common])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    for name in ("a.mkv", "reel2/b.mkv"):
        a, b = decode_timed(tmp_path / "o1" / name), decode_timed(tmp_path / "o2" / name)
        assert len(a) == len(b) == 12
        assert all(np.abs(x.astype(int) - y.astype(int)).max() <= 1 for (_, x), (_, y) in zip(a, b))


def test_cli_resume_single_film(fast, film, tmp_path):
    out = tmp_path / "o.mp4"
    r = CliRunner().invoke(main, ["colorize", str(film), "-o", str(out), "--resume", "--segment-seconds", "1",
                                  "--model", "tiny", "--weights", fast["weights"], "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    assert len(decode_timed(out)) == 72 and not segments.work_dir(out).exists()
    r = CliRunner().invoke(main, ["colorize", str(film), "-o", str(out), "--resume", "--model", "tiny"])
    assert r.exit_code == 1 and "already exists" in r.output
