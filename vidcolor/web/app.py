"""The Flask application of ``vidcolor serve``: two pages and a JSON API over :mod:`.jobs`.

API (every error is ``{"error": "<the CLI's one-line message>"}`` with a 4xx status):

* ``POST /api/jobs``: multipart; ``file`` (a photo, a video or a zip of frames) or
  ``path`` (a file or frame folder under ``--allow-dir``); options ``model``,
  ``temporal``, ``temporal_strength``, ``size``, ``render_factor``, ``codec``, ``fps``
  (zips of frames); guidance ``reference`` (keyframe images named by frame number,
  repeatable), ``hints`` (a hints JSON and the scribble PNGs it names), ``exemplar``
  (an image). 201 with the job.
* ``GET /api/jobs/<id>``: state (queued, running, done, failed, cancelled), progress
  (frames, total, fraction, fps, eta_s), error, result and preview URLs.
* ``GET /api/jobs/<id>/result``: the colorized file, as a download.
* ``DELETE /api/jobs/<id>``: cancels a queued or running job (its partial output is
  removed); deletes a finished one and its files.
* ``GET /api/models``: the registry, with whether each model's weights are here.
* ``GET /api/files``: media under ``--allow-dir`` (404 without one).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
from pathlib import Path

from flask import Flask, abort, jsonify, render_template, request, send_file
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.utils import secure_filename

from .. import options
from ..errors import InputError, OptionError, VidcolorError
from ..media.base import IMAGE_EXTS
from . import runner, uploads
from .jobs import FINISHED, Job, Store, Workers, devices, new_id

log = logging.getLogger("vidcolor.web")
_NUMBER = re.compile(r"\d+")


def weights_note(info) -> str | None:
    """None when a model's catalogue weights are here, else why not and how to get them."""
    from .. import weights as W

    if info.weights is None:
        return f"model '{info.name}' has no default weights; the web app runs catalogue weights only"
    try:
        W.resolve(info.weights)
    except VidcolorError as e:
        return str(e)
    return None


def model_choices() -> list[dict]:
    """Every registered colorizer, whether its weights are here, and how to get them."""
    from ..models import available
    from ..pipeline import size_from_render_factor

    out = []
    for info in available():
        note = weights_note(info)
        try:
            size_from_render_factor(info.name, None, 2)
            render = True
        except OptionError:
            render = False
        out.append({"name": info.name, "description": info.description, "present": note is None,
                    "note": note, "render_factor": render, "default": info.name == options.DEFAULT_MODEL})
    return out


def _form_options(form, kind: str) -> dict:
    """The job's options from the form, each checked as the CLI checks it (OptionError)."""
    from ..models import get_info
    from ..pipeline import size_from_render_factor
    from ..temporal import registry as temporal

    def number(name: str, cast):
        raw = (form.get(name) or "").strip()
        if not raw:
            return None
        try:
            return cast(raw)
        except ValueError:
            raise OptionError(f"{name.replace('_', '-')} must be a number, got '{raw[:40]}'") from None

    model = form.get("model") or options.DEFAULT_MODEL
    note = weights_note(get_info(model))
    if note:
        raise OptionError(note)
    o = {"model": model, "temporal": form.get("temporal") or options.TEMPORAL,
         "temporal_strength": number("temporal_strength", float), "size": number("size", int),
         "render_factor": number("render_factor", int), "codec": form.get("codec") or options.WEB_CODECS[0],
         "fps": number("fps", float) if kind == "frames" else None}
    temporal.check(o["temporal"], o["temporal_strength"])
    options.check_size(o["size"])
    size_from_render_factor(model, o["size"], o["render_factor"])
    options.check_choice("--codec", o["codec"], options.WEB_CODECS)
    if o["fps"] is not None:
        options.check_fps(o["fps"])
    return o


