"""The smoother registry: ``--temporal`` kinds, their option checks, ``--help`` and construction."""

from __future__ import annotations

from .. import options
from ..errors import OptionError
from .base import SHARED_OPTIONS, Smoother

_REGISTRY: dict[str, type[Smoother]] = {}   # kind -> class, in registration order


def register(cls: type[Smoother]) -> type[Smoother]:
    """Class decorator: add a :class:`Smoother` subclass under its ``kind``; returns the class.

    Needs a new non-empty ``kind`` (not ``"none"``), a one-line ``summary`` and ``options``
    whose names differ from the shared ones (:data:`~vidcolor.temporal.base.SHARED_OPTIONS`).
    """
    if not (isinstance(cls, type) and issubclass(cls, Smoother)):
        raise TypeError(f"register() takes a Smoother subclass, got {cls!r}")
    kind = cls.kind
    if not isinstance(kind, str) or not kind or kind in ("none", Smoother.kind):
        raise ValueError(f"{cls.__name__}.kind must be a new name other than 'none', got {kind!r}")
    if kind in _REGISTRY:
        raise ValueError(f"smoother {kind!r} is already registered ({_REGISTRY[kind].__name__})")
    if not cls.summary or "\n" in cls.summary:
        raise ValueError(f"{cls.__name__}.summary must be one non-empty line")
    clash = sorted(set(cls.options) & set(SHARED_OPTIONS))
    if clash:
        raise ValueError(f"{cls.__name__}.options redefine shared option(s): {', '.join(clash)}")
    _REGISTRY[kind] = cls
    return cls


def unregister(kind: str) -> None:
    """Remove a registered smoother (tests); KeyError if ``kind`` is not registered."""
    del _REGISTRY[kind]


def kinds() -> tuple[str, ...]:
    """The ``--temporal`` choices: ``"none"``, then the registered kinds in registration order."""
    return ("none", *_REGISTRY)


def help_text() -> str:
    """The ``--temporal`` help line: the default kind first, then the others, ``none`` last."""
    order = sorted(_REGISTRY, key=lambda k: k != options.TEMPORAL)   # stable: registration order otherwise
    parts = [f"{k} ({_REGISTRY[k].summary})" for k in order] + ["none"]
    return f"Smoothing of colors over time: {' | '.join(parts)}."


def _resolve(kind: str, strength, opts: dict) -> tuple[type[Smoother] | None, float, dict]:
    """Check everything -> (class or None for ``"none"``, strength, constructor keywords)."""
    options.check_choice("--temporal", kind, kinds())
    s = options.check_range("--temporal-strength", options.TEMPORAL_STRENGTH if strength is None else strength,
                            0.0, 1.0, hi_open=True)
    opts = {k: v for k, v in opts.items() if v is not None}
    cls = _REGISTRY.get(kind)
    checks = {**SHARED_OPTIONS, **(cls.options if cls is not None else {})}
    unknown = sorted(set(opts) - set(checks))
    if unknown:
        raise OptionError(f"unknown option(s) for --temporal {kind}: {', '.join(unknown)}")
    if cls is None:
        return None, s, {}
    return cls, s, {name: check(opts[name]) for name, check in checks.items() if name in opts}


def check(kind: str, strength: float | None = None, **opts) -> None:
    """Validate what :func:`make_smoother` would get, building nothing; bad values raise
    :class:`OptionError`."""
    _resolve(kind, strength, opts)


def make_smoother(kind: str, strength: float | None = None, **opts) -> Smoother | None:
    """Build the temporal stage. kind in :func:`kinds`; ``"none"`` -> None.

    strength: weight of the past in [0, 1) (None -> :data:`vidcolor.options.TEMPORAL_STRENGTH`).
    opts: ``scene_threshold`` (> 0, L units, see :mod:`vidcolor.temporal.scenes`), ``min_scene_len``
    (frames >= 1), and the kind's own (``flow``: ``preset``, one of
    :data:`~vidcolor.temporal.flow.DIS_PRESETS`, and ``sigma_l`` > 0). None values mean the
    default. Bad values raise :class:`OptionError` (for ``"none"``: the strength and unknown
    option names only).
    """
    cls, s, kw = _resolve(kind, strength, opts)
    return None if cls is None else cls(s, **kw)
