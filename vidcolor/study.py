"""A real-vs-fake perceptual study ("colorization Turing test"): `vidcolor study`.

:func:`build_study` turns color photos into one self-contained HTML page and a key.
Each photo is resized (longer side ``side``), made black-and-white exactly as
`vidcolor eval` does (L kept, ab = 0: :func:`~vidcolor.metrics.gallery.to_gray_frames`)
and colorized by every model through the same :class:`~vidcolor.pipeline.Engine`.
Every version, the real one included, is encoded the same way (same format and
quality, no metadata), so the file gives nothing away, and embedded as a ``data:``
URI under an opaque random id. The page holds no model name, no file name and no
URL; which id is which (image, condition: ``real`` or a model label) is only in
the key, ``<page stem>.key.json``, which stays with the experimenter.

The page (``vidcolor/web/templates/study.html``, inline JS and CSS, works offline
from a ``file://`` URL): an intro and a Start button, then one trial per source
image. Each participant sees every image exactly once, in one condition; the
conditions are balanced over the images (a shuffled list with equal counts of each,
counts differing by at most one) by the page's own PRNG, seeded from
``crypto.getRandomValues`` (the seed is recorded). A trial shows the image for
``seconds`` seconds, then hides it and asks "Real photo or colorized?" (buttons, or
the keys R and F). Answers are taken only once the image is hidden, so every
version is seen for the same time; the response time is measured from then. At
the end the answers are offered as a JSON download, ``answers-<study>-<time>.json``
(format: :data:`ANSWERS_KIND`, see :func:`score`).

:func:`score` pools answer files (one per participant) against the key: per
condition the trials, the answers "real", and the share judged real (for a model:
its fooling rate; for ``real``: the control, real photos judged real), with a 95%
Clopper-Pearson interval.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import random
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import options
from .errors import InputError, OptionError
from .media.files import atomic_path, check_output, write_json

REAL = "real"
KEY_KIND = "vidcolor-study-key"
ANSWERS_KIND = "vidcolor-study-answers"
FORMATS = {"jpg": ("image/jpeg", ".jpg"), "png": ("image/png", ".png")}
ANSWERS = ("real", "fake")


def key_path(output: str | os.PathLike) -> Path:
    """The key written beside a study page: ``study.html`` -> ``study.key.json``."""
    output = Path(output)
    return output.with_name(output.stem + ".key.json")


def study_id(key: dict) -> str:
    """The study's id: the first 16 hex digits of the SHA-256 of the key's images and versions
    (canonical JSON). Answers carry it; :func:`score` refuses answers of another study."""
    blob = json.dumps({"images": key["images"], "versions": key["versions"]}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("ascii")).hexdigest()[:16]


# --- build -------------------------------------------------------------------------

def find_images(specs: Sequence[str | os.PathLike]) -> list[Path]:
    """Image files named by ``specs`` (files, folders: their top level, globs), each once, in order."""
    from .media import IMAGE_EXTS, list_images

    found, seen = [], set()
    for spec in specs:
        p = Path(spec)
        if not p.exists() and not any(c in str(spec) for c in "*?["):
            raise InputError(f"{spec} does not exist")
        if p.is_file() and p.suffix.lower() not in IMAGE_EXTS:
            raise InputError(f"{spec} is not an image file ({', '.join(sorted(IMAGE_EXTS))}); "
                             "the study takes color photos")
        files = list_images(spec)
        if not files:
            raise InputError(f"no images (.png, .jpg, .tif, ...) found at {spec}")
        for f in files:
            r = f.resolve()
            if r not in seen:
                seen.add(r)
                found.append(f)
    return found


def fit_side(rgb: np.ndarray, side: int) -> np.ndarray:
    """HxWx3 uint8 -> resized so that its longer side is ``side`` (area interpolation when
    shrinking, bicubic when enlarging); the aspect ratio is kept."""
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) == side:
        return rgb
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def encode(rgb: np.ndarray, fmt: str = "jpg", quality: int = options.STUDY_JPEG_QUALITY) -> bytes:
    """HxWx3 uint8 RGB -> the bytes of one version (OpenCV, no metadata; 4:2:0 JPEG or PNG)."""
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 6]
    ok, buf = cv2.imencode(FORMATS[fmt][1], cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"encoding an image of shape {rgb.shape} as {fmt} failed")
    return buf.tobytes()


def decode_data_uri(uri: str) -> np.ndarray:
    """A version's ``data:`` URI (as the page holds it) -> HxWx3 uint8 RGB (tests, checks)."""
    import base64

    import cv2

    data = base64.b64decode(uri.split(",", 1)[1])
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def page_data(html_text: str) -> dict:
    """The study data embedded in a page written by :func:`build_study` (tests, checks)."""
    start = html_text.index('<script type="application/json" id="study-data">')
    start = html_text.index(">", start) + 1
    end = html_text.index("</script>", start)
    return json.loads(html_text[start:end])


