"""Near-duplicate groups over a whole image set, without comparing all pairs.

**Index: multi-index hashing** (Norouzi et al., "Fast search in Hamming space with
multi-index hashing", CVPR 2012), vectorized with numpy. The 64 bits of a hash are cut
into ``m`` contiguous chunks. If two hashes are at most ``r`` bits apart, then by the
pigeonhole principle at least one chunk differs in at most ``s = r // m`` bits. So for
each chunk, the hashes are sorted by their chunk value and, for every chunk pattern
within ``s`` bits of a hash's own (``s = 0``: equal chunks), the matching hashes are
found by binary search; each such candidate pair is then checked on the full 64 bits.
No pair within ``r`` is missed, and on well-spread hashes only about
``m * V(b, s) * N^2 / 2^b`` candidates are checked (``b`` = bits per chunk,
``V(b, s)`` = number of patterns within ``s`` bits), instead of ``N^2 / 2``. ``m`` is
chosen per run from that estimate. Identical hashes are collapsed first, so a million
copies of a black frame cost nothing extra.

**Groups: greedy leaders.** Images are visited best first (``keep``: ``first`` in
natural path order, ``largest`` pixel count, or ``sharpest`` variance of the Laplacian
of the luma); an image not yet in a group starts one and takes every not-yet-grouped
image within ``threshold`` of it. So every image reported as a duplicate is within the
threshold of the image kept in its group (a chain of small steps, e.g. a slow pan, is
not collapsed into one group the way connected components would).

**On Ray.** Reading and hashing the images is the expensive part and needs no other image:
:func:`hash_table_on_ray` cuts the list into chunks, hashes each in one Ray task and joins
the :class:`HashTable` s in path order. The index and the grouping then run on the driver over
that table, exactly as on one machine, so the groups do not depend on where images were hashed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from .. import options
from ..errors import InputError, OptionError, OutputError
from ..media import IMAGE_EXTS, discover
from ..media.files import atomic_path, describe_os_error, is_hidden, make_folder, make_parent, write_json
from . import hashing
from .manifest import MANIFEST, MANIFEST_CSV, MARKER, read_jsonl, write_csv, write_jsonl
#: default Hamming thresholds (bits of 64). Measured on train-images (2,412 photos): pHash puts
#: half-size and JPEG-q40 copies within 2 bits and 2%-per-side crops within 8 bits for 95% of
#: photos, while no two distinct photos are closer than 10 bits; dHash separates less well.
_BATCH = 1 << 22           # candidate pairs checked per numpy batch
_TABLE_BITS = 24           # chunks up to this size are looked up in a table, larger ones by binary search


# --- the index ----------------------------------------------------------------


def _chunks(m: int) -> list[tuple[int, int]]:
    """64 bits -> m contiguous (shift, bits) chunks, sizes differing by at most one."""
    sizes = [64 // m + (1 if i < 64 % m else 0) for i in range(m)]
    out, shift = [], 64
    for b in sizes:
        shift -= b
        out.append((shift, b))
    return out


def _patterns(b: int, s: int) -> int:
    return sum(comb(b, k) for k in range(s + 1))


def choose_chunks(n: int, r: int) -> int:
    """Number of chunks (2..32) minimizing the expected probes + candidate checks for n well-spread hashes."""
    best, best_cost = 1, float("inf")
    for m in range(2, max(2, min(r + 1, 32)) + 1):
        cost = 0.0
        for _, b in _chunks(m):
            v = _patterns(b, r // m)
            probe = 0.5 if b <= _TABLE_BITS else 2.0       # relative to one candidate check
            cost += n * v * (probe + n / 2.0 ** (b + 1))
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def _flip_masks(b: int, s: int) -> list[int]:
    """All b-bit masks with 1..s bits set."""
    from itertools import combinations

    return [sum(1 << i for i in c) for k in range(1, s + 1) for c in combinations(range(b), k)]


def _check(h: np.ndarray, a: np.ndarray, b: np.ndarray, r: int, out: list) -> None:
    """Keep the candidate pairs (a, b) of indices into h that are within r bits."""
    for s in range(0, a.size, _BATCH):
        aa, bb = a[s:s + _BATCH], b[s:s + _BATCH]
        d = np.bitwise_count(h[aa] ^ h[bb])
        ok = d <= r
        if ok.any():
            out.append((aa[ok], bb[ok], d[ok]))


def _expand(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-> (owner, position): for each i, positions starts[i] .. starts[i] + counts[i] - 1."""
    total = int(counts.sum())
    owner = np.repeat(np.arange(counts.size), counts)
    first = np.cumsum(counts) - counts
    pos = np.arange(total) - np.repeat(first, counts) + np.repeat(starts, counts)
    return owner, pos


