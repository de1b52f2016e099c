"""Extract distinct frames from videos and image sequences, as training data.

One streaming pass per source, constant memory: frames are decoded (in a thread),
compared with the **last kept frame** by one of three rules, thinned by the sampling
controls, and the kept ones written (by two writer threads) as
``<out>/<source-key>/<index:06d>.png`` (or ``.jpg``), with ``--pairs`` also
``<index:06d>_gray.png``: the CIE L* of the frame (sRGB, D65, via
:func:`vidcolor.color.host_rgb_to_l`) scaled from 0..100 to 0..255 (0..65535 for 16-bit
frames), i.e. exactly the luminance a colorizer is given, not Rec.601 luma.

Decision rules (``method``):

* ``mpdecimate`` (default): ffmpeg's rule, see :mod:`vidcolor.frames.mpdecimate`; on
  the 4:2:0 Y, U, V planes for videos (what ffmpeg sees after the decoder: the decoder's
  own planes for 8-bit 4:2:0 streams, whose RGB is then made only for the kept frames,
  in the writer threads; for other pixel formats recovered from PyAV's RGB with the
  stream's own matrix, BT.709 or BT.601) and the G, B, R planes for image sequences.
  Distance: the largest 8x8 block SAD examined (a lower bound when a central band of
  rows decided early, see :class:`~vidcolor.frames.mpdecimate.Mpdecimate`).
* ``hash``: a 64-bit perceptual hash (``dhash`` or ``phash``); a frame is a duplicate
  when its Hamming distance to the last kept frame is ``<= threshold`` bits (default as
  ``dedup``: pHash 8, dHash 6).
* ``ssim``: SSIM (scikit-image) of the 8-bit luma, shrunk to at most 256 px, against
  the last kept frame; a duplicate when ``SSIM >= threshold`` (default 0.95).
  Distance: ``1 - SSIM``.

Sampling on top (applied to frames the rule keeps; a frame they reject counts as
dropped and the reference stays the last frame actually written):

* ``min_gap``: seconds that must separate two kept frames;
* ``per_scene``: at most N frames per scene; scenes come from
  :class:`vidcolor.temporal.scenes.ContentDetector` on the 8-bit luma (Rec.601 weights on RGB;
  from the decoder's planes it is computed on the detector's small grid with the
  stream's matrix, see :func:`_scene_luma_yuv`), which also gives every manifest row
  its ``scene`` index (0-based, counted within the source).

Resume: each source's frames go to temporary names that are renamed when written;
the source's ``manifest.jsonl`` and then its completion marker ``.complete.json`` are
written (atomically) only after the last frame. A source with a marker is skipped;
an interrupted one is redone from its first frame (same names, stale temporaries
removed). The top-level ``manifest.jsonl`` (and ``manifest.csv``) is rebuilt from
every complete source under the output folder at the end of each run.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from .. import options
from ..temporal import scenes
from ..errors import InputError, OptionError, OutputError
from ..media import IMAGE_EXTS, VIDEO_EXTS, Frame, discover, list_images, natural_key, open_source, to_uint8, write_image
from ..media.files import atomic_path, is_glob, is_temp, make_folder, write_text
from ..streams import Prefetch
from . import hashing
from .manifest import MANIFEST, MANIFEST_CSV, MARKER, read_jsonl, timecode, write_csv, write_jsonl
from .mpdecimate import FRAC, HI, LO, YUV420, Mpdecimate, rgb_planes, ycbcr_matrix, yuv420_source

SSIM_SIZE = 256                 # longest side of the luma SSIM is computed on
_FRAME_FILE = re.compile(r"^\d{6}(_gray)?\.(png|jpg)$")


@dataclass
class ExtractOptions:
    """Every setting that decides which frames are kept and how they are written."""

    method: str = options.EXTRACT_METHODS[0]
    hi: int = HI
    lo: int = LO
    frac: float = FRAC
    max: int = 0
    hash: str = options.HASHES[0]   # hash kind for --method hash and for the manifest's "hash"
    threshold: float | None = None  # hash: bits (default per hash, as dedup); ssim: similarity (0.95)
    min_gap: float = 0.0
    per_scene: int = 0              # 0 = no limit
    scene_threshold: float = options.SCENE_THRESHOLD
    min_scene_len: int = options.MIN_SCENE_LEN
    format: str = options.EXTRACT_FORMATS[0]
    quality: int = options.JPEG_QUALITY
    pairs: bool = False

    def __post_init__(self) -> None:
        options.check_choice("--method", self.method, options.EXTRACT_METHODS)
        options.check_choice("--hash", self.hash, options.HASHES)
        options.check_choice("--format", self.format, options.EXTRACT_FORMATS)
        if not 0 <= self.frac <= 1:
            raise OptionError(f"--frac must be in [0, 1], got {self.frac}")
        if not 1 <= self.quality <= 100:
            raise OptionError(f"--quality must be in 1..100, got {self.quality}")
        if self.min_gap < 0 or self.per_scene < 0:
            raise OptionError("--min-gap and --per-scene must be >= 0")
        if self.threshold is None:
            self.threshold = {"hash": options.HASH_THRESHOLDS[self.hash], "ssim": options.SSIM_THRESHOLD}.get(self.method)
        if self.method == "hash" and not 0 <= self.threshold <= 64:
            raise OptionError(f"--threshold for --method hash is in bits, 0..64; got {self.threshold}")
        if self.method == "ssim" and not -1 <= self.threshold <= 1:
            raise OptionError(f"--threshold for --method ssim is an SSIM in [-1, 1]; got {self.threshold}")


@dataclass
class Kept:
    """A frame the selector keeps: the frame and what the manifest says about it."""

    frame: Frame
    distance: float    # to the last kept frame: block SAD, bits or 1 - SSIM (-1 for the first)
    scene: int
    hash_kind: str = "phash"
    _hash: int | None = field(default=None, repr=False)

    @property
    def hash(self) -> int:
        """64-bit hash of the frame (``hash_kind``); computed on first use, so that writer
        threads, not the selection loop, pay for it."""
        if self._hash is None:
            self._hash = hashing.image_hash(self.frame.rgb, self.hash_kind)
        return self._hash


def _scene_luma(rgb8: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> the scene detector's grid of 8-bit luma, cheaply: a bilinear sample at
    twice the grid's size, area-halved, then converted (luma is linear in RGB). Scores differ
    from a full area average by < 0.6 L units on the test clips (cuts score > 12)."""
    gw, gh = scenes.ANALYSIS_SIZE
    sample = cv2.resize(rgb8, (2 * gw, 2 * gh), interpolation=cv2.INTER_LINEAR)
    return hashing.to_gray(cv2.resize(sample, (gw, gh), interpolation=cv2.INTER_AREA))


