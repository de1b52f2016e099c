"""Self-contained HTML reports of `vidcolor eval`, `metrics` and `bench` results (`vidcolor report`).

One file that opens offline, in any browser, with nothing beside it: inline CSS, no
script, no external URL. The plots are drawn with matplotlib (through
:class:`matplotlib.figure.Figure` and its Agg canvas: no pyplot, no global backend
state, safe in a server thread) and embedded as PNG data URIs; the pictures are the
base64 JPEG thumbnails the runs stored in their JSON (:mod:`vidcolor.metrics.gallery`).
A result's JSON (or the in-memory result of :func:`vidcolor.evaluate.evaluate`,
:func:`vidcolor.metrics.report.compare`, :func:`vidcolor.bench.benchmark`) gives one
section; several give one page.

eval and metrics sections: the summary tables (means and medians, columns as
:func:`vidcolor.evaluate.table` makes them), one per-frame plot per metric (one line
per model, sequence boundaries marked), the worst frames of the primary metric
(gray | output | original) and the contact sheet. bench sections: per-stage time
(stacked bars of the medians per configuration) and the speed table. Every part
carries a stable marker for tests and tools: ``<section data-section="...">``,
``<figure data-plot="...">``, ``<div data-frame ...>`` per worst frame.

matplotlib is an optional dependency (``pip install "vidcolor[report]"``); without it
writing a report is one :class:`~vidcolor.errors.VidcolorError` line.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Iterable

from vidcolor.errors import InputError, VidcolorError
from vidcolor.evaluate import GRAY, table
from vidcolor.media.files import check_output, finite, write_text
from vidcolor.metrics import registry

INSTALL = 'pip install "vidcolor[report]"'
#: each kind's layout: the keys its JSON must hold, and their types (older files carry no ``kind``)
LAYOUTS = {
    "eval": {"models": dict, "settings": dict},
    "metrics": {"frames": list, "summary": dict, "settings": dict},
    "bench": {"machine": dict, "settings": dict, "results": list},
}
COLUMN_STYLES = ("-", "--", ":", "-.")   # line style per column of a multi-column metric (CDC d1, d2, d4)
STATS = ("mean", "median")
OLD_FILE = "This file holds no {what} (written by an older vidcolor); run the command again to include them."

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2329;background:#f6f7f9;margin:0}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:0 0 6px}h3{font-size:15px;margin:18px 0 8px}
section[data-section=result]{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:18px 22px;margin:22px 0}
.meta,.note{color:#58616b;margin:2px 0 10px}.note{font-style:italic}
table{border-collapse:collapse;margin:6px 0 14px;font-variant-numeric:tabular-nums}
th,td{padding:4px 10px;border-bottom:1px solid #e4e7eb;text-align:left;white-space:nowrap}
th{background:#eef1f4;font-weight:600}td.num,th.num{text-align:right}
figure{margin:8px 0}figure img{max-width:100%;height:auto;display:block}
.frames{display:flex;flex-wrap:wrap;gap:14px}.frame{border:1px solid #e4e7eb;border-radius:6px;padding:8px}
.triple{display:flex;gap:6px}.triple figure{margin:0}.triple figcaption{font-size:12px;color:#58616b;text-align:center}
.frame p{margin:6px 0 0;font-size:13px}
details pre{background:#f3f4f6;padding:10px;overflow:auto;font-size:12px}
"""


# --- reading -----------------------------------------------------------------------

def kind_of(data) -> str | None:
    """``"eval"``, ``"metrics"`` or ``"bench"``: the ``kind`` a result declares, or for an
    older file the layout it has; None when it is neither (or declares a kind whose
    layout it lacks)."""
    if not isinstance(data, dict):
        return None
    fits = [k for k, layout in LAYOUTS.items() if all(isinstance(data.get(key), t) for key, t in layout.items())]
    declared = data.get("kind")
    if declared is not None:
        return declared if declared in fits else None
    return fits[0] if fits else None


def load_result(path: str | os.PathLike) -> dict:
    """Read the JSON of `vidcolor eval`, `metrics` or `bench` (``--json``); InputError otherwise."""
    p = Path(path)
    what = "give a JSON file written by vidcolor eval, metrics or bench --json"
    if p.is_dir():
        raise InputError(f"{p} is a folder; {what}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{p}: no such file; {what}") from None
    except UnicodeDecodeError:
        raise InputError(f"{p} is not JSON (not UTF-8 text); {what}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{p} is not JSON ({e.msg} at line {e.lineno}); {what}") from None
    except OSError as e:
        raise InputError(f"cannot read {p}: {e.strerror or e}") from None
    if kind_of(data) is None:
        raise InputError(f"{p} is JSON but not a result of vidcolor eval, metrics or bench; {what}")
    return data


