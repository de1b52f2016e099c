"""The streaming engine: source -> decode thread -> batches -> device -> model ->
temporal stage -> compose -> encode thread -> sink.

Memory is constant: two bounded queues hold at most a few batches, whatever the
length of the input. The luminance of every output pixel is the input's own
(full-resolution L); the model only predicts ab at ``size`` x ``size``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from . import color
from .errors import OptionError
from .media import VideoSink, check_output, iter_batches, open_sink, open_source
from .models import DEFAULT_MODEL, Colorizer, load_model
from .temporal import DEFAULT_TEMPORAL, make_smoother

STAGES = ("decode", "prepare", "model", "temporal", "compose", "encode")
_END = object()


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is an error."""
    d = str(device)
    if d == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if d.startswith("cuda") and not torch.cuda.is_available():
        raise OptionError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto")
    if d not in ("cpu",) and not d.startswith("cuda"):
        raise OptionError(f"unknown --device {d}; use auto, cpu or cuda")
    return torch.device(d)


@dataclass
class Stats:
    """Seconds spent per stage (decode and encode run in their own threads) and frames done."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    frames: int = 0
    wall: float = 0.0

    def add(self, stage: str, dt: float) -> None:
        self.seconds[stage] += dt

    @property
    def fps(self) -> float:
        return self.frames / self.wall if self.wall else 0.0


PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """``--precision`` -> the autocast dtype of the model, or None for plain fp32.

    ``auto`` is bf16 on a GPU that has it (fp16 on older ones) and fp32 on the CPU.
    Only the model runs in reduced precision: color conversions stay fp32.
    """
    if precision not in PRECISIONS:
        raise OptionError(f"unknown --precision {precision}; use one of {', '.join(PRECISIONS)}")
    cuda = device.type == "cuda"
    if precision == "auto":
        if not cuda:
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise OptionError("--precision bf16: this GPU has no bfloat16; use fp16 or fp32")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


class _HostRing:
    """Page-locked (pinned) host buffers handed out round-robin for the GPU path.

    Pinned memory makes host<->device copies asynchronous, but allocating it is slow
    (a driver call per batch), so a few buffers per direction are made once and
    reused. A slot is handed out again only after ``slots - 1`` others; the engine's
    bounded queues guarantee that its previous user is done by then (see :func:`run`),
    and each slot's CUDA event makes sure the copy that used it has completed.
    """

    def __init__(self, slots: int, pin: bool = True):
        self.slots, self.pin = slots, pin
        self._bufs: list[list] = []            # [tensor, event or None]
        self._key = None
        self._next = 0

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> tuple[torch.Tensor, int]:
        n, rest = shape[0], tuple(shape[1:])
        if self._key != (rest, dtype) or n > self._bufs[0][0].shape[0]:
            # a new frame size: old buffers stay alive as long as a consumer holds a view
            self._key, self._next = (rest, dtype), 0
            self._bufs = [[torch.empty((n, *rest), dtype=dtype, pin_memory=self.pin), None]
                          for _ in range(self.slots)]
        i = self._next
        self._next = (i + 1) % self.slots
        buf, event = self._bufs[i]
        if event is not None:
            event.synchronize()
        return buf[:n], i

    def mark(self, i: int, stream=None) -> torch.cuda.Event:
        """Record, on the current stream, the moment slot ``i``'s copy is done."""
        event = torch.cuda.Event()
        event.record(stream)
        self._bufs[i][1] = event
        return event


class Pending:
    """A batch whose colorized frames may still be on their way from the GPU.

    ``result()`` waits for the device-to-host copy (only that batch's, not the
    device) and returns NHWC frames of the input's dtype. The CPU path returns
    finished batches.
    """

    def __init__(self, frames: np.ndarray, event=None, dtype=None):
        self._frames, self._event, self._dtype = frames, event, dtype

    def result(self) -> np.ndarray:
        if self._event is not None:
            self._event.synchronize()
            self._event = None
        if self._dtype is not None and self._frames.dtype != self._dtype:
            self._frames = self._frames.astype(self._dtype)
        return self._frames


