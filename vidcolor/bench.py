"""The benchmark harness behind ``vidcolor bench``.

Times every stage of the real pipeline (decode, prepare = color conversion, model,
temporal, compose, encode) for each configuration, plus end-to-end frames/s,
peak host memory (RSS, sampled) and peak GPU memory. A warm-up batch runs before
timing; each configuration is repeated and reported as median and spread. The
same run measures the limit — decode + encode alone with the same codec settings
— so that figures can be read as ratios on a shared, noisy machine.
"""

from __future__ import annotations

import itertools
import os
import platform
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
import torch

from . import options
from . import temporal as _temporal
from .color import host_rgb_to_lab
from .evaluate import evaluate, format_markdown
from .media import open_sink, open_source
from .models import create_model, load_model
from .pipeline import STAGES, Engine, Pending, Stats, cpu_bf16, resolve_device, run


@dataclass(frozen=True)
class Config:
    model: str                 # registry name, or "transcode" for decode + encode alone
    batch_size: int = options.BATCH_SIZE
    size: int | None = options.SIZE   # None: the model's own input size
    device: str = options.DEVICE
    temporal: str = options.EVAL_TEMPORAL
    precision: str = options.PRECISION  # auto | fp32 | fp16 | bf16 (autocast of the model)
    channels_last: bool | None = None   # None: as --precision decides (on for CPU bf16)
    compile: bool = False      # torch.compile the model

    @property
    def label(self) -> str:
        if self.model == "transcode":
            return "transcode (no model)"
        parts = [self.model, f"b{self.batch_size}"]
        if self.precision != "auto":
            parts.append(self.precision)
        if self.channels_last:
            parts.append("channels_last")
        if self.compile:
            parts.append("compiled")
        if self.temporal != "none":
            parts.append(self.temporal)
        return " ".join(parts)


class Passthrough:
    """A stream stage (:class:`vidcolor.pipeline.Stream`) that returns the frames
    unchanged: :func:`run` with it times decode + encode alone."""

    def __init__(self, stats: Stats):
        self.stats = stats

    def submit(self, frames) -> Pending:
        return Pending(np.stack(frames) if isinstance(frames, list) else frames)

    def hold_batches(self, n: int) -> None:
        pass


class PeakRSS:
    """Samples this process's resident memory in a thread; ``peak_mb`` after ``stop()``."""

    def __init__(self, every: float = 0.02):
        self.every, self.peak = every, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def current() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # not Linux: fall back to the lifetime peak
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            self._stop.wait(self.every)

    def __enter__(self):
        self.peak = self.current()
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.current())

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = None
    if torch.cuda.is_available():
        gpu = (f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
               f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB)")
    libs = getattr(av, "library_versions", {})
    ffmpeg = ".".join(map(str, libs.get("libavcodec", ()))) if libs else "?"
    bf16, what = cpu_bf16()
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "cpu_bf16": what if bf16 else "none (no AMX, no AVX512-BF16)",
            "torch": torch.__version__, "pyav": av.__version__, "libavcodec": ffmpeg,
            "python": platform.python_version(), "platform": platform.platform()}


def make_engine(cfg: Config, model) -> Engine:
    """The engine of one configuration, warmed up (kernels, allocator, compilation)."""
    return Engine(model, resolve_device(cfg.device), size=cfg.size, smoother=_temporal.make_smoother(cfg.temporal),
                  precision=cfg.precision, channels_last=cfg.channels_last, compile=cfg.compile)


def model_fps(engine: Engine, batch_size: int, seconds: float = 1.0) -> float:
    """Frames/s of the model alone (``Engine.predict_ab``) on batches of random L at the
    engine's size, on its device: no decode, color conversion or encode. Warmed up; the
    device is synchronized only around the timed loop."""
    dev = engine.device
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda *a: None)
    L = torch.rand(batch_size, 1, engine.size, engine.size, device=dev) * 100
    with torch.inference_mode():
        for _ in range(2):
            engine.predict_ab(L)
        sync()
        t0 = time.perf_counter()
        engine.predict_ab(L)
        sync()
        one = max(time.perf_counter() - t0, 1e-6)
        iters = max(2, min(1000, int(seconds / one)))
        t0 = time.perf_counter()
        for _ in range(iters):
            engine.predict_ab(L)
        sync()
        return iters * batch_size / (time.perf_counter() - t0)


