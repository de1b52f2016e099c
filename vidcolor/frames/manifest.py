"""Manifests of extracted frames: JSON Lines (one object per kept frame) and CSV.

Every row has ``file`` (the saved color frame, relative to the manifest's folder),
``gray_file`` (with ``--pairs``), ``source``, ``source_key``, ``index`` (frame number in
the source, 0-based), ``name`` (source file name for image sequences), ``time``
(seconds), ``timecode`` (``HH:MM:SS.mmm``), ``pts``, ``method``, ``distance`` (to the last
kept frame, in the method's unit; -1 for a source's first frame), ``scene`` (0-based),
``hash`` (16 hex digits), ``hash_kind``, ``width``, ``height``.
Files are written under a temporary name and renamed.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Iterable

from ..media.base import temp_path_for

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
    tmp = temp_path_for(path)
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a UTF-8 text file under a temporary name, then rename it over ``path``."""
    tmp = temp_path_for(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_jsonl(path: Path) -> list[dict]:
    """JSON Lines file -> list of dicts (blank lines ignored)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_csv(path: Path, rows: list[dict]) -> Path:
    """Write rows as CSV with :data:`COLUMNS` (those present in any row, in that order), atomically."""
    present = {k for r in rows for k in r}
    cols = [c for c in COLUMNS if c in present] + sorted(present - set(COLUMNS))
    tmp = temp_path_for(path)
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    os.replace(tmp, path)
    return path
