"""Streaming scoring of frame sequences: `vidcolor metrics` and the engine under `vidcolor eval`.

A :class:`Scorer` takes batches of host frames (reference and candidate, HxWx3
uint8/uint16, one size per batch) and records one row per frame; a
:class:`ReferenceMotion` computes the optical flow of the reference once per frame
pair so that several candidates (the models of `eval`) share it. Nothing is
written to disk but the reports; memory holds one batch plus a few histograms.

Per-frame row keys (JSON and CSV): ``index`` (frame index within its input),
``name`` (file name for image inputs), ``source`` (when several inputs are pooled),
then the metrics in :data:`COLUMNS`; a metric that does not apply to a frame
(warp error of the first frame, a skipped metric) is null.
"""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from vidcolor import color
from vidcolor.errors import InputError, OptionError, OutputError, WeightsError
from vidcolor.metrics import image, perceptual, temporal

IMAGE_METRICS = ("psnr", "ssim", "lpips", "deltae2000", "colorfulness", "auc")
TEMPORAL_METRICS = ("warp_error", "cdc")
ALL_METRICS = IMAGE_METRICS + TEMPORAL_METRICS
COLUMNS = {  # metric -> per-frame columns
    "psnr": ("psnr",),
    "ssim": ("ssim",),
    "lpips": ("lpips",),
    "deltae2000": ("deltae2000",),
    "colorfulness": ("colorfulness", "colorfulness_reference"),
    "auc": ("auc",),
    "warp_error": ("warp_error",),
    "cdc": tuple(f"cdc_d{d}" for d in temporal.CDC_DILATIONS),
}
LOWER_IS_WORSE = {"psnr", "ssim", "auc"}
NO_WORST = {"colorfulness", "colorfulness_reference"}
WORST_FRAMES = 5
CHUNK_PIXELS = 2_100_000  # one 1080p frame per image-metric call


def parse_metrics(spec: str | None, lpips_net: str = "alex", warn: Callable[[str], None] | None = None) -> list[str]:
    """``--metrics`` (comma-separated names or ``all``; default all) -> the metrics to compute.

    LPIPS is dropped with a one-line warning when its backbone weights are missing
    and it was not asked for by name; asked for by name, that is a WeightsError.
    """
    explicit = bool(spec) and spec.strip().lower() != "all"
    names = [m.strip().lower() for m in spec.split(",") if m.strip()] if explicit else list(ALL_METRICS)
    unknown = [m for m in names if m not in ALL_METRICS]
    if unknown:
        raise OptionError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(ALL_METRICS)} or all")
    if "lpips" in names:
        missing = perceptual.missing_backbone(lpips_net)
        if missing and explicit:
            raise WeightsError(missing)
        if missing:
            if warn:
                warn(f"LPIPS skipped: {missing}")
            names.remove("lpips")
    return [m for m in ALL_METRICS if m in names]


def asks_temporal(spec: str | None) -> bool:
    """Whether ``--metrics`` names a temporal metric explicitly."""
    return bool({m.strip().lower() for m in (spec or "").split(",")} & set(TEMPORAL_METRICS))


def settings_for(metrics: list[str], lpips_net: str = "alex", device: str = "cpu") -> dict:
    """How each metric was computed (written into every report)."""
    s: dict = {"metrics": list(metrics), "device": str(device), "rgb_scale": "8-bit (data range 255)"}
    if "psnr" in metrics:
        s["psnr"] = {"data_range": 255, "over": "RGB, all channels and pixels"}
    if "ssim" in metrics:
        s["ssim"] = dict(image.SSIM_SETTINGS)
    if "lpips" in metrics:
        s["lpips"] = {"package": "lpips", "net": lpips_net, "version": "0.1", "inputs": "[-1, 1]"}
    if "deltae2000" in metrics:
        s["deltae2000"] = {"formula": "CIEDE2000, kL=kC=kH=1", "lab": "sRGB D65 (kornia)", "reduce": "mean over pixels"}
    if "colorfulness" in metrics:
        s["colorfulness"] = {"formula": "Hasler & Suesstrunk 2003", "scale": "0..255 RGB"}
    if "auc" in metrics:
        s["auc"] = {"thresholds": f"0..{image.AUC_MAX_THRESHOLD} ab units, step 1",
                    "integration": "trapezoid, normalized to 1"}
    if "warp_error" in metrics:
        s["warp_error"] = dict(temporal.FLOW_SETTINGS)
    if "cdc" in metrics:
        s["cdc"] = dict(temporal.CDC_SETTINGS)
    s["non_finite"] = "written as null (PSNR of identical frames is +inf)"
    return s