def _one_run(input: Path, cfg: Config, engine: Engine | None, out: Path, codec: str, crf: int, preset: str,
             stage_timing: bool = True) -> dict:
    stats = Stats()
    dev = resolve_device(cfg.device)
    source = open_source(input)
    try:
        sink = open_sink(out, source, codec=codec, crf=crf, preset=preset, overwrite=True, notify=lambda m: None)
        if engine is None:
            engine = Passthrough(stats)
        else:
            engine.stats, engine.sync_timing = stats, stage_timing and dev.type == "cuda"
            engine(np.zeros((cfg.batch_size, source.height, source.width, 3), np.uint8))   # warm-up
            if engine.smoother is not None:
                engine.smoother.reset()
            stats.seconds = dict.fromkeys(STAGES, 0.0)
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        with PeakRSS() as mem:
            run(source, sink, engine, batch_size=cfg.batch_size, progress=False)
    finally:
        source.close()
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None
    return {"frames": stats.frames, "wall_s": stats.wall, "fps": stats.fps, "stage_s": dict(stats.seconds),
            "peak_rss_mb": mem.peak_mb, "peak_gpu_mb": gpu_mb}


def _summarize(runs: list[dict]) -> dict:
    def ms(vals):
        return {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}

    frames = runs[0]["frames"]
    stage_ms = {s: ms([r["stage_s"][s] * 1000 / max(r["frames"], 1) for r in runs]) for s in STAGES}
    total = sum(v["median"] for v in stage_ms.values()) or 1.0
    return {
        "frames": frames,
        "repeats": len(runs),
        "fps": ms([r["fps"] for r in runs]),
        "stage_ms_per_frame": stage_ms,
        "stage_share": {s: stage_ms[s]["median"] / total for s in STAGES},
        "bound_by": bound_by({s: v["median"] for s, v in stage_ms.items()}),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "peak_gpu_mb": max((r["peak_gpu_mb"] or 0) for r in runs) if runs[0]["peak_gpu_mb"] is not None else None,
    }


def bound_by(stage_ms: dict[str, float]) -> str:
    """What limits the frame rate: the busiest of the pipeline's three threads (decode,
    the engine = prepare + model + temporal + compose, encode), and within the engine
    its largest stage. On a machine with fewer free cores than threads the stages also
    compete for the CPU, and the sum of all of them matters too."""
    engine = {s: stage_ms[s] for s in ("prepare", "model", "temporal", "compose")}
    threads = {"decode": stage_ms["decode"], "engine": sum(engine.values()), "encode": stage_ms["encode"]}
    top = max(threads, key=threads.get)
    return f"engine ({max(engine, key=engine.get)})" if top == "engine" else top


def benchmark(inputs: list[str | os.PathLike], models: list[str], batch_sizes: list[int] = (options.BATCH_SIZE,),
              size: int | None = options.SIZE, device: str = options.DEVICE,
              temporal: list[str] = (options.EVAL_TEMPORAL,), repeats: int = options.BENCH_REPEATS,
              random_weights: bool = False, weights: str | None = None, baseline: bool = True,
              codec: str = options.CODEC, crf: int = options.CRF, preset: str = options.PRESET,
              quality: bool | None = None, progress=None,
              precisions: list[str] = (options.PRECISION,), channels_last: list[bool | None] = (None,), compile: list[bool] = (False,),
              stage_timing: bool = True, model_only: bool = True) -> dict:
    """Run every configuration on every input; returns the JSON-ready report.

    Configurations are every combination of models, batch sizes, temporal settings,
    precisions, memory layouts (``channels_last``) and ``compile``. ``quality``: add the
    `vidcolor eval` summary for color inputs (None: only when the input is in color,
    False: never). ``stage_timing``: on a GPU, synchronize after every stage so that
    each is timed exactly (costs a little overlap; off for pure throughput).
    ``model_only``: also time the model alone on random input at ``size``.
    """
    for b in batch_sizes:
        options.check_batch_size(b)
    options.check_size(size)
    options.check_int("--repeats", repeats, 1)
    for t in temporal:
        _temporal.check(t)
    for p in precisions:
        options.check_precision(p)
    configs = [Config(m, b, size, device, t, p, cl, c) for m, b, t, p, cl, c in
               itertools.product(models, batch_sizes, temporal, precisions, channels_last, compile)]
    if baseline:
        configs.insert(0, Config("transcode", max(batch_sizes), size, device))
    dev = resolve_device(device)
    report = {"kind": "bench", "machine": machine_info(),
              "settings": {"size": size, "device": str(dev), "repeats": repeats, "codec": codec, "crf": crf,
                           "preset": preset, "random_weights": random_weights, "stage_timing": stage_timing},
              "results": []}
    models_cache: dict[str, torch.nn.Module] = {}
    with tempfile.TemporaryDirectory(prefix="vidcolor-bench-") as tmp:
        for inp in inputs:
            inp = Path(inp)
            ext = ".mp4"
            for cfg in configs:
                engine = None
                if cfg.model != "transcode":
                    if cfg.model not in models_cache:
                        models_cache[cfg.model] = (create_model(cfg.model) if random_weights else
                                                   load_model(cfg.model, weights=weights, device=dev)).eval()
                    if progress and cfg.compile:
                        progress(f"{cfg.label}: compiling the model")
                    engine = make_engine(cfg, models_cache[cfg.model])
                runs = []
                for r in range(repeats):
                    if progress:
                        progress(f"{inp.name}: {cfg.label} run {r + 1}/{repeats}")
                    runs.append(_one_run(inp, cfg, engine, Path(tmp) / f"out{ext}", codec, crf, preset,
                                         stage_timing))
                row = {"input": str(inp), "config": asdict(cfg), "label": cfg.label, **_summarize(runs)}
                if engine is not None:
                    row["precision"] = {"chosen": engine.precision_choice.label,
                                        "reason": engine.precision_choice.reason}
                if engine is not None and model_only:
                    row["model_only_fps"] = model_fps(engine, cfg.batch_size)
                report["results"].append(row)
        if quality is not False:
            color_inputs = [i for i in inputs if quality or is_color(i)]
            if color_inputs:
                if progress:
                    progress("quality: vidcolor eval on the color inputs")
                add_quality(report, color_inputs, models, random_weights, weights, max(batch_sizes), size,
                            device, Path(tmp))
    _add_ratios(report)
    return report


