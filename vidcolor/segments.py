"""Long films in closed segments: runs that resume after any interruption, and per-segment cluster tasks.

A segmented run (``colorize --resume``, and long films under ``--ray``) cuts the film's timeline
every ``seconds`` (``--segment-seconds``) of source time. Segment ``k`` holds the frames whose pts
lies in ``[first + k*L, first + (k+1)*L)``; the last one runs to the end of the film. Each is
encoded on its own, so it starts on an encoder keyframe, into the work folder beside the target
(``.NAME.vidcolor-work/``):

- ``plan.json``: the input (path, size, modification time) and every setting that shapes the
  output. A resumed run must match it (else one line says what differs); ``--overwrite`` starts over.
- ``seg_00003.mp4`` (the target's container) + ``seg_00003.json``: a closed segment. The JSON is written last (after the
  video is flushed to disk), holds the video's size and the encoder's own (pts, dts, duration)
  of every packet (a container may round timestamps: the join puts back the encoder's), and
  marks the segment complete. Anything else in the folder (a segment being written when the run
  was killed) is deleted on the next start.

The temporal stage carries colour from frame to frame, so a segment does not start cold: it is
run, unwritten, over the ``overlap`` frames before its start, enough for the weight of anything
older to fall below :data:`~vidcolor.options.SEGMENT_SEAM_WEIGHT` (31 frames at strength 0.8).
Every segment is computed the same way, whether the run was interrupted or not, and wherever it
runs: a resumed run, an uninterrupted one and a cluster run give the same frames, bit for bit.

When every segment is complete, :func:`join` copies their packets (no re-encoding) into the
target's container with the source's audio, muxed once, and renames the result into place; the
work folder is then removed. The target has the frame count, timestamps and audio packets of an
uninterrupted run. Guidance (``--reference``, ``--hints``, ``--exemplar``) is not segmented: it
reads the whole film first.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from . import __version__, options
from .errors import InputError, OptionError, OutputError, StageError
from .media.base import Frame, Sink
from .media.files import describe_os_error, is_temp, make_folder, remove, temp_path, write_json

WORK_TAG = ".vidcolor-work"
SEEK_MARGIN_S = 1.0          # seek this much before the first frame a segment needs


def work_dir(final: str | os.PathLike) -> Path:
    """The work folder of a segmented run: hidden, beside the target, named after it (the same
    for every run, so that a new process finds what an interrupted one left)."""
    final = Path(final)
    return final.with_name(f".{final.name}{WORK_TAG}")


def overlap_frames(temporal: str, strength: float | None) -> int:
    """Frames run before a segment's start so that its temporal state is that of an unbroken run:
    enough for the past's weight (``strength ** n``) to fall below :data:`~vidcolor.options.SEGMENT_SEAM_WEIGHT`,
    at most :data:`~vidcolor.options.SEGMENT_MAX_OVERLAP`; 0 without a temporal stage."""
    if temporal == "none":
        return 0
    s = options.TEMPORAL_STRENGTH if strength is None else float(strength)
    if s <= 0:
        return 1                                   # the scene detector still compares with the previous frame
    n = math.ceil(math.log(options.SEGMENT_SEAM_WEIGHT) / math.log(s))
    return max(1, min(options.SEGMENT_MAX_OVERLAP, n))


def fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to the disk, so a rename after it survives a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass                                       # some file systems cannot sync a folder
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Plan:
    """How a film is cut: every setting that shapes the output, and the segments' pts borders."""

    input: str
    input_bytes: int
    input_mtime_ns: int
    output: str
    settings: dict
    seconds: float
    overlap: int
    first_pts: int
    time_base: tuple[int, int]
    step: int                 # segment length in pts
    segments: int
    version: str = __version__

    @property
    def tb(self):
        from fractions import Fraction

        return Fraction(*self.time_base)

    def bounds(self, k: int) -> tuple[int, int | None]:
        """Segment ``k``'s pts range ``[start, end)``; the last one's end is None (the end of the film)."""
        start = self.first_pts + k * self.step
        return start, (None if k == self.segments - 1 else start + self.step)

    def to_json(self) -> dict:
        return {**self.__dict__, "time_base": list(self.time_base)}

    def differences(self, other: dict) -> list[str]:
        """The fields in which a recorded plan differs from this one, as ``name: old -> new``."""
        mine = self.to_json()
        out = []
        for k in sorted(set(mine) | set(other)):
            if k == "settings":
                a, b = other.get(k) or {}, mine[k]
                out += [f"{n}: {a.get(n)!r} -> {b.get(n)!r}" for n in sorted(set(a) | set(b)) if a.get(n) != b.get(n)]
            elif mine.get(k) != other.get(k):
                out.append(f"{k}: {other.get(k)!r} -> {mine.get(k)!r}")
        return out


