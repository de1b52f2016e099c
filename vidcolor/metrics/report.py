"""Streaming scoring of frame sequences: `vidcolor metrics` and the engine under `vidcolor eval`.

A :class:`Scorer` takes batches of host frames (reference and candidate, HxWx3
uint8/uint16, one size per batch) and records one row per frame; a
:class:`ReferenceMotion` computes the optical flow of the reference once per frame
pair so that several candidates (the models of `eval`) share it. Nothing is
written to disk but the reports; memory holds one batch plus a few histograms, and
the pictures of the reports (:mod:`vidcolor.metrics.gallery`: thumbnails of the worst
frames, a contact sheet), whose size does not grow with the frame count.
Every metric comes from :mod:`vidcolor.metrics.registry`; nothing here names one.

Per-frame row keys (JSON and CSV): ``source`` (when several inputs are pooled),
``name`` (file name for image inputs), ``index`` (frame index within its input),
then each computed metric's columns: the image metrics on RGB, then those on Lab or
ab, then the temporal ones, each group in the registry's order; a metric that does
not apply to a frame (warp error of the first frame, a skipped metric) is null.
"""

from __future__ import annotations

import csv
import math
import os
import statistics
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import cv2
import numpy as np
import torch

from vidcolor import color
from vidcolor.options import (BATCH_SIZE, CLASSIFIER, CLASSIFIERS, DEVICE, LPIPS_NET, SHEET_FRAMES, WORST_FRAMES,
                              check_choice)
from vidcolor.errors import InputError, OptionError, WeightsError
from vidcolor.media import open_source, to_uint8
from vidcolor.media.files import atomic_path, finite
from vidcolor.pipeline import resolve_device
from vidcolor.metrics import registry, temporal
from vidcolor.metrics.gallery import ContactSheet, WorstFrames, frame_id, primary_metric

CHUNK_PIXELS = 2_100_000  # one 1080p frame per image-metric call


def metric_options(lpips_net: str = LPIPS_NET, classifier: str = CLASSIFIER) -> dict:
    """The run's options the metrics' hooks read (``settings``, ``load``, ``missing``)."""
    check_choice("classifier (--classify)", classifier, CLASSIFIERS)
    return {"lpips_net": lpips_net, "classifier": classifier}


def classify_options(classify: str | bool | None) -> tuple[str, tuple[str, ...]]:
    """``--classify [NET]`` (None: not given; True: the default classifier) -> (the
    classifier, the metrics it asks for by name: ``("classify",)`` when given)."""
    if classify is None or classify is False:
        return CLASSIFIER, ()
    return (CLASSIFIER if classify is True else classify), ("classify",)


def parse_metrics(spec: str | None, lpips_net: str = LPIPS_NET, warn: Callable[[str], None] | None = None,
                  classifier: str = CLASSIFIER, require: Iterable[str] = ()) -> list[str]:
    """``--metrics`` (comma-separated names or ``all``; default all) -> the metrics to compute,
    in the registry's order; ``require``: metrics asked for by name besides (``--classify``).

    A metric whose weights are missing (LPIPS without its backbone) is dropped with a
    one-line warning when it was not asked for by name; asked for by name, that is a
    WeightsError.
    """
    known = registry.names()
    explicit = bool(spec) and spec.strip().lower() != "all"
    names = [m.strip().lower() for m in spec.split(",") if m.strip()] if explicit else list(known)
    required = [m.strip().lower() for m in require]
    asked = set(names if explicit else ()) | set(required)
    names += [m for m in required if m not in names]
    unknown = [m for m in names if m not in known]
    if unknown:
        raise OptionError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(known)} or all")
    options = metric_options(lpips_net, classifier)
    missing = {m.name: m.missing(options) for m in registry.all() if m.name in names and m.missing is not None}
    for name, msg in missing.items():  # an error comes before any warning
        if msg and name in asked:
            raise WeightsError(msg)
    for name, msg in missing.items():
        if msg:
            if warn:
                warn(f"{registry.get(name).header} skipped: {msg}")
            names.remove(name)
    return [m for m in known if m in names]