def is_color(input: str | os.PathLike, frames: int = 5, threshold: float = 3.0) -> bool:
    """True when the first frames carry color (mean |ab| above ``threshold`` Lab units)."""
    src = open_source(input)
    try:
        chroma = [float(np.abs(host_rgb_to_lab(f.rgb)[..., 1:]).mean()) for f in itertools.islice(src, frames)]
    finally:
        src.close()
    return bool(chroma) and float(np.mean(chroma)) > threshold


def add_quality(report: dict, inputs, models, random_weights: bool, weights: str | None, batch_size: int,
                size: int, device: str, tmp: Path) -> None:
    """The `vidcolor eval` summary (gray baseline + each model) for every color input."""
    files = []
    for m in models:
        if random_weights:                       # evaluate loads checkpoints: save the random init once
            p = tmp / f"{m}-random.pt"
            torch.manual_seed(0)
            torch.save(create_model(m).state_dict(), p)
            files.append(str(p))
        else:
            files.append(weights)
    report["quality"] = {}
    for inp in inputs:
        if not is_color(inp):
            continue
        res = evaluate([inp], list(models), weights=files, batch_size=batch_size, device=device, size=size,
                       warn=lambda msg: None)
        report["quality"][str(inp)] = {"summary": {k: v["summary"] for k, v in res["models"].items()},
                                       "markdown": format_markdown(res), "settings": res["settings"]}


def _add_ratios(report: dict) -> None:
    """fps relative to the transcode-only limit on the same input, in the same run."""
    limit = {r["input"]: r["fps"]["median"] for r in report["results"] if r["config"]["model"] == "transcode"}
    for r in report["results"]:
        if r["input"] in limit and limit[r["input"]]:
            r["fps_vs_transcode"] = r["fps"]["median"] / limit[r["input"]]


def to_markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads), "
             f"native CPU bf16: {m.get('cpu_bf16', '?')}, GPU: {m['gpu'] or 'none'}; "
             f"torch {m['torch']}, PyAV {m['pyav']} (libavcodec {m['libavcodec']}), Python {m['python']}",
             f"Settings: {report['settings']}", "",
             "| input | config | frames | frames/s (median, min-max) | vs transcode | bound by | model-only fps | "
             + " | ".join(f"{s} ms" for s in STAGES) + " | peak RSS MB | peak GPU MB |",
             "|" + "---|" * (9 + len(STAGES))]
    for r in report["results"]:
        f = r["fps"]
        st = " | ".join(f"{r['stage_ms_per_frame'][s]['median']:.1f} ({100 * r['stage_share'][s]:.0f}%)" for s in STAGES)
        ratio = f"{r['fps_vs_transcode']:.2f}x" if "fps_vs_transcode" in r else "-"
        gpu = f"{r['peak_gpu_mb']:.0f}" if r.get("peak_gpu_mb") else "-"
        mo = f"{r['model_only_fps']:.1f}" if "model_only_fps" in r else "-"
        label = r["label"]
        if "precision" in r and r["config"]["precision"] == "auto":
            label += f" ({r['precision']['chosen']}: {r['precision']['reason']})"
        lines.append(f"| {Path(r['input']).name} | {label} | {r['frames']} | {f['median']:.2f} "
                     f"({f['min']:.2f}-{f['max']:.2f}) | {ratio} | {r['bound_by']} | {mo} | {st} | "
                     f"{r['peak_rss_mb']:.0f} | {gpu} |")
    for inp, q in report.get("quality", {}).items():
        lines += ["", f"Quality on {Path(inp).name} (converted to gray, colorized, scored against the original):", "",
                  q["markdown"].rstrip()]
    return "\n".join(lines) + "\n"
