"""The seed papers' comparison table, reproduced on our data.

    python benchmarks/compare.py [--sets kodak24,cbsd68,...] [--weights NAME=PATH ...]
        [--markdown OUT.md] [--json OUT.json] [--report OUT.html] [--device cpu]

Every registered model whose weights are on this machine is evaluated by `vidcolor eval`'s
protocol (gray input made from the colour original, the model at its own input size, the
original full-size L, `--temporal none`) on the colour evaluation sets of
``../shared/data/eval-images`` (all 127 photos by default). A model's weights are present when
its catalogue file is shipped or cached (`vidcolor weights list`), or when ``--weights
NAME=PATH`` names a local checkpoint (a pix2pix run's export, an official ChromaGAN ``.h5``,
...). The table has one row per model and the ``gray`` row, in the layout of the comparative
study's quantitative table: PSNR, SSIM, LPIPS (when its backbone is cached), CIEDE2000,
colorfulness, AuC, and the top-1 / top-5 classification agreement (when the classifier's
weights are cached; see `vidcolor eval --classify`). Means over all photos pooled, then one
table per set. Models without weights here are listed under the table. Writes the Markdown,
the eval JSON and the HTML report (`vidcolor report`'s) when asked.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidcolor import weights as W  # noqa: E402
from vidcolor.evaluate import GRAY, evaluate, markdown_table  # noqa: E402
from vidcolor.metrics.html import write_result  # noqa: E402
from vidcolor.models import available  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "eval-images"
SETS = ["kodak24", "cbsd68", "cset14", "cset5", "mcmaster18"]
#: (summary column, header, format, better) in the comparative study's order
COLUMNS = [("psnr", "PSNR (dB)", "{:.2f}", "high"), ("ssim", "SSIM", "{:.4f}", "high"),
           ("lpips", "LPIPS", "{:.4f}", "low"), ("deltae2000", "CIEDE2000", "{:.2f}", "low"),
           ("colorfulness", "colorfulness", "{:.1f}", "high"), ("auc", "AuC", "{:.4f}", "high"),
           ("top1", "top-1", "{:.3f}", "high"), ("top5", "top-5", "{:.3f}", "high")]


def present_models(explicit: dict[str, str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """([(model, weights path or None for the catalogue file)], [models without weights here])."""
    have, missing = [], []
    for info in available():
        if info.name in explicit:
            have.append((info.name, explicit[info.name]))
        elif info.weights is not None and W.find(W.CATALOGUE[info.weights]) is not None:
            have.append((info.name, None))
        else:
            missing.append(info.name)
    return have, missing


def means(rows: list[dict], col: str) -> float | None:
    xs = [r[col] for r in rows if r.get(col) is not None and math.isfinite(r[col])]
    return math.fsum(xs) / len(xs) if xs else None


def table(result: dict, source: str | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows (gray first, then the models); ``source``: only that input's photos."""
    entries = result["models"]
    first = next(iter(entries.values()))["rows"]
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in first)]
    header = ["model", *[c[1] for c in cols], "photos"]
    rows = []
    for label, entry in entries.items():
        rs = [r for r in entry["rows"] if source is None or r.get("source", source) == source]
        cells = [label]
        for col, _, fmt, _ in cols:
            v = means(rs, col)
            cells.append("-" if v is None else fmt.format(v))
        rows.append(cells + [str(len(rs))])
    return header, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DATA), help="Folder holding the evaluation sets.")
    ap.add_argument("--sets", default=",".join(SETS), help="Comma-separated subfolders of --data.")
    ap.add_argument("--weights", action="append", default=[], metavar="NAME=PATH",
                    help="A local checkpoint for model NAME (repeat).")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--report", default=None, help="Also write the HTML report here.")
    a = ap.parse_args()

    explicit = {}
    for spec in a.weights:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path).is_file():
            ap.error(f"--weights {spec}: give NAME=PATH of an existing file")
        explicit[name] = path
    have, missing = present_models(explicit)
    inputs = [str(Path(a.data) / s) for s in a.sets.split(",") if s]
    for p in inputs:
        if not Path(p).is_dir():
            ap.error(f"{p}: no such folder (see ../shared/data/eval-images/MANIFEST.md)")
    warnings: list[str] = []
    t0 = time.perf_counter()
    result = evaluate(inputs, [m for m, _ in have], weights=[w for _, w in have] if explicit else None,
                      batch_size=a.batch_size, device=a.device, size=None, temporal="none",
                      warn=lambda m: (warnings.append(m), print(f"warning: {m}", file=sys.stderr)))
    seconds = time.perf_counter() - t0
    for label, (name, w) in zip([k for k in result["models"] if k != GRAY], have):
        result["models"][label]["weights"] = w or str(W.find(W.CATALOGUE[name]))

    header, rows = table(result)
    n = result["models"][GRAY]["frames"]
    lines = [f"Pooled over {n} photos of {', '.join(a.sets.split(','))} (means; `gray`: the input itself). "
             f"{seconds:.0f} s on {platform.machine()}, {a.device}.", "", markdown_table(header, rows), ""]
    if missing:
        lines += [f"Not evaluated (no weights on this machine): {', '.join(missing)}.", ""]
    skipped = [w for w in warnings if " skipped: " in w]
    if skipped:
        lines += ["Not computed here: " + "; ".join(skipped), ""]
    for s in a.sets.split(","):
        h, r = table(result, str(Path(a.data) / s))
        lines += [f"**{s}**", "", markdown_table(h, r), ""]
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        Path(a.markdown).write_text(text, encoding="utf-8")
    if a.json:
        Path(a.json).write_text(json.dumps(result, default=str), encoding="utf-8")
    if a.report:
        write_result(result, a.report, "Comparison table (benchmarks/compare.py)", title="vidcolor: model comparison")
    return 0


if __name__ == "__main__":
    sys.exit(main())
