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

import numpy as np
import torch

from .media import open_sink, open_source
from .models import create_model, load_model
from .pipeline import STAGES, Engine, Stats, resolve_device, run


@dataclass(frozen=True)
class Config:
    model: str                 # registry name, or "transcode" for decode + encode alone
    batch_size: int = 8
    size: int = 256
    device: str = "auto"
    temporal: str = "none"

    @property
    def label(self) -> str:
        t = "" if self.temporal == "none" else f" {self.temporal}"
        return f"{self.model} b{self.batch_size}{t}" if self.model != "transcode" else "transcode (no model)"


class Passthrough(Engine):
    """An engine that returns the frames unchanged: decode + encode alone."""

    def __init__(self, stats: Stats):
        self.stats = stats
        self.device = torch.device("cpu")

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return frames


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
    import av

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    libs = getattr(av, "library_versions", {})
    ffmpeg = ".".join(map(str, libs.get("libavcodec", ()))) if libs else "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__, "pyav": av.__version__, "libavcodec": ffmpeg,
            "python": platform.python_version(), "platform": platform.platform()}


def _one_run(input: Path, cfg: Config, model, out: Path, codec: str, crf: int, preset: str) -> dict:
    stats = Stats()
    dev = resolve_device(cfg.device)
    source = open_source(input)
    try:
        sink = open_sink(out, source, codec=codec, crf=crf, preset=preset, overwrite=True, notify=lambda m: None)
        if model is None:
            engine = Passthrough(stats)
        else:
            smoother = None
            if cfg.temporal != "none":
                from .temporal import make_smoother

                smoother = make_smoother(cfg.temporal)
            engine = Engine(model, dev, size=cfg.size, smoother=smoother, stats=stats, sync_timing=True)
            warm = np.zeros((cfg.batch_size, source.height, source.width, 3), np.uint8)
            engine(warm)                                 # warm-up: kernels, allocator, autotuning
            if smoother is not None:
                smoother.reset()
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
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "peak_gpu_mb": max((r["peak_gpu_mb"] or 0) for r in runs) if runs[0]["peak_gpu_mb"] is not None else None,
    }


def benchmark(inputs: list[str | os.PathLike], models: list[str], batch_sizes: list[int] = (8,), size: int = 256,
              device: str = "auto", temporal: list[str] = ("none",), repeats: int = 3, random_weights: bool = False,
              weights: str | None = None, baseline: bool = True, codec: str = "libx264", crf: int = 18,
              preset: str = "medium", quality: bool | None = None, progress=None) -> dict:
    """Run every configuration on every input; returns the JSON-ready report.

    ``quality``: add the `vidcolor eval` summary for color inputs (None: only when the
    input is in color, False: never).
    """
    configs = [Config(m, b, size, device, t) for m, b, t in itertools.product(models, batch_sizes, temporal)]
    if baseline:
        configs.insert(0, Config("transcode", max(batch_sizes), size, device))
    dev = resolve_device(device)
    report = {"machine": machine_info(), "settings": {"size": size, "device": str(dev), "repeats": repeats,
                                                      "codec": codec, "crf": crf, "preset": preset,
                                                      "random_weights": random_weights},
              "results": []}
    models_cache: dict[str, torch.nn.Module] = {}
    with tempfile.TemporaryDirectory(prefix="vidcolor-bench-") as tmp:
        for inp in inputs:
            inp = Path(inp)
            ext = ".mp4"
            for cfg in configs:
                model = None
                if cfg.model != "transcode":
                    if cfg.model not in models_cache:
                        models_cache[cfg.model] = (create_model(cfg.model) if random_weights else
                                                   load_model(cfg.model, weights=weights, device=dev)).eval()
                    model = models_cache[cfg.model]
                runs = []
                for r in range(repeats):
                    if progress:
                        progress(f"{inp.name}: {cfg.label} run {r + 1}/{repeats}")
                    runs.append(_one_run(inp, cfg, model, Path(tmp) / f"out{ext}", codec, crf, preset))
                report["results"].append({"input": str(inp), "config": asdict(cfg), "label": cfg.label,
                                          **_summarize(runs)})
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
    import cv2

    src = open_source(input)
    try:
        chroma = []
        for f in itertools.islice(src, frames):
            rgb = f.rgb.astype(np.float32) / (255.0 if f.rgb.dtype == np.uint8 else 65535.0)
            chroma.append(float(np.abs(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[..., 1:]).mean()))
    finally:
        src.close()
    return bool(chroma) and float(np.mean(chroma)) > threshold


def add_quality(report: dict, inputs, models, random_weights: bool, weights: str | None, batch_size: int,
                size: int, device: str, tmp: Path) -> None:
    """The `vidcolor eval` summary (gray baseline + each model) for every color input."""
    from .evaluate import evaluate, format_markdown

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
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads), GPU: {m['gpu'] or 'none'}; "
             f"torch {m['torch']}, PyAV {m['pyav']} (libavcodec {m['libavcodec']}), Python {m['python']}",
             f"Settings: {report['settings']}", "",
             "| input | config | frames | frames/s (median, min-max) | vs transcode | "
             + " | ".join(f"{s} ms" for s in STAGES) + " | peak RSS MB | peak GPU MB |",
             "|" + "---|" * (7 + len(STAGES))]
    for r in report["results"]:
        f = r["fps"]
        st = " | ".join(f"{r['stage_ms_per_frame'][s]['median']:.1f} ({100 * r['stage_share'][s]:.0f}%)" for s in STAGES)
        ratio = f"{r['fps_vs_transcode']:.2f}x" if "fps_vs_transcode" in r else "-"
        gpu = f"{r['peak_gpu_mb']:.0f}" if r.get("peak_gpu_mb") else "-"
        lines.append(f"| {Path(r['input']).name} | {r['label']} | {r['frames']} | {f['median']:.2f} "
                     f"({f['min']:.2f}-{f['max']:.2f}) | {ratio} | {st} | {r['peak_rss_mb']:.0f} | {gpu} |")
    for inp, q in report.get("quality", {}).items():
        lines += ["", f"Quality on {Path(inp).name} (converted to gray, colorized, scored against the original):", "",
                  q["markdown"].rstrip()]
    return "\n".join(lines) + "\n"