class Engine:
    """Colorize batches of host frames on a device.

    ``engine(frames)`` takes NHWC uint8/uint16 RGB (numpy) and returns the
    colorized frames with the same shape and dtype. ``engine.submit(frames)``
    does the same without waiting for the GPU: it returns a :class:`Pending`
    (used by :func:`run`, so that decoding, the model and encoding overlap).
    State of the temporal stage is carried from one call to the next, so feed
    frames in order.

    precision: ``auto`` | ``fp32`` | ``fp16`` | ``bf16`` (autocast of the model only).
    channels_last: run the model in NHWC memory layout (faster convolutions on
    tensor-core GPUs). compile: ``torch.compile`` the model (True, or a backend
    name); batches smaller than the first are padded so shapes stay static.
    """

    def __init__(self, model: Colorizer, device: torch.device | str = "cpu", size: int = 256,
                 smoother=None, precision: str = "auto", channels_last: bool = False,
                 compile: bool | str = False, stats: Stats | None = None, sync_timing: bool = False,
                 host_slots: int = 6):
        if size < 32 or size % 8:
            raise OptionError(f"--size must be a multiple of 8 and at least 32 (got {size})")
        self.device = torch.device(device)
        self.amp_dtype = resolve_precision(precision, self.device)
        self.precision = precision
        self.model = model.to(self.device).eval()
        self.channels_last = channels_last
        # in place: a model shared by several engines (bench) is set to this engine's layout
        self.model = self.model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        self.compiled = bool(compile)
        self._net = self.model
        if compile:
            backend = compile if isinstance(compile, str) else "inductor"
            self._net = torch.compile(self.model, backend=backend, dynamic=False)
        self._static_batch: int | None = None
        self.size = size
        self.smoother = smoother
        self.stats = stats or Stats()
        self.sync_timing = sync_timing and self.device.type == "cuda"
        cuda = self.device.type == "cuda"
        self._ring_in = _HostRing(host_slots) if cuda else None
        self._ring_out = _HostRing(host_slots) if cuda else None

    def _tick(self, stage: str, t0: float) -> float:
        if self.sync_timing:
            torch.cuda.synchronize(self.device)
        t = time.perf_counter()
        self.stats.add(stage, t - t0)
        return t

    def predict_ab(self, L_small: torch.Tensor) -> torch.Tensor:
        """L (N1HW, 0..100, at the model's size) -> ab (N2HW float32, same size): the
        model alone, with this engine's precision, memory layout and compilation."""
        n = L_small.shape[0]
        x = color.normalize_l(L_small)
        if self.compiled:
            self._static_batch = self._static_batch or n
            if n < self._static_batch:                 # the last, short batch: no recompilation
                x = torch.cat([x, x.new_zeros((self._static_batch - n, *x.shape[1:]))])
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        amp = (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype is not None
               else contextlib.nullcontext())
        with amp:
            ab = self._net(x)
        ab = ab[:n].float()
        if ab.shape[-2:] != L_small.shape[-2:]:
            ab = color.resize(ab, tuple(L_small.shape[-2:]))
        return ab.contiguous()

    def _to_device(self, frames) -> torch.Tensor:
        """Host frames (an NHWC array or a list of HWC arrays) -> NHWC on the GPU, through a
        pinned buffer and an asynchronous copy."""
        first = frames[0]
        n = len(frames)
        dtype = torch.uint8 if first.dtype == np.uint8 else torch.int32   # uint16 goes through int32
        buf, slot = self._ring_in.take((n, *first.shape), dtype)
        if isinstance(frames, list):
            np.stack(frames, out=buf.numpy())          # one copy: straight into the pinned buffer
        else:
            np.copyto(buf.numpy(), frames)
        x = buf.to(self.device, non_blocking=True)
        self._ring_in.mark(slot)
        return x

    @torch.inference_mode()
    def submit(self, frames) -> Pending:
        """Colorize a batch (NHWC array, or a list of same-size HWC arrays) without
        waiting for the GPU; ``.result()`` of the returned :class:`Pending` gives it."""
        t = time.perf_counter()
        host_dtype = frames[0].dtype
        on_cpu = self.device.type == "cpu"
        if on_cpu:
            if isinstance(frames, list):
                frames = np.stack(frames)
            L_host = color.host_rgb_to_l(frames)
            L = torch.from_numpy(L_host)[:, None]
        else:
            L = color.rgb_to_l(color.to_float_rgb(self._to_device(frames)))
        L_small = color.resize(L, self.size)
        t = self._tick("prepare", t)
        ab = self.predict_ab(L_small)
        t = self._tick("model", t)
        if self.smoother is not None:
            ab = self.smoother(ab, L_small)
            t = self._tick("temporal", t)
        if on_cpu:
            pending = Pending(color.host_compose(L_host, ab.numpy(), host_dtype))
        else:
            out = color.from_float_rgb(color.compose(L, ab), torch.uint8 if host_dtype == np.uint8 else torch.int32)
            buf, slot = self._ring_out.take(tuple(out.shape), out.dtype)
            buf.copy_(out, non_blocking=True)
            pending = Pending(buf.numpy(), self._ring_out.mark(slot), host_dtype)
        self._tick("compose", t)
        return pending

    def hold_batches(self, n: int) -> None:
        """Promise that at most ``n`` submitted batches are alive (queued or being
        written) when the next one is submitted: the output buffers are sized for it."""
        if self._ring_out is not None and self._ring_out.slots < n + 2:
            self._ring_out = _HostRing(n + 2)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        res = self.submit(frames).result()
        # the GPU path returns a view of a reused pinned buffer: give callers their own array
        return res.copy() if self.device.type != "cpu" and res.dtype == np.uint8 else res