def _in_batches(counts: np.ndarray, limit: int = _BATCH) -> Iterable[slice]:
    """Slices of consecutive items whose counts sum to about ``limit``."""
    cs = np.cumsum(counts)
    start = 0
    while start < counts.size:
        base = cs[start - 1] if start else 0
        stop = int(np.searchsorted(cs, base + limit, side="right"))
        stop = max(stop, start + 1)
        yield slice(start, stop)
        start = stop


def near_pairs(hashes: np.ndarray, threshold: int,
               chunks: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs of hashes within ``threshold`` bits, by multi-index hashing.

    hashes: (N,) uint64. Returns (i, j, d): int64 indices with i < j and the distances,
    sorted by (i, j). Same result as comparing all pairs, without doing so.
    """
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    n, r = h.size, int(threshold)
    if r < 0:
        raise OptionError(f"threshold must be >= 0, got {threshold}")
    empty = np.zeros(0, np.int64)
    if n < 2:
        return empty, empty, empty
    m = chunks or choose_chunks(n, r)
    if not 2 <= m <= 32:
        raise ValueError(f"chunks must be in 2..32, got {m}")
    found: list = []
    for shift, b in _chunks(m):
        keys = ((h >> np.uint64(shift)) & np.uint64((1 << b) - 1)).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        # s = 0: pairs inside runs of equal chunk values
        run_end = np.searchsorted(sk, sk, side="right")
        counts = run_end - np.arange(n) - 1
        for sl in _in_batches(counts):
            own, pos = _expand(np.arange(sl.start, sl.stop) + 1, counts[sl])
            _check(h, order[own + sl.start], order[pos], r, found)
        # s > 0: probe every pattern within s bits (each unordered pair once per mask)
        masks = _flip_masks(b, r // m)
        if not masks:
            continue
        if b <= _TABLE_BITS:        # direct lookup: where each chunk value starts, how many
            cnt_tbl = np.bincount(sk, minlength=1 << b).astype(np.int32)
            lo_tbl = (np.cumsum(cnt_tbl, dtype=np.int64) - cnt_tbl).astype(np.int32)
        for mask in masks:
            low = mask & -mask
            q = np.flatnonzero((sk & low) == 0)
            target = sk[q] ^ mask
            if b <= _TABLE_BITS:
                lo, cnt = lo_tbl[target], cnt_tbl[target]
            else:
                lo = np.searchsorted(sk, target, side="left")
                cnt = np.searchsorted(sk, target, side="right") - lo
            sel = np.flatnonzero(cnt)
            q, lo, cnt = q[sel], lo[sel].astype(np.int64), cnt[sel].astype(np.int64)
            for sl in _in_batches(cnt):
                own, pos = _expand(lo[sl], cnt[sl])
                _check(h, order[q[sl][own]], order[pos], r, found)
    if not found:
        return empty, empty, empty
    a = np.concatenate([f[0] for f in found])
    b_ = np.concatenate([f[1] for f in found])
    d = np.concatenate([f[2] for f in found]).astype(np.int64)
    i, j = np.minimum(a, b_), np.maximum(a, b_)
    key = i * n + j
    key, first = np.unique(key, return_index=True)
    return key // n, key % n, d[first]


def group_leaders(hashes: np.ndarray, threshold: int,
                  priority: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy leader grouping (see module doc).

    hashes: (N,) uint64; priority: (N,) sort key, lower = kept first (default: index).
    Returns (leader, distance): leader[k] is the index of the image kept for image k
    (itself if kept), distance[k] its Hamming distance to that image.
    """
    h = np.asarray(hashes, dtype=np.uint64)
    n = h.size
    prio = np.arange(n) if priority is None else np.asarray(priority)
    rank = np.empty(n, np.int64)
    rank[np.lexsort((np.arange(n), prio))] = np.arange(n)
    uniq, inv = np.unique(h, return_inverse=True)
    inv = inv.reshape(-1)
    # best image of each distinct hash
    best = np.full(uniq.size, n, np.int64)
    np.minimum.at(best, inv, rank)
    by_rank = np.argsort(rank)
    best_img = by_rank[best]
    i, j, _ = near_pairs(uniq, threshold)
    # CSR adjacency over distinct hashes
    src = np.concatenate([i, j])
    dst = np.concatenate([j, i])
    o = np.argsort(src, kind="stable")
    src, dst = src[o], dst[o]
    indptr = np.searchsorted(src, np.arange(uniq.size + 1))
    owner = np.full(uniq.size, -1, np.int64)
    for u in np.argsort(best, kind="stable"):      # distinct hashes, best image first
        if owner[u] >= 0:
            continue
        owner[u] = u
        nb = dst[indptr[u]:indptr[u + 1]]
        if nb.size:
            nb = nb[owner[nb] < 0]
            owner[nb] = u
    leader = best_img[owner[inv]]
    return leader, np.bitwise_count(h ^ h[leader]).astype(np.int64)


# --- images -------------------------------------------------------------------


def list_image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursive, hidden files and folders skipped), natural order."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder of images")
    return discover(root, IMAGE_EXTS, recursive=True)