def _save(storage, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    storage.save(str(dest))
    return dest


def _store_input(storage, folder: Path) -> tuple[str, Path]:
    """Save an upload under a name of our choosing; (kind, input path) by content."""
    part = _save(storage, folder / "upload.part")
    kind, ext = uploads.sniff(part)
    if kind == "zip":
        n = uploads.unpack_frames(part, folder / "input")
        part.unlink()
        log.info("zip of %d frames", n)
        return "frames", folder / "input"
    path = part.rename(folder / f"input{ext}")
    if kind == "image" and frame_size(path) is None:
        raise InputError("the upload looks like an image but does not decode (truncated or damaged?)")
    return kind, path


def frame_size(path: Path) -> tuple[int, int] | None:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return None if img is None else img.shape[:2]


def _server_input(path: str, allow_dir: Path | None) -> tuple[str, Path]:
    if allow_dir is None:
        raise InputError("this server reads no server files (start it with --allow-dir DIR)")
    p = uploads.inside(allow_dir / path, allow_dir)
    if p is None or not p.exists():
        raise InputError(f"'{path}' is not a file under the server's --allow-dir")
    if p.is_dir():
        if not any(f.suffix.lower() in IMAGE_EXTS for f in p.iterdir()):
            raise InputError(f"'{path}' is a folder without image frames")
        return "frames", p
    kind, _ = uploads.sniff(p)
    if kind == "zip":
        raise InputError("pick a zip of frames by uploading it; server-side zips are not unpacked")
    return kind, p


def _store_guide(files, folder: Path) -> dict:
    """Uploaded keyframes / hints / exemplar -> the Guidance arguments, every file inside ``folder``."""
    guide: dict = {}
    refs = [f for f in files.getlist("reference") if f.filename]
    if refs:
        d = folder / "guide" / "reference"
        for f in refs:
            name = secure_filename(f.filename)
            if len(_NUMBER.findall(Path(name).stem)) != 1:
                raise InputError(f"keyframe '{f.filename}': its name must hold one number, the frame index "
                                 "(keyframe_000120.png)")
            p = _save(f, d / name)
            if uploads.image_ext(p.read_bytes()[:16]) is None:
                raise InputError(f"keyframe '{f.filename}' is not an image")
        guide["reference"] = [str(d)]
    hints = [f for f in files.getlist("hints") if f.filename]
    if hints:
        d = folder / "guide" / "hints"
        saved = [_save(f, d / secure_filename(f.filename)) for f in hints]
        jsons = [str(p) for p in saved if p.suffix.lower() == ".json"]
        if not jsons:
            raise InputError("hints: upload a hints JSON (and the scribble PNGs it names)")
        guide["hints"] = jsons
    ex = files.get("exemplar")
    if ex is not None and ex.filename:
        p = _save(ex, folder / "guide" / ("exemplar" + Path(secure_filename(ex.filename)).suffix.lower()))
        if uploads.image_ext(p.read_bytes()[:16]) is None:
            raise InputError("the exemplar is not an image")
        guide["exemplar"] = str(p)
    if guide:
        from ..guide.guided import Guidance

        g = Guidance.parse(guide.get("reference", ()), guide.get("hints", ()), guide.get("exemplar"))
        for f in g.files:                      # a hints JSON naming ../other_job/x.png reads nothing
            if uploads.inside(f, folder) is None:
                raise InputError(f"hints: '{Path(f).name}' lies outside this job's uploads")
    return guide


def create_app(data: str | os.PathLike = options.WEB_DATA, allow_dir: str | os.PathLike | None = None,
               max_upload_mb: int = options.WEB_MAX_UPLOAD_MB, device: str = options.DEVICE,
               workers: bool = True) -> Flask:
    """The app, its job store under ``data`` and its workers (``workers=False``: none, tests)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload_mb) << 20
    store = Store(Path(data))
    allow = Path(allow_dir).resolve() if allow_dir else None
    pool = Workers(store, devices(device) if workers else [],
                   lambda job, dev, on_frames: runner.run(job, dev, on_frames, store.folder(job.id)))
    app.extensions["vidcolor"] = {"store": store, "workers": pool, "allow_dir": allow}

    def api_error(status: int, message: str):
        return jsonify({"error": message}), status

    @app.errorhandler(VidcolorError)
    def _user_error(e):
        return api_error(400, str(e))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(e):
        return api_error(413, f"the upload is larger than this server's limit of {max_upload_mb} MB "
                              "(start it with --max-upload MB)")

    @app.errorhandler(HTTPException)
    def _http(e):
        if request.path.startswith("/api/"):
            generic = e.description == type(e).description          # werkzeug's own words: say what
            return api_error(e.code or 500, f"{e.name.lower()}: {request.method} {request.path[:120]}"
                             if generic else e.description)
        return e

    @app.errorhandler(Exception)
    def _internal(e):
        log.exception("request failed")
        return api_error(500, f"internal error: {type(e).__name__}: {e}".splitlines()[0])

    def job_or_404(job_id: str) -> Job:
        job = store.get(job_id)
        if job is None:
            abort(404, description=f"no job '{job_id[:40]}'")
        return job

    @app.get("/")
    def index():
        from ..temporal import registry as temporal

        return render_template("index.html", models=model_choices(), temporals=temporal.kinds(),
                               temporal_default=options.TEMPORAL, strength=options.TEMPORAL_STRENGTH,
                               codecs=options.WEB_CODECS, allow_dir=allow is not None, max_upload_mb=max_upload_mb,
                               image_fps=float(options.IMAGE_FPS))

    @app.get("/jobs/<job_id>")
    def job_page(job_id):
        return render_template("job.html", job=job_or_404(job_id).public())

    @app.get("/api/models")
    def api_models():
        return jsonify(model_choices())

    @app.get("/api/files")
    def api_files():
        if allow is None:
            abort(404, description="this server reads no server files (start it with --allow-dir DIR)")
        found = []
        for root, dirs, files in os.walk(allow):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for f in sorted(files):
                if not f.startswith(".") and len(found) < 5000:
                    found.append(str((Path(root) / f).relative_to(allow)))
        return jsonify(found)

    @app.post("/api/jobs")
    def api_submit():
        job_id = new_id()
        folder = store.folder(job_id)
        folder.mkdir(parents=True)
        try:
            upload = request.files.get("file")
            if upload is not None and upload.filename:
                kind, path = _store_input(upload, folder)
                name = upload.filename
            elif request.form.get("path"):
                kind, path = _server_input(request.form["path"], allow)
                name = path.name
            else:
                raise InputError("no input: upload a file (field 'file') or name one under --allow-dir (field 'path')")
            job = Job(id=job_id, kind=kind, name=Path(name.replace("\\", "/")).name[:200], input=str(path),
                      options=_form_options(request.form, kind), guide=_store_guide(request.files, folder))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        pool.submit(job)
        return jsonify(job.public()), 201

    @app.get("/api/jobs/<job_id>")
    def api_job(job_id):
        return jsonify(job_or_404(job_id).public())

    @app.get("/api/jobs/<job_id>/result")
    def api_result(job_id):
        job = job_or_404(job_id)
        if job.state != "done":
            abort(409, description=f"job {job_id} is {job.state}: no result" + (f" ({job.error})" if job.error else ""))
        path = store.folder(job_id) / job.result
        stem = Path(job.name).stem or "result"
        return send_file(path, as_attachment=True, download_name=f"{stem}_color{path.suffix}")

    @app.get("/api/jobs/<job_id>/files/<path:name>")
    def api_file(job_id, name):
        job = job_or_404(job_id)
        if job.state != "done" or name not in job.files():   # only what the job lists: no traversal
            abort(404, description=f"job {job_id} has no file '{name[:80]}'")
        return send_file(store.folder(job_id) / name, conditional=True)

    @app.delete("/api/jobs/<job_id>")
    def api_delete(job_id):
        job = job_or_404(job_id)
        if job.state in FINISHED:
            store.remove(job)
            return jsonify({"id": job_id, "deleted": True})
        pool.cancel(job)
        return jsonify(job.public()), 202

    return app


def serve(host: str = options.WEB_HOST, port: int = options.WEB_PORT, notify=print, **app_options) -> None:
    """Run the app with waitress until Ctrl-C; running jobs are then cancelled (their partial
    outputs removed) before the process ends."""
    import ipaddress

    from waitress import create_server

    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        notify(f"warning: serving on {host}, reachable from other machines: anyone who can reach it can "
               "upload and run jobs (there is no login); use 127.0.0.1 unless that is what you want")
    app = create_app(**app_options)
    server = create_server(app, host=host, port=port, threads=8)

    def stop(signum, frame):
        raise KeyboardInterrupt

    # kill: like Ctrl-C, running jobs leave no partial file; installed before the line announcing the
    # server, so a SIGTERM sent as soon as that line appears is handled too
    signal.signal(signal.SIGTERM, stop)
    notify(f"web app on http://{'localhost' if loopback else host}:{server.effective_port}/ "
           f"(data in {Path(app_options.get('data', options.WEB_DATA)).resolve()}); Ctrl-C stops it")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        ext = app.extensions["vidcolor"]
        for job in ext["store"].unfinished():
            ext["workers"].cancel(job)
        ext["workers"].stop()
        server.close()