def asks_temporal(spec: str | None) -> bool:
    """Whether ``--metrics`` names a temporal metric explicitly."""
    return bool({m.strip().lower() for m in (spec or "").split(",")} & set(registry.names("temporal")))


def temporal_names() -> str:
    """``"warp_error, cdc"``: the temporal metrics, for messages."""
    return ", ".join(registry.names("temporal"))


def settings_for(metrics: list[str], lpips_net: str = LPIPS_NET, device: str = "cpu",
                 classifier: str = CLASSIFIER) -> dict:
    """How each metric was computed (written into every report): each metric's
    ``settings`` under its name, in the registry's order."""
    s: dict = {"metrics": list(metrics), "device": str(device), "rgb_scale": "8-bit (data range 255)"}
    options = metric_options(lpips_net, classifier)
    for metric in registry.all():
        if metric.name in metrics:
            s[metric.name] = metric.settings_for(options)
    s["non_finite"] = "written as null (PSNR of identical frames is +inf)"
    return s


def load_models(metrics: list[str], device: torch.device | str = "cpu", lpips_net: str = LPIPS_NET,
                classifier: str = CLASSIFIER) -> dict:
    """The model objects the metrics need (their ``load`` hook): ``{metric: model}``,
    built once per run and shared by every :class:`Scorer`."""
    options = metric_options(lpips_net, classifier)
    return {m.name: m.load(options, device) for m in registry.all() if m.name in metrics and m.load is not None}


