"""Jobs of the web app: a persistent store and one worker thread per device.

Every job lives in its own folder ``DATA/jobs/<id>/``: ``job.json`` (its state,
rewritten atomically), ``input.*`` (the upload, or nothing for a server file),
``guide/`` (uploaded keyframes, hints, exemplar), ``result.*`` and ``preview/``
(what the result page shows). Ids are 128 random bits: knowing one is what lets a
client see a job, and a job only ever reads its own folder (or a file under the
server's ``--allow-dir``). A restart keeps finished jobs and marks unfinished ones
failed, with the reason.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import VidcolorError
from ..media.files import atomic_path

STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
_ID = re.compile(r"^[0-9a-f]{32}$")
KEEP = ("job.json", "guide")       # what a restart leaves of an unfinished job, with its input
RESTARTED = "the server stopped before this job finished; submit it again"


class Cancelled(Exception):
    """Raised inside a running job when it is cancelled; the pipeline then aborts its output."""


@dataclass
class Job:
    id: str
    kind: str                         # "image", "video" or "frames" (a zip of frames)
    name: str                         # the upload's file name, for display and the download name
    input: str                        # path of the input (inside the job folder, or under --allow-dir)
    options: dict                     # model, temporal, temporal_strength, size, render_factor, codec, fps
    guide: dict = field(default_factory=dict)   # reference: [paths], hints: [paths], exemplar: path
    state: str = "queued"
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    frames_done: int = 0
    frames_total: int | None = None
    fps: float | None = None
    result: str | None = None         # file name inside the job folder
    previews: dict = field(default_factory=dict)   # before/after (images or videos), scrub stills
    device: str | None = None
    stage: str | None = None          # "colorizing", "previews"

    def public(self) -> dict:
        """What the API shows: no server paths."""
        eta = None
        if self.state == "running" and self.fps and self.frames_total:
            eta = max(self.frames_total - self.frames_done, 0) / self.fps
        progress = {"frames": self.frames_done, "total": self.frames_total,
                    "fraction": (min(self.frames_done / self.frames_total, 1.0) if self.frames_total else None),
                    "fps": self.fps, "eta_s": eta}
        return {"id": self.id, "kind": self.kind, "name": self.name, "state": self.state, "error": self.error,
                "options": self.options, "guided": sorted(k for k, v in self.guide.items() if v),
                "created": self.created, "started": self.started, "finished": self.finished,
                "progress": progress, "device": self.device, "stage": self.stage,
                "result": f"/api/jobs/{self.id}/result" if self.state == "done" else None,
                "previews": self._urls(self.previews) if self.state == "done" else {}}

    def _urls(self, previews) -> dict | list | str:
        """File names inside the job folder -> their URLs (frame numbers and times kept)."""
        return _map_files(previews, lambda name: f"/api/jobs/{self.id}/files/{name}")

    def files(self) -> set[str]:
        """The names inside the job folder the API serves: the result and the previews."""
        names = {self.result}
        _map_files(self.previews, names.add)
        return names


def _map_files(previews, fn):
    """``previews`` with every file name replaced by ``fn(name)``; frame numbers and times kept."""
    if isinstance(previews, dict):
        return {k: v if k in ("frame", "time") else _map_files(v, fn) for k, v in previews.items()}
    if isinstance(previews, list):
        return [_map_files(v, fn) for v in previews]
    return fn(previews)


def new_id() -> str:
    return uuid.uuid4().hex


def valid_id(job_id: str) -> bool:
    return bool(_ID.match(job_id or ""))


class Store:
    """The jobs under ``root/jobs``, in memory and on disk."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()          # Flask resolves relative paths against its package
        self.jobs_dir = self.root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.RLock()
        self._recover()

    def _recover(self) -> None:
        for d in sorted(self.jobs_dir.iterdir()):
            f = d / "job.json"
            if not (valid_id(d.name) and f.is_file()):
                if valid_id(d.name):           # a folder whose job was never recorded: a crashed upload
                    shutil.rmtree(d, ignore_errors=True)
                continue
            try:
                job = Job(**json.loads(f.read_text()))
            except (ValueError, TypeError):
                continue                        # not ours, or from an incompatible version: left alone
            if job.state not in FINISHED:
                job.state, job.error, job.finished = "failed", RESTARTED, time.time()
                for p in d.iterdir():          # a killed run's partial output and previews
                    if p.name not in KEEP and not p.name.startswith("input"):
                        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                self._write(job)
            self._jobs[job.id] = job

    def unfinished(self) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.state not in FINISHED]

    def folder(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id) if valid_id(job_id) else None

    def add(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job
            self._write(job)

    def update(self, job: Job, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(job, k, v)
            self._write(job)

    def remove(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)
            shutil.rmtree(self.folder(job.id), ignore_errors=True)

    def _write(self, job: Job) -> None:
        path = self.folder(job.id) / "job.json"
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(asdict(job), indent=1))


class Workers:
    """A queue of job ids served by one thread per device (``devices``: "cpu", "cuda:0", ...).

    ``run(job, device, on_frames)`` does the work and returns the fields to set on
    success; ``on_frames(n)`` raises :class:`Cancelled` once the job is cancelled. Any
    exception fails the job with a one-line reason; the thread goes on with the next.
    """

    def __init__(self, store: Store, devices: list[str], run: Callable):
        self.store, self.run = store, run
        self.queue: queue.Queue[str | None] = queue.Queue()
        self._cancel: set[str] = set()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, args=(d,), name=f"vidcolor-web-{d}", daemon=True)
                        for d in devices]
        for t in self.threads:
            t.start()

    def submit(self, job: Job) -> None:
        self.store.add(job)
        self.queue.put(job.id)

    def cancel(self, job: Job) -> None:
        """Stop a queued or running job (its partial output is removed)."""
        with self._lock:
            self._cancel.add(job.id)
            if job.state == "queued":
                self.store.update(job, state="cancelled", finished=time.time(), error="cancelled")

    def stop(self, timeout: float = 10.0) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join(timeout)

    def _loop(self, device: str) -> None:
        while (job_id := self.queue.get()) is not None:
            job = self.store.get(job_id)
            with self._lock:
                if job is None or job.state != "queued" or job_id in self._cancel:
                    continue
                self.store.update(job, state="running", started=time.time(), device=device)
            self._one(job, device)

    def _one(self, job: Job, device: str) -> None:
        t0, last = time.perf_counter(), [0.0]

        def on_frames(n: int) -> None:
            if job.id in self._cancel:
                raise Cancelled()
            now = time.perf_counter()
            job.frames_done, job.fps = n, n / max(now - t0, 1e-9)
            if now - last[0] > 0.5:            # job.json at most twice a second
                last[0] = now
                self.store.update(job)

        try:
            fields = self.run(job, device, on_frames)
        except Cancelled:
            self.store.update(job, state="cancelled", error="cancelled", finished=time.time())
        except VidcolorError as e:
            self.store.update(job, state="failed", error=str(e), finished=time.time())
        except Exception as e:  # noqa: BLE001 - a job's failure never takes the worker down
            self.store.update(job, state="failed", error=f"{type(e).__name__}: {e}".splitlines()[0],
                              finished=time.time())
        else:
            self.store.update(job, state="done", finished=time.time(), **fields)
        finally:
            with self._lock:
                self._cancel.discard(job.id)


def devices(device: str) -> list[str]:
    """One worker per device: every GPU for ``auto``/``cuda`` when there are GPUs, else the CPU."""
    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if device == "auto":
        return ["cpu"]
    return [device]


__all__ = ["Job", "Store", "Workers", "Cancelled", "new_id", "valid_id", "devices", "STATES", "FINISHED"]
