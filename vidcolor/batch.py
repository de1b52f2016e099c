"""Many films with one command: ``vidcolor colorize IN... -o OUTDIR/``.

Inputs are videos, folders (a folder of images is one film, an image sequence; any other folder
is searched, recursively, for videos), globs, and photos. Each output goes under OUTDIR with the
input's name (and its folder under an input folder), ``--suffix`` added to the stem and ``--ext``
as its extension (default .mp4 for H.264/H.265, .mkv for the archival codecs; photos stay
images). Two inputs that would write the same output are refused before anything starts.

A finished output is skipped (outputs appear only when complete, so existing means finished):
a rerun does only what is left. A film that fails is reported with its one-line reason and the
others go on; the summary counts done / skipped / failed, and the command exits non-zero when
any failed. ``--jobs N`` runs N films at once in separate processes (each with its share of the
CPU threads, or sharing the GPU); ``--ray`` runs them as Ray tasks (:mod:`vidcolor.cluster`),
with long films cut into per-segment tasks (:mod:`vidcolor.segments`). ``--resume`` writes every
film as closed segments, so an interrupted film continues where it stopped.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from . import options
from .errors import InputError, OptionError, VidcolorError
from .media.base import IMAGE_EXTS
from .media.files import discover, glob_files, is_glob, natural_key


@dataclass(frozen=True)
class Item:
    """One film (or photo) of a many-input run and where its output goes."""

    input: Path
    output: Path
    name: str                   # the output's path relative to OUTDIR (messages, summary)


@dataclass
class Outcome:
    """What became of one item: ``state`` is ``done``, ``skipped`` or ``failed``."""

    name: str
    input: str
    output: str
    state: str
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None

    def line(self) -> str:
        if self.state == "done":
            fps = self.frames / self.seconds if self.seconds else 0.0
            return f"done     {self.name}: {self.frames} frames in {self.seconds:.1f} s ({fps:.1f} frames/s)"
        if self.state == "skipped":
            return f"skipped  {self.name}: already finished"
        return f"FAILED   {self.name}: {self.error}"


def _has_images(folder: Path) -> bool:
    return any(f.suffix.lower() in IMAGE_EXTS and f.is_file() and not f.name.startswith(".") for f in folder.iterdir())


def expand(inputs: Iterable[str | os.PathLike]) -> list[tuple[Path, Path, str]]:
    """Inputs -> (input, relative output path without extension, kind) per film, in order.

    kind: ``video``, ``images`` (a folder or glob of images: one film) or ``photo``."""
    out: list[tuple[Path, Path, str]] = []
    for spec in inputs:
        p = Path(spec)
        if is_glob(spec) and not p.exists():
            videos = glob_files(str(spec), options.VIDEO_INPUT_EXTS)
            if videos:
                out += [(v, Path(v.stem), "video") for v in videos]
            elif glob_files(str(spec), IMAGE_EXTS):
                out.append((p, Path(p.parent.name or "frames"), "images"))
            else:
                raise InputError(f"nothing matches {spec}")
        elif p.is_dir():
            if _has_images(p):
                out.append((p, Path(p.resolve().name), "images"))
                continue
            videos = discover(p, options.VIDEO_INPUT_EXTS, recursive=True)
            if not videos:
                raise InputError(f"{p} holds no videos ({', '.join(options.VIDEO_INPUT_EXTS[:5])}, ...) "
                                 "and no images")
            out += [(v, v.relative_to(p).with_suffix(""), "video") for v in videos]
        elif not p.exists():
            raise InputError(f"input not found: {p}")
        else:
            out.append((p, Path(p.stem), "photo" if p.suffix.lower() in IMAGE_EXTS else "video"))
    return out


def is_many(inputs: Sequence[str], suffix: str | None = None, ext: str | None = None) -> bool:
    """Whether ``colorize INPUTS -o OUTPUT`` is a many-input run (OUTPUT a folder of outputs):
    more than one input, a folder of videos or a glob of videos, or ``--suffix``/``--ext`` given.
    One plain input keeps its single-output meaning (OUTPUT a file, image folder or pattern)."""
    if len(inputs) > 1 or suffix is not None or ext is not None:
        return True
    spec = inputs[0]
    p = Path(spec)
    if p.is_dir():
        return not _has_images(p)
    return is_glob(spec) and not p.exists() and bool(glob_files(str(spec), options.VIDEO_INPUT_EXTS))


def default_ext(codec: str) -> str:
    return ".mp4" if codec in ("libx264", "h264", "libx265") else ".mkv"


def plan(inputs: Sequence[str], outdir: str | os.PathLike, suffix: str | None = None, ext: str | None = None,
         codec: str = options.CODEC) -> list[Item]:
    """The items of a many-input run (InputError / OptionError before anything runs)."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise OptionError(f"-o {outdir}: with several inputs the output is a folder, and {outdir} is a file")
    if ext is not None:
        ext = ext if ext.startswith(".") else "." + ext
        from .media import VIDEO_EXTS

        if ext.lower() not in VIDEO_EXTS | IMAGE_EXTS:
            raise OptionError(f"--ext {ext}: use a video container (.mp4, .mkv, .mov, .webm) or an image type")
    video_ext = ext if ext is not None and ext.lower() not in IMAGE_EXTS else default_ext(codec)
    items, seen = [], {}
    for inp, rel, kind in expand(inputs):
        e = (ext if ext and ext.lower() in IMAGE_EXTS else inp.suffix) if kind == "photo" else video_ext
        name = rel.with_name(rel.name + (suffix or options.BATCH_SUFFIX) + e)
        out = outdir / name
        key = str(out.resolve())
        if key in seen:
            raise OptionError(f"{seen[key]} and {inp} would both be written to {out}; "
                              "colorize them in separate runs or rename one")
        if out.resolve() == inp.resolve():
            raise OptionError(f"{inp} would be overwritten by its own output; choose another -o folder or a --suffix")
        seen[key] = inp
        items.append(Item(inp, out, name.as_posix()))
    return sorted(items, key=lambda i: natural_key(i.name)) if len(inputs) == 1 else items


