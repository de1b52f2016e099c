"""Manifests of extracted frames: JSON Lines (one object per kept frame) and CSV.

Every row has ``file`` (the saved color frame, relative to the manifest's folder),
``gray_file`` (with ``--pairs``), ``source``, ``source_key``, ``index`` (frame number in
the source, 0-based), ``name`` (source file name for image sequences), ``time``
(seconds), ``timecode`` (``HH:MM:SS.mmm``), ``pts``, ``method``, ``distance`` (to the last
kept frame, in the method's unit; -1 for a source's first frame), ``scene`` (0-based),
``hash`` (16 hex digits), ``hash_kind``, ``width``, ``height``.
Files are written under a temporary name and renamed (:mod:`vidcolor.media.files`).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from ..media.files import atomic_path

MANIFEST = "manifest.jsonl"          # per source folder, and the merged one at the top of -o
MANIFEST_CSV = "manifest.csv"
MARKER = ".complete.json"            # a source folder whose extraction finished

COLUMNS = ("file", "gray_file", "source", "source_key", "index", "name", "time", "timecode", "pts",
           "method", "distance", "scene", "hash", "hash_kind", "width", "height")


def timecode(seconds: float) -> str:
    """Seconds -> ``HH:MM:SS.mmm`` (rounded to the millisecond; hours may exceed 99)."""
    ms = int(round(max(seconds, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def write_jsonl(path: Path, rows: Iterable[dict]) -> Path:
    """Write rows as JSON Lines (UTF-8), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:     # streamed: manifests can be long
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict]:
    """JSON Lines file -> list of dicts (blank lines ignored)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def frame_files(path: str | os.PathLike) -> list[Path]:
    """The color frame files a manifest lists (``file``, relative to its folder), in order.
    InputError naming the line for a line that is not a manifest row or a missing file."""
    path = Path(path)
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the manifest {path}: {getattr(e, 'strerror', None) or e}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rel = json.loads(line)["file"]
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{path}:{n}: not a frames manifest line (expected JSON with a \"file\" field)") from None
        f = path.parent / rel
        if not f.is_file():
            raise InputError(f"{path}:{n}: frame file {f} is missing")
        out.append(f)
    return out


def write_csv(path: Path, rows: list[dict]) -> Path:
    """Write rows as CSV with :data:`COLUMNS` (those present in any row, in that order), atomically."""
    present = {k for r in rows for k in r}
    cols = [c for c in COLUMNS if c in present] + sorted(present - set(COLUMNS))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return path