def _gray_from_ycc(matrix: str, full_range: bool) -> np.ndarray:
    """1x4 float32 map (Y, Cb, Cr, 1) -> the 8-bit luma ``0.299 R + 0.587 G + 0.114 B`` of
    the RGB a decoder's YCbCr turns into (inverse of the stream's matrix)."""
    m = ycbcr_matrix(matrix, full_range).astype(np.float64)
    w = np.array([0.299, 0.587, 0.114]) @ np.linalg.inv(m[:, :3])
    return np.array([[*w, -w @ m[:, 3]]], np.float32)


def _scene_luma_yuv(planes, gray_map: np.ndarray) -> np.ndarray:
    """The decoder's (Y, U, V) planes -> the scene detector's grid of 8-bit luma, as
    :func:`_scene_luma` makes it from RGB but sampling the planes first (each plane sampled
    bilinearly at twice the grid's size and area-halved; chroma from its own half-size
    plane) and converting the small grid (``gray_map``: :func:`_gray_from_ycc`). Luma is
    affine in Y, U, V, so the two differ only by rounding, chroma siting and RGB clipping
    (scores: benchmarks/RESULTS.md, frames section)."""
    gw, gh = scenes.ANALYSIS_SIZE
    grid = [cv2.resize(cv2.resize(p, (2 * gw, 2 * gh), interpolation=cv2.INTER_LINEAR), (gw, gh),
                       interpolation=cv2.INTER_AREA) for p in planes]
    gray = cv2.transform(cv2.merge(grid).astype(np.float32), gray_map)
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def _ssim_luma(rgb8: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> luma shrunk to at most ``SSIM_SIZE`` px on its longest side, float32 0..255."""
    h, w = rgb8.shape[:2]
    s = min(1.0, SSIM_SIZE / max(h, w))
    small = hashing.shrink(rgb8, max(7, round(w * s)), max(7, round(h * s)))
    return hashing.to_gray(small).astype(np.float32)


class Selector:
    """Decides, frame by frame, which frames of ONE source are kept.

    ``planes`` is ``"yuv420"`` (videos) or ``"gbrp"`` (image sequences): the planes the
    mpdecimate rule compares; ``matrix``/``full_range``: the video's YCbCr matrix and range
    (see :attr:`vidcolor.media.VideoSource.colorspace`). Feed frames in order to :meth:`offer`.

    Video frames that carry the decoder's ``planes`` (``VideoSource(planes=True)``) are
    compared (mpdecimate) and scene-scored on those planes: their ``rgb`` is not read by
    the selector for ``mpdecimate``, so it is made only for kept frames, by whoever reads
    it next (the writer threads). ``hash`` and ``ssim`` need RGB for every frame: open
    the source without planes for them (see :func:`open_selection`).
    """

    def __init__(self, opts: ExtractOptions, planes: str = "yuv420", matrix: str = "bt601", full_range: bool = False):
        self.opts = opts
        self.yuv = planes == "yuv420"
        to_planes = yuv420_source(matrix, full_range) if self.yuv else rgb_planes
        self.gray_map = _gray_from_ycc(matrix, full_range)
        self.decimator = Mpdecimate(opts.hi, opts.lo, opts.frac, opts.max, planes=to_planes)
        self.detector = scenes.ContentDetector(opts.scene_threshold, opts.min_scene_len)
        self.scene = -1
        self.in_scene = 0
        self.last_time: float | None = None
        self.ref_hash: int | None = None
        self.ref_luma: np.ndarray | None = None

    def _compare(self, frame: Frame):
        """-> (is_duplicate, distance, state to keep if the frame is kept)."""
        o = self.opts
        if o.method == "mpdecimate":
            img = YUV420(frame.planes) if self.yuv and frame.planes is not None else to_uint8(frame.rgb)
            dup, dist = self.decimator.check(img)
            return dup, dist, img
        rgb8 = to_uint8(frame.rgb)
        if o.method == "hash":
            h = hashing.image_hash(rgb8, o.hash)
            if self.ref_hash is None:
                return False, -1, h
            dist = hashing.hamming(h, self.ref_hash)
            return dist <= o.threshold, dist, h
        from skimage.metrics import structural_similarity

        luma = _ssim_luma(rgb8)
        if self.ref_luma is None:
            return False, -1.0, luma
        s = structural_similarity(luma, self.ref_luma, data_range=255.0)
        return s >= o.threshold, round(float(1.0 - s), 6), luma

    def offer(self, frame: Frame) -> Kept | None:
        """The next frame -> a :class:`Kept` if it is kept, else None."""
        o = self.opts
        dup, dist, state = self._compare(frame)
        if frame.planes is not None and self.yuv:
            luma = _scene_luma_yuv(frame.planes, self.gray_map)
        else:
            luma = _scene_luma(to_uint8(frame.rgb))
        if self.detector.update(luma) or self.scene < 0:
            self.scene += 1
            self.in_scene = 0
        if not dup:
            if o.min_gap and self.last_time is not None and frame.time - self.last_time < o.min_gap - 1e-9:
                dup = True
            elif o.per_scene and self.in_scene >= o.per_scene:
                dup = True
        if dup:
            self.decimator.drop()
            return None
        if o.method == "mpdecimate":
            self.decimator.keep(state)
        elif o.method == "hash":
            self.ref_hash = state
        else:
            self.ref_luma = state
        self.last_time = frame.time
        self.in_scene += 1
        return Kept(frame, dist, self.scene, o.hash, state if o.method == "hash" else None)


def open_selection(path: str | os.PathLike, opts: ExtractOptions, fps: float | None = None):
    """Open one input for extraction -> (source, :class:`Selector` for it). Videos are
    opened with the decoder's planes when the rule can use them (``mpdecimate``)."""
    src = open_source(path, fps=fps, planes=opts.method == "mpdecimate")
    if src.kind == "video":
        return src, Selector(opts, "yuv420", *src.colorspace)
    return src, Selector(opts, "gbrp")


def select_frames(frames: Iterable[Frame], opts: ExtractOptions, planes: str = "yuv420", matrix: str = "bt601",
                  full_range: bool = False) -> Iterator[Kept]:
    """Stream of frames -> the kept ones (see :class:`Selector`)."""
    sel = Selector(opts, planes, matrix, full_range)
    for f in frames:
        k = sel.offer(f)
        if k is not None:
            yield k


def gray_l(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8/uint16 RGB -> HxW CIE L* scaled to the same dtype's range (0..100 -> 0..255/65535).

    L* by OpenCV's float conversion (:func:`vidcolor.color.host_rgb_to_l`, the engine's
    CPU path): within 0.25 L units of scikit-image, a fraction of one 8-bit step (0.39).
    """
    from ..color import host_rgb_to_l

    top = 255.0 if rgb.dtype == np.uint8 else 65535.0
    L = host_rgb_to_l(np.ascontiguousarray(rgb)[None])[0]
    return np.clip(np.rint(L * np.float32(top / 100.0)), 0, top).astype(rgb.dtype)


# --- sources ----------------------------------------------------------------------


@dataclass
class SourceSpec:
    """One input to extract: its path and the folder name (key) its frames go under."""

    path: Path
    key: str


def find_sources(inputs: Iterable[str | os.PathLike]) -> list[SourceSpec]:
    """INPUT paths -> sources: a video file; an image file; a folder or glob of images (one
    image sequence); or a folder without images at its top level, searched recursively
    for videos (keys are their paths relative to that folder, without extension)."""
    specs: list[SourceSpec] = []
    for inp in inputs:
        p = Path(inp)
        s = str(inp)
        if is_glob(s):
            if not list_images(s):
                raise InputError(f"no images match {s}")
            specs.append(SourceSpec(p, p.parent.name or "images"))
        elif p.is_dir():
            if discover(p, IMAGE_EXTS):
                specs.append(SourceSpec(p, p.resolve().name))
                continue
            vids = discover(p, VIDEO_EXTS, recursive=True)
            if not vids:
                raise InputError(f"{p} holds no images and no videos ({', '.join(sorted(VIDEO_EXTS))})")
            specs += [SourceSpec(v, v.relative_to(p).with_suffix("").as_posix()) for v in vids]
        elif p.is_file():
            specs.append(SourceSpec(p, p.stem))
        else:
            raise InputError(f"input not found: {p}")
    seen: dict[str, Path] = {}
    for sp in specs:
        if sp.key in seen:
            raise OptionError(f"{seen[sp.key]} and {sp.path} would both write to '{sp.key}/'; "
                              "rename one or extract them into different -o folders")
        seen[sp.key] = sp.path
    return specs


# --- writing ---------------------------------------------------------------------


def _write_atomic_image(final: Path, img: np.ndarray, quality: int) -> None:
    with atomic_path(final) as tmp:
        if img.ndim == 2:       # one-channel gray
            ok, buf = cv2.imencode(final.suffix, img)
            if not ok:
                raise OutputError(f"cannot encode {final}")
            tmp.write_bytes(buf.tobytes())
        else:
            write_image(tmp, img, quality=quality)


@dataclass
class SourceResult:
    """What happened to one source."""

    key: str
    path: Path
    decoded: int = 0
    kept: int = 0
    skipped: bool = False


@dataclass
class ExtractResult:
    sources: list[SourceResult] = field(default_factory=list)
    manifest: Path | None = None
    csv: Path | None = None

    @property
    def kept(self) -> int:
        return sum(s.kept for s in self.sources)

    @property
    def decoded(self) -> int:
        return sum(s.decoded for s in self.sources)


def completed(spec: SourceSpec, out_dir: Path, opts: ExtractOptions) -> SourceResult | None:
    """The result of a source already complete in ``out_dir`` (its marker exists), as a skipped
    :class:`SourceResult`; None if it is still to do. OptionError if it was made with other settings."""
    folder = out_dir / spec.key
    marker = folder / MARKER
    if not marker.exists():
        return None
    done = json.loads(marker.read_text(encoding="utf-8"))
    if done.get("settings") != asdict(opts):
        raise OptionError(f"{folder} was extracted with other settings; use another -o folder or delete it")
    return SourceResult(spec.key, spec.path, done.get("decoded", 0), done.get("kept", 0), skipped=True)


def extract_source(spec: SourceSpec, out_dir: Path, opts: ExtractOptions, progress=None,
                   fps: float | None = None, cwd: str | None = None) -> SourceResult:
    """Extract one source into ``out_dir/<key>/`` (skipped if its marker exists).

    progress: a tqdm bar (or None); it is reset to the source's frame count.
    cwd: the folder a relative ``spec.path`` is read from (a Ray task gets its driver's);
    the manifest records ``spec.path`` as given either way, so the rows do not depend on
    where the source was extracted.
    """
    folder = out_dir / spec.key
    done = completed(spec, out_dir, opts)
    if done is not None:
        return done
    res = SourceResult(spec.key, spec.path)
    marker = folder / MARKER
    if opts.pairs:
        # gray_l needs torch: import it here, once, not in the two writer threads at once (torch's
        # import is not thread-safe; in a fresh process, a CLI run's or a Ray worker's, one of them
        # would get a half-imported torch)
        importlib.import_module("..color", __package__)
    make_folder(folder)
    for stale in folder.iterdir():               # temporaries of an interrupted run
        if is_temp(stale):
            stale.unlink(missing_ok=True)
    ext = "jpg" if opts.format == "jpg" else "png"
    rows: list[dict] = []
    pending: list[Future] = []
    src, sel = open_selection(Path(cwd, spec.path) if cwd else spec.path, opts, fps)
    with src:
        if progress is not None:
            progress.reset(total=src.frame_count)
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vidcolor-write")
        frames = Prefetch(src, depth=4, name="vidcolor-decode")
        try:
            for frame in frames:
                res.decoded += 1
                k = sel.offer(frame)
                if progress is not None:
                    progress.update(1)
                if k is None:
                    continue
                name = f"{frame.index:06d}.{ext}"
                row = {"file": name}
                if opts.pairs:
                    row["gray_file"] = f"{frame.index:06d}_gray.png"
                row.update({
                    "source": str(spec.path), "source_key": spec.key, "index": frame.index,
                    "name": frame.name, "time": round(frame.time, 6), "timecode": timecode(frame.time),
                    "pts": frame.pts, "method": opts.method, "distance": k.distance, "scene": k.scene,
                    "hash": None, "hash_kind": opts.hash,      # filled in by the writer
                    "width": frame.size[1], "height": frame.size[0],     # no RGB made here
                })
                rows.append(row)
                pending.append(pool.submit(_write_frame, folder, row, k, opts))
                while len(pending) > 8:             # bound the frames held in memory
                    pending.pop(0).result()
            for f in pending:
                f.result()
        finally:
            frames.close()                          # stop the decode thread before the source closes
            pool.shutdown(wait=True, cancel_futures=True)
    res.kept = len(rows)
    keep = {r["file"] for r in rows} | {r.get("gray_file") for r in rows}
    for f in folder.iterdir():                     # frames of an earlier, interrupted run
        if _FRAME_FILE.match(f.name) and f.name not in keep:
            f.unlink()
    write_jsonl(folder / MANIFEST, rows)
    write_text(marker, json.dumps({"source": str(spec.path), "settings": asdict(opts),
                                          "decoded": res.decoded, "kept": res.kept}, indent=1))
    return res


def _write_frame(folder: Path, row: dict, kept: Kept, opts: ExtractOptions) -> None:
    """Write one kept frame (and its gray input) under its final names; fill the row's hash."""
    rgb = kept.frame.rgb
    row["hash"] = hashing.hash_hex(kept.hash)
    _write_atomic_image(folder / row["file"], rgb, opts.quality)
    if opts.pairs:
        _write_atomic_image(folder / row["gray_file"], gray_l(rgb), opts.quality)


def build_manifest(out_dir: Path, csv: bool = False) -> tuple[Path, Path | None]:
    """Rebuild ``out_dir/manifest.jsonl`` (and ``.csv``) from every complete source under it;
    ``file``/``gray_file`` become relative to ``out_dir``. Sources in natural key order."""
    rows: list[dict] = []
    markers = sorted(out_dir.rglob(MARKER), key=lambda m: natural_key(m.parent.relative_to(out_dir).as_posix()))
    for m in markers:
        prefix = m.parent.relative_to(out_dir).as_posix()
        for r in read_jsonl(m.parent / MANIFEST):
            r["file"] = f"{prefix}/{r['file']}"
            if r.get("gray_file"):
                r["gray_file"] = f"{prefix}/{r['gray_file']}"
            rows.append(r)
    jsonl = write_jsonl(out_dir / MANIFEST, rows)
    return jsonl, (write_csv(out_dir / MANIFEST_CSV, rows) if csv else None)


def extract(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, opts: ExtractOptions | None = None,
            csv: bool = False, quiet: bool = False, fps: float | None = None, ray: str | None = None) -> ExtractResult:
    """Extract the distinct frames of every input into ``out_dir`` (resumable; see module doc).

    inputs: video files, image files, image folders/globs, or folders of videos.
    fps: frame rate assumed for image sequences (timestamps; default 24).
    ray: a Ray address (see :func:`vidcolor.cluster.check_address`;
    :data:`vidcolor.cluster.DEFAULT_ADDRESS` for Ray's default): run every source that is not
    complete yet as one Ray task (:func:`extract_on_ray`); the frames, manifests and result are
    those of a run on this machine.
    """
    from tqdm import tqdm

    if ray is not None:
        from .. import cluster

        cluster.require()
        cluster.check_address(ray)
    opts = opts or ExtractOptions()
    out = Path(out_dir)
    specs = find_sources(inputs)
    for sp in specs:
        if out.resolve() == sp.path.resolve():
            raise OutputError(f"output folder {out} is an input; choose another -o")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; -o needs a folder")
    make_folder(out)
    show = not quiet and sys.stderr.isatty()
    result = ExtractResult()
    if ray is not None:
        result.sources = extract_on_ray(specs, out, opts, ray, fps=fps, quiet=quiet)
    else:
        with tqdm(total=len(specs), desc="sources", unit="src", disable=not show, position=0) as bar:
            for sp in specs:
                with tqdm(desc=sp.key, unit="fr", disable=not show, position=1, leave=False) as fbar:
                    result.sources.append(extract_source(sp, out, opts, progress=fbar, fps=fps))
                bar.update(1)
    result.manifest, result.csv = build_manifest(out, csv=csv)
    return result


def extract_on_ray(specs: list[SourceSpec], out: Path, opts: ExtractOptions, address: str | None,
                   fps: float | None = None, quiet: bool = False) -> list[SourceResult]:
    """Run :func:`extract_source` as one Ray task per source not complete yet (complete ones
    are skipped by the driver, as locally) -> one result per spec, in their order. Every node
    reads the sources and writes ``out`` under the same paths (a shared file system); the
    driver's working directory is passed on for relative paths.

    Every task is run to its end even when one fails, so that a rerun has only the failed
    sources left; then the first failure (in source order) is raised: a task's own
    VidcolorError as it was raised, a task whose worker died more than ``RAY_RETRIES`` times
    as :class:`vidcolor.cluster.TaskFailed` naming its source.
    """
    from tqdm import tqdm

    from .. import cluster

    results: list[SourceResult | None] = [completed(sp, out, opts) for sp in specs]
    todo = [k for k, r in enumerate(results) if r is None]
    errors: dict[int, BaseException] = {}
    cwd, out_abs = os.getcwd(), str(out.resolve())
    if not todo:
        return results
    with cluster.session(address):
        with tqdm(total=len(todo), desc="sources on ray", unit="src", file=sys.stderr,
                  disable=quiet or not sys.stderr.isatty()) as bar:
            args = [(specs[k], out_abs, opts, fps, cwd) for k in todo]
            for j, res, err in cluster.map_tasks(source_task, args, name="vidcolor-extract"):
                k = todo[j]
                if err is None:
                    results[k] = res
                else:
                    errors[k] = err
                bar.update(1)
    if errors:
        k = min(errors)
        err = errors[k]
        if isinstance(err, cluster.TaskFailed):
            raise cluster.TaskFailed(f"extracting {specs[k].path}: {err}")
        raise err
    return results


def source_task(spec: SourceSpec, out_dir: str, opts: ExtractOptions, fps: float | None, cwd: str) -> SourceResult:
    """One source, as a Ray task runs it (:func:`extract_on_ray`): no progress bar."""
    return extract_source(spec, Path(out_dir), opts, fps=fps, cwd=cwd)