def make_plan(source, input: Path, output: Path, settings: dict, seconds: float, overlap: int) -> Plan:
    """Cut ``source`` (an open video or image-sequence source) every ``seconds``."""
    seconds = options.check_range("--segment-seconds", seconds, 0.0, lo_open=True)
    tb = source.time_base
    step = max(1, int(round(seconds / tb)))
    duration = source.frame_count / float(source.fps) if source.frame_count else None
    n = max(1, math.ceil(duration / seconds - 1e-9)) if duration else 1
    st = input.stat()
    return Plan(str(input.resolve()), st.st_size, st.st_mtime_ns, str(output.resolve()), settings, float(seconds),
                int(overlap), int(source.first_pts), (tb.numerator, tb.denominator), step, n)


class Work:
    """A work folder: its plan, its complete segments, and their cleanup."""

    def __init__(self, final: Path, plan: Plan):
        self.final, self.plan = Path(final), plan
        self.dir = work_dir(final)

    def seg(self, k: int, ext: str) -> Path:
        return self.dir / f"seg_{k:05d}{ext}"

    def open(self, overwrite: bool = False) -> list[int]:
        """Create or take up the folder -> indices of the segments already complete. A folder made
        with other settings is an OptionError (``overwrite``: it is cleared instead)."""
        make_folder(self.dir, self.final)
        plan_file = self.dir / "plan.json"
        if plan_file.exists():
            try:
                old = json.loads(plan_file.read_text())
            except (OSError, ValueError):
                old = None
            diff = self.plan.differences(old) if isinstance(old, dict) else ["plan.json is unreadable"]
            if diff:
                if not overwrite:
                    raise OptionError(f"{self.dir} holds an interrupted run of {self.final} with other settings "
                                      f"({'; '.join(diff[:4])}); rerun with the same options to resume it, or "
                                      "pass --overwrite to start over")
                remove(self.dir)
                make_folder(self.dir, self.final)
        write_json(plan_file, self.plan.to_json())
        for p in self.dir.iterdir():                  # what a killed run was writing
            if is_temp(p):
                remove(p)
        return [k for k in range(self.plan.segments) if self.complete(k) is not None]

    def complete(self, k: int) -> dict | None:
        """Segment ``k``'s record if it is complete (its record exists and its video has the
        recorded size), else None (and whatever is left of it is removed)."""
        rec_path = self.seg(k, ".json")
        try:
            rec = json.loads(rec_path.read_text())
            media = self.dir / rec["file"] if rec.get("file") else None
            if media is None or media.stat().st_size == rec["bytes"]:
                return rec
        except (OSError, ValueError, KeyError, TypeError):
            pass
        for p in self.dir.glob(f"seg_{k:05d}.*"):
            remove(p)
        return None

    def remove(self) -> None:
        remove(self.dir)


class _SegmentSink(Sink):
    """Writes the frames of ``[start, ...)`` to a segment's video (the warm-up frames before
    ``start`` went through the model and the temporal stage only to set its state), then the
    segment's record."""

    def __init__(self, inner, start: int, work: Work, k: int):
        self.inner, self.start, self.work, self.k = inner, start, work, k
        self.final = inner.final
        self.first_pts = self.last_pts = None

    def write(self, rgb, frame: Frame) -> None:
        if frame.pts is not None and frame.pts < self.start:
            return
        self.inner.write(rgb, frame)
        self.frames_written = self.inner.frames_written
        if self.first_pts is None:
            self.first_pts = frame.pts
        self.last_pts = frame.pts

    def _write(self, rgb, frame: Frame) -> None:       # write() is overridden
        raise NotImplementedError

    def finish(self) -> Path:
        media = self.inner.finish()
        fsync(media)
        rec = {"index": self.k, "file": media.name, "bytes": media.stat().st_size, "frames": self.frames_written,
               "first_pts": self.first_pts, "last_pts": self.last_pts, "packets": self.inner.packets}
        rec_path = self.work.seg(self.k, ".json")
        write_json(rec_path, rec, indent=None)
        fsync(rec_path)
        fsync(self.work.dir)
        return media

    _finish = finish

    def abort(self) -> None:
        self.inner.abort()


def _pts(f: Frame, tb: float) -> int:
    return f.pts if f.pts is not None else int(round(f.time / tb))