def _put(q: queue.Queue, item, stop: threading.Event, failed: Callable[[], bool] = lambda: False) -> bool:
    while not stop.is_set() and not failed():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event, failed: Callable[[], bool] = lambda: False):
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set() or failed():
                return _END


class _Worker(threading.Thread):
    def __init__(self, target: Callable[[], None], name: str):
        super().__init__(name=name, daemon=True)
        self._fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._fn()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            self.error = e


@dataclass
class Result:
    output: Path
    frames: int
    seconds: float
    stats: Stats

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def run(source, sink, engine: Engine, batch_size: int = 8, progress: bool = True,
        on_batch: Callable[[int], None] | None = None, queue_batches: int = 3) -> Stats:
    """Stream ``source`` through ``engine`` into ``sink`` with decode and encode threads.

    On any error or Ctrl-C the sink is aborted (its temporary output removed) and
    the exception re-raised; on success the sink is finished (renamed into place).
    """
    from tqdm import tqdm

    stats = engine.stats
    engine.hold_batches(queue_batches + 1)       # the queued batches + the one being encoded
    stop = threading.Event()
    q_in: queue.Queue = queue.Queue(maxsize=queue_batches)
    q_out: queue.Queue = queue.Queue(maxsize=queue_batches)
    is_video_sink = isinstance(sink, VideoSink)
    video_timing = is_video_sink and source.kind == "video"
    size = (source.height, source.width)

    def decode() -> None:
        it: Iterator = iter_batches(source, batch_size)
        while not stop.is_set():
            t0 = time.perf_counter()
            batch = next(it, None)
            stats.add("decode", time.perf_counter() - t0)
            if batch is None:
                break
            if is_video_sink and batch[0].size != size:
                from .errors import InputError

                raise InputError(f"{batch[0].name or f'frame {batch[0].index}'} is {batch[0].size[1]}x"
                                 f"{batch[0].size[0]}, the first frame {size[1]}x{size[0]}: a video needs one "
                                 "size; write to an image folder instead")
            if not _put(q_in, batch, stop):
                return
        _put(q_in, _END, stop)

    def encode() -> None:
        while True:
            item = _get(q_out, stop)
            if item is _END:
                return
            pending, batch = item
            t0 = time.perf_counter()
            for rgb, f in zip(pending.result(), batch):
                if is_video_sink:
                    sink.write(rgb, pts=f.pts, time=f.time, duration=f.duration) if video_timing else sink.write(rgb)
                else:
                    sink.write(rgb, f.index, f.name)
            stats.add("encode", time.perf_counter() - t0)

    dec = _Worker(decode, "vidcolor-decode")
    enc = _Worker(encode, "vidcolor-encode")
    bar = tqdm(total=source.frame_count, unit="frame", dynamic_ncols=True, file=sys.stderr,
               disable=not progress or not sys.stderr.isatty(), desc="colorize")
    t_start = time.perf_counter()
    try:
        dec.start()
        enc.start()
        while True:
            batch = _get(q_in, stop, lambda: dec.error is not None)
            if batch is _END:
                break
            out = engine.submit([f.rgb for f in batch])
            if not _put(q_out, (out, batch), stop, lambda: enc.error is not None):
                break
            stats.frames += len(batch)
            bar.update(len(batch))
            if on_batch is not None:
                on_batch(stats.frames)
        if dec.error is None:
            dec.join()
        for w in (dec, enc):
            if w.error is not None:
                raise w.error
        _put(q_out, _END, stop, lambda: enc.error is not None)
        enc.join()
        if enc.error is not None:
            raise enc.error
        t0 = time.perf_counter()
        sink.finish()
        stats.add("encode", time.perf_counter() - t0)
    except BaseException:
        stop.set()
        for w in (dec, enc):
            w.join(timeout=5)
        sink.abort()
        raise
    finally:
        bar.close()
        stats.wall = time.perf_counter() - t_start
    return stats


