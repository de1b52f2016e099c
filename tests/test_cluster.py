"""colorize on a real local Ray instance (2 CPUs): the same results as on one machine.

The workers import vidcolor but not this test suite, so these tests use the shipped ``compact``
model (at 64 px, fast). Outputs are compared with the local runs losslessly (ffv1): the Ray
tasks must give the very same frames.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import audio_packets, decode_timed, pan_frames
from test_archive import leftovers, video_packets
from vidcolor import batch, cluster, segments
from vidcolor.cli import main
from vidcolor.errors import OptionError
from vidcolor.media import synth
from vidcolor.pipeline import ColorizeOptions

pytestmark = pytest.mark.timeout(300)

COMMON = ["--model", "compact", "--size", "64", "--device", "cpu", "--codec", "ffv1", "-q"]


@pytest.fixture(scope="module")
def films(tmp_path_factory) -> Path:
    """films/short.mp4 (12 frames, AAC), films/reel2/long.mp4 (3 s: three 1 s segments, AAC)."""
    root = tmp_path_factory.mktemp("films")
    (root / "reel2").mkdir()
    synth.write_clip(root / "short.mp4", pan_frames(12), fps=24)
    synth.write_clip(root / "reel2" / "long.mp4", pan_frames(72), fps=24)
    return root


def same_frames(a: Path, b: Path) -> None:
    fa, fb = decode_timed(a), decode_timed(b)
    assert [t for t, _ in fa] == [t for t, _ in fb] and fa
    for (_, x), (_, y) in zip(fa, fb):
        np.testing.assert_array_equal(x, y)
    assert audio_packets(a) == audio_packets(b)


def test_ray_runs_films_and_segments_with_the_local_results(ray_local, films, tmp_path):
    """The short film as one task, the long one as three segment tasks joined by the driver:
    frames, timestamps and audio equal the local run's (--resume for the segmented film)."""
    ray_out, local = tmp_path / "ray", tmp_path / "local"
    r = CliRunner().invoke(main, ["colorize", str(films), "-o", str(ray_out), "--ray", "--segment-seconds", "1",
                                  *COMMON])
    assert r.exit_code == 0, r.output
    assert "2 done, 0 skipped, 0 failed (84 frames colorized)" in r.output
    r = CliRunner().invoke(main, ["colorize", str(films / "short.mp4"), "-o", str(local / "short.mkv"), *COMMON])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["colorize", str(films / "reel2" / "long.mp4"), "-o", str(local / "long.mkv"),
                                  "--resume", "--segment-seconds", "1", *COMMON])
    assert r.exit_code == 0, r.output
    same_frames(ray_out / "short.mkv", local / "short.mkv")
    same_frames(ray_out / "reel2" / "long.mkv", local / "long.mkv")
    assert video_packets(ray_out / "reel2" / "long.mkv") == video_packets(local / "long.mkv")
    assert len(decode_timed(ray_out / "reel2" / "long.mkv")) == 72
    assert not leftovers(tmp_path)
    r = CliRunner().invoke(main, ["colorize", str(films), "-o", str(ray_out), "--ray", *COMMON])
    assert r.exit_code == 0 and "0 done, 2 skipped" in r.output            # a rerun does only what is left


def _die_once(marker: str):
    """An on_batch hook for segment tasks: the first task to reach it kills its own worker
    process (as an out-of-memory kill would), after it has written frames of its segment."""
    def hook(n: int) -> None:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os._exit(1)
    return hook


def test_a_dead_worker_is_retried_and_its_partial_segment_discarded(ray_local, films, tmp_path):
    ray_local.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    film = films / "reel2" / "long.mp4"
    opts = ColorizeOptions(model="compact", size=64, device="cpu", codec="ffv1")
    item = batch.Item(film, tmp_path / "ray.mkv", "ray.mkv")
    marker = tmp_path / "died"
    out = batch.colorize_on_ray([item], opts, None, resume=True, seconds=1.0, quiet=True,
                                segment_hook=_die_once(str(marker)))
    assert marker.exists(), "no worker was killed"
    assert [o.state for o in out] == ["done"], out
    segments.colorize_segmented(film, tmp_path / "local.mkv", opts, seconds=1.0, quiet=True)
    assert video_packets(tmp_path / "ray.mkv") == video_packets(tmp_path / "local.mkv")
    assert not leftovers(tmp_path)


def test_ray_reports_a_bad_film_and_goes_on(ray_local, films, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.mp4").write_bytes((films / "short.mp4").read_bytes())
    (src / "bad.mp4").write_text("not a video")
    r = CliRunner().invoke(main, ["colorize", str(src), "-o", str(tmp_path / "out"), "--ray", *COMMON])
    assert r.exit_code == 1
    assert "FAILED   bad.mkv" in r.output and "cannot be opened as media" in r.output
    assert "1 done, 0 skipped, 1 failed" in r.output and "Traceback" not in r.output
    assert len(decode_timed(tmp_path / "out" / "good.mkv")) == 12


def test_ray_before_the_inputs_takes_them_as_inputs(ray_local, films, tmp_path):
    out = tmp_path / "o.mkv"
    r = CliRunner().invoke(main, ["colorize", "--ray", str(films / "short.mp4"), "-o", str(out), *COMMON])
    assert r.exit_code == 0, r.output
    assert len(decode_timed(out)) == 12


def test_address_and_install_errors_are_one_line(films, tmp_path, monkeypatch):
    with pytest.raises(OptionError, match="not a Ray address"):
        cluster.check_address("no-such-thing")
    assert cluster.split_address("10.0.0.1:6379", ("a.mp4",)) == ("10.0.0.1:6379", ("a.mp4",))
    r = CliRunner().invoke(main, ["colorize", str(films), "-o", str(tmp_path / "o"), "--ray=nowhere", *COMMON])
    assert r.exit_code == 1 and "not a Ray address" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["colorize", str(films), "-o", str(tmp_path / "o"), "--ray", "--jobs", "2", *COMMON])
    assert r.exit_code == 1 and "--jobs is for one machine" in r.output
    assert not (tmp_path / "o").exists()

    def missing():
        raise OptionError('--ray needs Ray: pip install "vidcolor[cluster]"')

    monkeypatch.setattr(cluster, "require", missing)
    r = CliRunner().invoke(main, ["colorize", str(films), "-o", str(tmp_path / "o"), "--ray", *COMMON])
    assert r.exit_code == 1 and 'pip install "vidcolor[cluster]"' in r.output