def _to_device(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """NHWC uint8/uint16 host frames -> float RGB NCHW [0, 1] on device."""
    x = torch.from_numpy(frames if frames.dtype == np.uint8 else frames.astype(np.int32))
    return color.to_float_rgb(x.to(device))


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


class Scorer:
    """Per-frame metrics of one candidate stream against the reference.

    ``metrics``: registered names (as :func:`parse_metrics` returns them); ``models``:
    ``{metric: model}`` for the metrics with a ``load`` hook (:func:`load_models`).
    ``score(ref, cand, motion, indices, names, source)`` takes NHWC host frames of one size;
    ``motion`` is a list (one per frame) of :meth:`ReferenceMotion.step` results, needed
    only when :attr:`needs_motion`. Call :meth:`new_sequence` between inputs.
    """

    def __init__(self, metrics: list[str], device: torch.device | str = "cpu", models: Mapping | None = None):
        self.metrics = list(metrics)
        self.device = torch.device(device)
        self.models = dict(models or {})
        self.rows: list[dict] = []
        self.photo_set = False
        unknown = [m for m in self.metrics if m not in registry.names()]
        if unknown:
            raise OptionError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(registry.names())}")
        chosen = [m for m in registry.all() if m.name in self.metrics]
        unloaded = [m.name for m in chosen if m.load is not None and m.name not in self.models]
        if unloaded:
            raise ValueError(f"metric(s) {', '.join(unloaded)} need their model: pass models=load_models(...)")
        # image metrics on RGB first, then those on Lab/ab (Lab computed once per chunk)
        self._image = sorted((m for m in chosen if m.kind == "image"), key=lambda m: m.consumes != "rgb")
        self._temporal = {m.name: m.compute() for m in chosen if m.kind == "temporal"}

    @property
    def needs_motion(self) -> bool:
        """Whether :meth:`score` needs the reference's motion (a temporal metric asks for it)."""
        return any(t.needs_motion for t in self._temporal.values())

    def new_sequence(self) -> None:
        """Close the current input (its temporal values are recorded) and start another."""
        for t in self._temporal.values():
            t.new_sequence()

    def mark_photo_set(self) -> None:
        """The input is a set of unrelated photos (sizes differ): no temporal metrics."""
        self.photo_set = True
        gone = registry.all("temporal")
        self.metrics = [m for m in self.metrics if m not in {t.name for t in gone}]
        for row in self.rows:
            for m in gone:
                for c in m.columns:
                    row.pop(c, None)
        self._temporal = {}

    @torch.inference_mode()
    def score(self, ref: np.ndarray, cand: np.ndarray, motion: list | None = None, indices: list[int] | None = None,
              names: list[str | None] | None = None, source: str | None = None) -> list[dict]:
        n = ref.shape[0]
        host: dict[str, list[float]] = {}
        # image metrics in chunks of at most CHUNK_PIXELS: bounded memory whatever the batch size
        step = max(1, CHUNK_PIXELS // (ref.shape[1] * ref.shape[2]))
        keep = any(t.device_frames for t in self._temporal.values())
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
            row.update(self._temporal_step(c[i : i + 1] if c is not None else None, cand[i],
                                           motion[i] if motion else None))
            rows.append(row)
        self.rows.extend(rows)
        return rows

    def _image_metrics(self, r: torch.Tensor, c: torch.Tensor) -> dict[str, torch.Tensor]:
        cols: dict[str, torch.Tensor] = {}
        lab = None
        for m in self._image:
            if m.consumes == "rgb":
                pred, target = c, r
            else:
                if lab is None:
                    lab = color.rgb_to_lab(c), color.rgb_to_lab(r)
                pred, target = lab if m.consumes == "lab" else (lab[0][:, 1:], lab[1][:, 1:])
            v = m.compute(pred, target, self.models[m.name]) if m.load is not None else m.compute(pred, target)
            if not isinstance(v, dict):
                v = {m.columns[0]: v} if len(m.columns) == 1 else v
            if not isinstance(v, dict) or set(v) != set(m.columns):
                raise ValueError(f"metric {m.name} must return its columns {m.columns}")
            cols.update((col, v[col]) for col in m.columns)
        return cols

    def _temporal_step(self, out: torch.Tensor | None, out_host: np.ndarray, motion) -> dict:
        res: dict = {}
        host8 = None
        for t in self._temporal.values():
            if t.device_frames:
                frame = out
            else:
                frame = host8 = to_uint8(out_host) if host8 is None else host8
            res.update(t.step(frame, motion if t.needs_motion else None))
        return res

    def summary(self) -> dict:
        """Per column: mean, median and the worst frames (unless the metric has none);
        then the temporal metrics' extra entries (``cdc``: the protocol's value)."""
        extra: dict = {}
        for t in self._temporal.values():
            extra.update(t.summary())  # closes the current sequence; closing twice counts it once
        out: dict = {}
        for metric in (registry.get(m) for m in self.metrics):
            for col in metric.columns:
                vals = [(i, row[col]) for i, row in enumerate(self.rows) if row.get(col) is not None]
                if not vals:
                    out[col] = {"mean": None, "median": None, "frames": 0}
                    continue
                xs = [v for _, v in vals]
                entry = {"mean": _mean(xs), "median": statistics.median(xs), "frames": len(xs)}
                if metric.worst is not None:
                    worst = sorted(vals, key=lambda t: t[1], reverse=metric.worst == "high")[:WORST_FRAMES]
                    entry["worst"] = [{**frame_id(self.rows[i]), "value": v} for i, v in worst]
                out[col] = entry
        out.update(extra)
        return out


def _mean(xs: list[float]) -> float:
    return math.fsum(xs) / len(xs)


def pair_batches(ref_frames: Iterable, cand_frames: Iterable, batch_size: int, resize: bool,
                 ref_label: str, cand_label: str) -> Iterator[tuple[list, np.ndarray]]:
    """Read two sources in lockstep: yields (reference Frames, candidate NHWC array) batches of one size.

    Frame counts must match and sizes must be equal, unless ``resize`` (the candidate
    is resized to the reference frame's size, area/linear interpolation).
    """
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
            resize: bool = False, device: str = DEVICE, lpips_net: str = LPIPS_NET,
            batch_size: int = BATCH_SIZE,
            warn: Callable[[str], None] | None = None, classify: str | bool | None = None) -> dict:
    """Score CANDIDATE against REFERENCE frame by frame (``vidcolor metrics``).

    ``classify``: a classifier name (:data:`~vidcolor.options.CLASSIFIERS`, True: the
    default) asks for the ``classify`` metric with it, so that missing weights are an
    error; None: ``classify`` runs with the default classifier when ``metrics`` includes it.

    Returns ``{"kind": "metrics", "frames": [...], "summary": {...}, "images": {...},
    "settings": {...}}``. ``images``: ``worst``, the :data:`WORST_FRAMES` worst frames of
    the primary metric (:func:`~vidcolor.metrics.gallery.primary_metric`) as gray |
    candidate | reference thumbnails; ``contact_sheet``, the same at a few evenly
    spaced frames (base64 JPEG, :mod:`vidcolor.metrics.gallery`).
    """
    dev = resolve_device(device)
    classifier, require = classify_options(classify)
    names = parse_metrics(metrics, lpips_net, warn, classifier, require)
    models = load_models(names, dev, lpips_net, classifier)
    explicit_temporal = asks_temporal(metrics)
    with open_source(reference) as ref, open_source(candidate) as cand:
        exact = ref.kind != "video" and cand.kind != "video"  # a video's frame count may be an estimate
        if exact and ref.frame_count != cand.frame_count:
            raise InputError(f"frame counts differ: {reference} has {ref.frame_count} frames, {candidate} "
                             f"{cand.frame_count}; compare inputs of the same length")
        scorer = Scorer(names, dev, models)
        motion = ReferenceMotion(dev)
        primary = primary_metric(names)
        worst = WorstFrames(primary) if primary else None
        sheet = ContactSheet(ref.frame_count, SHEET_FRAMES, ["gray", "candidate", "reference"])
        first_size = None
        for frames, cands in pair_batches(ref, cand, batch_size, resize, str(reference), str(candidate)):
            first_size = first_size or frames[0].rgb.shape
            if not scorer.photo_set and frames[0].rgb.shape != first_size:
                if explicit_temporal:
                    raise OptionError(f"{reference} holds images of different sizes (a set of photos): "
                                      f"temporal metrics ({temporal_names()}) need a video or a same-size sequence")
                scorer.mark_photo_set()
                if warn:
                    warn(f"{reference}: images differ in size, scored as separate photos (no temporal metrics)")
            mo = [motion.step(f.rgb) for f in frames] if scorer.needs_motion else None
            refs = np.stack([f.rgb for f in frames])
            rows = scorer.score(refs, cands, mo, [f.index for f in frames], [f.name for f in frames])
            if worst:
                worst.offer(rows, cands, refs)
            sheet.add_batch(frames, {"candidate": cands}, device=dev)
        rows = scorer.rows
        settings = settings_for(scorer.metrics, lpips_net, dev, classifier)
        settings.update({"reference": str(reference), "candidate": str(candidate), "resize": resize,
                         "frames": len(rows)})
        images = {"worst": worst.images() if worst else [], "contact_sheet": sheet.encoded()}
        return {"kind": "metrics", "frames": rows, "summary": scorer.summary(), "images": images,
                "settings": settings}


def write_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    """One line per frame; columns: the union of the rows' keys in first-seen order."""
    cols: list[str] = []
    for row in rows:
        cols.extend(k for k in row if k not in cols)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if v is None else v) for k, v in finite(row).items()})
    return Path(path)


def format_summary(summary: dict) -> list[str]:
    """Human-readable lines: one per column with mean and median; a protocol value
    (an entry with ``value``, as ``cdc``) with its sequence count."""
    lines = []
    for col, s in summary.items():
        if "value" in s:
            v = s["value"]
            lines.append(f"{col:24s} {'n/a' if v is None else f'{v:.6f}'}  ({s.get('sequences', 0)} sequence(s))")
        elif s["mean"] is not None:
            lines.append(f"{col:24s} mean {s['mean']:.4f}  median {s['median']:.4f}  ({s['frames']} frames)")
    return lines
