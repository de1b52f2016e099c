"""The pictures of the reports: thumbnails of the worst frames, and the contact sheet.

The colorized frames of `vidcolor eval` are never saved, so the pictures an HTML
report shows (:mod:`vidcolor.metrics.html`) cannot be made later from its JSON: they
are collected while `eval` and `metrics` score the frames, with memory that does not
grow with the length of the film (K thumbnail triples per scored stream, a few
contact-sheet rows), and stored in the JSON as base64 JPEG strings
(:func:`encode_jpeg`).

The gray picture is what a black-and-white film of the original looks like: the
original's L with ab = 0 (:func:`to_gray_frames`, the input `eval` gives the models).
"""

from __future__ import annotations

import base64
import heapq
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from vidcolor import color, options
from vidcolor.media import to_uint8, write_image
from vidcolor.media.files import atomic_path
from vidcolor.metrics import registry

SHEET_ROW_HEIGHT = 192
SHEET_LABEL_HEIGHT = 22


def to_gray_frames(frames: np.ndarray, device: torch.device) -> np.ndarray:
    """Color NHWC uint8/uint16 frames -> the same frames with ab = 0, same dtype (the B&W input)."""
    x = torch.from_numpy(frames if frames.dtype == np.uint8 else frames.astype(np.int32)).to(device)
    gray = color.gray_to_rgb(color.to_float_rgb(x))
    out = color.from_float_rgb(gray, torch.uint8 if frames.dtype == np.uint8 else torch.int32).cpu().numpy()
    return out if frames.dtype == np.uint8 else out.astype(frames.dtype)


def frame_id(row: dict) -> dict:
    """The keys of a per-frame row that say which frame it is (source, name, index)."""
    return {k: row[k] for k in registry.RESERVED_COLUMNS if k in row}


def thumbnail(rgb: np.ndarray, side: int = options.THUMB_SIDE) -> np.ndarray:
    """HxWx3 frame (8 or 16 bit) -> uint8, its longer side at most ``side`` (area interpolation)."""
    rgb = to_uint8(rgb)
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def encode_jpeg(rgb: np.ndarray, quality: int = options.THUMB_JPEG_QUALITY) -> str:
    """HxWx3 uint8 RGB -> a base64 JPEG string (what the JSON stores and the HTML embeds)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {rgb.shape}")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def primary_metric(metrics: list[str]) -> registry.Metric | None:
    """The metric that ranks the worst frames: the first of ``options.PRIMARY_METRICS``
    among ``metrics``, else the first of ``metrics`` that has worst frames (None: none has)."""
    ranked = [registry.get(m) for m in metrics if registry.get(m).worst is not None]
    preferred = [m for name in options.PRIMARY_METRICS for m in ranked if m.name == name]
    return (preferred or ranked or [None])[0]


class WorstFrames:
    """The ``k`` worst frames of one scored stream by ``metric`` (its first column), as
    thumbnails of gray | output | original.

    :meth:`offer` takes each batch's rows (as :meth:`Scorer.score` returns them) with
    the frames they score; only frames that enter the current top ``k`` are shrunk.
    Ties keep the earlier frame, as the summary's worst-frames list does.
    """

    def __init__(self, metric: registry.Metric, k: int = options.WORST_FRAMES):
        self.metric, self.column, self.k = metric, metric.columns[0], k
        self._heap: list[tuple] = []
        self._seen = 0

    def offer(self, rows: list[dict], output: np.ndarray, original: np.ndarray) -> None:
        for row, out, orig in zip(rows, output, original):
            self._seen += 1
            v = row.get(self.column)
            if v is None or v != v:
                continue
            key = (v if self.metric.worst == "high" else -v, -self._seen)
            if len(self._heap) == self.k and key <= self._heap[0][0]:
                continue
            item = (key, row, v, thumbnail(out), thumbnail(orig))
            (heapq.heapreplace if len(self._heap) == self.k else heapq.heappush)(self._heap, item)

    def images(self) -> list[dict]:
        """Worst first: ``{source?, name?, index, metric, value, gray, output, original}``
        with the three pictures as base64 JPEG."""
        out = []
        for _, row, v, thumb, orig in sorted(self._heap, reverse=True):
            gray = to_gray_frames(orig[None], torch.device("cpu"))[0]
            out.append({**frame_id(row), "metric": self.column, "value": v, "gray": encode_jpeg(gray),
                        "output": encode_jpeg(thumb), "original": encode_jpeg(orig)})
        return out


class ContactSheet:
    """Thumbnails of a few evenly spaced frames: one column per stream (gray | each
    model | original), one row per frame, a label bar on top."""

    def __init__(self, frame_count: int | None, n: int, columns: list[str]):
        count = frame_count or n
        self.indices = sorted({int(round(i)) for i in np.linspace(0, count - 1, min(n, count))})
        self.columns = columns
        self.rows: dict[int, dict[str, np.ndarray]] = {}

    def wants(self, index: int) -> bool:
        return index in self.indices

    def add(self, index: int, column: str, rgb: np.ndarray) -> None:
        rgb = to_uint8(rgb)
        h, w = rgb.shape[:2]
        tw = max(1, round(w * SHEET_ROW_HEIGHT / h))
        self.rows.setdefault(index, {})[column] = cv2.resize(rgb, (tw, SHEET_ROW_HEIGHT), interpolation=cv2.INTER_AREA)

    def add_batch(self, frames: list, outputs: dict[str, np.ndarray], gray: np.ndarray | None = None,
                  device: torch.device | str = "cpu") -> None:
        """Add the batch's frames the sheet wants (``frames``: the references, as Frames):
        gray first (the references' L, ab = 0; computed on ``device`` unless given as a
        batch), then each column of ``outputs`` (name -> NHWC batch), the reference last."""
        for k, f in enumerate(frames):
            if not self.wants(f.index):
                continue
            g = gray[k] if gray is not None else to_gray_frames(f.rgb[None], torch.device(device))[0]
            self.add(f.index, self.columns[0], g)
            for column, batch in outputs.items():
                self.add(f.index, column, batch[k])
            self.add(f.index, self.columns[-1], f.rgb)

    def render(self) -> np.ndarray:
        """One HxWx3 uint8 image with a label bar on top of each column."""
        cell_w = max(t.shape[1] for r in self.rows.values() for t in r.values())
        header = []
        for name in self.columns:
            cell = np.full((SHEET_LABEL_HEIGHT, cell_w, 3), 255, np.uint8)
            cv2.putText(cell, name, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
            header.append(cell)
        lines = [np.concatenate(header, axis=1)]
        for idx in sorted(self.rows):
            cells = []
            for name in self.columns:
                t = self.rows[idx][name]
                cell = np.full((SHEET_ROW_HEIGHT, cell_w, 3), 255, np.uint8)
                x0 = (cell_w - t.shape[1]) // 2
                cell[:, x0 : x0 + t.shape[1]] = t
                cells.append(cell)
            lines.append(np.concatenate(cells, axis=1))
        return np.concatenate(lines, axis=0)

    def encoded(self) -> str | None:
        """The rendered sheet as base64 JPEG (None before any frame was added)."""
        return encode_jpeg(self.render()) if self.rows else None

    def write(self, path: str | os.PathLike) -> Path:
        with atomic_path(path) as tmp:
            write_image(tmp, self.render())
        return Path(path)