def _to_device(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """NHWC uint8/uint16 host frames -> float RGB NCHW [0, 1] on device."""
    x = torch.from_numpy(frames if frames.dtype == np.uint8 else frames.astype(np.int32))
    return color.to_float_rgb(x.to(device))


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """uint16 frames -> uint8 (rounded); uint8 unchanged."""
    return frames if frames.dtype == np.uint8 else np.round(frames / 257.0).astype(np.uint8)


class ReferenceMotion:
    """Flow and validity mask between consecutive reference frames (computed once, shared)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.flow = temporal.FlowEstimator()
        self.prev: np.ndarray | None = None

    def reset(self) -> None:
        self.prev = None

    def step(self, ref: np.ndarray) -> tuple[torch.Tensor, torch.Tensor] | None:
        """HxWx3 reference frame -> (flow current->previous, valid mask) or None for a first frame."""
        prev, self.prev = self.prev, ref
        if prev is None or prev.shape != ref.shape:
            return None
        back, fwd = self.flow(prev, ref)
        back_t = temporal.flow_to_tensor(back, self.device)
        return back_t, temporal.valid_mask(back_t, temporal.flow_to_tensor(fwd, self.device))


@dataclass
class _Sequence:
    prev_out: torch.Tensor | None = None
    hists: deque = field(default_factory=lambda: deque(maxlen=max(temporal.CDC_DILATIONS)))
    cdc_sums: dict = field(default_factory=lambda: {d: [0.0, 0] for d in temporal.CDC_DILATIONS})


class Scorer:
    """Per-frame metrics of one candidate stream against the reference.

    ``score(ref, cand, motion, indices, names, source)`` takes NHWC host frames of one size;
    ``motion`` is a list (one per frame) of :meth:`ReferenceMotion.step` results,
    needed only for the warp error. Call :meth:`new_sequence` between inputs.
    """

    def __init__(self, metrics: list[str], device: torch.device | str = "cpu", lpips_model=None):
        self.metrics = list(metrics)
        self.device = torch.device(device)
        self.lpips = lpips_model
        self.rows: list[dict] = []
        self.cdc_values: list[float] = []
        self.photo_set = False
        self._seq = _Sequence()

    def new_sequence(self) -> None:
        """Close the current input (its CDC is recorded) and start another."""
        self._close_cdc()
        self._seq = _Sequence()

    def _close_cdc(self) -> None:
        sums = self._seq.cdc_sums
        if "cdc" in self.metrics and all(n for _, n in sums.values()):
            self.cdc_values.append(sum(s / n for s, n in sums.values()) / len(sums))

    def mark_photo_set(self) -> None:
        """The input is a set of unrelated photos (sizes differ): no temporal metrics."""
        self.photo_set = True
        self.metrics = [m for m in self.metrics if m not in TEMPORAL_METRICS]
        for row in self.rows:
            for m in TEMPORAL_METRICS:
                for c in COLUMNS[m]:
                    row.pop(c, None)
        self._seq = _Sequence()

    @torch.inference_mode()
    def score(self, ref: np.ndarray, cand: np.ndarray, motion: list | None = None, indices: list[int] | None = None,
              names: list[str | None] | None = None, source: str | None = None) -> list[dict]:
        n = ref.shape[0]
        host: dict[str, list[float]] = {}
        # image metrics in chunks of at most CHUNK_PIXELS: bounded memory whatever the batch size
        step = max(1, CHUNK_PIXELS // (ref.shape[1] * ref.shape[2]))
        keep = "warp_error" in self.metrics
        c_all = []
        for k in range(0, n, step):
            c = _to_device(cand[k : k + step], self.device)
            for key, v in self._image_metrics(_to_device(ref[k : k + step], self.device), c).items():
                host.setdefault(key, []).extend(v.double().cpu().tolist())
            if keep:
                c_all.append(c)
        c = torch.cat(c_all) if keep else None
        rows = []
        for i in range(n):
            row: dict = {} if source is None else {"source": source}
            if names and names[i]:
                row["name"] = names[i]
            row["index"] = indices[i] if indices else len(self.rows) + i
            row.update({k: v[i] for k, v in host.items()})
            row.update(self._temporal(c[i : i + 1] if c is not None else None, cand[i], motion[i] if motion else None))
            rows.append(row)
        self.rows.extend(rows)
        return rows

    def _image_metrics(self, r: torch.Tensor, c: torch.Tensor) -> dict[str, torch.Tensor]:
        cols: dict[str, torch.Tensor] = {}
        m = self.metrics
        if "psnr" in m:
            cols["psnr"] = image.psnr(c, r)
        if "ssim" in m:
            cols["ssim"] = image.ssim(c, r)
        if "lpips" in m:
            cols["lpips"] = self.lpips(c, r)
        if "colorfulness" in m:
            cols["colorfulness"] = image.colorfulness(c)
            cols["colorfulness_reference"] = image.colorfulness(r)
        if "deltae2000" in m or "auc" in m:
            lab_r, lab_c = color.rgb_to_lab(r), color.rgb_to_lab(c)
            if "deltae2000" in m:
                cols["deltae2000"] = image.deltae2000(lab_c, lab_r)
            if "auc" in m:
                cols["auc"] = image.auc_ab(lab_c[:, 1:], lab_r[:, 1:])
        return cols

    def _temporal(self, out: torch.Tensor | None, out_host: np.ndarray, motion) -> dict:
        res: dict = {}
        seq = self._seq
        if "warp_error" in self.metrics:
            res["warp_error"] = None
            if motion is not None and seq.prev_out is not None and seq.prev_out.shape == out.shape:
                flow_back, mask = motion
                res["warp_error"] = temporal.warp_error(seq.prev_out, out, flow_back, mask).item()
            seq.prev_out = out
        if "cdc" in self.metrics:
            h = temporal.channel_histograms(to_uint8(out_host[None]))
            for d in temporal.CDC_DILATIONS:
                key = f"cdc_d{d}"
                res[key] = None
                if len(seq.hists) >= d:
                    v = float(temporal.cdc_pair(seq.hists[-d], h)[0])
                    res[key] = v
                    seq.cdc_sums[d][0] += v
                    seq.cdc_sums[d][1] += 1
            seq.hists.append(h)
        return res

    def summary(self) -> dict:
        """Per column: mean, median and the worst frames; ``cdc``: the protocol's value."""
        self._close_cdc()
        self._seq = _Sequence()  # closing twice must not count the sequence again
        out: dict = {}
        for metric in self.metrics:
            for col in COLUMNS[metric]:
                vals = [(i, row[col]) for i, row in enumerate(self.rows) if row.get(col) is not None]
                if not vals:
                    out[col] = {"mean": None, "median": None, "frames": 0}
                    continue
                xs = [v for _, v in vals]
                entry = {"mean": _mean(xs), "median": statistics.median(xs), "frames": len(xs)}
                if col not in NO_WORST:
                    worst = sorted(vals, key=lambda t: t[1], reverse=col not in LOWER_IS_WORSE)[:WORST_FRAMES]
                    entry["worst"] = [{**_frame_id(self.rows[i]), "value": v} for i, v in worst]
                out[col] = entry
        if "cdc" in self.metrics:
            out["cdc"] = {"value": _mean(self.cdc_values) if self.cdc_values else None,
                          "sequences": len(self.cdc_values)}
        return out


def _mean(xs: list[float]) -> float:
    return math.fsum(xs) / len(xs)


def _frame_id(row: dict) -> dict:
    return {k: row[k] for k in ("source", "name", "index") if k in row}


def pair_batches(ref_frames: Iterable, cand_frames: Iterable, batch_size: int, resize: bool,
                 ref_label: str, cand_label: str) -> Iterator[tuple[list, np.ndarray]]:
    """Read two sources in lockstep: yields (reference Frames, candidate NHWC array) batches of one size.

    Frame counts must match and sizes must be equal, unless ``resize`` (the candidate
    is resized to the reference frame's size, area/linear interpolation).
    """
    import cv2

    refs: list = []
    cands: list[np.ndarray] = []
    ri, ci = iter(ref_frames), iter(cand_frames)
    n = 0
    while True:
        rf, cf = next(ri, None), next(ci, None)
        if rf is None or cf is None:
            if rf is not None or cf is not None:
                longer, shorter = (ref_label, cand_label) if rf is not None else (cand_label, ref_label)
                raise InputError(f"frame counts differ: {shorter} ends after {n} frames, {longer} has more; "
                                 "compare inputs of the same length")
            break
        n += 1
        c = cf.rgb
        if c.shape != rf.rgb.shape:
            if not resize:
                raise InputError(f"frame {rf.index} ({rf.name or ref_label}): reference is {rf.rgb.shape[1]}x"
                                 f"{rf.rgb.shape[0]}, candidate {c.shape[1]}x{c.shape[0]}; pass --resize to "
                                 "resize the candidate to the reference")
            h, w = rf.rgb.shape[:2]
            interp = cv2.INTER_AREA if c.shape[0] > h else cv2.INTER_LINEAR
            c = cv2.resize(c, (w, h), interpolation=interp)
            if c.dtype != rf.rgb.dtype:
                c = c.astype(rf.rgb.dtype)
        if refs and (len(refs) >= batch_size or rf.rgb.shape != refs[0].rgb.shape or rf.rgb.dtype != refs[0].rgb.dtype
                     or c.dtype != cands[0].dtype):
            yield refs, np.stack(cands)
            refs, cands = [], []
        refs.append(rf)
        cands.append(c)
    if refs:
        yield refs, np.stack(cands)


def compare(reference: str | os.PathLike, candidate: str | os.PathLike, metrics: str | None = None,
            resize: bool = False, device: str = "auto", lpips_net: str = "alex", batch_size: int = 8,
            warn: Callable[[str], None] | None = None) -> dict:
    """Score CANDIDATE against REFERENCE frame by frame (``vidcolor metrics``).

    Returns ``{"frames": [...], "summary": {...}, "settings": {...}}``.
    """
    from vidcolor.media import open_source
    from vidcolor.pipeline import resolve_device

    dev = resolve_device(device)
    names = parse_metrics(metrics, lpips_net, warn)
    lp = perceptual.LPIPS(lpips_net).to(dev) if "lpips" in names else None
    explicit_temporal = asks_temporal(metrics)
    with open_source(reference) as ref, open_source(candidate) as cand:
        exact = ref.kind != "video" and cand.kind != "video"  # a video's frame count may be an estimate
        if exact and ref.frame_count != cand.frame_count:
            raise InputError(f"frame counts differ: {reference} has {ref.frame_count} frames, {candidate} "
                             f"{cand.frame_count}; compare inputs of the same length")
        scorer = Scorer(names, dev, lp)
        motion = ReferenceMotion(dev)
        first_size = None
        for frames, cands in pair_batches(ref, cand, batch_size, resize, str(reference), str(candidate)):
            first_size = first_size or frames[0].rgb.shape
            if not scorer.photo_set and frames[0].rgb.shape != first_size:
                if explicit_temporal:
                    raise OptionError(f"{reference} holds images of different sizes (a set of photos): "
                                      "temporal metrics (warp_error, cdc) need a video or a same-size sequence")
                scorer.mark_photo_set()
                if warn:
                    warn(f"{reference}: images differ in size, scored as separate photos (no temporal metrics)")
            mo = [motion.step(f.rgb) for f in frames] if "warp_error" in scorer.metrics else None
            scorer.score(np.stack([f.rgb for f in frames]), cands, mo, [f.index for f in frames],
                         [f.name for f in frames])
        rows = scorer.rows
        settings = settings_for(scorer.metrics, lpips_net, dev)
        settings.update({"reference": str(reference), "candidate": str(candidate), "resize": resize,
                         "frames": len(rows)})
        return {"frames": rows, "summary": scorer.summary(), "settings": settings}


def check_report_path(path: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> Path:
    """A report file may replace an older report, never an input nor go inside an input folder."""
    p = Path(path)
    for i in inputs:
        i = Path(i).resolve()
        if p.resolve() == i:
            raise OutputError(f"report {p} is one of the inputs; choose another path")
        if i.is_dir() and i in p.resolve().parents:
            raise OutputError(f"report {p} is inside the input folder {i}; choose another path")
    if p.is_dir():
        raise OutputError(f"report {p} is a folder; give a file name")
    parent = p.resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {p}: folder {parent} does not exist or is not writable")
    return p


def _clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write a text file under a temporary name and rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.vidcolor-{os.getpid()}-tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_json(report: dict, path: str | os.PathLike) -> Path:
    """Write a report as strict JSON (non-finite numbers -> null), atomically."""
    return write_text(json.dumps(_clean(report), indent=1, allow_nan=False) + "\n", path)


def write_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    """One line per frame; columns: the union of the rows' keys in first-seen order."""
    path = Path(path)
    cols: list[str] = []
    for row in rows:
        cols.extend(k for k in row if k not in cols)
    tmp = path.with_name(f".{path.name}.vidcolor-{os.getpid()}-tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if v is None else v) for k, v in _clean(row).items()})
    os.replace(tmp, path)
    return path


def format_summary(summary: dict) -> list[str]:
    """Human-readable lines: one per column with mean and median."""
    lines = []
    for col, s in summary.items():
        if col == "cdc":
            v = s["value"]
            lines.append(f"{'cdc':24s} {'n/a' if v is None else f'{v:.6f}'}  ({s['sequences']} sequence(s))")
        elif s["mean"] is not None:
            lines.append(f"{col:24s} mean {s['mean']:.4f}  median {s['median']:.4f}  ({s['frames']} frames)")
    return lines