def split_companions(files: Sequence[Path]) -> tuple[list[Path], dict[Path, Path]]:
    """Separate the gray inputs written by ``frames extract --pairs`` (``X_gray.png`` beside a
    color ``X.png``/``X.jpg``) from the images to compare: -> (images, {color: gray}).
    A gray companion is never compared; it is moved or deleted with its color frame."""
    present = set(files)
    companions: dict[Path, Path] = {}
    for f in files:
        if f.stem.endswith("_gray"):
            base = f.with_name(f.stem[: -len("_gray")])
            color = next((base.with_suffix(e) for e in (".png", ".jpg") if base.with_suffix(e) in present), None)
            if color is not None:
                companions[color] = f
    gray = set(companions.values())
    return [f for f in files if f not in gray], companions


@dataclass
class ImageInfo:
    hash: int
    width: int
    height: int
    sharpness: float


def _read_info(path: Path, kind: str, sharp: bool) -> ImageInfo | None:
    data = np.fromfile(str(path), dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        return None
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    s = float(cv2.Laplacian(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()) if sharp else 0.0
    return ImageInfo(hashing.image_hash(rgb, kind), rgb.shape[1], rgb.shape[0], s)


def hash_images(paths: Sequence[Path], kind: str = "phash", sharpness: bool = False, workers: int = 2,
                progress=None) -> list[ImageInfo | None]:
    """Read and hash images in ``workers`` threads -> one ImageInfo per path (None if unreadable)."""
    out: list[ImageInfo | None] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for info in pool.map(lambda p: _read_info(p, kind, sharpness), paths, chunksize=16):
            out.append(info)
            if progress is not None:
                progress.update(1)
    return out


@dataclass
class HashTable:
    """What was read of a list of images, one row per image, as arrays: compact to send
    between machines and to join. ``ok`` is False where the file could not be read (the row's
    other values are then 0)."""

    hash: np.ndarray        # (N,) uint64
    width: np.ndarray       # (N,) int64
    height: np.ndarray      # (N,) int64
    sharpness: np.ndarray   # (N,) float64: variance of the Laplacian of the luma (0 when not asked for)
    ok: np.ndarray          # (N,) bool

    def __len__(self) -> int:
        return int(self.hash.size)

    @classmethod
    def of(cls, infos: Sequence[ImageInfo | None]) -> HashTable:
        """:func:`hash_images` output -> a table."""
        def col(get, dtype):
            return np.array([get(i) if i is not None else 0 for i in infos], dtype=dtype)

        return cls(col(lambda i: i.hash, np.uint64), col(lambda i: i.width, np.int64),
                   col(lambda i: i.height, np.int64), col(lambda i: i.sharpness, np.float64),
                   np.array([i is not None for i in infos], dtype=bool))

    @classmethod
    def concat(cls, parts: Sequence[HashTable]) -> HashTable:
        """Tables of consecutive runs of paths -> the table of them all, in the same order."""
        if not parts:
            return cls.of([])
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("hash", "width", "height", "sharpness", "ok")))

    def info(self, k: int) -> ImageInfo | None:
        """Row ``k`` as an :class:`ImageInfo` (None if unreadable)."""
        if not self.ok[k]:
            return None
        return ImageInfo(int(self.hash[k]), int(self.width[k]), int(self.height[k]), float(self.sharpness[k]))


