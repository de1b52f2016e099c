"""The metric registry: one :class:`Metric` per metric, registered beside its implementation.

Everything the reports need to know about a metric lives in its registration: its
per-frame columns, how the reports describe it (``settings``), which frames are its
worst, its column in the `eval` table, what it consumes and how it is computed.
:mod:`vidcolor.metrics.report` (``vidcolor metrics``) and :mod:`vidcolor.evaluate`
(``vidcolor eval``) read only this. Adding a metric is one :func:`register` call in
the module that computes it (a module :mod:`vidcolor.metrics` imports).

Two kinds:

- ``image``: ``compute(pred, target)`` (``compute(pred, target, model)`` when the
  metric has a ``load`` hook) on a chunk of frames of one size, candidate first,
  in the space the metric ``consumes``: ``"rgb"`` float (N, 3, H, W) in [0, 1],
  ``"lab"`` (N, 3, H, W) or ``"ab"`` (N, 2, H, W) (:func:`vidcolor.color.rgb_to_lab`,
  computed once per chunk for all the metrics that need it). Returns a float tensor
  (N,) for a one-column metric, else ``{column: (N,)}`` for each of its columns.
- ``temporal``: ``compute`` makes a :class:`TemporalMetric` (stateful over the frames
  of a sequence); one is made per scored stream.

This module imports nothing of the metrics themselves; importing it (which imports
the package :mod:`vidcolor.metrics` first) leaves the registry complete.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

KINDS = ("image", "temporal")
CONSUMES = ("rgb", "lab", "ab")
WORST = ("high", "low", None)
RESERVED_COLUMNS = ("index", "name", "source")  # row keys the reports set themselves


class TemporalMetric:
    """One temporal metric's state over the frames of one scored stream.

    Frames arrive in order through :meth:`step`, one at a time; :meth:`new_sequence`
    separates inputs (a metric never compares frames across it). Set the class flags
    to say what ``step`` gets:

    - ``device_frames``: ``frame`` is the candidate as float RGB (1, 3, H, W) in [0, 1]
      on the scoring device; otherwise the host frame HxWx3 uint8 (16-bit frames
      rounded with :func:`vidcolor.media.base.to_uint8`).
    - ``needs_motion``: ``motion`` is the reference's ``(flow current->previous, valid
      mask)`` from :class:`vidcolor.metrics.report.ReferenceMotion` (None for a first
      frame); otherwise it is None.
    """

    needs_motion = False
    device_frames = False

    def new_sequence(self) -> None:
        """Close the current sequence (record what it contributes) and start another."""

    def step(self, frame, motion) -> dict:
        """One frame -> ``{column: float or None}`` for each of the metric's columns."""
        raise NotImplementedError

    def summary(self) -> dict:
        """Close the current sequence; extra summary entries beside the columns' ({} if none).

        Closing twice must not count a sequence twice.
        """
        self.new_sequence()
        return {}