def _template() -> str:
    return (resources.files("vidcolor") / "web" / "templates" / "study.html").read_text(encoding="utf-8")


def render_page(data: dict, title: str) -> str:
    """The page: the template with the study data (JSON, ``</`` escaped) and the title."""
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return _template().replace("__TITLE__", html.escape(title)).replace("__STUDY_DATA__", blob)


def build_study(images: Sequence[str | os.PathLike], models: Sequence[str],
                weights: Sequence[str | os.PathLike | None] | None = None,
                output: str | os.PathLike = "study.html", seconds: float = options.STUDY_SECONDS,
                side: int = options.STUDY_SIDE, seed: int | None = None, device: str = options.DEVICE,
                size: int | None = options.SIZE, fmt: str = "jpg", quality: int = options.STUDY_JPEG_QUALITY,
                title: str = options.STUDY_TITLE, overwrite: bool = False,
                on_image: Callable[[int, int], None] | None = None) -> dict:
    """Build the study page ``output`` and its key (:func:`key_path`); returns a summary
    ``{"page", "key", "study", "images", "conditions", "versions", "bytes"}``.

    ``images``: color photos (files, folders, globs). ``models``: colorizers, repeats
    allowed (labelled ``name#2`` as in `eval`); ``weights``: one local checkpoint per
    model, in order (None: catalogue weights). ``seconds``: how long each image is
    shown. ``side``: the longer side of every version, in pixels. ``size``: the side
    of the square the model sees (None: its own). ``fmt``: ``jpg`` (``quality``) or
    ``png``, the same for every version. ``seed``: None (default) draws the ids and the
    order of the versions in the page from the operating system, so nobody can derive
    them; an integer makes the build reproducible (same page and key bytes for the same
    inputs), for tests. ``on_image(done, total)`` is called after each image.
    Both files appear only when complete; an existing one is refused unless
    ``overwrite``, an input never.
    """
    from .evaluate import model_labels
    from .media import read_image, to_uint8
    from .metrics.gallery import to_gray_frames
    from .models import load_model
    from .pipeline import Engine, Stats, resolve_device

    if not images:
        raise OptionError("give at least one color photo or folder of photos for the study")
    if not models:
        raise OptionError("give at least one --model to compare with the real photos")
    weights = list(weights or [])
    if weights and len(weights) != len(models):
        raise OptionError(f"{len(weights)} --weights for {len(models)} --model: give one per model, in order")
    seconds = options.check_range("--seconds", seconds, 0.0, 600.0, lo_open=True)
    side = options.check_int("--side", side, options.STUDY_MIN_SIDE, options.STUDY_MAX_SIDE)
    options.check_choice("--format", fmt, sorted(FORMATS))
    quality = options.check_int("--quality", quality, 1, 100)
    options.check_size(size)
    labels = model_labels(models)
    if REAL in labels:
        raise OptionError(f"a model cannot be called '{REAL}': that is the name of the control condition")
    files = find_images(images)
    page, key_file = Path(output), key_path(output)
    if page.suffix.lower() not in (".html", ".htm"):
        raise OptionError(f"the study page {output} should end in .html (it is opened in a browser)")
    for p in (page, key_file):
        check_output(p, [*images, *files, *(w for w in weights if w)], overwrite=overwrite)
        if p.is_dir():
            raise OptionError(f"{p} is a folder; give the study page a file name like study.html")
    dev = resolve_device(device)
    engines = {}
    for label, name, w in zip(labels, models, weights or [None] * len(models)):
        engines[label] = Engine(load_model(name, weights=w, device=dev), dev, size=size, stats=Stats())

    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    conditions = [REAL, *labels]
    mime = FORMATS[fmt][0]
    used: set[str] = set()

    def new_id() -> str:
        while True:
            v = f"v{rng.getrandbits(48):012x}"
            if v not in used:
                used.add(v)
                return v

    import base64

    # one random slot order for all images: the page can balance the conditions (slot k is
    # the same condition for every image) but cannot tell which slot is the real photo
    slot_of = conditions[:]
    rng.shuffle(slot_of)
    page_images, src, versions, nbytes = [], {}, {}, 0
    for n, f in enumerate(files, start=1):
        rgb = fit_side(to_uint8(read_image(f)), side)
        gray = to_gray_frames(rgb[None], dev)
        made = {REAL: rgb, **{label: eng(gray)[0] for label, eng in engines.items()}}
        ids = []
        for cond in slot_of:
            vid = new_id()
            data = encode(made[cond], fmt, quality)
            nbytes += len(data)
            src[vid] = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
            versions[vid] = {"image": str(f), "condition": cond}
            ids.append(vid)
        page_images.append(ids)
        if on_image:
            on_image(n, len(files))
    # the ids in the page's src table in random order, not grouped by image or condition
    order = list(src)
    rng.shuffle(order)
    src = {v: src[v] for v in order}
    key = {"kind": KEY_KIND, "format": 1, "images": [str(f) for f in files],
           "versions": {v: versions[v] for v in sorted(versions)}}
    sid = study_id(key)
    key = {"kind": KEY_KIND, "format": 1, "study": sid, "images": key["images"], "versions": key["versions"],
           "conditions": conditions,
           "settings": {"seconds": seconds, "side": side, "format": fmt, "quality": quality if fmt == "jpg" else None,
                        "models": list(models), "labels": labels,
                        "weights": [str(w) if w else "catalogue" for w in (weights or [None] * len(models))],
                        "size": {label: eng.size for label, eng in engines.items()}, "device": str(dev),
                        "seed": seed, "page": page.name,
                        "gray": "L of the original kept, ab = 0, 8-bit (vidcolor.color.gray_to_rgb), as vidcolor eval",
                        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    data = {"study": sid, "seconds": seconds, "images": page_images, "src": src}
    text = render_page(data, title)
    with atomic_path(page) as tmp_page, atomic_path(key_file) as tmp_key:
        tmp_page.write_text(text, encoding="utf-8")
        tmp_key.write_text(json.dumps(key, indent=1) + "\n", encoding="utf-8")
    return {"page": page, "key": key_file, "study": sid, "images": len(files), "conditions": conditions,
            "versions": len(versions), "bytes": len(text.encode("utf-8"))}


# --- score -------------------------------------------------------------------------

def _load_json(path: str | os.PathLike, what: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {path} does not exist" if not p.exists() else f"{what} {path} is not a file")
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{what} {path} is not readable JSON ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{what} {path} is not a JSON object")
    return obj


def load_key(path: str | os.PathLike) -> dict:
    """A study key (:func:`build_study`), checked: its kind, and that it is unchanged (its id)."""
    key = _load_json(path, "study key")
    if key.get("kind") != KEY_KIND or not isinstance(key.get("versions"), dict):
        what = "study answers, not the key" if key.get("kind") == ANSWERS_KIND else "not a study key"
        raise InputError(f"{path} is {what}: give the <study>.key.json written beside the study page as --key")
    try:
        sid = study_id(key)
    except (KeyError, TypeError):
        raise InputError(f"{path} is not a complete study key (images or versions missing)") from None
    if key.get("study") != sid:
        raise InputError(f"study key {path} was modified (its id {key.get('study')} does not match its content "
                         f"{sid}); use the key written by `vidcolor study`")
    return key


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The exact (Clopper-Pearson) binomial interval of ``k`` successes in ``n`` (None for n = 0)."""
    if n == 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def score(answer_files: Sequence[str | os.PathLike], key_file: str | os.PathLike,
          confidence: float = 0.95) -> dict:
    """Pool the answer files (one per participant) of one study against its key.

    Returns ``{"kind": "study-score", "study", "participants", "trials", "confidence",
    "conditions": {COND: {"trials", "judged_real", "rate", "ci": [low, high], "role"}},
    "images": {IMAGE: {COND: {"trials", "judged_real"}}}, "answers": [files]}``, the
    conditions in the key's order (``real`` first). ``rate`` is the share of trials
    answered "real": for a model, its fooling rate; for ``real`` (role ``control``), real
    photos judged real. ``ci``: the exact Clopper-Pearson interval at ``confidence``
    (None without trials). Answers of another study, unknown versions, bad answers
    and the same file (participant) given twice are refused with InputError.
    """
    if not answer_files:
        raise OptionError("give at least one answers JSON to score (the files the study page offered for download)")
    options.check_range("confidence", confidence, 0.0, 1.0, lo_open=True, hi_open=True)
    key = load_key(key_file)
    sid = key["study"]
    versions = key["versions"]
    conditions = list(key.get("conditions") or dict.fromkeys(v["condition"] for v in versions.values()))
    counts = {c: [0, 0] for c in conditions}
    per_image: dict[str, dict[str, list[int]]] = {img: {} for img in key["images"]}
    seen: dict[tuple, str] = {}
    trials = 0
    for path in answer_files:
        ans = _load_json(path, "answers file")
        if ans.get("kind") == KEY_KIND:
            raise InputError(f"{path} is the study key, not answers: pass it as --key")
        if ans.get("kind") != ANSWERS_KIND or not isinstance(ans.get("trials"), list):
            raise InputError(f"{path} is not a study answers file (the JSON the study page offers at the end)")
        if ans.get("study") != sid:
            raise InputError(f"{path} holds answers of study {ans.get('study')}, not of study {sid} "
                             f"({key_file}); score it with its own study's key")
        who = (ans.get("participant_seed"), ans.get("started"), ans.get("user_agent"))
        if who in seen:
            raise InputError(f"{path} and {seen[who]} are the same participant's answers; give each file once")
        seen[who] = str(path)
        for i, t in enumerate(ans["trials"], start=1):
            if not isinstance(t, dict) or t.get("version") not in versions:
                raise InputError(f"{path}: trial {i} shows a version that is not in the key {key_file}")
            if t.get("answer") not in ANSWERS:
                raise InputError(f"{path}: trial {i} has the answer {t.get('answer')!r}; expected real or fake")
            v = versions[t["version"]]
            real = t["answer"] == "real"
            c = counts.setdefault(v["condition"], [0, 0])
            c[0] += 1
            c[1] += real
            im = per_image.setdefault(v["image"], {}).setdefault(v["condition"], [0, 0])
            im[0] += 1
            im[1] += real
            trials += 1
    result_conditions = {}
    for cond, (n, k) in counts.items():
        ci = clopper_pearson(k, n, confidence)
        result_conditions[cond] = {"trials": n, "judged_real": k, "rate": k / n if n else None,
                                   "ci": list(ci) if ci else None, "role": "control" if cond == REAL else "model"}
    return {"kind": "study-score", "study": sid, "participants": len(seen), "trials": trials,
            "confidence": confidence, "conditions": result_conditions,
            "images": {img: {c: {"trials": n, "judged_real": k} for c, (n, k) in d.items()}
                       for img, d in per_image.items()},
            "answers": [str(p) for p in answer_files], "key": str(key_file)}


def table(result: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the score table: models first, then the real-photo control."""
    pct = round(100 * result["confidence"])
    header = ["condition", "trials", "judged real", "fooling rate", f"{pct}% CI"]
    rows = []
    items = sorted(result["conditions"].items(), key=lambda kv: kv[1]["role"] == "control")
    for cond, c in items:
        name = f"{cond} (control: real judged real)" if c["role"] == "control" else cond
        rate = "-" if c["rate"] is None else f"{100 * c['rate']:.1f}%"
        ci = "-" if c["ci"] is None else f"{100 * c['ci'][0]:.1f}-{100 * c['ci'][1]:.1f}%"
        rows.append([name, str(c["trials"]), str(c["judged_real"]), rate, ci])
    return header, rows


def format_table(result: dict) -> str:
    from .evaluate import text_table
    return text_table(*table(result))


def write_score(result: dict, path: str | os.PathLike) -> Path:
    """The score as JSON (a report: may replace an older one, never an answers file or the key)."""
    check_output(path, [*result["answers"], result["key"]], report=True)
    return write_json(path, result, indent=1)
