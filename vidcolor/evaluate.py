"""The evaluation protocol behind `vidcolor eval`.

Color originals (videos, image folders, photos) are converted to gray (L kept,
ab = 0, quantized like a real black-and-white frame: :func:`color.gray_to_rgb`),
colorized by each model through the same :class:`vidcolor.pipeline.Engine` that
`vidcolor colorize` uses, and scored against the originals with the frame and
temporal metrics of :mod:`vidcolor.metrics.report`. The gray frames themselves are
scored as the ``gray`` row: the baseline every colorizer must beat. One pass over
each input; nothing is written to disk but the reports and the contact sheet. The
result keeps every frame's row per model, and the pictures an HTML report shows
(:mod:`vidcolor.metrics.gallery`), since the colorized frames are not saved.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Sequence

import numpy as np

from vidcolor import options
from vidcolor import temporal as _temporal
from vidcolor.errors import OptionError
from vidcolor.media import iter_batches, open_source
from vidcolor.media.files import check_output
from vidcolor.metrics import registry
from vidcolor.metrics.gallery import ContactSheet, WorstFrames, primary_metric, to_gray_frames
from vidcolor.metrics.report import (
    ReferenceMotion,
    Scorer,
    asks_temporal,
    classify_options,
    load_models,
    parse_metrics,
    settings_for,
    temporal_names,
)
from vidcolor.models import load_model
from vidcolor.pipeline import Engine, Stats, resolve_device

GRAY = "gray"


def model_labels(models: Sequence[str]) -> list[str]:
    """Row names: the model name, with #2, #3 ... for repeats."""
    labels, seen = [], {}
    for m in models:
        seen[m] = seen.get(m, 0) + 1
        labels.append(m if seen[m] == 1 else f"{m}#{seen[m]}")
    return labels


def evaluate(inputs: Sequence[str | os.PathLike], models: Sequence[str], weights: Sequence[str | None] | None = None,
             metrics: str | None = None, batch_size: int = options.BATCH_SIZE, device: str = options.DEVICE,
             size: int | None = options.SIZE, temporal: str = options.EVAL_TEMPORAL,
             temporal_strength: float | None = None, lpips_net: str = options.LPIPS_NET,
             contact_sheet: str | os.PathLike | None = None, sheet_frames: int = options.SHEET_FRAMES,
             warn: Callable[[str], None] | None = None, on_batch: Callable[[int], None] | None = None,
             classify: str | bool | None = None) -> dict:
    """Run the protocol; returns ``{"kind": "eval", "models": {NAME: {"summary": ..., ...}},
    "images": {...}, "settings": {...}}``.

    ``weights``: one local checkpoint per model, in the order of ``models`` (None: the
    catalogue weights). The ``gray`` row comes first. Each model entry also holds
    ``frames`` (frames scored), ``rows`` (one per frame, as ``vidcolor metrics``
    writes them) and ``model_seconds`` (time in the engine: prepare, model, compose).
    ``images``: ``worst``, per model, the :data:`~vidcolor.options.WORST_FRAMES` worst
    frames of the primary metric (:func:`~vidcolor.metrics.gallery.primary_metric`) as
    gray | output | original thumbnails; ``contact_sheet``, the sheet of the first input
    (base64 JPEG). ``contact_sheet`` (a path) also writes the sheet as an image.
    ``size`` None: each model at its own input size. ``classify``: a classifier name
    (:data:`~vidcolor.options.CLASSIFIERS`; True: the default) asks for the classification
    accuracy with it, so that missing weights are an error; None: it is computed with the
    default classifier when ``metrics`` includes it (``all`` does when its weights are cached).
    """
    if not inputs:
        raise OptionError("give at least one color video or image folder to evaluate")
    if not models:
        raise OptionError("give at least one --model")
    weights = list(weights or [])
    if weights and len(weights) != len(models):
        raise OptionError(f"{len(weights)} --weights for {len(models)} --model: give one per model, in order")
    options.check_batch_size(batch_size)
    options.check_size(size)
    options.check_int("--sheet-frames", sheet_frames, 1)
    if contact_sheet is not None:
        check_output(contact_sheet, inputs, report=True)
    _temporal.check(temporal, temporal_strength)  # bad values fail before any model is loaded
    dev = resolve_device(device)
    classifier, require = classify_options(classify)
    names = parse_metrics(metrics, lpips_net, warn, classifier, require)
    explicit_temporal = asks_temporal(metrics)
    metric_models = load_models(names, dev, lpips_net, classifier)
    labels = model_labels(models)
    engines = {}
    for label, name, w in zip(labels, models, weights or [None] * len(models)):
        net = load_model(name, weights=w, device=dev)
        engines[label] = Engine(net, dev, size=size, stats=Stats())
    scorers = {label: Scorer(names, dev, metric_models) for label in [GRAY, *labels]}
    motion = ReferenceMotion(dev)
    primary = primary_metric(names)
    worst = {label: WorstFrames(primary) for label in labels} if primary else {}
    sheet = None
    frames_done = 0
    t_start = time.perf_counter()
    for input_path in inputs:
        src_label = str(input_path)
        with open_source(input_path) as src:
            if sheet is None:
                sheet = ContactSheet(src.frame_count, sheet_frames, [GRAY, *labels, "original"])
            motion.reset()
            for s in scorers.values():
                s.new_sequence()
            for eng in engines.values():  # a fresh temporal state per input
                eng.smoother = _temporal.make_smoother(temporal, temporal_strength)
            first_shape = None
            for batch in iter_batches(src, batch_size):
                ref = np.stack([f.rgb for f in batch])
                first_shape = first_shape or ref.shape[1:]
                photo_set = ref.shape[1:] != first_shape and not scorers[GRAY].photo_set
                if photo_set and explicit_temporal:
                    raise OptionError(f"{input_path} holds images of different sizes (a set of photos): temporal "
                                      f"metrics ({temporal_names()}) need videos or same-size sequences")
                if photo_set:
                    for s in scorers.values():
                        s.mark_photo_set()
                    if warn:
                        warn(f"{input_path}: images differ in size, scored as separate photos (no temporal metrics)")
                gray = to_gray_frames(ref, dev)
                mo = [motion.step(f.rgb) for f in batch] if scorers[GRAY].needs_motion else None
                idx = [f.index for f in batch]
                fnames = [f.name for f in batch]
                scorers[GRAY].score(ref, gray, mo, idx, fnames, src_label)
                outs = {}
                for label, eng in engines.items():
                    outs[label] = eng(gray)
                    rows = scorers[label].score(ref, outs[label], mo, idx, fnames, src_label)
                    if worst:
                        worst[label].offer(rows, outs[label], ref)
                if input_path == inputs[0]:
                    sheet.add_batch(batch, outs, gray=gray)
                frames_done += len(batch)
                if on_batch:
                    on_batch(frames_done)
    seconds = time.perf_counter() - t_start
    result: dict = {"kind": "eval", "models": {}}
    for label, s in scorers.items():
        entry: dict = {"summary": s.summary(), "frames": len(s.rows), "rows": s.rows}
        if label in engines:
            st = engines[label].stats.seconds
            entry["model_seconds"] = st["prepare"] + st["model"] + st["temporal"] + st["compose"]
            entry["model"] = models[labels.index(label)]
            entry["weights"] = str(weights[labels.index(label)]) if weights else "catalogue"
        result["models"][label] = entry
    settings = settings_for(scorers[GRAY].metrics, lpips_net, dev, classifier)
    sizes = {label: eng.size for label, eng in engines.items()}
    settings.update({"inputs": [str(p) for p in inputs], "batch_size": batch_size,
                     "size": next(iter(sizes.values())) if len(set(sizes.values())) == 1 else sizes,
                     "temporal": temporal, "temporal_strength": temporal_strength,
                     "gray": "L of the original kept, ab = 0, 8-bit (vidcolor.color.gray_to_rgb)",
                     "frames": frames_done, "seconds": seconds})
    result["images"] = {"worst": {label: w.images() for label, w in worst.items()},
                        "contact_sheet": sheet.encoded() if sheet is not None else None}
    result["settings"] = settings
    if contact_sheet is not None and sheet is not None and sheet.rows:
        result["settings"]["contact_sheet"] = str(sheet.write(contact_sheet))
    return result