@dataclass(frozen=True)
class Metric:
    """One metric, as the reports see it.

    name: the ``--metrics`` name (lowercase).
    kind: ``"image"`` or ``"temporal"`` (see the module docstring for ``compute``).
    compute: image: the function; temporal: a zero-argument factory (a class) of
        :class:`TemporalMetric`.
    columns: per-frame row keys, in row order (default ``(name,)``).
    header, fmt: the `eval` table's column header (default ``name``) and the format of
        its value, the summary entry under ``name``: its ``value`` (a protocol value
        from :meth:`TemporalMetric.summary`) or else its ``mean``.
    column_headers: ``{column: header}``: the `eval` table shows these columns, each under
        its own header (``{"top1": "top-1", "top5": "top-5"}``), instead of the one entry
        under ``name``; ``header`` then names the metric in messages and plots.
    worst: which values are the worst frames in the summary: ``"high"`` (errors,
        distances), ``"low"`` (scores) or None (no worst-frames list).
    settings: how it is computed, written into every report: a dict, or a function of
        the run's options (``{"lpips_net": ..., "classifier": ...}``) returning one.
    consumes: image metrics: ``"rgb"``, ``"lab"`` or ``"ab"``.
    order, table_order: sort keys of :func:`names` and of the `eval` table
        (``table_order`` defaults to ``order``; ties keep registration order).
    reference_column: a column scoring the reference itself (colorfulness of the
        originals): the `eval` table's ``original`` row shows its mean.
    load: ``load(options, device)`` -> the model object ``compute`` gets as third argument.
    missing: ``missing(options)`` -> a one-line message when what the metric needs
        (weights) is not on this machine, else None: then ``all`` skips it with a
        warning and naming it is an error. missing_note: the help text's reason
        (``"its backbone weights are not cached"``).
    """

    name: str
    kind: str
    compute: Callable
    columns: tuple[str, ...] = ()
    header: str = ""
    column_headers: Mapping[str, str] = field(default_factory=dict)
    fmt: str = "{:.4f}"
    worst: str | None = "high"
    settings: Mapping | Callable[[Mapping], dict] = field(default_factory=dict)
    consumes: str = "rgb"
    order: float = 1000.0
    table_order: float | None = None
    reference_column: str | None = None
    load: Callable[[Mapping, Any], Any] | None = None
    missing: Callable[[Mapping], str | None] | None = None
    missing_note: str = ""

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip().lower() or "," in self.name:
            raise ValueError(f"metric name {self.name!r}: use a lowercase name without commas or spaces")
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name}: kind must be one of {KINDS}, not {self.kind!r}")
        if self.consumes not in CONSUMES:
            raise ValueError(f"metric {self.name}: consumes must be one of {CONSUMES}, not {self.consumes!r}")
        if self.worst not in WORST:
            raise ValueError(f"metric {self.name}: worst must be one of {WORST}, not {self.worst!r}")
        object.__setattr__(self, "columns", tuple(self.columns) or (self.name,))
        object.__setattr__(self, "header", self.header or self.name)
        if self.table_order is None:
            object.__setattr__(self, "table_order", self.order)
        if len(set(self.columns)) != len(self.columns) or set(self.columns) & set(RESERVED_COLUMNS):
            raise ValueError(f"metric {self.name}: columns {self.columns} repeat or use {RESERVED_COLUMNS}")
        if set(self.column_headers) - set(self.columns):
            raise ValueError(f"metric {self.name}: column_headers {sorted(self.column_headers)} name columns it "
                             f"does not have {self.columns}")
        object.__setattr__(self, "column_headers", dict(self.column_headers))
        if self.reference_column is not None and self.reference_column not in self.columns:
            raise ValueError(f"metric {self.name}: reference_column {self.reference_column!r} is not a column")

    @property
    def needs_motion(self) -> bool:
        """Whether the metric needs the reference's optical flow (temporal metrics)."""
        return self.kind == "temporal" and bool(getattr(self.compute, "needs_motion", False))

    def table_cells(self) -> list[tuple[str, str]]:
        """The metric's cells in the `eval` table: ``(summary key, header)``, in order."""
        return list(self.column_headers.items()) or [(self.name, self.header)]

    def settings_for(self, options: Mapping) -> dict:
        """The report's settings entry for this metric (a fresh dict)."""
        return dict(self.settings(options) if callable(self.settings) else self.settings)


_METRICS: dict[str, Metric] = {}


def register(metric: Metric | None = None, /, **fields):
    """Add a metric to the registry; returns it.

    ``register(Metric(...))``, or as a decorator on the compute function or class:
    ``@register(name=..., kind=..., ...)`` (the other :class:`Metric` fields), which
    returns the decorated object unchanged. A name or column already taken by another
    metric is a ValueError.
    """
    if metric is None:
        def decorate(compute):
            register(Metric(compute=compute, **fields))
            return compute

        return decorate
    if fields:
        raise TypeError("register(metric) takes no other arguments")
    taken = {c: m.name for m in _METRICS.values() for c in (m.name, *m.columns)}
    if metric.name in _METRICS:
        raise ValueError(f"metric {metric.name!r} is already registered")
    clash = [c for c in (metric.name, *metric.columns) if c in taken]
    if clash:
        raise ValueError(f"metric {metric.name}: {', '.join(clash)} already used by metric {taken[clash[0]]!r}")
    _METRICS[metric.name] = metric
    return metric


def unregister(name: str) -> Metric:
    """Remove a metric (tests); returns it. Unknown names are a KeyError."""
    return _METRICS.pop(name)


@contextlib.contextmanager
def registered(metric: Metric) -> Iterator[Metric]:
    """``with registered(Metric(...)):`` the metric exists inside the block only (tests)."""
    register(metric)
    try:
        yield metric
    finally:
        unregister(metric.name)


def get(name: str) -> Metric:
    """The metric called ``name``; KeyError if there is none."""
    try:
        return _METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; registered: {', '.join(names())}") from None


def all(kind: str | None = None) -> list[Metric]:  # noqa: A001 - the registry's own vocabulary
    """The registered metrics (of one kind if given), in canonical order."""
    return [m for m in sorted(_METRICS.values(), key=lambda m: m.order) if kind is None or m.kind == kind]


def names(kind: str | None = None) -> list[str]:
    """The registered metric names (of one kind if given), in canonical order: the order
    of ``--metrics all``, of the reports' settings and of the per-frame columns."""
    return [m.name for m in all(kind)]


def table_metrics() -> list[Metric]:
    """The metrics in the `eval` table's column order."""
    return sorted(_METRICS.values(), key=lambda m: m.table_order)


def help_text() -> str:
    """The CLI help of ``--metrics``: the names, ``all`` and which metrics may be skipped."""
    notes = "".join(f"; {m.name} skipped with a warning when {m.missing_note}" for m in all() if m.missing)
    return f"Comma-separated: {', '.join(names())}, or all (default{notes})."