def hash_table(paths: Sequence[str | os.PathLike], kind: str = "phash", sharpness: bool = False, workers: int = 2,
               progress=None) -> HashTable:
    """:func:`hash_images` on this machine, as a :class:`HashTable`."""
    return HashTable.of(hash_images([Path(p) for p in paths], kind, sharpness, workers=workers, progress=progress))


#: hashing on Ray: TASKS_PER_CPU tasks per CPU of the cluster (a slow node or a retried task then
#: holds up only a small share of the work), each of CHUNK_MIN..CHUNK_MAX images (per-task overhead
#: is a few ms; a bounded chunk keeps what a dead worker's retry redoes small however large the set)
TASKS_PER_CPU, CHUNK_MIN, CHUNK_MAX = 4, 64, 4096


def chunk_bounds(n: int, cpus: int) -> list[tuple[int, int]]:
    """``n`` images over ``cpus`` CPUs -> consecutive ``(start, stop)`` chunks, one per task
    (sizes from :data:`TASKS_PER_CPU`, :data:`CHUNK_MIN` and :data:`CHUNK_MAX`)."""
    size = min(CHUNK_MAX, max(CHUNK_MIN, -(-n // max(1, cpus * TASKS_PER_CPU))))
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def hash_chunk(paths: Sequence[str], kind: str, sharpness: bool) -> HashTable:
    """One chunk of images, as a Ray task hashes it (:func:`hash_table_on_ray`): paths are
    absolute (the driver's working directory means nothing on another node); the two
    threads overlap reading with hashing, as on one machine."""
    return hash_table(paths, kind, sharpness)


def hash_table_on_ray(paths: Sequence[str | os.PathLike], kind: str = "phash", sharpness: bool = False,
                      bounds: Sequence[tuple[int, int]] | None = None, progress=None) -> HashTable:
    """:func:`hash_table` with the images cut into chunks (``bounds``; default
    :func:`chunk_bounds` for the cluster's CPUs), each hashed by one Ray task
    (:func:`hash_chunk`; a task whose worker died is re-run), joined back in path order: the
    very table :func:`hash_table` gives. Call inside :func:`vidcolor.cluster.session`; every
    node must read the images under the same paths. ``progress``: a tqdm bar, advanced by
    each finished chunk. A chunk whose worker died more than ``RAY_RETRIES`` times ends the
    run with :class:`vidcolor.cluster.TaskFailed` naming its first image."""
    from .. import cluster

    cwd = os.getcwd()
    names = [os.path.join(cwd, p) for p in paths]
    if bounds is None:
        bounds = chunk_bounds(len(names), cluster.cpus())
    parts: list[HashTable | None] = [None] * len(bounds)
    results = cluster.map_tasks(hash_chunk, [(names[a:b], kind, sharpness) for a, b in bounds], name="vidcolor-hash")
    try:
        for j, part, err in results:
            a, b = bounds[j]
            if isinstance(err, cluster.TaskFailed):
                raise cluster.TaskFailed(f"hashing {b - a} images from {names[a]}: {err}")
            if err is not None:
                raise err
            parts[j] = part
            if progress is not None:
                progress.update(b - a)
    finally:
        results.close()                         # cancels what is left when one chunk failed
    return HashTable.concat(parts)


def find_duplicates(hashes: np.ndarray, threshold: int, priority: np.ndarray | None = None) -> list[list[int]]:
    """Hashes -> groups of near-duplicates (lists of indices, kept image first; size >= 2)."""
    leader, dist = group_leaders(hashes, threshold, priority)
    dup = np.flatnonzero(leader != np.arange(leader.size))
    groups: dict[int, list[int]] = {}
    for k in dup[np.lexsort((dup, dist[dup], leader[dup]))]:
        groups.setdefault(int(leader[k]), [int(leader[k])]).append(int(k))
    return [groups[k] for k in sorted(groups)]


@dataclass
class DedupReport:
    """Result of :func:`dedup`. Paths are relative to ``folder``: the folder given, or the
    common parent of the folders given (``folders``)."""

    folder: Path
    hash: str
    threshold: int
    keep: str
    images: int
    #: {"kept", "reason", "hash", "duplicates": [{"file", "distance", ["companion"]}]}
    groups: list[dict] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    action: str = "dry-run"
    #: extraction manifests rewritten without the rows of moved/deleted files (absolute paths)
    manifests: list[str] = field(default_factory=list)
    #: the folders searched (one: ``[folder]``)
    folders: list[Path] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return sum(len(g["duplicates"]) for g in self.groups)

    def to_json(self) -> dict:
        return {"folder": str(self.folder), "folders": [str(f) for f in self.folders], "hash": self.hash,
                "threshold": self.threshold, "keep": self.keep, "action": self.action, "images": self.images,
                "groups_count": len(self.groups), "duplicates_count": self.duplicates, "groups": self.groups,
                "unreadable": self.unreadable, "manifests_updated": self.manifests}


def _extraction_manifests(root: Path) -> list[Path]:
    """The ``manifest.jsonl`` files that may list images under ``root``: those under it
    (per-source manifests, the top-level one when ``root`` is an extraction folder) and
    those of its parent folders (the top-level one when ``root`` is a source's folder)."""
    below = [m for m in root.rglob(MANIFEST) if m.is_file() and not is_hidden(m, root)]
    above = [d / MANIFEST for d in root.resolve().parents if (d / MANIFEST).is_file()]
    return below + above


def _drop_manifest_rows(roots: Sequence[Path], removed: Iterable[Path]) -> list[Path]:
    """Rewrite (atomically) every extraction manifest of the folders ``roots`` (each counted
    once) that lists one of the ``removed`` files (as ``file`` or ``gray_file``) without those
    rows; a ``manifest.csv`` beside a rewritten manifest is rewritten from the same rows, and
    a completion marker beside it gets the new ``kept`` count (and ``removed_by_dedup``), so a
    rerun of ``frames extract`` reports what is on disk. A JSON Lines file whose rows are not extraction rows (``file``
    and ``source_key``) is left alone. -> the rewritten ones."""
    gone = {p.resolve() for p in removed}
    changed: list[Path] = []
    found: dict[Path, Path] = {}
    for root in roots:
        for m in _extraction_manifests(root):
            found.setdefault(m.resolve(), m)
    for m in found.values():
        try:
            rows = read_jsonl(m)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue                                    # not a manifest we wrote
        if not all(isinstance(r, dict) and "file" in r and "source_key" in r for r in rows):
            continue
        keep = [r for r in rows if not any(r.get(k) and (m.parent / r[k]).resolve() in gone
                                           for k in ("file", "gray_file"))]
        if len(keep) == len(rows):
            continue
        try:
            write_jsonl(m, keep)
            if (m.parent / MANIFEST_CSV).is_file():
                write_csv(m.parent / MANIFEST_CSV, keep)
            if (m.parent / MARKER).is_file():
                _recount_marker(m.parent / MARKER, kept=len(keep), removed=len(rows) - len(keep))
        except OSError as e:
            raise OutputError(f"cannot update {m} ({e.strerror}); no duplicate was moved or deleted") from None
        changed.append(m)
    return changed


def _recount_marker(marker: Path, kept: int, removed: int) -> None:
    """Set an extraction marker's ``kept`` to its manifest's rows now (atomically)."""
    try:
        done = json.loads(marker.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return                                          # not a marker we wrote
    if not isinstance(done, dict) or not isinstance(done.get("kept"), int):
        return
    done["kept"] = kept
    done["removed_by_dedup"] = done.get("removed_by_dedup", 0) + removed
    write_json(marker, done)


def _move(src: Path, target: Path) -> None:
    """Move one file; across disks the copy goes to a temporary name first, so ``target``
    never holds a partial file and ``src`` is removed only once the copy is complete."""
    try:
        os.replace(src, target)                 # same file system: atomic
        return
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
    with atomic_path(target) as tmp:
        shutil.copy2(src, tmp)
    src.unlink()


def _reason(keep: str, info: ImageInfo) -> str:
    if keep == "largest":
        return f"largest ({info.width}x{info.height})"
    if keep == "sharpest":
        return f"sharpest (Laplacian variance {info.sharpness:.1f})"
    return "first in name order"


def _roots(folders: Sequence[Path]) -> tuple[Path, list[Path]]:
    """The folders given -> (the folder report paths are relative to, the folders to search).
    One folder: itself, as given. Several: their common parent, and each folder resolved; a
    folder given twice, or inside another one given, is an OptionError (its images would be
    counted twice)."""
    if len(folders) == 1:
        return folders[0], list(folders)
    for f in folders:
        if not f.is_dir():
            raise InputError(f"{f} is not a folder of images")
    full = [f.resolve() for f in folders]
    for a, fa in zip(folders, full):
        for b, fb in zip(folders, full):
            if a is not b and (fa == fb or fb in fa.parents):
                raise OptionError(f"{a} is {'the same folder as' if fa == fb else 'inside'} {b}; give only {b}")
    return Path(os.path.commonpath(full)), full


def dedup(folder: str | os.PathLike | Sequence[str | os.PathLike], hash: str = "phash", threshold: int | None = None,
          keep: str = "first", move_to: str | os.PathLike | None = None, delete: bool = False,
          json_path: str | os.PathLike | None = None, quiet: bool = False, ray: str | None = None) -> DedupReport:
    """Find near-duplicate groups under ``folder``; optionally move or delete the duplicates.

    ``folder`` may be several folders: their images form one set (folders in the order given,
    each in natural path order; that is the order ``keep="first"`` follows), and the report's
    paths are relative to their common parent, so each names its folder (``a/x.png``,
    ``b/x.png``).

    Without ``move_to`` / ``delete`` nothing is changed (dry run). The kept image of each
    group is chosen by ``keep``; every duplicate is within ``threshold`` bits of it
    (default: :data:`vidcolor.options.HASH_THRESHOLDS` for the hash). ``move_to`` keeps the
    duplicates' paths as the report gives them. Gray companions of extracted frames
    (``X_gray.png`` beside ``X.png``) are not compared and follow their color frame. When files are moved or
    deleted, the ``frames extract`` manifests that list them (per source and top-level,
    under a folder or above it) lose those rows first (see :func:`_drop_manifest_rows`).

    ``ray``: a Ray address (see :func:`vidcolor.cluster.check_address`;
    :data:`vidcolor.cluster.DEFAULT_ADDRESS` for Ray's default): the images are read and
    hashed by Ray tasks, in chunks (:func:`hash_table_on_ray`); the grouping and the actions
    run here, on the same table, so the report is the one this machine alone would give.
    """
    import sys

    from tqdm import tqdm

    if ray is not None:
        from .. import cluster

        cluster.require()
        cluster.check_address(ray)
    options.check_choice("--hash", hash, options.HASHES)
    options.check_choice("--keep", keep, options.DEDUP_KEEP)
    if threshold is None:
        threshold = options.HASH_THRESHOLDS[hash]
    if not 0 <= threshold <= 64:
        raise OptionError(f"--threshold is in bits, 0..64; got {threshold}")
    if move_to is not None and delete:
        raise OptionError("choose one of --move-to and --delete")
    given = [Path(folder)] if isinstance(folder, (str, os.PathLike)) else [Path(f) for f in folder]
    if not given:
        raise OptionError("dedup needs at least one folder")
    root, folders = _roots(given)
    if move_to is not None:
        dest = Path(move_to).resolve()
        for f, g in zip(folders, given):
            if dest == f.resolve() or f.resolve() in dest.parents:
                raise OptionError(f"--move-to {move_to} is inside {g}; choose a folder outside it")
        make_folder(move_to)                        # before anything is touched
    files: list[Path] = []
    companions: dict[Path, Path] = {}
    for f in folders:
        fs, cs = split_companions(list_image_files(f))
        files += fs
        companions.update(cs)
    sharp = keep == "sharpest"
    with tqdm(total=len(files), desc="hashing", unit="img", disable=quiet or not sys.stderr.isatty()) as bar:
        if ray is None:
            table = hash_table(files, hash, sharpness=sharp, progress=bar)
        else:
            with cluster.session(ray):
                table = hash_table_on_ray(files, hash, sharpness=sharp, progress=bar)
    ok = np.flatnonzero(table.ok)
    unreadable = [files[k].relative_to(root).as_posix() for k in np.flatnonzero(~table.ok)]
    report = DedupReport(root, hash, int(threshold), keep, len(ok), unreadable=unreadable,
                         action="delete" if delete else ("move" if move_to is not None else "dry-run"),
                         folders=list(folders))
    hashes = table.hash[ok]
    if keep == "largest":
        prio = -(table.width[ok] * table.height[ok]).astype(np.float64)
    elif keep == "sharpest":
        prio = -table.sharpness[ok]
    else:
        prio = np.arange(len(ok))
    for grp in find_duplicates(hashes, threshold, prio) if len(ok) else []:
        rel = [files[ok[k]].relative_to(root).as_posix() for k in grp]
        report.groups.append({"kept": rel[0], "reason": _reason(keep, table.info(ok[grp[0]])),
                              "hash": hashing.hash_hex(hashes[grp[0]]),
                              "duplicates": [{"file": f, "distance": hashing.hamming(hashes[k], hashes[grp[0]])}
                                             for f, k in zip(rel[1:], grp[1:])]})
    for g in report.groups:
        for d in g["duplicates"]:
            if root / d["file"] in companions:
                d["companion"] = companions[root / d["file"]].relative_to(root).as_posix()
    dups = [f for g in report.groups for d in g["duplicates"] for f in (d["file"], d.get("companion")) if f]
    if move_to is not None:
        clash = [f for f in dups if (Path(move_to) / f).exists()]
        if clash:
            raise OutputError(f"{Path(move_to) / clash[0]} already exists; choose an empty --move-to folder")
    if dups and (delete or move_to is not None):
        # manifests first: if we stop half-way, a manifest may miss a file, never list a missing one
        report.manifests = [str(m) for m in _drop_manifest_rows(folders, [root / f for f in dups])]
    for f in dups:
        try:
            if delete:
                (root / f).unlink()
            elif move_to is not None:
                target = Path(move_to) / f
                make_parent(target)
                _move(root / f, target)
        except OSError as e:
            raise OutputError(f"{describe_os_error(e, Path(move_to) / f if move_to else root / f)}; "
                              f"{f} is still in {root}") from None
    if json_path is not None:
        write_json(Path(json_path), report.to_json())
    return report