# --- one film -----------------------------------------------------------------------

_MODELS: dict = {}


def _model(opts):
    """The loaded model of ``opts``, kept for the next film of this process (one at a time)."""
    from .models import load_model
    from .pipeline import resolve_device

    key = (opts.model, opts.weights, opts.device)
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = load_model(opts.model, weights=opts.weights, device=resolve_device(opts.device))
    return _MODELS[key]


def finished(item: Item, overwrite: bool) -> bool:
    """An output that exists is finished (outputs appear only when complete); a work folder left
    beside it by a run killed after its join is removed."""
    from .media.files import remove
    from .segments import work_dir

    if overwrite or not item.output.exists():
        return False
    remove(work_dir(item.output))
    return True


def colorize_one(item: Item, opts, resume: bool = False, seconds: float = options.SEGMENT_SECONDS,
                 overwrite: bool = False, quiet: bool = True, notify=None) -> Outcome:
    """Colorize one item (skipped when finished) -> its :class:`Outcome`; a VidcolorError (and,
    reported as a bug, any other Exception) becomes a failed outcome, Ctrl-C is raised."""
    base = dict(name=item.name, input=str(item.input), output=str(item.output))
    if finished(item, overwrite):
        return Outcome(state="skipped", **base)
    try:
        t0 = time.perf_counter()
        if resume and item.output.suffix.lower() not in IMAGE_EXTS:
            from .segments import colorize_segmented

            engine = opts.engine(_model(opts), notify=notify)
            res = colorize_segmented(item.input, item.output, opts, seconds=seconds, overwrite=overwrite,
                                     quiet=quiet, notify=notify, engine=engine)
        else:
            from .pipeline import colorize_video

            kw = opts.kwargs()
            kw["model"] = _model(opts)
            kw.pop("weights")
            res = colorize_video(item.input, item.output, overwrite=overwrite, quiet=quiet, notify=notify, **kw)
        return Outcome(state="done", frames=res.frames, seconds=time.perf_counter() - t0, **base)
    except VidcolorError as e:
        return Outcome(state="failed", error=str(e), **base)
    except Exception as e:  # noqa: BLE001 - one film's bug must not stop the others
        msg = " ".join(str(e).split())[:300]
        return Outcome(state="failed", error=f"unexpected {type(e).__name__}: {msg} (a bug: please report it)", **base)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def colorize_many(items: Sequence[Item], opts, jobs: int = 1, resume: bool = False,
                  seconds: float = options.SEGMENT_SECONDS, overwrite: bool = False, quiet: bool = False,
                  notify=None, on_outcome: Callable[[Outcome], None] | None = None,
                  ray: str | None = None) -> list[Outcome]:
    """Colorize every item -> their outcomes, in item order. ``jobs`` > 1: that many films at once
    in worker processes; ``ray``: a Ray address (see :func:`vidcolor.cluster.check_address`;
    :data:`vidcolor.cluster.DEFAULT_ADDRESS` for Ray's default) to run them on a cluster."""
    opts = opts.check()
    jobs = options.check_int("--jobs", jobs, 1)
    if ray is not None:
        from .cluster import check_address

        if jobs != 1:
            raise OptionError("--jobs is for one machine; with --ray every CPU (or GPU) of the cluster runs a task")
        check_address(ray)
        return colorize_on_ray(items, opts, ray, resume=resume, seconds=seconds, overwrite=overwrite, quiet=quiet,
                               notify=notify, on_outcome=on_outcome)
    report = on_outcome or (lambda o: None)
    outcomes: list[Outcome | None] = [None] * len(items)
    todo = []
    for i, it in enumerate(items):
        if finished(it, overwrite):
            outcomes[i] = Outcome(it.name, str(it.input), str(it.output), "skipped")
            report(outcomes[i])
        else:
            todo.append(i)
    jobs = min(jobs, len(todo)) or 1
    if jobs == 1:
        for i in todo:
            if notify and not quiet:
                notify(f"{items[i].name} ({todo.index(i) + 1}/{len(todo)})")
            outcomes[i] = colorize_one(items[i], opts, resume, seconds, overwrite, quiet=quiet, notify=notify)
            report(outcomes[i])
        return outcomes
    import concurrent.futures as cf
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // jobs)
    with cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                initargs=(threads,)) as pool:
        futures = {pool.submit(colorize_one, items[i], opts, resume, seconds, overwrite, True, None): i for i in todo}
        try:
            for fut in cf.as_completed(futures):
                i = futures[fut]
                try:
                    outcomes[i] = fut.result()
                except Exception as e:  # noqa: BLE001 - a worker process that died
                    outcomes[i] = Outcome(items[i].name, str(items[i].input), str(items[i].output), "failed",
                                          error=f"its worker process stopped ({type(e).__name__}: {e})")
                report(outcomes[i])
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return outcomes