def require_matplotlib():
    """The :class:`matplotlib.figure.Figure` class, or a one-line error naming the extra to install."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise VidcolorError(f"the HTML report draws its plots with matplotlib, which is not installed: "
                            f"{INSTALL}") from None
    return Figure


# --- writing -----------------------------------------------------------------------

def write_report(paths: Iterable[str | os.PathLike], output: str | os.PathLike, title: str | None = None,
                 overwrite: bool = False) -> Path:
    """`vidcolor report`: one HTML file from result JSON files, a section per file, written atomically.

    OUTPUT must not be one of the inputs, nor exist unless ``overwrite``.
    """
    paths = list(paths)
    if not paths:
        raise InputError("give at least one JSON file written by vidcolor eval, metrics or bench --json")
    require_matplotlib()
    check_output(output, paths, overwrite=overwrite)
    results = [(str(p), load_result(p)) for p in paths]
    return write_text(output, render(results, title))


def write_result(result: dict, output: str | os.PathLike, name: str, title: str | None = None) -> Path:
    """The report of one in-memory result (``eval --report``, ``metrics --report``), written
    atomically; ``name`` heads its section. The caller checks ``output`` beforehand
    (:func:`vidcolor.media.files.check_output` with ``report=True``, before the run)."""
    require_matplotlib()
    return write_text(output, render([(name, result)], title))


def render(results: list[tuple[str, dict]], title: str | None = None) -> str:
    """The page: ``results`` are (name, result) pairs, one section each, in order."""
    title = title or "vidcolor report"
    sections = "\n".join(_result_section(name, finite(data)) for name, data in results)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{_e(title)}</title><style>{CSS}</style></head>\n'
            f'<body><main><h1>{_e(title)}</h1><p class="meta">{len(results)} result(s): '
            f'{_e(", ".join(Path(n).name for n, _ in results))}</p>\n{sections}\n</main></body></html>\n')


def _result_section(name: str, data: dict) -> str:
    kind = kind_of(data)
    body = {"eval": _eval, "metrics": _metrics, "bench": _bench}[kind](data)
    return (f'<section data-section="result" data-kind="{kind}"><h2>{kind}: {_e(name)}</h2>\n{body}\n'
            f'<details><summary>Settings</summary><pre>{_e(json.dumps(data["settings"], indent=1))}</pre>'
            f'</details></section>')


# --- eval and metrics ----------------------------------------------------------------

def _eval(data: dict) -> str:
    s = data["settings"]
    meta = (f"{', '.join(s.get('inputs', []))}: {s.get('frames', '?')} frames, converted to gray, colorized and "
            f"scored against the originals; model size {s.get('size')}, temporal {s.get('temporal')}, "
            f"{s.get('seconds', 0):.1f} s on {s.get('device')}.")
    streams = {label: entry["rows"] for label, entry in data["models"].items() if "rows" in entry}
    images = data.get("images")
    return _scores(data, streams, images and images.get("worst"), images, meta)


def _metrics(data: dict) -> str:
    s = data["settings"]
    label = Path(s.get("candidate", "candidate")).name
    meta = (f"{s.get('candidate')} scored against {s.get('reference')}: {len(data['frames'])} frames"
            f"{', candidate resized' if s.get('resize') else ''}, on {s.get('device')}.")
    result = {"models": {label: {"summary": data["summary"], "frames": len(data["frames"])}}}
    images = data.get("images")
    return _scores(result, {label: data["frames"]}, images and {label: images.get("worst", [])}, images, meta)


def _scores(result: dict, streams: dict[str, list[dict]], worst: dict | None, images: dict | None,
            meta: str) -> str:
    tables = "".join(f"<h3>{stat.capitalize()} over frames</h3>{_table(*table(result, stat))}" for stat in STATS)
    return "\n".join([
        f'<p class="meta">{_e(meta)}</p>',
        _section("summary", "Summary", tables + _note(_table_note(result))),
        _section("frame-plots", "Per-frame metrics", _frame_plots(streams)),
        _section("worst-frames", "Worst frames", _worst_frames(worst)),
        _section("contact-sheet", "Contact sheet", _contact_sheet(images)),
    ])


def _table_note(result: dict) -> str:
    """What the tables' special rows and cells are, for those they have."""
    first = next(iter(result["models"].values()))["summary"]
    protocol = [m.header for m in registry.table_metrics() if "value" in first.get(m.name, {})]
    refs = [m.name for m in registry.table_metrics() if m.reference_column in first]
    notes = [f"{', '.join(protocol)}: the protocol value over whole sequences, in both tables." if protocol else "",
             f"{GRAY}: the gray input itself (ab = 0), the baseline to beat." if GRAY in result["models"] else "",
             f"original: the originals' own {', '.join(refs)}." if refs else ""]
    return " ".join(n for n in notes if n)


