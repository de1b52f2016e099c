"""The ``vidcolor`` command line: click commands only (parse, call the library, print).

Every error a user can cause is a VidcolorError: printed as one line on stderr,
exit code 1, no traceback. Ctrl-C prints one line and exits 130; no output file
is left behind under its final name.
"""

from __future__ import annotations


import click

from . import temporal as _temporal
from .errors import VidcolorError


class _Group(click.Group):
    """A click group that turns user errors and Ctrl-C into one line and an exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except VidcolorError as e:
            click.echo(f"vidcolor: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("vidcolor: interrupted; nothing was written under the output name", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vidcolor")
def main() -> None:
    """Colorize black-and-white video, image sequences and photos.

    \b
    Quick start:
      vidcolor colorize samples/bw_pan.mp4 -o colored.mp4
      vidcolor weights list
    Run `vidcolor COMMAND --help` for each command's options.
    """


def _notify(msg: str) -> None:
    click.echo(f"vidcolor: {msg}", err=True)


def colorize_options(f):
    """Options shared by every command that runs the colorization pipeline."""
    from .defaults import DEFAULT_MODEL

    opts = [
        click.option("--model", "model", default=DEFAULT_MODEL, show_default=True,
                     help="Colorizer (see `vidcolor weights list`)."),
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Load this local checkpoint instead of the model's catalogue weights."),
        click.option("--batch-size", type=int, default=8, show_default=True, help="Frames per model call."),
        click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda (cuda:N)."),
        click.option("--size", type=int, default=256, show_default=True,
                     help="Side of the square the model sees; ab is upsampled to full size."),
        click.option("--precision", type=click.Choice(["auto", "fp32", "fp16", "bf16"]), default="auto",
                     show_default=True,
                     help="Model arithmetic: auto = bf16 (fp16 on older GPUs) on a GPU, fp32 on the CPU. "
                          "Color conversions are always fp32."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@main.command()
@click.argument("input", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Video file (.mp4 .mkv .mov ...), image folder, pattern like out/f_%05d.png, or one image.")
@colorize_options
@click.option("--crf", type=int, default=18, show_default=True, help="Quality for x264/x265/VP9 (lower = better).")
@click.option("--preset", default="medium", show_default=True, help="x264/x265 speed preset (ultrafast..veryslow).")
@click.option("--codec", default="libx264", show_default=True,
              help="libx264 (H.264, yuv420p) | libx265 | ffv1 (lossless, archival) | prores_ks | libvpx-vp9.")
@click.option("--fps", type=float, default=None, help="Frame rate for image-sequence inputs (default 24).")
@click.option("--temporal", default=_temporal.DEFAULT_TEMPORAL, show_default=True,
              help="Smoothing of colors over time: flow (optical-flow guided, no ghosting) | ema | none.")
@click.option("--temporal-strength", type=float, default=_temporal.DEFAULT_STRENGTH, show_default=True,
              help="0..1 (exclusive), how much of the previous frame's color is kept.")
@click.option("--scene-threshold", type=float, default=None,
              help="Scene-cut threshold (mean |dL| in L units, default 14); a cut resets the smoothing.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def colorize(input, output, model, weights, batch_size, device, size, precision, crf, preset, codec, fps,
             temporal, temporal_strength, scene_threshold, overwrite, quiet):
    """Colorize INPUT (video, image folder/glob, or photo) into OUTPUT.

    Audio streams are copied untouched, frame timestamps and rate are kept; the
    output's luminance is the input's, only the color (Lab ab) is predicted.
    """
    from .pipeline import colorize_video

    res = colorize_video(input, output, model=model, weights=weights, batch_size=batch_size, device=device,
                         size=size, precision=precision, crf=crf, preset=preset, codec=codec, fps=fps,
                         overwrite=overwrite, quiet=quiet, temporal=temporal, temporal_strength=temporal_strength,
                         scene_threshold=scene_threshold, notify=_notify)
    if not quiet:
        click.echo(f"{res.output}: {res.frames} frames in {res.seconds:.1f} s ({res.fps:.1f} frames/s)", err=True)


# --- weights ------------------------------------------------------------------

@main.group()
def weights():
    """List and download model checkpoints."""


@weights.command("list")
def weights_list():
    """Models, their checkpoint, where it is cached and whether it is present."""
    from . import weights as W
    from .models import available

    for info in available():
        if info.weights is None:
            click.echo(f"{info.name:12s} (no default weights)  {info.description}")
            continue
        spec = W.get_spec(info.weights)
        found = W.find(spec)
        state = f"present  {found}" if found else f"missing  {W.cached_path(spec)}"
        where = "shipped" if spec.url is None else f"{(spec.size or 0) / 1e6:.0f} MB"
        click.echo(f"{info.name:12s} {state}  [{where}, {spec.license}]")
        click.echo(f"{'':12s} {info.description}")


@weights.command("download")
@click.argument("name")
@click.option("--url", default=None, help="Fetch from this mirror instead of the catalogue URL.")
@click.option("-q", "--quiet", is_flag=True)
def weights_download(name, url, quiet):
    """Download catalogue weights NAME into the cache, checking size and sha256."""
    from . import weights as W

    path = W.download(name, url=url, progress=not quiet)
    click.echo(f"{name}: saved {path}")




# --- train (compact model, fine-tuning) ------------------------------------------

@main.command()
@click.argument("data", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Checkpoint to write (atomically, at every epoch end); with --resume, the one to continue.")
@click.option("--model", default="compact", show_default=True, help="compact, or eccv16 with --init.")
@click.option("--init", type=click.Path(dir_okay=False), default=None, help="Start from these weights (fine-tuning).")
@click.option("--steps", type=click.IntRange(1), default=None, help="Total optimizer steps.")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Total epochs (default 10 when --steps is not given).")
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True)
@click.option("--size", type=int, default=128, show_default=True, help="Side of the random training crops (multiple of 16).")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Peak learning rate (warm-up, then cosine).")
@click.option("--val-split", type=float, default=0.05, show_default=True, help="Share of the files held out for validation.")
@click.option("--loss", type=click.Choice(["class", "l1"]), default="class", show_default=True,
              help="class: rebalanced classification over ab bins (Zhang et al. 2016); l1: regression.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda (cuda:N).")
@click.option("--checkpoint-every", type=click.IntRange(0), default=0, show_default=True,
              help="Also checkpoint every N steps (0: at epoch ends only).")
@click.option("--resume", is_flag=True,
              help="Continue the run saved in --output with its own settings (--steps, if given, sets a new total).")
@click.option("--export", "export", type=click.Path(dir_okay=False), default=None,
              help="At the end, also write the bare model weights here (for --weights / weights/).")
def train(data, output, model, init, steps, epochs, batch_size, size, lr, val_split, loss, seed, device,
          checkpoint_every, resume, export):
    """Train or fine-tune a colorizer on DATA: folders of color images, videos, or
    manifests (.jsonl) written by `vidcolor frames extract`."""
    from .train import TrainConfig, export_weights
    from .train import train as run

    cfg = TrainConfig(data=list(data), output=output, model=model, init=init, steps=steps, epochs=epochs,
                      batch_size=batch_size, size=size, lr=lr, val_split=val_split, loss=loss, seed=seed,
                      device=device, checkpoint_every=checkpoint_every)
    ckpt = run(cfg, resume=resume, steps=steps)
    last = ckpt["meta"]["history"][-1] if ckpt["meta"]["history"] else {}
    click.echo(f"{output}: step {ckpt['step']}" + "".join(f", {k} {last[k]:.4g}" for k in ("loss", "auc", "auc_gray",
                                                                                          "psnr", "psnr_gray", "colorfulness") if k in last))
    if export:
        click.echo(f"weights: {export_weights(output, export)}")


# --- metrics and eval (frame-level metrics, evaluation protocol) -----------------

_METRICS_HELP = ("Comma-separated: psnr, ssim, lpips, deltae2000, colorfulness, auc, warp_error, cdc, or all "
                 "(default; lpips skipped with a warning when its backbone weights are not cached).")


@main.command("metrics")
@click.argument("reference", type=click.Path())
@click.argument("candidate", type=click.Path())
@click.option("--metrics", "metric_list", default=None, help=_METRICS_HELP)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Write per-frame values, summary and settings as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None, help="Write one CSV line per frame.")
@click.option("--resize", is_flag=True, help="Resize candidate frames to the reference size instead of failing.")
@click.option("--lpips-net", type=click.Choice(["alex", "vgg", "squeeze"]), default="alex", show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda (cuda:N).")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Frames scored per batch.")
def metrics_cmd(reference, candidate, metric_list, json_path, csv_path, resize, lpips_net, device, batch_size):
    """Score CANDIDATE against REFERENCE frame by frame (videos, image folders or photos).

    PSNR, SSIM (Gaussian sigma 1.5, population covariance), LPIPS, mean CIEDE2000,
    colorfulness, ab AuC, and the temporal warp error (OpenCV DIS flow on the
    reference) and CDC. Prints mean and median; --json/--csv hold every frame.
    """
    from .metrics import report

    for p in (json_path, csv_path):
        if p:
            report.check_report_path(p, [reference, candidate])
    if batch_size < 1:
        raise click.BadParameter("must be at least 1", param_hint="--batch-size")
    rep = report.compare(reference, candidate, metrics=metric_list, resize=resize, device=device,
                         lpips_net=lpips_net, batch_size=batch_size, warn=_notify)
    click.echo(f"{len(rep['frames'])} frames: {candidate} vs {reference}")
    for line in report.format_summary(rep["summary"]):
        click.echo(line)
    if json_path:
        report.write_json(rep, json_path)
    if csv_path:
        report.write_csv(rep["frames"], csv_path)


@main.command("eval")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--model", "models", multiple=True, required=True, help="Colorizer to evaluate (repeat for several).")
@click.option("--weights", "weights_files", multiple=True, type=click.Path(dir_okay=False),
              help="Local checkpoint, one per --model in the same order (default: catalogue weights).")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Frames per model call.")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda (cuda:N).")
@click.option("--size", type=int, default=256, show_default=True, help="Side of the square the model sees.")
@click.option("--temporal", default="none", show_default=True, help="Temporal smoothing: none | ema | flow.")
@click.option("--temporal-strength", type=float, default=None, help="0..1, how strongly colors are smoothed.")
@click.option("--metrics", "metric_list", default=None, help=_METRICS_HELP)
@click.option("--lpips-net", type=click.Choice(["alex", "vgg", "squeeze"]), default="alex", show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write summaries as JSON.")
@click.option("--markdown", "md_path", type=click.Path(dir_okay=False), default=None, help="Write a Markdown table.")
@click.option("--contact-sheet", type=click.Path(dir_okay=False), default=None,
              help="PNG with gray | each model | original for a few frames of the first input.")
@click.option("--sheet-frames", type=int, default=4, show_default=True, help="Frames on the contact sheet.")
def eval_cmd(inputs, models, weights_files, batch_size, device, size, temporal, temporal_strength, metric_list,
             lpips_net, json_path, md_path, contact_sheet, sheet_frames):
    """Evaluate colorizers on color INPUTS (videos, image folders): gray in, originals as ground truth.

    Each input is converted to gray (L kept, ab = 0), colorized by every --model
    through the same engine as `colorize`, and scored against the original. Prints
    one row per model plus `gray` (the input itself: the baseline to beat).
    """
    import time

    from .evaluate import evaluate, format_markdown, format_table
    from .metrics import report

    for p in (json_path, md_path):
        if p:
            report.check_report_path(p, inputs)
    t0 = time.perf_counter()
    res = evaluate(list(inputs), list(models), list(weights_files), metrics=metric_list, batch_size=batch_size,
                   device=device, size=size, temporal=temporal, temporal_strength=temporal_strength,
                   lpips_net=lpips_net, contact_sheet=contact_sheet, sheet_frames=sheet_frames, warn=_notify)
    click.echo(format_table(res))
    if json_path:
        report.write_json(res, json_path)
    if md_path:
        report.write_text(format_markdown(res), md_path)
    click.echo(f"vidcolor: {res['settings']['frames']} frames x {len(models)} model(s) in "
               f"{time.perf_counter() - t0:.1f} s", err=True)


# --- bench (benchmark harness) ------------------------------------------------------

@main.command("bench")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--model", "models", multiple=True, help="Model to time (repeat for several). Default: the default model.")
@click.option("--batch-size", "batch_sizes", type=int, multiple=True, help="Batch size (repeat for several). Default 8.")
@click.option("--size", type=int, default=256, show_default=True, help="Model input side.")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda.")
@click.option("--temporal", "temporals", multiple=True, help="none | ema | flow (repeat for several). Default none.")
@click.option("--repeats", type=int, default=3, show_default=True, help="Timed runs per configuration (median and spread).")
@click.option("--random-weights", is_flag=True, help="Random model weights: speed does not depend on them.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None, help="Checkpoint for the model(s).")
@click.option("--no-baseline", is_flag=True, help="Skip the decode+encode-only (transcode) baseline.")
@click.option("--quality/--no-quality", default=None,
              help="Add the `vidcolor eval` quality summary (default: only for color inputs).")
@click.option("--precision", "precisions", type=click.Choice(["auto", "fp32", "fp16", "bf16"]), multiple=True,
              help="Model arithmetic (repeat for several). Default auto: bf16 on a GPU, fp32 on the CPU.")
@click.option("--channels-last", "channels_last", is_flag=True,
              help="Also time each configuration with the model in channels_last (NHWC) memory layout.")
@click.option("--compile", "compile_", is_flag=True,
              help="Also time each configuration with the model compiled by torch.compile (slow to start).")
@click.option("--stage-timing/--no-stage-timing", default=True, show_default=True,
              help="GPU: synchronize after each stage to time it exactly; off measures pure throughput.")
@click.option("--model-only/--no-model-only", default=True, show_default=True,
              help="Also report frames/s of the model alone at --size (no decode, conversion or encode).")
@click.option("--crf", type=int, default=18, show_default=True)
@click.option("--preset", default="medium", show_default=True)
@click.option("--codec", default="libx264", show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the full report as JSON.")
@click.option("--markdown", "md_path", type=click.Path(dir_okay=False), help="Write the table as Markdown.")
@click.option("-q", "--quiet", is_flag=True)
def bench_cmd(inputs, models, batch_sizes, size, device, temporals, repeats, random_weights, weights, no_baseline,
              quality, precisions, channels_last, compile_, stage_timing, model_only, crf, preset, codec, json_path,
              md_path, quiet):
    """Time every pipeline stage per frame for each model / batch size / temporal setting.

    Reports decode, prepare (color conversion), model, temporal, compose and
    encode in ms/frame and as a share, end-to-end frames/s (median and min-max
    over --repeats runs after a warm-up batch), peak RSS and peak GPU memory,
    and the ratio to decode+encode alone (the limit) measured in the same run.
    "bound by" names the busiest of the three pipeline threads (decode, engine,
    encode): what to make faster first. Configurations are every combination
    of --model, --batch-size, --temporal, --precision, --channels-last and --compile.

    \b
    Example (GPU):
      vidcolor bench film_1080p.mp4 --model eccv16 --model compact \\
        --precision fp32 --precision bf16 --batch-size 8 --batch-size 32 --channels-last
    """
    import json
    from pathlib import Path

    from .bench import benchmark, to_markdown
    from .errors import OptionError
    from .defaults import DEFAULT_MODEL

    if repeats < 1:
        raise OptionError("--repeats must be at least 1")
    report = benchmark(list(inputs), list(models) or [DEFAULT_MODEL], list(batch_sizes) or [8], size=size,
                       device=device, temporal=list(temporals) or ["none"], repeats=repeats,
                       random_weights=random_weights, weights=weights, baseline=not no_baseline, codec=codec,
                       crf=crf, preset=preset, quality=quality, progress=None if quiet else _notify,
                       precisions=list(precisions) or ["auto"], channels_last=[False, True] if channels_last else [False],
                       compile=[False, True] if compile_ else [False], stage_timing=stage_timing,
                       model_only=model_only)
    md = to_markdown(report)
    click.echo(md)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2))
    if md_path:
        Path(md_path).write_text(md)


# --- frames: training-data extraction and dedup (issue 5) ------------------------------

@main.group()
def frames():
    """Extract distinct frames from videos as training data; find near-duplicate images."""


@frames.command("extract")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Folder for <source>/<index>.png frames and manifest.jsonl (re-runs resume).")
@click.option("--method", type=click.Choice(["mpdecimate", "hash", "ssim"]), default="mpdecimate", show_default=True,
              help="How a frame is judged a duplicate of the last kept frame.")
@click.option("--hi", type=int, default=768, show_default=True, help="mpdecimate: 8x8 block SAD above which a frame differs.")
@click.option("--lo", type=int, default=320, show_default=True, help="mpdecimate: block SAD counted as changed.")
@click.option("--frac", type=float, default=0.33, show_default=True,
              help="mpdecimate: a plane differs if more than frac*(w/16)*(h/16) blocks exceed --lo.")
@click.option("--max", "max_", type=int, default=0, show_default=True,
              help="mpdecimate: >0 at most this many drops in a row; <0 dropped frames at least |max| apart.")
@click.option("--hash", "hash_", type=click.Choice(["phash", "dhash"]), default="phash", show_default=True,
              help="Hash for --method hash and for the manifest.")
@click.option("--threshold", type=float, default=None,
              help="hash: Hamming bits counted as duplicate (default phash 8, dhash 6); ssim: SSIM (default 0.95).")
@click.option("--min-gap", type=float, default=0.0, show_default=True, help="Seconds between two kept frames.")
@click.option("--per-scene", type=int, default=0, show_default=True, help="At most N kept frames per scene (0: no limit).")
@click.option("--format", "fmt", type=click.Choice(["png", "jpg"]), default="png", show_default=True)
@click.option("--quality", type=int, default=95, show_default=True, help="JPEG quality.")
@click.option("--pairs", is_flag=True, help="Also write <index>_gray.png: CIE L* scaled to 0..255 (the colorizer's input).")
@click.option("--csv", "csv_", is_flag=True, help="Also write manifest.csv.")
@click.option("--fps", type=float, default=None, help="Frame rate assumed for image sequences (default 24).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def frames_extract(inputs, output, method, hi, lo, frac, max_, hash_, threshold, min_gap, per_scene, fmt, quality,
                   pairs, csv_, fps, quiet):
    """Keep the distinct frames of INPUTS (videos, image folders, folders of videos).

    Sources already complete in OUTPUT are skipped; an interrupted one is redone.
    """
    from .frames import ExtractOptions, extract

    opts = ExtractOptions(method=method, hi=hi, lo=lo, frac=frac, max=max_, hash=hash_, threshold=threshold,
                          min_gap=min_gap, per_scene=per_scene, format=fmt, quality=quality, pairs=pairs)
    res = extract(list(inputs), output, opts, csv=csv_, quiet=quiet, fps=fps)
    if not quiet:
        for s in res.sources:
            state = "already complete" if s.skipped else f"{s.kept}/{s.decoded} frames kept"
            click.echo(f"{s.key}: {state}", err=True)
        click.echo(f"{res.manifest}: {res.kept} frames from {len(res.sources)} source(s)", err=True)


@frames.command("dedup")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--hash", "hash_", type=click.Choice(["phash", "dhash"]), default="phash", show_default=True)
@click.option("--threshold", type=int, default=None, help="Hamming bits of 64 (default phash 8, dhash 6).")
@click.option("--keep", type=click.Choice(["first", "largest", "sharpest"]), default="first", show_default=True,
              help="Which image of a group is kept: first in name order, most pixels, or sharpest.")
@click.option("--dry-run", is_flag=True, help="Only report (the default).")
@click.option("--move-to", type=click.Path(file_okay=False), default=None, help="Move duplicates here (same relative paths).")
@click.option("--delete", is_flag=True, help="Delete duplicates.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the groups as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary line.")
def frames_dedup(folder, hash_, threshold, keep, dry_run, move_to, delete, json_path, quiet):
    """Find near-duplicate images under FOLDER (recursive) and report, move or delete them."""
    from .errors import OptionError
    from .frames import dedup

    if sum([dry_run, move_to is not None, delete]) > 1:
        raise OptionError("choose one of --dry-run, --move-to and --delete")
    rep = dedup(folder, hash=hash_, threshold=threshold, keep=keep, move_to=move_to, delete=delete,
                json_path=json_path, quiet=quiet)
    if not quiet:
        for g in rep.groups:
            click.echo(f"keep {g['kept']}  ({g['reason']})")
            for d in g["duplicates"]:
                click.echo(f"  {'drop' if rep.action == 'dry-run' else rep.action} {d['file']}  ({d['distance']} bits)")
        for f in rep.unreadable:
            click.echo(f"unreadable: {f}", err=True)
    verb = {"dry-run": "would remove", "move": "moved", "delete": "deleted"}[rep.action]
    click.echo(f"{rep.images} images, {len(rep.groups)} groups of near-duplicates; {verb} {rep.duplicates}", err=True)
