"""Checkpoint catalogue, cache folder, verified download and safe loading.

Every checkpoint is loaded with ``torch.load(weights_only=True)``: a file can hold
tensors, never code. Downloads go to a temporary file beside the cache entry and
are moved into place only after their size and sha256 check out.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import WeightsError
from .media.files import atomic_path

#: the weights shipped inside the package (package data; top-level ``weights/`` links here)
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


@dataclass(frozen=True)
class WeightSpec:
    """A checkpoint file of the catalogue. Its ``url``, ``sha256`` and ``size`` come from a
    public source cited in the model's card (or were computed, for shipped files)."""

    name: str           # catalogue name (also the model name it is for)
    model: str          # registry name of the architecture
    filename: str
    url: str | None     # None: shipped with the package
    sha256: str
    size: int | None
    license: str
    description: str


#: one model card per model (markdown, package data); the shipped model's card is beside its file
CARDS_DIR = Path(__file__).resolve().parent / "cards"


def card(name: str) -> str:
    """The model card of ``name`` (a WeightsError when the model has none); the shipped weights'
    card is the README beside them."""
    path = CARDS_DIR / f"{name}.md"
    if not path.is_file() and name in CATALOGUE and CATALOGUE[name].url is None:
        path = SHIPPED_DIR / "README.md"
    if not path.is_file():
        have = sorted([p.stem for p in CARDS_DIR.glob("*.md")]
                      + [n for n, spec in CATALOGUE.items() if spec.url is None])
        raise WeightsError(f"no model card for '{name}'; cards: {', '.join(have)}")
    return path.read_text(encoding="utf-8")


#: name -> spec; each model's file adds its own (:func:`vidcolor.models.register`)
CATALOGUE: dict[str, WeightSpec] = {}


def add(spec: WeightSpec) -> None:
    """Put ``spec`` in the catalogue (called by :func:`vidcolor.models.register`)."""
    CATALOGUE[spec.name] = spec


def cache_dir() -> Path:
    """``$VIDCOLOR_HOME``, else the platform's user cache folder + ``vidcolor``."""
    env = os.environ.get("VIDCOLOR_HOME")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "vidcolor"


def torch_hub_checkpoints() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_path(spec: WeightSpec) -> Path:
    """Where the file is (or would be) cached."""
    if spec.url is None:
        return SHIPPED_DIR / spec.filename
    return cache_dir() / spec.filename


def find(spec: WeightSpec) -> Path | None:
    """The local file for ``spec``: our cache, the shipped folder, or torch hub's."""
    for p in (cached_path(spec), torch_hub_checkpoints() / spec.filename):
        if p.is_file():
            return p
    return None


def get_spec(name: str) -> WeightSpec:
    """The catalogue entry ``name`` (the catalogue holds the weights of every model
    registered so far: ``import vidcolor.models`` registers the built-in ones)."""
    try:
        return CATALOGUE[name]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise WeightsError(f"unknown weights '{name}'; known: {known}") from None


def resolve(name: str) -> Path:
    """Path of the catalogue weights ``name``, or a WeightsError with the fetch command."""
    spec = get_spec(name)
    p = find(spec)
    if p is None:
        if spec.url is None:
            raise WeightsError(f"shipped weights for '{name}' are missing at {cached_path(spec)}; "
                               "reinstall vidcolor (pip install vidcolor, or pip install . from a checkout)")
        raise WeightsError(
            f"weights for '{name}' are not downloaded (looked in {cached_path(spec)} and "
            f"{torch_hub_checkpoints() / spec.filename}); fetch them with: vidcolor weights download {name}"
            f"  (or pass --weights PATH to a local copy)")
    return p


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def download(name: str, url: str | None = None, dest_dir: Path | None = None,
             progress: bool = True, timeout: float = 60.0) -> Path:
    """Download catalogue weights ``name`` into the cache, verified.

    The payload goes to a hidden temporary file beside the final one and is renamed
    to its final name only when its size and sha256 match the catalogue; otherwise
    it is deleted and a WeightsError raised. ``url`` overrides the catalogue URL (mirrors, tests).
    """
    spec = get_spec(name)
    if spec.url is None and url is None:
        raise WeightsError(f"'{name}' ships with vidcolor; nothing to download")
    url = url or spec.url
    dest_dir = Path(dest_dir) if dest_dir else cache_dir()
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WeightsError(f"cannot create the cache folder {dest_dir}: {e.strerror}; set VIDCOLOR_HOME to a writable folder") from None
    final = dest_dir / spec.filename
    h = hashlib.sha256()
    done = 0
    from tqdm import tqdm

    with atomic_path(final) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                total = resp.headers.get("Content-Length")
                total = int(total) if total else spec.size
                with tqdm(total=total, unit="B", unit_scale=True, desc=spec.filename,
                          disable=not progress, file=sys.stderr) as bar:
                    while True:
                        block = resp.read(1 << 20)
                        if not block:
                            break
                        out.write(block)
                        h.update(block)
                        done += len(block)
                        bar.update(len(block))
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
            raise WeightsError(f"cannot download '{name}' from {url}: {reason}") from None
        if spec.size is not None and done != spec.size:
            raise WeightsError(f"download of '{name}' from {url} has {done} bytes, expected {spec.size}; "
                               "nothing was saved, try again")
        digest = h.hexdigest()
        if digest != spec.sha256:
            raise WeightsError(f"download of '{name}' from {url} failed its sha256 check "
                               f"(got {digest[:16]}..., expected {spec.sha256[:16]}...); nothing was saved")
    return final


#: where releases keep the state dict: vidcolor's own and fastai's ``Learner.save``
#: (``{"model": ..., "opt": ...}``), DDColor's BasicSR files (``{"params": ...}``)
STATE_DICT_KEYS = ("state_dict", "model", "params")
#: plain builtins allowed beside tensors (fastai's optimizer state may hold a ``slice``):
#: data, never code; everything else is still refused by ``weights_only=True``
SAFE_BUILTINS = (slice,)


def load_state_dict(path: str | os.PathLike) -> dict:
    """Read a checkpoint safely (tensors only) and return its state dict.

    Accepts a bare state dict or a dict holding one under one of :data:`STATE_DICT_KEYS`.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        with torch.serialization.safe_globals(list(SAFE_BUILTINS)):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        if "Unsupported global" in msg or "GLOBAL" in msg:
            what = msg[msg.index("GLOBAL"):].split()[1] if "GLOBAL" in msg else "a Python object"
            raise WeightsError(f"refusing to load {path}: it holds {what}, not just tensors, and could run code "
                               "when unpickled; only load checkpoints from sources you trust, converted to a "
                               "plain state dict") from None
        raise WeightsError(f"{path} is not a readable PyTorch checkpoint (corrupt or another format)") from None
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for junk files
        raise WeightsError(f"{path} is not a readable PyTorch checkpoint ({type(e).__name__}: {str(e)[:120]})") from None
    if isinstance(obj, dict):
        for key in STATE_DICT_KEYS:
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors")
    return obj