def segment_frames(source, start: int, end: int | None, overlap: int) -> Iterator[Frame]:
    """The ``overlap`` frames before pts ``start`` (fewer at the film's start), then the frames of
    ``[start, end)``, decoded after a seek: the same frames as a run from the beginning gives.
    A seek that lands after the frames the warm-up needs (a damaged index) falls back to
    decoding from the beginning."""
    tb = float(source.time_base)
    need = start - (overlap + 2) / (float(source.fps) * tb)     # the earliest pts the warm-up may need
    later = start > source.first_pts
    if later:
        source.seek(int(need - SEEK_MARGIN_S / tb))
    frames = iter(source)
    first = next(frames, None)
    if later and first is not None and source.first_pts < _pts(first, tb) > need:
        source.seek(source.first_pts)
        frames = iter(source)
        first = next(frames, None)
    if first is None:
        return
    warm: deque = deque(maxlen=overlap)
    for f in itertools.chain([first], frames):
        pts = _pts(f, tb)
        if pts < start:
            if overlap:
                warm.append(f)
            continue
        if end is not None and pts >= end:
            break
        yield from warm
        warm.clear()
        yield f


class _Window:
    """A source restricted to one segment's frames (with its warm-up), for :func:`pipeline.run`."""

    def __init__(self, source, frames: Iterator[Frame]):
        self.path, self.kind = source.path, source.kind
        self.width, self.height, self.fps = source.width, source.height, source.fps
        self.time_base, self.frame_count = source.time_base, None
        self._frames = frames

    def __iter__(self):
        return self._frames

    def close(self) -> None:
        pass


def run_segment(input: Path, work: Work, k: int, engine, opts, notify=None,
                on_frames: Callable[[int], None] | None = None) -> dict:
    """Colorize segment ``k`` of ``input`` into the work folder with ``engine`` (its temporal stage
    is reset first) -> the segment's record. ``opts``: :class:`~vidcolor.pipeline.ColorizeOptions`."""
    from .media import open_source
    from .media.video import VideoSink
    from .pipeline import run

    plan = work.plan
    start, end = plan.bounds(k)
    if engine.smoother is not None:
        engine.smoother.reset()
    source = open_source(input, fps=opts.fps)
    try:
        window = _Window(source, segment_frames(source, start, end, plan.overlap))
        media = work.seg(k, work.final.suffix)   # the target's container holds the codec; timestamps come from the record
        inner = VideoSink(media, source.width, source.height, source.fps, time_base=source.time_base,
                          codec=opts.codec, crf=opts.crf, preset=opts.preset, notify=notify or (lambda m: None),
                          keep_timing=True, record_packets=True)
        # the temporary is named after this process: a killed run's is found and removed by Work.open
        sink = _SegmentSink(inner, start, work, k)
        cb = (lambda n: on_frames(sink.frames_written)) if on_frames is not None else None
        run(window, sink, engine, batch_size=opts.batch_size, progress=False, on_batch=cb)
    finally:
        source.close()
    rec = work.complete(k)
    if rec is None:
        raise OutputError(f"segment {k} of {work.final} was written but cannot be read back from {work.dir}")
    return rec


def join(work: Work, source_path: Path, has_audio: bool, notify=None) -> Path:
    """Copy the complete segments' packets, with the encoder's own timestamps, and the source's
    audio into ``work.final`` (atomically); then remove the work folder."""
    import av

    from .media.video import AudioCopy

    final = work.final
    recs = [work.complete(k) for k in range(work.plan.segments)]
    missing = [k for k, r in enumerate(recs) if r is None]
    if missing:
        raise StageError(f"cannot join {final}: segment(s) {', '.join(map(str, missing))} are not complete")
    recs = [r for r in recs if r["frames"]]
    if not recs:
        raise InputError(f"{source_path} has no frames to write")
    tb = work.plan.tb
    tmp = temp_path(final)
    out = audio = None
    try:
        out = av.open(str(tmp), mode="w")
        with av.open(str(work.dir / recs[0]["file"])) as first:
            vs = out.add_stream_from_template(first.streams.video[0])
            extradata = first.streams.video[0].codec_context.extradata
        vs.time_base = tb
        if has_audio:
            audio = AudioCopy(out, Path(source_path), final, notify or (lambda m: None))
        for rec in recs:
            with av.open(str(work.dir / rec["file"])) as c:
                s = c.streams.video[0]
                if s.codec_context.extradata != extradata:
                    raise StageError(f"cannot join {final}: segment {rec['index']} was encoded with other "
                                     f"settings; delete {work.dir} and run again")
                packets = [p for p in c.demux(s) if p.size]
                if len(packets) != len(rec["packets"]):
                    raise StageError(f"cannot join {final}: segment {rec['index']} in {work.dir} is damaged "
                                     f"({len(packets)} packets, {len(rec['packets'])} recorded); delete it and resume")
                for p, (pts, dts, dur) in zip(packets, rec["packets"]):
                    p.pts, p.dts, p.duration, p.time_base = pts, dts, dur, tb
                    if audio is not None:
                        audio.until(float((dts if dts is not None else pts) * tb))
                    p.stream = vs
                    out.mux(p)
        if audio is not None:
            audio.finish()
            audio.close()
            audio = None
        out.close()
        out = None
        fsync(tmp)
        os.replace(tmp, final)
        fsync(final.parent)
    except (OSError, av.FFmpegError) as e:
        raise OutputError(describe_os_error(e, final)) from None
    finally:
        if audio is not None:
            audio.close()
        if out is not None:
            try:
                out.close()
            except Exception:  # noqa: BLE001 - already failing
                pass
        remove(tmp)
    work.remove()
    return final


