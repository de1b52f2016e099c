"""What the web app accepts: a photo, a video or a zip of frames, told apart by content.

A client's file name is never used as a path: an upload is stored under a name the
server chooses, with the extension of what its bytes turn out to be. Zips are
unpacked member by member, refusing absolute paths, ``..``, links, too many members,
too many bytes and implausible compression ratios (zip bombs), before any byte is
written; only image members are kept, under their own base names.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from .. import options
from ..errors import InputError
from ..media.base import IMAGE_EXTS

# magic numbers of the still-image formats OpenCV reads (the IMAGE_EXTS of media/)
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
    (b"BM", ".bmp"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# PyAV's container names -> an extension its demuxer is found by again
_VIDEO_EXT = {"mov,mp4,m4a,3gp,3g2,mj2": ".mp4", "matroska,webm": ".mkv", "avi": ".avi", "mpegts": ".ts",
              "mpeg": ".mpg", "flv": ".flv", "ogg": ".ogv", "gif": ".gif"}


def image_ext(head: bytes) -> str | None:
    """The extension of a still image by its first bytes, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    for magic, ext in _IMAGE_MAGIC:
        if head.startswith(magic):
            return ext
    return None


def sniff(path: Path) -> tuple[str, str]:
    """(kind, extension) of an uploaded file by content: ("image", ".png"), ("zip", ".zip")
    or ("video", ".mp4"); an InputError for anything else."""
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise InputError("the upload is empty")
    ext = image_ext(head)
    if ext:
        return "image", ext
    if head[:4] in _ZIP_MAGIC:
        return "zip", ".zip"
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise InputError("the upload has no video stream (audio only?): upload a photo, a video or a zip of frames")
            return "video", _VIDEO_EXT.get(c.format.name, ".mkv")
    except InputError:
        raise
    except Exception:  # noqa: BLE001 - whatever FFmpeg says, it is not media we can read
        raise InputError("the upload is not a photo, a video or a zip of frames (its content was not recognized)") from None


def unpack_frames(archive: Path, dest: Path, max_bytes: int = options.WEB_ZIP_MAX_BYTES,
                  max_members: int = options.WEB_ZIP_MAX_MEMBERS, max_ratio: float = options.WEB_ZIP_MAX_RATIO) -> int:
    """Unpack the image members of a zip of frames into ``dest`` (flat, by base name);
    returns how many. Refuses, with an InputError and nothing left in ``dest``: a
    member named with an absolute path, a drive or ``..``; a link; more than
    ``max_members`` members; more than ``max_bytes`` uncompressed (counted while
    reading, not trusted from the header); a member compressed more than ``max_ratio``
    to one; two members with one base name; no image member at all."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise InputError("the zip is damaged or not a zip") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise InputError(f"the zip has {len(infos)} members; at most {max_members} are accepted")
        frames = []
        for info in infos:
            name = info.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise InputError(f"the zip member '{name}' points outside the archive; refused")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise InputError(f"the zip member '{name}' is a link; refused")
            if info.is_dir() or PurePosixPath(name).suffix.lower() not in IMAGE_EXTS:
                continue
            if parts[-1].startswith("."):        # macOS resource forks (._x.png) and hidden files
                continue
            if info.file_size > max_ratio * max(info.compress_size, 1) and info.file_size > 1 << 20:
                raise InputError(f"the zip member '{name}' expands {info.file_size // max(info.compress_size, 1)}x; "
                                 "refused as a zip bomb")
            frames.append(info)
        if not frames:
            raise InputError("the zip holds no image frames (.png .jpg .tif .bmp .webp)")
        if sum(i.file_size for i in frames) > max_bytes:
            raise InputError(f"the zip's frames unpack to more than {max_bytes >> 20} MB; refused")
        names = [PurePosixPath(i.filename).name for i in frames]
        if len(set(names)) != len(names):
            raise InputError("the zip holds two frames with the same file name in different folders; "
                             "put one sequence in the zip")
        dest.mkdir(parents=True, exist_ok=True)
        total = 0
        try:
            for info, name in zip(frames, names):
                with zf.open(info) as src, open(dest / name, "wb") as out:
                    while chunk := src.read(1 << 20):
                        total += len(chunk)
                        if total > max_bytes:
                            raise InputError(f"the zip's frames unpack to more than {max_bytes >> 20} MB; refused")
                        out.write(chunk)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            shutil.rmtree(dest, ignore_errors=True)
            raise InputError(f"the zip is damaged ({e})") from None
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    return len(frames)


def inside(path: str | Path, root: str | Path) -> Path | None:
    """``path`` resolved (links followed) when it lies under ``root``, else None."""
    p, r = Path(path).resolve(), Path(root).resolve()
    return p if p == r or r in p.parents else None
