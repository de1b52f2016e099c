"""Files in and out, written once for every command: which files a folder holds, and the
atomic output that every writer (videos, image folders, photos, reports, manifests,
checkpoints, benchmark tables) goes through.

Discovery: names starting with ``.`` are hidden, at any depth (our own temporaries,
``.DS_Store``, macOS ``._x.png``), and are never inputs. Order is natural (frame2 before
frame10) on the path relative to the folder searched.

Output: a file appears under its final name only when it is complete. It is written to
a hidden temporary name beside the target (same folder, so the rename is atomic; same
extension, which muxers and image encoders read), then renamed; on any failure the
temporary is removed. Missing parent folders are created. Operating-system failures
become one :class:`OutputError` line that names the file, the cause and the fix
(:func:`describe_os_error`).
"""

from __future__ import annotations

import contextlib
import errno
import glob as _glob
import json
import os
import re
import shutil
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import OutputError

_TMP_TAG = ".vidcolor-"


def natural_key(s: str) -> list:
    """Sort key that puts frame2 before frame10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def is_hidden(path: Path, root: Path | None = None) -> bool:
    """True when ``path`` (or a folder between ``root`` and it) has a name starting with ``.``."""
    parts = path.relative_to(root).parts if root is not None else (path.name,)
    return any(p.startswith(".") for p in parts)


def discover(root: str | os.PathLike, exts: Iterable[str], recursive: bool = False) -> list[Path]:
    """Files under folder ``root`` whose suffix (lower case) is in ``exts``, hidden ones
    skipped, in natural order of their path relative to ``root``."""
    root = Path(root)
    exts = {e.lower() for e in exts}
    found = root.rglob("*") if recursive else root.iterdir()
    files = [f for f in found if f.suffix.lower() in exts and f.is_file() and not is_hidden(f, root)]
    return sorted(files, key=lambda f: natural_key(f.relative_to(root).as_posix()))


def is_glob(spec: str | os.PathLike) -> bool:
    return any(c in str(spec) for c in "*?[")


def glob_files(pattern: str, exts: Iterable[str]) -> list[Path]:
    """Files matching a glob pattern (hidden names skipped, as by the shell), natural order."""
    exts = {e.lower() for e in exts}
    files = [Path(f) for f in _glob.glob(pattern) if Path(f).suffix.lower() in exts and Path(f).is_file()]
    return sorted(files, key=lambda f: natural_key(str(f)))


# --- output ----------------------------------------------------------------------

def describe_os_error(e: BaseException, path: str | os.PathLike) -> str:
    """An OSError (or PyAV's errors, which carry an errno) met while writing ``path``
    -> one line with the cause and the fix."""
    code = getattr(e, "errno", None)
    if code == errno.ENOSPC:
        return f"disk full while writing {path}; free some space or write to another disk"
    if code == errno.EFBIG:
        return (f"file size limit reached while writing {path} (a quota or `ulimit -f`); "
                "raise the limit or write to another disk")
    if code == getattr(errno, "EDQUOT", -1):
        return f"disk quota exceeded while writing {path}; free some space or write to another disk"
    if code in (errno.EACCES, errno.EPERM):
        return f"cannot write {path}: permission denied; choose a folder you can write to"
    if code == errno.EROFS:
        return f"cannot write {path}: the file system is read-only; write to another disk"
    if code == errno.ENOENT:
        return f"cannot write {path}: its folder disappeared while writing"
    reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return f"cannot write {path}: {reason}"


def _existing_ancestor(path: Path) -> Path:
    """``path`` itself if it exists, else its nearest existing parent."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def make_folder(folder: str | os.PathLike, for_: str | os.PathLike | None = None) -> Path:
    """Create ``folder`` and its missing parents (OutputError naming ``for_``, the output
    they are made for, when they cannot be)."""
    folder = Path(folder)
    if folder.is_dir():
        return folder
    what = for_ if for_ is not None else folder
    probe = _existing_ancestor(folder)
    if probe.exists() and not probe.is_dir():
        raise OutputError(f"cannot write {what}: {probe} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        cause = "permission denied" if e.errno in (errno.EACCES, errno.EPERM) else (e.strerror or str(e))
        raise OutputError(f"cannot create the folder {folder} for {what}: {cause}") from None
    return folder


def make_parent(path: str | os.PathLike) -> Path:
    """Create the missing parent folders of ``path`` -> the parent (OutputError when they cannot be)."""
    return make_folder(Path(path).parent, path)


def temp_path(final: str | os.PathLike, is_dir: bool = False) -> Path:
    """The hidden temporary name beside ``final``: ``.<stem>.vidcolor-<pid>-tmp<suffix>``
    (a folder's has no suffix)."""
    final = Path(final)
    tag = f".{final.stem}{_TMP_TAG}{os.getpid()}-tmp"
    return final.with_name(tag if is_dir else tag + final.suffix)


def is_temp(path: Path) -> bool:
    """A temporary left by a vidcolor writer (any process)."""
    return path.name.startswith(".") and _TMP_TAG in path.name and "-tmp" in path.name


def remove(path: Path) -> None:
    """Delete a file or folder if it exists; never raises (used while already failing)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """``with atomic_path(p) as tmp:`` write ``tmp``; on leaving the block it is renamed
    to ``p``. On an exception (or a failed rename) ``tmp`` is removed and an OSError
    becomes an :class:`OutputError` naming ``p``."""
    final = Path(final)
    make_parent(final)
    tmp = temp_path(final, is_dir)
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as e:
        raise OutputError(describe_os_error(e, final)) from None
    finally:
        remove(tmp)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write a file atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a UTF-8 text file atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj, indent: int = 1) -> Path:
    """Write strict JSON (no NaN/inf: :func:`finite` turns them into null) atomically."""
    return write_text(path, json.dumps(finite(obj), indent=indent, allow_nan=False) + "\n")


def finite(x):
    """``x`` with every non-finite float (inf, nan) replaced by None, recursively."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    return x


def check_output(output: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), overwrite: bool = False,
                 report: bool = False) -> Path:
    """Refuse an output that would destroy an input or an existing file, or cannot be written.

    ``report``: a report file (JSON, CSV, Markdown, PNG sheet) may replace an older one,
    but never an input, never a folder, and never go inside an input folder.
    """
    output = Path(output)
    out = output.resolve()
    for i in inputs:
        i = Path(i).resolve()
        if out == i:
            raise OutputError(f"report {output} is one of the inputs; choose another path" if report else
                              f"output {output} is the input; choose another output path")
        if report and i.is_dir() and i in out.parents:
            raise OutputError(f"report {output} is inside the input folder {i}; choose another path")
    if report and output.is_dir():
        raise OutputError(f"report {output} is a folder; give a file name")
    if output.exists() and not overwrite and not report:
        if not (output.is_dir() and not any(output.iterdir())):      # an empty folder prepared by the user is fine
            raise OutputError(f"{output} already exists; pass --overwrite to replace it")
    probe = _existing_ancestor(output.parent)
    if not probe.is_dir():
        raise OutputError(f"cannot write {output}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK):
        raise OutputError(f"cannot write {output}: folder {probe} is not writable")
    return output
