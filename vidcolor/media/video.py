"""Video files through PyAV: a streaming source and a sink that keeps timing and audio.

Source: any codec and pixel format FFmpeg decodes (gray, yuv420p, yuv420p10le,
rgb24, ...) is converted to RGB uint8; every frame keeps its pts and time; a
display-matrix rotation is applied so frames come out upright. With ``planes=True``
an 8-bit 4:2:0 stream's frames also carry the decoder's own Y, U, V planes and
their RGB is made only when first read (see :class:`VideoSource`).

Sink: H.264 (libx264, yuv420p) by default, or an archival codec (ffv1, prores);
frames are encoded with the source's pts and time base so a variable frame rate
survives; the source's audio streams are copied packet for packet when the
output container accepts their codec, otherwise re-encoded (one-line notice).
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from .. import options
from ..errors import InputError, OptionError, OutputError
from ..options import CODECS
from .base import Frame, Sink
from .files import describe_os_error, make_parent, remove, temp_path

log = logging.getLogger("vidcolor")

SUBSAMPLED = {"yuv420p"}
#: decoder pixel formats whose planes ``VideoSource(planes=True)`` hands out as they are
PLANAR_420 = {"yuv420p", "yuvj420p"}


def _open_input(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder with no images in it")
    try:
        return av.open(str(path), mode="r")
    except av.FFmpegError as e:
        raise InputError(f"{path} cannot be opened as media: {e.strerror or type(e).__name__} "
                         "(not a video, or truncated/corrupt)") from None


def _plane_views(frame: av.VideoFrame) -> tuple[np.ndarray, ...] | None:
    """The planes of a decoded 8-bit planar frame as read-only numpy views (no copy, no
    swscale); None when a plane is stored bottom-up (negative line size)."""
    out = []
    for plane in frame.planes:
        if plane.line_size < 0:
            return None
        a = np.ndarray((plane.height, plane.width), np.uint8, buffer=plane, strides=(plane.line_size, 1))
        a.flags.writeable = False
        out.append(a)
    return tuple(out)


def _upright(a: np.ndarray, rot: int) -> np.ndarray:
    """Undo a display-matrix rotation of ``rot`` degrees (counter-clockwise) on HxW[xC]."""
    return np.ascontiguousarray(np.rot90(a, k=rot // 90)) if rot else a


class VideoSource:
    """Decode a video file's first video stream frame by frame (constant memory).

    planes: False (default): every frame's RGB is made as it is decoded (in the thread
    that iterates the source), as a colorizer needs it. True: for 8-bit 4:2:0 streams
    (``yuv420p``/``yuvj420p``) each :class:`Frame` carries the decoder's own ``planes``
    (Y, U, V views into the decoded frame, rotated like the RGB when the stream has a
    display rotation) and its ``rgb`` is converted (PyAV/swscale, the same pixels as
    with ``planes=False``) only when first read, wherever that happens; a frame whose
    RGB is never read costs no conversion. The decoded frame stays referenced (not
    copied) as long as the Frame or its planes are, as ffmpeg's filters hold frames.
    Other pixel formats: RGB as usual, ``planes`` None.
    """

    kind = "video"

    def __init__(self, path: str | os.PathLike, planes: bool = False):
        self.path = Path(path)
        self.planes = bool(planes)
        self.container = _open_input(self.path)
        if not self.container.streams.video:
            self.container.close()
            raise InputError(f"{self.path} has no video stream")
        self.stream = self.container.streams.video[0]
        # frame + slice threads (PyAV's default is slice threading only, which an x264 stream
        # with one slice per frame cannot use): several times faster on many cores
        self.stream.thread_type = "AUTO"
        self.time_base = self.stream.time_base or Fraction(1, 90000)
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        self.fps = Fraction(rate) if rate else Fraction(25)
        self.audio_streams = list(self.container.streams.audio)
        self.rotation = 0
        self._decoder = self._decode()
        self._first = next(self._decoder, None)   # fail early: empty/corrupt files, true size
        if self._first is None:
            self.container.close()
            raise InputError(f"{self.path} has a video stream but no decodable frames")
        self.height, self.width = self._first.size
        #: pts of the first frame (0 when the stream has none)
        self.first_pts = self._first.pts if self._first.pts is not None else 0
        n = self.stream.frames
        if not n and self.stream.duration and self.time_base:
            n = int(round(float(self.stream.duration * self.time_base * self.fps)))
        elif not n and self.container.duration:
            n = int(round(self.container.duration / 1e6 * float(self.fps)))
        self.frame_count = n or None

    def _decode(self, start: int | None = 0) -> Iterator[Frame]:
        i = start
        try:
            for frame in self.container.decode(self.stream):
                if i is None:                   # after a seek: the index from the time
                    i = max(0, int(round((frame.pts - self.first_pts) * self.time_base * self.fps))) \
                        if frame.pts is not None else 0
                rot = int(round(getattr(frame, "rotation", 0) or 0)) % 360
                if rot:
                    self.rotation = rot
                t = float(frame.pts * self.time_base) if frame.pts is not None else i / float(self.fps)
                views = _plane_views(frame) if self.planes and frame.format.name in PLANAR_420 else None
                if views is not None:
                    out = Frame(i, None, frame.pts, t, duration=frame.duration or None,
                                planes=tuple(_upright(p, rot) for p in views),
                                make_rgb=lambda f=frame, r=rot: _upright(f.to_ndarray(format="rgb24"), r))
                else:
                    out = Frame(i, _upright(frame.to_ndarray(format="rgb24"), rot), frame.pts, t,
                                duration=frame.duration or None)
                del frame, views            # from here on only `out` keeps the decoded frame alive
                yield out
                out = None
                i += 1
        except av.FFmpegError as e:
            raise InputError(f"{self.path} is truncated or corrupt: decoding stopped after {i} frames "
                             f"({e.strerror or type(e).__name__})") from None

    @property
    def colorspace(self) -> tuple[str, bool]:
        """(matrix, full_range) that the RGB frames were made with: PyAV converts with the
        stream's tagged matrix (BT.709 if tagged so, else swscale's BT.601) and range."""
        cc = self.stream.codec_context
        space = int(getattr(cc, "colorspace", 2) or 2)
        rng = int(getattr(cc, "color_range", 0) or 0)
        return ("bt709" if space == 1 else "bt601"), rng == 2

    def __iter__(self) -> Iterator[Frame]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        yield from self._decoder

    def seek(self, pts: int) -> None:
        """Continue from the keyframe at or before ``pts`` (this stream's time base): the next
        frames iterated are those from that keyframe on (frames before ``pts`` included, so a
        caller that needs frames from an exact pts discards the ones before it). Frame indices
        after a seek are estimated from the time (exact for a constant frame rate)."""
        self._first = None
        self.container.seek(max(0, int(pts)), backward=True, any_frame=False, stream=self.stream)
        self._decoder = self._decode(start=None)

    def close(self) -> None:
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VideoSink(Sink):
    """Encode RGB frames to a video file written under a temporary name.

    ``finish()`` flushes, copies the rest of the audio and renames the file to
    its final name; ``abort()`` deletes it. Every frame must have the size given
    here (a video holds one size). ``keep_timing``: frames are written at their
    source ``pts`` (in ``time_base``) with their durations, so a variable frame rate
    survives; otherwise they are numbered 0, 1, 2, ... at ``fps``.
    """

    errors = (OSError, av.FFmpegError)

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: Fraction,
                 time_base: Fraction | None = None, codec: str = options.CODEC, crf: int | None = options.CRF,
                 preset: str | None = options.PRESET, audio_from: str | os.PathLike | None = None,
                 overwrite: bool = False, notify=None, keep_timing: bool = False, record_packets: bool = False):
        self.final = Path(path)
        #: (pts, dts, duration) of every encoded packet in :attr:`time_base`, as the encoder made
        #: them, when ``record_packets`` (segments: a container may round them, the join must not)
        self.packets: list[tuple[int | None, int | None, int]] | None = [] if record_packets else None
        self.tmp = temp_path(self.final)
        self.notify = notify or (lambda msg: log.warning(msg))
        self.width, self.height = width, height
        self.keep_timing = keep_timing
        pix_fmt, opts = CODECS[options.check_codec(codec)]
        opts = dict(opts)
        if codec in ("libx264", "h264", "libx265"):
            if crf is not None:
                opts["crf"] = str(crf)
            if preset:
                opts["preset"] = preset
        elif codec == "libvpx-vp9" and crf is not None:
            opts.update({"crf": str(crf), "b": "0"})
        self.pad = (0, 0)
        if pix_fmt in SUBSAMPLED and (width % 2 or height % 2):
            # 4:2:0 stores chroma per 2x2 block, so frame sizes (and H.264 crop offsets) are even:
            # pad one edge-replicated row/column rather than drop picture content.
            self.pad = (height % 2, width % 2)
            self.notify(f"note: {width}x{height} is odd; {codec} with 4:2:0 needs even sizes, writing "
                        f"{width + self.pad[1]}x{height + self.pad[0]} (last row/column repeated); "
                        "use --codec ffv1 to keep the exact size")
        make_parent(self.final)
        self.audio: AudioCopy | None = None
        self.out = None
        try:
            self.out = av.open(str(self.tmp), mode="w")
        except OSError as e:
            raise OutputError(describe_os_error(e, self.final)) from None
        except (av.FFmpegError, ValueError) as e:
            raise OutputError(f"cannot write {self.final}: unknown container '{self.final.suffix}' "
                              f"({getattr(e, 'strerror', None) or e}); use .mp4, .mkv, .mov or an image folder") from None
        try:
            self.stream = self.out.add_stream(codec, rate=fps, options=opts)
        except (av.FFmpegError, ValueError) as e:
            self._cleanup()
            raise OptionError(f"--codec {codec} cannot be stored in a {self.final.suffix} file ({e}); "
                              "ffv1 goes in .mkv, prores_ks in .mov or .mkv") from None
        self.stream.width = width + self.pad[1]
        self.stream.height = height + self.pad[0]
        self.stream.pix_fmt = pix_fmt
        self.time_base = Fraction(time_base) if time_base else Fraction(1, 1) / Fraction(fps)
        self.stream.codec_context.time_base = self.time_base
        self.stream.time_base = self.time_base
        if audio_from is not None:
            try:
                self.audio = AudioCopy(self.out, Path(audio_from), self.final, self.notify)
            except BaseException:
                self._cleanup()                 # no temporary file outlives a failed constructor
                raise
        self._next_pts = 0
        self._durations: dict[int, int] = {}
        self.frames_written = 0

    # --- video -----------------------------------------------------------------
    def _write(self, rgb: np.ndarray, frame: Frame) -> None:
        if rgb.shape[:2] != (self.height, self.width):
            h, w = rgb.shape[:2]
            raise InputError(f"{frame.name or f'frame {frame.index}'} is {w}x{h}, the first frame "
                             f"{self.width}x{self.height}: a video needs one size; write to an image folder instead")
        if self.keep_timing:
            self.encode(rgb, frame.pts, frame.time, frame.duration)
        else:
            self.encode(rgb)

    def encode(self, rgb: np.ndarray, pts: int | None = None, time: float | None = None,
               duration: int | None = None) -> None:
        """Encode one HxWx3 uint8 RGB frame at ``pts`` lasting ``duration`` (this sink's time base)."""
        if self.pad != (0, 0):
            rgb = np.pad(rgb, ((0, self.pad[0]), (0, self.pad[1]), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self._next_pts if pts is None else pts
        frame.time_base = self.time_base
        if duration:
            self._durations[frame.pts] = duration
        self._next_pts = frame.pts + 1
        if self.audio is not None:
            self.audio.until(float(frame.pts * self.time_base) if time is None else time)
        self._mux_video(self.stream.encode(frame))

    def _mux_video(self, packets) -> None:
        for packet in packets:
            # keep each frame's own duration (the last one matters for the average frame rate)
            d = self._durations.pop(packet.pts, None)
            if d:
                packet.duration = d
            if self.packets is not None:
                self.packets.append((packet.pts, packet.dts, packet.duration or 0))
            self.out.mux(packet)

    def _finish(self) -> Path:
        self._mux_video(self.stream.encode(None))
        if self.audio is not None:
            self.audio.finish()
        self._close_containers()
        os.replace(self.tmp, self.final)
        return self.final

    def _close_containers(self) -> None:
        if self.audio is not None:
            self.audio.close()
        if self.out is not None:
            self.out.close()
            self.out = None

    def _cleanup(self) -> None:
        try:
            self._close_containers()
        except Exception:  # noqa: BLE001 - we are already failing; keep the first error
            pass
        remove(self.tmp)

    def abort(self) -> None:
        self._cleanup()


class AudioCopy:
    """The audio streams of a source file, carried into an output container being written.

    Each stream is copied packet for packet when the output container accepts its codec,
    otherwise re-encoded (AAC in MP4/MOV, Opus elsewhere; one-line notice); a container that
    holds no audio drops it with a notice. :meth:`until` muxes the packets up to a time, so that
    audio and video interleave as they are written; :meth:`finish` muxes the rest and flushes
    the encoders. Used by :class:`VideoSink` (while encoding) and by the segment join (while
    copying video packets), so both carry the same packets.
    """

    def __init__(self, out: av.container.OutputContainer, src: Path, final: Path, notify):
        self.out, self.final, self.notify = out, Path(final), notify
        self.streams: list[tuple] = []            # (input stream, output stream, decoder or None, resampler)
        self._packets = None
        self._pending = None
        try:
            self._input = av.open(str(src))
        except av.FFmpegError as e:
            raise InputError(f"cannot copy the audio of {src}: {e.strerror or e}") from None
        try:
            self._add_streams()
        except BaseException as e:
            self.close()
            if isinstance(e, av.FFmpegError):
                raise InputError(f"cannot copy the audio of {src}: {e.strerror or e}") from None
            raise

    def _add_streams(self) -> None:
        inp = self._input
        accepted = self.out.supported_codecs
        suffix = self.final.suffix.lower()
        for ia in inp.streams.audio:
            name = ia.codec_context.name
            if name in accepted:
                self.streams.append((ia, self.out.add_stream_from_template(ia), None, None))
                continue
            enc = "aac" if suffix in (".mp4", ".m4v", ".mov") else "libopus"
            if enc not in accepted:
                enc = next((c for c in ("aac", "libopus", "flac", "mp3") if c in accepted), None)
            if enc is None:
                self.notify(f"note: {self.final.suffix} cannot hold audio; audio stream {ia.index} dropped")
                continue
            rate = ia.codec_context.sample_rate or 48000
            if enc == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
                rate = 48000
            oa = self.out.add_stream(enc, rate=rate)
            if ia.codec_context.layout:
                oa.layout = ia.codec_context.layout
            resampler = av.AudioResampler(format=oa.codec_context.format or "fltp", layout=oa.layout, rate=rate)
            self.notify(f"note: {self.final.suffix} does not accept {name} audio; re-encoding it as {enc}")
            self.streams.append((ia, oa, ia.codec_context, resampler))
        self._packets = inp.demux(*[a[0] for a in self.streams]) if self.streams else None

    def until(self, t: float | None) -> None:
        """Copy (or re-encode) the audio packets with time <= t (None: all that remain)."""
        if self._packets is None:
            return
        by_in = {a[0].index: a for a in self.streams}
        while True:
            pkt = self._pending
            if pkt is None:
                try:
                    pkt = next(self._packets)
                except (StopIteration, av.FFmpegError):
                    self._packets = None
                    return
            if t is not None and pkt.dts is not None and pkt.time_base is not None \
                    and float(pkt.dts * pkt.time_base) > t:
                self._pending = pkt
                return
            self._pending = None
            ia, oa, dec, resampler = by_in[pkt.stream.index]
            if dec is None:
                if pkt.dts is None:   # demuxer's flush packet: nothing to copy
                    continue
                pkt.stream = oa
                self.out.mux(pkt)
            else:
                for fr in dec.decode(pkt):
                    fr.pts = None
                    for rf in resampler.resample(fr):
                        self.out.mux(oa.encode(rf))

    def finish(self) -> None:
        """Mux every remaining packet and flush the re-encoders."""
        self.until(None)
        for _, oa, dec, resampler in self.streams:
            if dec is not None:
                for rf in resampler.resample(None):
                    self.out.mux(oa.encode(rf))
                for packet in oa.encode(None):
                    self.out.mux(packet)

    def close(self) -> None:
        """Close the source file (the output container is its owner's)."""
        if self._input is not None:
            self._input.close()
            self._input = None