def table_columns() -> list[tuple[str, str, str]]:
    """The metric columns of the table, from the registry in table order: (summary key, header, format).
    A metric with ``column_headers`` (classify: top-1, top-5) has a column for each."""
    return [(key, header, m.fmt) for m in registry.table_metrics() for key, header in m.table_cells()]


def table(result: dict, stat: str = "mean") -> tuple[list[str], list[list[str]]]:
    """Header and one row per model, then ``original`` with the originals' own values.

    A metric's cell is its summary entry under its name (or, for a metric with
    ``column_headers``, one cell per such column, as classify's top-1 and top-5): the
    protocol value (``value``, as CDC) or else ``stat`` (``"mean"`` or ``"median"`` over
    frames); metrics with a ``reference_column`` (colorfulness) fill the ``original`` row
    with that column's ``stat``.
    """
    first = next(iter(result["models"].values()))["summary"]
    cols = [(m, key, head) for m in registry.table_metrics() for key, head in m.table_cells() if key in first]
    header = ["model", *[head for _, _, head in cols], "frames"]
    rows = []
    for label, entry in result["models"].items():
        cells = [label]
        for m, key, _ in cols:
            s = entry["summary"][key]
            v = s["value"] if "value" in s else s[stat]
            cells.append("-" if v is None else m.fmt.format(v))
        rows.append(cells + [str(entry["frames"])])
    refs = {key: first[m.reference_column][stat] for m, key, _ in cols if m.reference_column in first}
    if refs:
        rows.append(["original", *["-" if refs.get(key) is None else m.fmt.format(refs[key]) for m, key, _ in cols],
                     "-"])
    return header, rows


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Aligned plain text: the first column left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join([fmt(header), *map(fmt, rows)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown (GitHub) table."""
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
                      *["| " + " | ".join(r) + " |" for r in rows]])


def format_table(result: dict) -> str:
    """Plain-text table for the terminal."""
    return text_table(*table(result))


def format_markdown(result: dict) -> str:
    """A Markdown report: the table (means) and the settings that make it reproducible."""
    header, rows = table(result)
    s = result["settings"]
    lines = [
        "# vidcolor eval",
        "",
        f"Inputs: {', '.join(s['inputs'])} ({s['frames']} frames); model size {s['size']}, temporal {s['temporal']}; "
        f"{s['seconds']:.1f} s on {s['device']}.",
        "",
        markdown_table(header, rows),
        "",
        "Means over frames; CDC is the protocol value (mean over dilations 1, 2, 4). "
        "`gray` is the input itself (ab = 0); `original` gives the originals' colorfulness."
        + (" top-1/top-5: share of frames where the classifier's top-1 class on the original is its top-1 "
           "class on the output (is among its top 5)." if "top1" in next(iter(result["models"].values()))["summary"] else ""),
        "",
        "Settings:",
        "",
    ]
    for k in registry.names():
        if k in s:
            lines.append(f"- {k}: " + "; ".join(f"{a}={b}" for a, b in s[k].items()))
    return "\n".join(lines) + "\n"