# --- on Ray -----------------------------------------------------------------------------

def _film_task(item: Item, opts, overwrite: bool) -> Outcome:
    """A Ray task: one whole film (its worker uses the threads Ray gave the task)."""
    from .cluster import local_threads

    import torch

    torch.set_num_threads(local_threads())
    return colorize_one(item, opts, False, options.SEGMENT_SECONDS, overwrite, quiet=True)


def _segment_task(item: Item, plan_json: dict, k: int, opts, on_batch=None) -> dict:
    """A Ray task: segment ``k`` of a film, into the film's work folder (a shared file system)."""
    import torch

    from .cluster import local_threads
    from .segments import Plan, Work, run_segment

    torch.set_num_threads(local_threads())
    pj = dict(plan_json)
    pj["time_base"] = tuple(pj["time_base"])
    work = Work(item.output, Plan(**pj))
    engine = opts.engine(_model(opts), notify=lambda m: None)
    return run_segment(item.input, work, k, engine, opts, on_frames=on_batch)


def colorize_on_ray(items: Sequence[Item], opts, address: str | None, resume: bool = False,
                    seconds: float = options.SEGMENT_SECONDS, overwrite: bool = False, quiet: bool = False,
                    notify=None, on_outcome=None, num_cpus: float = 1, segment_hook=None) -> list[Outcome]:
    """:func:`colorize_many` on Ray: one task per film; a film longer than one segment (or every
    film with ``resume``) as one task per segment, which the driver joins when all are done.
    ``segment_hook``: an ``on_batch`` callback run inside segment tasks (fault-injection tests)."""
    from tqdm import tqdm

    from . import cluster, segments

    report = on_outcome or (lambda o: None)
    outcomes: list[Outcome | None] = [None] * len(items)
    with cluster.session(address) as ray:
        gpus = cluster.gpus_per_task(ray)
        tasks: list[tuple] = []          # (callable, args, item index, segment or None)
        films: dict[int, dict] = {}      # item index -> {work, left, has_audio, t0, frames}
        for i, it in enumerate(items):
            base = (it.name, str(it.input), str(it.output))
            if finished(it, overwrite):
                outcomes[i] = Outcome(*base, "skipped")
                report(outcomes[i])
                continue
            try:
                cut = resume or _longer_than(it, opts, seconds)
                if not cut:
                    tasks.append((_film_task, (it, opts, overwrite), i, None))
                    continue
                work, done, has_audio, _ = segments.prepare(it.input, it.output, opts, seconds, overwrite)
            except VidcolorError as e:
                outcomes[i] = Outcome(*base, "failed", error=str(e))
                report(outcomes[i])
                continue
            left = [k for k in range(work.plan.segments) if k not in done]
            films[i] = dict(work=work, left=set(left), has_audio=has_audio, t0=time.perf_counter(),
                            frames=sum(work.complete(k)["frames"] for k in done), error=None)
            pj = work.plan.to_json()
            tasks += [(_segment_task, (it, pj, k, opts, segment_hook), i, k) for k in left]
        for i, f in films.items():
            if not f["left"]:
                _finish_film(i, f, items, outcomes, report, notify)
        bar = tqdm(total=len(tasks), unit="task", file=sys.stderr, dynamic_ncols=True,
                   disable=quiet or not sys.stderr.isatty(), desc="colorize on ray")
        try:
            results = cluster.map_tasks(_dispatch, [(t[0], *t[1]) for t in tasks], num_cpus=num_cpus, num_gpus=gpus)
            for j, res, err in results:
                bar.update(1)
                _, _, i, k = tasks[j]
                it = items[i]
                if k is None:
                    outcomes[i] = res if err is None else Outcome(it.name, str(it.input), str(it.output), "failed",
                                                                  error=str(err))
                    report(outcomes[i])
                    continue
                f = films[i]
                f["left"].discard(k)
                if err is not None:
                    f["error"] = f["error"] or f"segment {k}: {err}"
                else:
                    f["frames"] += res["frames"]
                if not f["left"]:
                    _finish_film(i, f, items, outcomes, report, notify)
        finally:
            bar.close()
    return outcomes