def _frame_plots(streams: dict[str, list[dict]]) -> str:
    if not any(streams.values()):
        return _note(OLD_FILE.format(what="per-frame rows"))
    present = {c for rows in streams.values() for r in rows for c, v in r.items() if v is not None}
    plots = [_figure(f"frame-{m.name}", _plot_metric(m, streams), f"{m.header} per frame")
             for m in registry.all() if present & set(m.columns)]
    return "".join(plots) or _note("No metric has a value on any frame.")


def _plot_metric(metric: registry.Metric, streams: dict[str, list[dict]]) -> str:
    """One metric over the frames: a line per stream (and per column); the reference's
    own column (colorfulness of the originals) once, as ``original``."""
    fig = _new_figure(9, 2.7)
    ax = fig.add_subplot()
    own = [c for c in metric.columns if c != metric.reference_column]
    for n, (label, rows) in enumerate(streams.items()):
        for col, style in zip(own, COLUMN_STYLES * len(own)):
            ax.plot([_num(r.get(col)) for r in rows], style, color=f"C{n % 10}", lw=1.2,
                    label=label if len(own) == 1 else f"{label} {col}")
    first = next(iter(streams.values()))
    if metric.reference_column:
        ax.plot([_num(r.get(metric.reference_column)) for r in first], "-.", color="black", lw=1, label="original")
    _mark_sequences(ax, first)
    better = {"high": " (lower is better)", "low": " (higher is better)"}.get(metric.worst, "")
    ax.set_title(f"{metric.header} per frame{better}", fontsize=10, loc="left")
    ax.set_xlabel("frame (in the order scored)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(fig)


def _mark_sequences(ax, rows: list[dict]) -> None:
    """A dotted line and the input's name where the rows' ``source`` changes."""
    sources = [r.get("source") for r in rows]
    starts = [i for i in range(len(sources)) if i == 0 or sources[i] != sources[i - 1]]
    if len(starts) < 2:
        return
    for i in starts:
        if i:
            ax.axvline(i - 0.5, color="0.45", ls=":", lw=1)
        ax.text(i, 0.97, f" {Path(str(sources[i])).name}", transform=ax.get_xaxis_transform(), fontsize=7,
                va="top", color="0.3")


def _worst_frames(worst: dict | None) -> str:
    if worst is None:
        return _note(OLD_FILE.format(what="images"))
    if not any(worst.values()):
        return _note("No frames to show: no computed metric ranks frames.")
    first = next(items for items in worst.values() if items)
    m = _metric_of(first[0]["metric"])
    intro = _note(f"The {len(first)} worst frames by {m.header} per model: gray input | output | original.")
    return intro + "".join(f"<h3>{_e(label)}</h3><div class=\"frames\">{''.join(_frame(label, it) for it in items)}"
                           "</div>" for label, items in worst.items() if items)


def _frame(label: str, item: dict) -> str:
    m = _metric_of(item["metric"])
    v = item["value"]
    where = " · ".join(x for x in (Path(str(item["source"])).name if "source" in item else "",
                                   f"frame {item['index']}" + (f" ({item['name']})" if item.get("name") else ""),
                                   f"{m.header} {'n/a' if v is None else m.fmt.format(v)}") if x)
    attrs = "".join(f' data-{k}="{_e(str(item[k]))}"' for k in registry.RESERVED_COLUMNS if k in item)
    cells = "".join(f'<figure><img src="{_jpeg(item[k])}" alt="{k}"><figcaption>{k}</figcaption></figure>'
                    for k in ("gray", "output", "original"))
    return (f'<div class="frame" data-frame data-model="{_e(label)}"{attrs} data-value="{_e(json.dumps(v))}">'
            f'<div class="triple">{cells}</div><p>{_e(where)}</p></div>')


def _contact_sheet(images: dict | None) -> str:
    sheet = images and images.get("contact_sheet")
    if not sheet:
        return _note(OLD_FILE.format(what="images"))
    return (f'<figure data-plot="contact-sheet"><img src="{_jpeg(sheet)}" alt="contact sheet">'
            "<figcaption class=\"note\">Evenly spaced frames of the first input.</figcaption></figure>")


# --- bench ---------------------------------------------------------------------------

def _bench(data: dict) -> str:
    m, s = data["machine"], data["settings"]
    meta = (f"{m.get('cpu')}, {m.get('cores')} cores ({m.get('torch_threads')} torch threads), GPU: "
            f"{m.get('gpu') or 'none'}; torch {m.get('torch')}, PyAV {m.get('pyav')}. Device {s.get('device')}, "
            f"{s.get('repeats')} repeat(s), codec {s.get('codec')} crf {s.get('crf')}.")
    results = data["results"]
    parts = [f'<p class="meta">{_e(meta)}</p>',
             _section("bench-stages", "Time per stage",
                      _figure("bench-stages", _plot_stages(results), "ms per frame per stage (median over repeats)")
                      if results else _note("No configuration was timed.")),
             _section("bench-table", "Speed", _table(*_bench_table(results)))]
    for inp, q in data.get("quality", {}).items():
        frames = q["settings"].get("frames", "-")
        result = {"models": {k: {"summary": v, "frames": frames} for k, v in q["summary"].items()}}
        parts.append(_section("summary", f"Quality on {Path(inp).name} (means over frames)", _table(*table(result))))
    return "\n".join(parts)


def _bench_label(r: dict, inputs: int) -> str:
    return f"{Path(r['input']).name}: {r['label']}" if inputs > 1 else r["label"]


def _plot_stages(results: list[dict]) -> str:
    """Stacked horizontal bars: each configuration's median ms/frame per stage."""
    inputs = len({r["input"] for r in results})
    stages = list(results[0]["stage_ms_per_frame"])
    fig = _new_figure(9, 1.2 + 0.42 * len(results))
    ax = fig.add_subplot()
    labels = [_bench_label(r, inputs) for r in results][::-1]
    left = [0.0] * len(results)
    for n, stage in enumerate(stages):
        ms = [r["stage_ms_per_frame"][stage]["median"] for r in results][::-1]
        ax.barh(labels, ms, left=left, color=f"C{n % 10}", label=stage, height=0.6)
        left = [a + b for a, b in zip(left, ms)]
    for y, (total, r) in enumerate(zip(left, results[::-1])):
        ax.text(total, y, f"  {r['fps']['median']:.1f} frames/s", va="center", fontsize=8)
    ax.set_xlim(0, max(left) * 1.25 or 1)
    ax.set_xlabel("ms per frame (median over repeats)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(fig)


def _bench_table(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    inputs = len({r["input"] for r in results})
    header = ["config", "frames", "frames/s", "min-max", "vs transcode", "model-only fps", "bound by",
              "peak RSS MB", "peak GPU MB"]
    rows = []
    for r in results:
        f = r["fps"]
        label = _bench_label(r, inputs)
        if r.get("precision") and r["config"].get("precision") == "auto":
            label += f" ({r['precision']['chosen']})"
        rows.append([label, str(r["frames"]), f"{f['median']:.2f}", f"{f['min']:.2f}-{f['max']:.2f}",
                     f"{r['fps_vs_transcode']:.2f}x" if r.get("fps_vs_transcode") is not None else "-",
                     f"{r['model_only_fps']:.1f}" if r.get("model_only_fps") is not None else "-",
                     r["bound_by"], f"{r['peak_rss_mb']:.0f}",
                     f"{r['peak_gpu_mb']:.0f}" if r.get("peak_gpu_mb") else "-"])
    return header, rows


# --- HTML and image pieces -----------------------------------------------------------------

def _e(s) -> str:
    return html.escape(str(s), quote=True)


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _section(marker: str, heading: str, body: str) -> str:
    return f'<section data-section="{marker}"><h3>{_e(heading)}</h3>{body}</section>'


def _figure(marker: str, png_uri: str, caption: str) -> str:
    return f'<figure data-plot="{marker}"><img src="{png_uri}" alt="{_e(caption)}"></figure>'


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Numbers right-aligned: the columns after the first that hold no words (``1.00x`` and ``-`` are numbers)."""
    num = [i > 0 and not any(re.search(r"[a-wyzA-Z]", r[i]) for r in rows) for i in range(len(header))]

    def row(cells, tag):
        return "<tr>" + "".join(f'<{tag}{" class=num" if n else ""}>{_e(c)}</{tag}>' for c, n in zip(cells, num)) \
            + "</tr>"

    return f"<table><thead>{row(header, 'th')}</thead><tbody>{''.join(row(r, 'td') for r in rows)}</tbody></table>"


def _metric_of(column: str) -> registry.Metric:
    """The registered metric owning a per-frame column (a stand-in for one no longer registered)."""
    return next((m for m in registry.all() if column in m.columns),
                registry.Metric(name=column.lower(), kind="image", compute=lambda *a: None))


def _num(v) -> float:
    return math.nan if v is None else float(v)


def _new_figure(width: float, height: float):
    return require_matplotlib()(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _jpeg(b64: str) -> str:
    return "data:image/jpeg;base64," + b64
