"""The streaming engine: source -> decode thread -> batches -> device -> model ->
temporal stage -> compose -> encode thread -> sink.

Memory is constant: two bounded queues hold at most a few batches, whatever the
length of the input. The luminance of every output pixel is the input's own
(full-resolution L); the model only predicts ab at ``size`` x ``size``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np
import torch
from tqdm import tqdm

from . import color, options
from . import temporal as _temporal
from .errors import OptionError, StageError, VidcolorError
from .media import Sink, Source, check_output, iter_batches, open_sink, open_source
from .models import Colorizer, get_info, load_model
from .models.base import ReleaseColorizer
from .streams import Drain, Prefetch

STAGES = ("decode", "prepare", "model", "temporal", "compose", "encode")


def resolve_device(device: str | torch.device = options.DEVICE) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is an error."""
    d = options.check_device(device)
    if d == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if d.startswith("cuda") and not torch.cuda.is_available():
        raise OptionError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto")
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


def cpu_bf16() -> tuple[bool, str]:
    """Whether this CPU runs bfloat16 natively (AMX-BF16 or AVX512-BF16), and which it has.

    Asked of torch's own CPU feature detection (``torch.cpu._is_amx_tile_supported`` /
    ``_is_avx512_bf16_supported``, what oneDNN dispatches on), else of the kernel's CPU flags.
    Without them bf16 is emulated and far slower than fp32.
    """
    checks = (("AMX", getattr(torch.cpu, "_is_amx_tile_supported", None)),
              ("AVX512-BF16", getattr(torch.cpu, "_is_avx512_bf16_supported", None)))
    if all(f is not None for _, f in checks):
        found = [name for name, f in checks if f()]
    else:  # older torch: the kernel's flags (Linux)
        try:
            flags = set(Path("/proc/cpuinfo").read_text().split())
        except OSError:
            flags = set()
        found = [name for name, flag in (("AMX", "amx_bf16"), ("AVX512-BF16", "avx512_bf16")) if flag in flags]
    return bool(found), " and ".join(found)


@dataclass(frozen=True)
class Precision:
    """What ``--precision`` resolved to on a device, and why (``bench`` and the machine record say it)."""

    dtype: torch.dtype | None        # autocast dtype of the model; None: plain fp32
    channels_last: bool              # run the model in NHWC memory layout
    reason: str

    @property
    def label(self) -> str:
        name = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]
        return name + (" + channels_last" if self.channels_last else "")


def choose_precision(precision: str, device: torch.device, channels_last: bool | None = None) -> Precision:
    """``--precision`` on ``device`` -> :class:`Precision`.

    ``auto``: bf16 on a GPU that has it (fp16 on older ones); on the CPU, bf16 with channels_last
    when the CPU runs bf16 natively (:func:`cpu_bf16`: ~2.8x faster than fp32 for ECCV16 on a
    Sapphire Rapids core), fp32 otherwise. Only the model runs in reduced precision: colour
    conversions stay fp32. ``channels_last`` None: on for CPU bf16 (faster or equal for every
    model, benchmarks/RESULTS.md "Model zoo"), off elsewhere.
    """
    options.check_precision(precision)
    cuda = device.type == "cuda"
    reason = f"--precision {precision}"
    if precision == "auto":
        if cuda:
            bf16 = torch.cuda.is_bf16_supported()
            dtype = torch.bfloat16 if bf16 else torch.float16
            reason = "auto: the GPU " + ("supports bf16" if bf16 else "has no bf16, fp16 instead")
        else:
            ok, what = cpu_bf16()
            dtype = torch.bfloat16 if ok else None
            reason = (f"auto: the CPU has {what} (native bf16)" if ok
                      else "auto: the CPU has neither AMX nor AVX512-BF16 (bf16 would be emulated, slower)")
    else:
        if precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
            raise OptionError("--precision bf16: this GPU has no bfloat16; use fp16 or fp32")
        dtype = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    if channels_last is None:
        channels_last = not cuda and dtype == torch.bfloat16
    return Precision(dtype, bool(channels_last), reason)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """``--precision`` -> the autocast dtype of the model, or None for plain fp32 (see
    :func:`choose_precision`)."""
    return choose_precision(precision, device).dtype