def _dispatch(fn, *args):
    """The one function :func:`colorize_on_ray` sends: runs a film task or a segment task."""
    return fn(*args)


def _longer_than(item: Item, opts, seconds: float) -> bool:
    """Whether a film spans more than one segment (photos and image outputs never do)."""
    from .media import open_source, sink_kind

    if item.output.suffix.lower() in IMAGE_EXTS:
        return False
    s = open_source(item.input, fps=opts.fps)
    try:
        if sink_kind(item.output, s) != "video" or not s.frame_count:
            return False
        return s.frame_count / float(s.fps) > seconds
    finally:
        s.close()


def _finish_film(i: int, f: dict, items, outcomes, report, notify) -> None:
    """All of a segmented film's tasks ended: join it (on the driver), or report its failure (the
    work folder stays, so a rerun resumes from the segments that did complete)."""
    from .segments import join

    it = items[i]
    base = (it.name, str(it.input), str(it.output))
    if f["error"] is None:
        try:
            join(f["work"], it.input, f["has_audio"], notify=notify)
        except VidcolorError as e:
            f["error"] = str(e)
    if f["error"] is None:
        outcomes[i] = Outcome(*base, "done", frames=f["frames"], seconds=time.perf_counter() - f["t0"])
    else:
        outcomes[i] = Outcome(*base, "failed", error=f["error"])
    report(outcomes[i])


def summary(outcomes: Sequence[Outcome]) -> str:
    """``N done, N skipped, N failed`` (and the frames and time of the done ones)."""
    n = {s: sum(o.state == s for o in outcomes) for s in ("done", "skipped", "failed")}
    frames = sum(o.frames for o in outcomes if o.state == "done")
    return f"{n['done']} done, {n['skipped']} skipped, {n['failed']} failed ({frames} frames colorized)"