def settings_of(opts) -> dict:
    """The recorded settings of a :class:`~vidcolor.pipeline.ColorizeOptions` (``device`` and
    ``batch_size`` do not change which frames come out, so a run may resume on another machine)."""
    d = dict(opts.kwargs())
    for k in ("device", "batch_size"):
        d.pop(k, None)
    if d.get("weights"):
        w = Path(d["weights"])
        d["weights"] = str(w.resolve())
        try:
            d["weights_bytes"] = w.stat().st_size
        except OSError:
            pass
    return d


def prepare(input: Path, output: Path, opts, seconds: float = options.SEGMENT_SECONDS,
            overwrite: bool = False) -> tuple[Work, list[int], bool, int | None]:
    """Check a segmented run of ``input`` into ``output`` and take up its work folder -> (work,
    complete segment indices, whether the source has audio, its frame count or None)."""
    from .media import open_source, sink_kind
    from .media.files import check_output

    source = open_source(input, fps=opts.fps)
    try:
        kind = sink_kind(output, source)
        if kind != "video":
            raise OptionError(f"--resume and cluster segments write videos; {output} is an image output: "
                              "give a .mp4/.mkv/.mov output")
        check_output(output, [input], overwrite)
        from .temporal import check as check_temporal

        check_temporal(opts.temporal, opts.temporal_strength, scene_threshold=opts.scene_threshold)
        plan = make_plan(source, input, output, settings_of(opts), seconds,
                         overlap_frames(opts.temporal, opts.temporal_strength))
        has_audio = bool(getattr(source, "audio_streams", None))
        total = source.frame_count
    finally:
        source.close()
    work = Work(output, plan)
    done = work.open(overwrite=overwrite)
    return work, done, has_audio, total


def colorize_segmented(input, output, opts, seconds: float = options.SEGMENT_SECONDS, overwrite: bool = False,
                       quiet: bool = False, notify=None, on_batch: Callable[[int], None] | None = None,
                       engine=None):
    """``colorize --resume``: colorize ``input`` into ``output`` segment by segment, skipping the
    segments an earlier, interrupted run completed, then join them -> :class:`~vidcolor.pipeline.Result`.

    A target that exists beside a work folder was joined by a run killed before it removed the
    folder: the folder is removed and the target returned as it is."""
    import sys

    from tqdm import tqdm

    from .pipeline import Result, Stats

    input, output = Path(input), Path(output)
    opts = opts.check()
    if output.exists() and work_dir(output).exists() and not overwrite:
        remove(work_dir(output))
        if notify:
            notify(f"{output} was already joined by an earlier run; removed its work folder")
        return Result(output, 0, 0.0, Stats())
    work, done, has_audio, total = prepare(input, output, opts, seconds, overwrite)
    t0 = time.perf_counter()
    stats = Stats()
    done_frames = sum(work.complete(k)["frames"] for k in done)
    bar = tqdm(total=total, initial=done_frames, unit="frame", dynamic_ncols=True, file=sys.stderr,
               disable=quiet or not sys.stderr.isatty(), desc="colorize")
    if done and notify:
        notify(f"resuming {output}: {len(done)} of {work.plan.segments} segments already done "
               f"({done_frames} frames)")
    written = done_frames
    try:
        todo = [k for k in range(work.plan.segments) if k not in done]
        if todo:
            if engine is None:
                engine = opts.engine(notify=notify, stats=stats)
            else:
                engine.stats = stats
        for k in todo:
            base = written

            def frames_cb(n, base=base):
                bar.n = base + n
                bar.refresh()
                if on_batch is not None:
                    on_batch(base + n)

            rec = run_segment(input, work, k, engine, opts, notify=notify, on_frames=frames_cb)
            written = base + rec["frames"]
        join(work, input, has_audio, notify=notify)
    except KeyboardInterrupt:
        if notify:
            kept = sum(work.complete(k) is not None for k in range(work.plan.segments))
            notify(f"stopped: {kept} of {work.plan.segments} segments of {output} are kept in {work.dir}; "
                   "run the same command again to resume")
        raise
    finally:
        bar.close()
    stats.frames = written
    return Result(output, written, time.perf_counter() - t0, stats)