def colorize_video(input: str | os.PathLike, output: str | os.PathLike, model: str | Colorizer = DEFAULT_MODEL,
                   weights: str | os.PathLike | None = None, batch_size: int = 8, device: str = "auto",
                   size: int = 256, precision: str = "auto", crf: int | None = 18,
                   preset: str | None = "medium", codec: str = "libx264", fps: float | None = None,
                   overwrite: bool = False, quiet: bool = False,
                   temporal: str = DEFAULT_TEMPORAL, temporal_strength: float | None = None,
                   scene_threshold: float | None = None,
                   pretrained: bool = True, on_batch: Callable[[int], None] | None = None,
                   notify: Callable[[str], None] | None = None, stats: Stats | None = None) -> Result:
    """Colorize a video, an image sequence or a photo into ``output``.

    The output is written under a temporary name and appears under ``output``
    only when the run completes; the input is never modified. Returns the output
    path, the frame count, wall seconds and per-stage timings.
    """
    input, output = Path(input), Path(output)
    if batch_size < 1:
        raise OptionError("--batch-size must be at least 1")
    if crf is not None and not 0 <= crf <= 63:
        raise OptionError("--crf must be between 0 and 63 (libx264: 0 lossless .. 51)")
    dev = resolve_device(device)
    with contextlib.ExitStack() as stack:
        source = open_source(input, fps=fps)
        stack.callback(source.close)
        check_output(output, [input], overwrite)
        net = model if isinstance(model, torch.nn.Module) else load_model(model, weights=weights, device=dev,
                                                                          pretrained=pretrained)
        smoother = None
        if temporal and temporal != "none":
            smoother = make_smoother(temporal, temporal_strength, scene_threshold=scene_threshold)
        engine = Engine(net, dev, size=size, smoother=smoother, precision=precision, stats=stats)
        sink = open_sink(output, source, codec=codec, crf=crf, preset=preset, overwrite=overwrite, notify=notify)
        t0 = time.perf_counter()
        st = run(source, sink, engine, batch_size=batch_size, progress=not quiet, on_batch=on_batch)
        return Result(output, st.frames, time.perf_counter() - t0, st)