def is_oom(e: BaseException) -> bool:
    """An out-of-memory error of torch (CUDA's, or an allocation the CPU allocator refused)."""
    if isinstance(e, getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


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

    size: the side of the square the model sees; None: the model's own ``input_size``.
    precision: ``auto`` | ``fp32`` | ``fp16`` | ``bf16`` (autocast of the model only).
    channels_last: run the model in NHWC memory layout (faster convolutions on
    tensor-core GPUs). compile: ``torch.compile`` the model (True, or a backend
    name); batches smaller than the first are padded so shapes stay static.
    """

    def __init__(self, model: Colorizer, device: torch.device | str = "cpu", size: int | None = options.SIZE,
                 smoother=None, precision: str = options.PRECISION, channels_last: bool | None = None,
                 compile: bool | str = False, stats: Stats | None = None, sync_timing: bool = False,
                 host_slots: int = 6, notify: Callable[[str], None] | None = None):
        size = model.check_size(options.check_size(size) or model.input_size)
        self.device = torch.device(device)
        self.precision_choice = choose_precision(precision, self.device, channels_last)
        self.amp_dtype = self.precision_choice.dtype
        self.precision = precision
        self.model = model.to(self.device).eval()
        self.channels_last = channels_last = self.precision_choice.channels_last
        # in place: a model shared by several engines (bench) is set to this engine's layout
        self.model = self.model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        self.release = isinstance(model, ReleaseColorizer)
        self.compiled = bool(compile)
        self._net = self.model.forward_rgb if self.release else self.model
        if compile:
            backend = compile if isinstance(compile, str) else "inductor"
            self._net = torch.compile(self._net, backend=backend, dynamic=False)
        self._static_batch: int | None = None
        self._chunk: int | None = None           # frames per model call after an out-of-memory
        self.notify = notify or (lambda msg: print(f"vidcolor: {msg}", file=sys.stderr))
        self.size = size
        self.smoother = smoother
        self.stats = stats or Stats()
        self.sync_timing = sync_timing and self.device.type == "cuda"
        cuda = self.device.type == "cuda"
        self._ring_in = _HostRing(host_slots) if cuda and not self.release else None
        self._ring_out = _HostRing(host_slots) if cuda and not self.release else None

    def _tick(self, stage: str, t0: float) -> float:
        if self.sync_timing:
            torch.cuda.synchronize(self.device)
        t = time.perf_counter()
        self.stats.add(stage, t - t0)
        return t

    def _call_net(self, x: torch.Tensor) -> torch.Tensor:
        """The network on one chunk, with this engine's precision, layout and compilation."""
        n = x.shape[0]
        if self.compiled:
            self._static_batch = self._static_batch or n
            if n < self._static_batch:                 # the last, short batch: no recompilation
                x = torch.cat([x, x.new_zeros((self._static_batch - n, *x.shape[1:]))])
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            out = self._net(x)
        return out[:n].float()

    def _autocast(self):
        """This engine's autocast context (none for fp32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _run_net(self, x: torch.Tensor) -> torch.Tensor:
        """The network on a batch; out of memory, the batch is halved and the rest of the run
        keeps the smaller size (down to one frame, then the error stands). Frames are never
        dropped or left gray."""
        n, i, outs = x.shape[0], 0, []
        while i < n:
            k = min(self._chunk or n, n - i)
            try:
                outs.append(self._call_net(x[i:i + k]))
            except Exception as e:  # noqa: BLE001 - only out-of-memory is retried
                if not is_oom(e):
                    raise
                if k == 1:                             # nothing left to halve: the error stands
                    self._chunk = 1
                    raise
                self._chunk = (k + 1) // 2
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                self.notify(f"out of memory at {k} frames per model call; continuing with {self._chunk}")
                continue
            i += k
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def predict_ab(self, L_small: torch.Tensor) -> torch.Tensor:
        """L (N1HW, 0..100, at the model's size) -> ab (N2HW float32, same size): the
        model alone, with this engine's precision, memory layout and compilation."""
        if self.release:                               # through the gray RGB of L (bench's model timing)
            with self._autocast():
                ab = self.model(color.normalize_l(L_small)).float()
        else:
            ab = self._run_net(color.normalize_l(L_small))
        if ab.shape[-2:] != L_small.shape[-2:]:
            ab = color.resize(ab, tuple(L_small.shape[-2:]))
        return ab.contiguous()

    @torch.inference_mode()
    def _submit_release(self, frames) -> Pending:
        """A :class:`ReleaseColorizer`: the release's own pre/post-processing around the network
        (uint16 frames are rounded to uint8 for it and scaled back: the releases are 8-bit)."""
        t = time.perf_counter()
        frames = np.stack(frames) if isinstance(frames, list) else np.asarray(frames)
        host_dtype = frames.dtype
        if host_dtype != np.uint8:
            frames = ((frames.astype(np.uint32) + 128) // 257).astype(np.uint8)
        x = self.model.prepare(frames, self.size).to(self.device, non_blocking=True)
        t = self._tick("prepare", t)
        out = self._run_net(x)
        t = self._tick("model", t)
        if self.smoother is not None:
            L, ab = self.model.to_lab(out, x)
            smoothed = self.smoother(ab, L)
            # a frame the smoother left as it was (a scene's first) keeps the network's own output:
            # the Lab round trip is not exact, and the release's truncating post-processing shows it
            changed = (smoothed != ab).flatten(1).any(1)
            if bool(changed.any()):
                new = self.model.from_lab(out, x, L, smoothed)
                out = torch.where(changed.view(-1, *([1] * (out.ndim - 1))), new.to(out.dtype), out)
            t = self._tick("temporal", t)
        res = self.model.finish(frames, out)
        if host_dtype != np.uint8:
            res = res.astype(host_dtype) * 257
        self._tick("compose", t)
        return Pending(res)

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
        if self.release:
            return self._submit_release(frames)
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


@dataclass
class Result:
    output: Path
    frames: int
    seconds: float
    stats: Stats

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


class Stream(Protocol):
    """What :func:`run` needs of an engine (:class:`Engine`, or bench's passthrough)."""

    stats: Stats

    def submit(self, frames) -> Pending: ...
    def hold_batches(self, n: int) -> None: ...
    # optional: ``done()``, called after the last frame and before the output is finished


def _cause(e: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line (library messages can span many lines), shortened."""
    msg = " ".join(str(e).split())
    if len(msg) > limit:
        msg = msg[: limit - 3] + "..."
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _model_failed(e: Exception, batch: list, source: Source, engine: Stream) -> StageError:
    frames = f"frames {batch[0].index}-{batch[-1].index}" if len(batch) > 1 else f"frame {batch[0].index}"
    hint = ""
    if is_oom(e):
        if getattr(engine, "_chunk", None) == 1:        # the model call was already halved down to one frame
            hint = "; out of memory even at 1 frame per model call: try a smaller --size or --device cpu"
        else:
            hint = f"; out of memory at {len(batch)} frames per batch: try a smaller --batch-size or --device cpu"
    return StageError(f"colorizing {frames} of {source.path} failed: {_cause(e)}{hint}")


def run(source: Source, sink: Sink, engine: Stream, batch_size: int = options.BATCH_SIZE, progress: bool = True,
        on_batch: Callable[[int], None] | None = None, queue_batches: int = 3, desc: str = "colorize") -> Stats:
    """Stream ``source`` through ``engine`` into ``sink`` with decode and encode threads.

    On success the sink is finished (renamed into place). On any failure, in any stage
    or thread, or on Ctrl-C, both threads are stopped, the sink is aborted (its
    temporary output removed) and the error raised within a fraction of a second; an
    error that is not already a :class:`VidcolorError` becomes a :class:`StageError`
    naming the stage, the frames and the file.
    """
    stats = engine.stats
    engine.hold_batches(queue_batches + 1)       # the queued batches + the one being encoded

    def batches() -> Iterator[list]:
        it: Iterator = iter_batches(source, batch_size)
        done = 0
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(it, None)
            except VidcolorError:
                raise
            except Exception as e:  # noqa: BLE001 - any reader failure ends the run with one line
                raise StageError(f"reading {source.path} failed after {done} frames: {_cause(e)}") from e
            stats.add("decode", time.perf_counter() - t0)
            if batch is None:
                return
            done += len(batch)
            yield batch

    def encode(item) -> None:
        pending, batch = item
        t0 = time.perf_counter()
        f = batch[0]
        try:
            for rgb, f in zip(pending.result(), batch):
                sink.write(rgb, f)
        except VidcolorError:
            raise
        except Exception as e:  # noqa: BLE001
            raise StageError(f"writing frame {f.index} to {sink.final} failed: {_cause(e)}") from e
        stats.add("encode", time.perf_counter() - t0)

    bar = tqdm(total=source.frame_count, unit="frame", dynamic_ncols=True, file=sys.stderr,
               disable=not progress or not sys.stderr.isatty(), desc=desc)
    t_start = time.perf_counter()
    decoded = Prefetch(batches(), queue_batches, "vidcolor-decode")
    encoder = Drain(encode, queue_batches, "vidcolor-encode")
    try:
        for batch in decoded:
            try:
                out = engine.submit([f.rgb for f in batch])
            except VidcolorError:
                raise
            except Exception as e:  # noqa: BLE001
                raise _model_failed(e, batch, source, engine) from e
            encoder.put((out, batch))
            stats.frames += len(batch)
            bar.update(len(batch))
            if on_batch is not None:
                on_batch(stats.frames)
        encoder.close()                          # every frame written (or the encoder's error)
        if hasattr(engine, "done"):              # a stage's own end-of-input check (deflicker's original)
            engine.done()
        t0 = time.perf_counter()
        try:
            sink.finish()
        except VidcolorError:
            raise
        except Exception as e:  # noqa: BLE001
            raise StageError(f"finishing {sink.final} failed: {_cause(e)}") from e
        stats.add("encode", time.perf_counter() - t0)
    except BaseException:
        encoder.abort()
        sink.abort()
        raise
    finally:
        decoded.close()
        bar.close()
        stats.wall = time.perf_counter() - t_start
    return stats


def size_from_render_factor(model: str | Colorizer, size: int | None, render_factor: int | None) -> int | None:
    """``--render-factor N`` -> ``--size`` (``render_base * N``, DeOldify's 16 N); an OptionError
    for a model that has no render factor, or with ``--size`` too."""
    if render_factor is None:
        return size
    name = model if isinstance(model, str) else model.name
    base = getattr(model if isinstance(model, torch.nn.Module) else get_info(model).factory, "render_base", None)
    if base is None:
        raise OptionError(f"--render-factor is DeOldify's setting; '{name}' takes --size instead")
    if size is not None:
        raise OptionError("give --render-factor or --size, not both (--size = 16 x --render-factor)")
    return base * options.check_int("--render-factor", render_factor, 2)


@dataclass(frozen=True)
class ColorizeOptions:
    """The settings of a colorize run that shape its output (those of :func:`colorize_video` but
    the paths and the callbacks): what many-film runs hand to every film, cluster tasks carry,
    and a resumable run's work folder records."""

    model: str = options.DEFAULT_MODEL
    weights: str | None = None
    batch_size: int = options.BATCH_SIZE
    device: str = options.DEVICE
    size: int | None = options.SIZE
    precision: str = options.PRECISION
    crf: int | None = options.CRF
    preset: str | None = options.PRESET
    codec: str = options.CODEC
    fps: float | None = None
    temporal: str = options.TEMPORAL
    temporal_strength: float | None = None
    scene_threshold: float | None = None
    render_factor: int | None = None

    def kwargs(self) -> dict:
        return dict(self.__dict__)

    def check(self) -> "ColorizeOptions":
        """Every value checked (OptionError) before any film starts; ``size`` resolved from
        ``render_factor``. Returns the resolved options."""
        options.check_batch_size(self.batch_size)
        options.check_crf(self.crf)
        options.check_codec(self.codec)
        options.check_size(self.size)
        options.check_precision(self.precision)
        options.check_device(self.device)
        if self.fps is not None:
            options.check_fps(self.fps)
        _temporal.check(self.temporal, self.temporal_strength, scene_threshold=self.scene_threshold)
        size = size_from_render_factor(self.model, self.size, self.render_factor)
        if isinstance(self.model, str):
            get_info(self.model)                        # an unknown model name: one line, now
        return dataclasses.replace(self, size=size, render_factor=None)

    def engine(self, model: Colorizer | None = None, notify=None, stats: Stats | None = None) -> "Engine":
        """:func:`make_engine` with these settings; ``model``: an already loaded one (its weights
        are then not read again)."""
        return make_engine(self.model if model is None else model, self.weights if model is None else None,
                           self.device, self.size, self.precision, self.temporal, self.temporal_strength,
                           self.scene_threshold, notify=notify, stats=stats)


def make_engine(model: str | Colorizer, weights=None, device: torch.device | str = options.DEVICE,
                size: int | None = options.SIZE, precision: str = options.PRECISION, temporal: str = options.TEMPORAL,
                temporal_strength: float | None = None, scene_threshold: float | None = None,
                pretrained: bool = True, notify=None, stats: Stats | None = None) -> Engine:
    """The model (loaded by name, or given) and the temporal stage on a device, as an :class:`Engine`."""
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    net = model if isinstance(model, torch.nn.Module) else load_model(model, weights=weights, device=dev,
                                                                      pretrained=pretrained)
    smoother = _temporal.make_smoother(temporal, temporal_strength, scene_threshold=scene_threshold)
    return Engine(net, dev, size=size, smoother=smoother, precision=precision, stats=stats, notify=notify)


def colorize_video(input: str | os.PathLike, output: str | os.PathLike, model: str | Colorizer = options.DEFAULT_MODEL,
                   weights: str | os.PathLike | None = None, batch_size: int = options.BATCH_SIZE,
                   device: str = options.DEVICE, size: int | None = options.SIZE, precision: str = options.PRECISION,
                   crf: int | None = options.CRF, preset: str | None = options.PRESET, codec: str = options.CODEC,
                   fps: float | None = None, overwrite: bool = False, quiet: bool = False,
                   temporal: str = options.TEMPORAL, temporal_strength: float | None = None,
                   scene_threshold: float | None = None, render_factor: int | None = None,
                   pretrained: bool = True, on_batch: Callable[[int], None] | None = None,
                   notify: Callable[[str], None] | None = None, stats: Stats | None = None,
                   reference: Sequence[str | os.PathLike] = (), hints: Sequence[str | os.PathLike] = (),
                   exemplar: str | os.PathLike | None = None, guide_options: dict | None = None) -> Result:
    """Colorize a video, an image sequence or a photo into ``output``.

    The output is written under a temporary name and appears under ``output``
    only when the run completes; the input is never modified; missing folders of
    ``output`` are created. ``size`` None: the model's own input size; ``render_factor``
    (DeOldify's own unit, the release default when None): ``size = 16 * render_factor``.
    Guidance (:mod:`vidcolor.guide.guided`): ``reference`` (folders of coloured keyframes or
    ``FRAME=IMAGE``), ``hints`` (hints JSON files or ``FRAME=SCRIBBLE.png``) and ``exemplar``
    (a colour photo whose palette the result takes); any of them makes the run read the input
    twice; ``guide_options``: :class:`~vidcolor.guide.guided.Guidance` settings (``half_life``,
    ``fallback``). Returns the output path, the frame count, wall seconds and per-stage timings.
    """
    input, output = Path(input), Path(output)
    size = ColorizeOptions(model=model, weights=weights, batch_size=batch_size, device=device, size=size,
                           precision=precision, crf=crf, preset=preset, codec=codec, fps=fps, temporal=temporal,
                           temporal_strength=temporal_strength, scene_threshold=scene_threshold,
                           render_factor=render_factor).check().size
    guidance = None
    if reference or hints or exemplar:
        from .guide.guided import Guidance

        guidance = Guidance.parse(reference, hints, exemplar, **(guide_options or {}))
    dev = resolve_device(device)
    with contextlib.ExitStack() as stack:
        source = open_source(input, fps=fps)
        stack.callback(source.close)
        check_output(output, [input, *(guidance.files if guidance else ())], overwrite)
        engine = make_engine(model, weights, dev, size, precision, temporal, temporal_strength, scene_threshold,
                             pretrained=pretrained, notify=notify, stats=stats)
        if guidance is not None:
            from .guide.guided import colorize_guided

            source.close()
            t0 = time.perf_counter()
            st = colorize_guided(input, output, engine, guidance, fps=fps, batch_size=batch_size,
                                 scene_threshold=scene_threshold, quiet=quiet, on_batch=on_batch, notify=notify,
                                 sink_options=dict(codec=codec, crf=crf, preset=preset, overwrite=overwrite))
            return Result(output, st.frames, time.perf_counter() - t0, st)
        sink = open_sink(output, source, codec=codec, crf=crf, preset=preset, overwrite=overwrite, notify=notify)
        t0 = time.perf_counter()
        st = run(source, sink, engine, batch_size=batch_size, progress=not quiet, on_batch=on_batch)
        return Result(output, st.frames, time.perf_counter() - t0, st)
