"""The ``vidcolor`` command line: click commands only (parse, call the library, print).

Defaults and choices come from :mod:`vidcolor.options` (and the registries of models,
smoothers and metrics); values are checked by the library, which raises OptionError.
Every error is printed as one line on stderr with exit code 1 and no traceback (set
``VIDCOLOR_DEBUG=1`` to see one for an unexpected error). Ctrl-C prints one line and
exits 130; no output file is left behind under its final name.
"""

from __future__ import annotations

import os

import click

from . import options as O
from . import temporal as _temporal
from .errors import VidcolorError


class _Group(click.Group):
    """A click group that turns every error and Ctrl-C into one line and an exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except VidcolorError as e:
            click.echo(f"vidcolor: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("vidcolor: interrupted; nothing was written under the output name", err=True)
            ctx.exit(130)
        except Exception as e:  # noqa: BLE001 - a bug must still end with one line, not a traceback
            if os.environ.get("VIDCOLOR_DEBUG"):
                raise
            msg = " ".join(str(e).split())[:300]
            click.echo(f"vidcolor: error: unexpected {type(e).__name__}: {msg} (a bug: please report it, "
                       "with the output of the same command run with VIDCOLOR_DEBUG=1)", err=True)
            ctx.exit(1)


class _LazyHelp(click.Option):
    """An option whose help text comes from a registry, built only when help is shown
    (the metrics registry imports torch)."""

    def __init__(self, *args, help_from=None, **kw):
        self._help_from = help_from
        super().__init__(*args, **kw)

    def get_help_record(self, ctx):
        if self._help_from is not None and self.help is None:
            self.help = self._help_from()
        return super().get_help_record(ctx)


def _metrics_help() -> str:
    from .metrics import registry

    return registry.help_text()


def _report_paths(paths, inputs, html=None) -> None:
    """Check report outputs before a long run (they may replace older reports, never an input);
    ``html``: the --report path, which also needs matplotlib."""
    from .media.files import check_output

    if html:
        from .metrics.html import require_matplotlib

        require_matplotlib()
    for p in [*paths, html]:
        if p:
            check_output(p, inputs, report=True)


_RAY_WHERE = ("Alone: Ray's default (RAY_ADDRESS, else a cluster started here with `ray start --head`, else a new "
              "local one); or --ray=HOST:PORT, --ray=ray://HOST:10001, --ray=local. Every node needs vidcolor and the "
              "same paths (shared storage).")


def ray_option(what: str):
    """``--ray [ADDRESS]``: a flag that may take a value (``--ray=ADDRESS``)."""
    return click.option("--ray", "ray", is_flag=False, flag_value="default", default=None, metavar="[ADDRESS]",
                        help=f'{what} (pip install "vidcolor[cluster]"). {_RAY_WHERE}')


def _ray_inputs(ray, inputs, name: str):
    """``--ray VALUE`` may have taken the first input (click cannot tell): give it back; then
    require at least one input (click's own ``required`` would fail before this)."""
    if ray is not None:
        from .cluster import split_address

        ray, inputs = split_address(ray, inputs)
    if not inputs:
        raise click.UsageError(f"Missing argument '{name}...'.")
    return ray, inputs


_REPORT_HELP = "Write a self-contained HTML report (plots, worst frames, contact sheet) here; needs matplotlib."


_SIZE_HELP = "Side of the square the model sees (multiple of 8); default: the model's own input size."
_DEVICE_HELP = "auto | cpu | cuda (cuda:N)."


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vidcolor")
def main() -> None:
    """Colorize black-and-white video, image sequences and photos.

    \b
    Quick start:
      vidcolor colorize samples/bw_pan.mp4 -o colored.mp4
      vidcolor weights list
      vidcolor serve            # the same in a browser (pip install "vidcolor[web]")
    Run `vidcolor COMMAND --help` for each command's options.
    """


def _notify(msg: str) -> None:
    click.echo(f"vidcolor: {msg}", err=True)


def colorize_options(f):
    """Options shared by every command that runs the colorization pipeline."""
    opts = [
        click.option("--model", "model", default=O.DEFAULT_MODEL, show_default=True,
                     help="Colorizer (see `vidcolor weights list`)."),
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Load this local checkpoint instead of the model's catalogue weights."),
        click.option("--batch-size", type=int, default=O.BATCH_SIZE, show_default=True, help="Frames per model call."),
        click.option("--device", default=O.DEVICE, show_default=True, help=_DEVICE_HELP),
        click.option("--size", type=int, default=O.SIZE,
                     help=_SIZE_HELP + " The predicted color is upsampled to full size."),
        click.option("--render-factor", type=int, default=None,
                     help="DeOldify models: render at a square of 16 x N (release defaults: 35 for "
                          "deoldify-artistic/-stable, 21 for deoldify-video); higher = more detail, slower."),
        click.option("--precision", type=click.Choice(O.PRECISIONS), default=O.PRECISION,
                     show_default=True,
                     help="Model arithmetic: auto = bf16 (fp16 on older GPUs) on a GPU; on the CPU bf16 + "
                          "channels_last when it runs bf16 natively (AMX or AVX512-BF16), else fp32. "
                          "Color conversions are always fp32."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@main.command()
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(),
              help="One input: a video file (.mp4 .mkv .mov ...), image folder, pattern like out/f_%05d.png, or "
                   "one image. Several inputs (or a folder of videos, or --ext/--suffix): the folder the outputs "
                   "go under, named like the inputs.")
@colorize_options
@click.option("--crf", type=int, default=O.CRF, show_default=True, help="Quality for x264/x265/VP9 (lower = better).")
@click.option("--preset", default=O.PRESET, show_default=True, help="x264/x265 speed preset (ultrafast..veryslow).")
@click.option("--codec", default=O.CODEC, show_default=True,
              help="libx264 (H.264, yuv420p) | libx265 | ffv1 (lossless, archival) | prores_ks | libvpx-vp9.")
@click.option("--fps", type=float, default=None, help=f"Frame rate for image-sequence inputs (default {O.IMAGE_FPS}).")
@click.option("--temporal", default=O.TEMPORAL, show_default=True, help=_temporal.help_text())
@click.option("--temporal-strength", type=float, default=O.TEMPORAL_STRENGTH, show_default=True,
              help="0..1 (exclusive), how much of the previous frame's color is kept.")
@click.option("--scene-threshold", type=float, default=None,
              help=f"Scene-cut threshold (mean |dL| in L units, default {O.SCENE_THRESHOLD:g}); a cut resets the smoothing.")
@click.option("--reference", "reference", multiple=True, metavar="DIR|FRAME=IMAGE",
              help="Coloured keyframes to follow: a folder of them named by frame index (as `vidcolor keyframes` "
                   "writes them, coloured by you or any tool) or FRAME=IMAGE; repeatable. Their colour is carried "
                   "along the motion within their shot; elsewhere the model's colours, in their palette.")
@click.option("--hints", "hints", multiple=True, metavar="JSON|FRAME=PNG",
              help="Colour points/strokes (a hints JSON, format in the README) or a scribble layer drawn over a "
                   "keyframe (FRAME=PNG); repeatable. siggraph17 takes them natively; other models through "
                   "Levin optimization. Then carried in time like a reference.")
@click.option("--exemplar", type=click.Path(dir_okay=False), default=None,
              help="A colour photo (any scene) whose palette the result takes, per luminance band, one mapping per "
                   "shot.")
@click.option("--suffix", default=None, help="Several inputs: added to each output's name (film.mp4 -> film_color.mp4 "
              "with --suffix _color).")
@click.option("--ext", default=None, help="Several inputs: the outputs' container (default .mp4 for libx264/libx265, "
              ".mkv for the other codecs; photos stay images).")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="Several inputs: colorize this many films at once (separate processes sharing the CPU cores "
                   "or the GPU).")
@click.option("--resume", is_flag=True,
              help="Write the output as closed segments in a work folder beside it (.NAME.vidcolor-work/), so an "
                   "interrupted run (Ctrl-C, kill, power loss) continues from the last complete segment; they are "
                   "joined without re-encoding at the end. Video outputs only.")
@click.option("--segment-seconds", type=float, default=O.SEGMENT_SECONDS, show_default=True,
              help="--resume and --ray: length of a segment in source seconds.")
@ray_option("Run on a Ray cluster: one task per film, one per segment for films longer than --segment-seconds; "
            "the nodes also need the weights")
@click.option("--overwrite", is_flag=True, help="Replace an existing output (several inputs: redo finished ones too).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def colorize(inputs, output, model, weights, batch_size, device, size, render_factor, precision, crf, preset, codec,
             fps, temporal, temporal_strength, scene_threshold, reference, hints, exemplar, suffix, ext, jobs, resume,
             segment_seconds, ray, overwrite, quiet):
    """Colorize INPUTS (videos, image folders/globs, photos, folders of videos) into OUTPUT.

    Audio streams are copied untouched, frame timestamps and rate are kept; the
    output's luminance is the input's, only the color (Lab ab) is predicted.
    OUTPUT appears only when the run succeeds; missing folders are created.

    \b
    Many films: outputs mirror the input names under OUTPUT; finished ones are
    skipped, so a rerun does what is left; exit code 1 if any film failed:
      vidcolor colorize archive/ -o colored/ --resume
      vidcolor colorize reel1.mp4 reel2.mp4 -o colored/ --jobs 2
      vidcolor colorize archive/ -o colored/ --ray       # on a Ray cluster
    \b
    Guided (the input is read twice; chroma kept in a temporary folder, ~0.7 MB/frame):
      vidcolor keyframes film.mp4 -o keys/      # colour keys/*.png, then
      vidcolor colorize film.mp4 -o out.mp4 --reference keys/
    """
    from . import batch
    from .errors import OptionError
    from .pipeline import ColorizeOptions

    ray, inputs = _ray_inputs(ray, inputs, "INPUTS")
    opts = ColorizeOptions(model=model, weights=weights, batch_size=batch_size, device=device, size=size,
                           precision=precision, crf=crf, preset=preset, codec=codec, fps=fps, temporal=temporal,
                           temporal_strength=temporal_strength, scene_threshold=scene_threshold,
                           render_factor=render_factor)
    guided = bool(reference or hints or exemplar)
    many = batch.is_many(inputs, suffix, ext)
    if guided and (many or resume or ray is not None):
        raise OptionError("--reference, --hints and --exemplar guide one film, read whole: give one input, "
                          "without --resume or --ray")
    if not many and ray is None:
        if resume:
            from .segments import colorize_segmented

            res = colorize_segmented(inputs[0], output, opts, seconds=segment_seconds, overwrite=overwrite,
                                     quiet=quiet, notify=_notify)
        else:
            from .pipeline import colorize_video

            res = colorize_video(inputs[0], output, overwrite=overwrite, quiet=quiet, notify=_notify,
                                 reference=reference, hints=hints, exemplar=exemplar, **opts.kwargs())
        if not quiet:
            click.echo(f"{res.output}: {res.frames} frames in {res.seconds:.1f} s ({res.fps:.1f} frames/s)", err=True)
        return
    if many:
        items = batch.plan(inputs, output, suffix, ext, codec)
    else:
        from pathlib import Path

        items = [batch.Item(Path(inputs[0]), Path(output), Path(output).name)]

    def show(o):
        if not quiet or o.state == "failed":
            click.echo(o.line(), err=True)

    outcomes = batch.colorize_many(items, opts, jobs=jobs, resume=resume, seconds=segment_seconds,
                                   overwrite=overwrite, quiet=quiet, notify=_notify, on_outcome=show, ray=ray)
    failed = [o for o in outcomes if o.state == "failed"]
    click.echo(f"vidcolor: {batch.summary(outcomes)}", err=True)
    if failed:
        raise click.exceptions.Exit(1)


# --- guidance: keyframes, deflicker ------------------------------------------------

@main.command()
@click.argument("input", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Folder for the keyframe PNGs and keyframes.json (created if missing).")
@click.option("--every", type=float, default=None,
              help="One keyframe every N seconds (plus one at every cut) instead of one per shot.")
@click.option("--scene-threshold", type=float, default=None,
              help=f"Scene-cut threshold (mean |dL| in L units, default {O.SCENE_THRESHOLD:g}).")
@click.option("--overwrite", is_flag=True, help="Replace the keyframes of an earlier run in OUTPUT.")
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
def keyframes(input, output, every, scene_threshold, overwrite, quiet):
    """Write the first frame of every shot of INPUT (or one every --every seconds) as PNG.

    The start of the reference workflow: colour these frames by hand or with any tool.
    keyframes.json lists each frame's index, time and why it was chosen (start, cut, every).

    \b
    Example:
      vidcolor keyframes film.mp4 -o film_keys/
    """
    from .keyframes import extract_keyframes

    ks = extract_keyframes(input, output, every=every, scene_threshold=scene_threshold, overwrite=overwrite)
    if not quiet:
        cuts = sum(k.reason == "cut" for k in ks)
        click.echo(f"{output}: {len(ks)} keyframes ({cuts} at cuts), listed in keyframes.json", err=True)


@main.command()
@click.argument("input", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="The deflickered video (or image folder).")
@click.option("--original", type=click.Path(), default=None,
              help="The gray original INPUT was coloured from: its luminance is used (frame by frame), "
                   "undoing the colorizer's luminance changes. Default: INPUT's own luminance.")
@click.option("--temporal", default=O.TEMPORAL, show_default=True, help="Smoother (not none).")
@click.option("--temporal-strength", type=float, default=O.TEMPORAL_STRENGTH, show_default=True,
              help="0..1 (exclusive), how much of the previous frame's color is kept.")
@click.option("--scene-threshold", type=float, default=None,
              help=f"Scene-cut threshold (default {O.SCENE_THRESHOLD:g}); a cut resets the smoothing.")
@click.option("--look-ahead", is_flag=True,
              help="Smooth forward and backward (no lag; a shot's first frames are smoothed too). Reads INPUT "
                   "twice and keeps ~0.6 MB per frame in a temporary folder.")
@click.option("--batch-size", type=int, default=O.BATCH_SIZE, show_default=True)
@click.option("--crf", type=int, default=O.CRF, show_default=True)
@click.option("--preset", default=O.PRESET, show_default=True)
@click.option("--codec", default=O.CODEC, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def deflicker(input, output, original, temporal, temporal_strength, scene_threshold, look_ahead, batch_size, crf,
              preset, codec, overwrite, quiet):
    """Remove color flicker from INPUT, a video another tool has already colored.

    The chroma is smoothed over time along optical flow (reset at scene cuts); the luminance,
    the timing and the audio are kept. Only the smoother's change is applied, at full
    resolution, so the colors' detail stays.

    \b
    Example:
      vidcolor deflicker deoldify_out.mp4 -o smooth.mp4 --original film_bw.mp4
    """
    from .deflicker import deflicker_video

    st = deflicker_video(input, output, original=original, temporal=temporal, temporal_strength=temporal_strength,
                         scene_threshold=scene_threshold, batch_size=batch_size, crf=crf, preset=preset, codec=codec,
                         overwrite=overwrite, quiet=quiet, notify=_notify, look_ahead=look_ahead)
    if not quiet:
        click.echo(f"{output}: {st.frames} frames in {st.wall:.1f} s", err=True)


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
            click.echo(f"{info.name:20s} (no default weights)  {info.description}")
            continue
        spec = W.get_spec(info.weights)
        found = W.find(spec)
        state = f"present  {found}" if found else f"missing  {W.cached_path(spec)}"
        size = f"{spec.size / 1e6:.0f} MB" if spec.size else "size unpublished"
        where = f"shipped, {size}" if spec.url is None else size
        click.echo(f"{info.name:20s} {state}  [{where}, {spec.license}]")
        click.echo(f"{'':20s} {info.description}")
    click.echo("\nDownload with `vidcolor weights download NAME`; a model's card: `vidcolor weights card NAME`.")


@weights.command("card")
@click.argument("name")
def weights_card(name):
    """Print the model card of NAME: source, license, training data, preprocessing, speed."""
    from . import weights as W
    from .models import get_info

    get_info(name)
    click.echo(W.card(name).rstrip())


@weights.command("download")
@click.argument("name")
@click.option("--url", default=None, help="Fetch from this mirror instead of the catalogue URL.")
@click.option("-q", "--quiet", is_flag=True)
def weights_download(name, url, quiet):
    """Download catalogue weights NAME into the cache, checking size and sha256."""
    from . import models  # noqa: F401 - the models put their weights in the catalogue
    from . import weights as W

    path = W.download(name, url=url, progress=not quiet)
    click.echo(f"{name}: saved {path}")




# --- train (compact model, fine-tuning) ------------------------------------------

_T = O.TrainConfig


def _field(cls, name):
    """The default of a dataclass field (one home: the dataclass)."""
    return cls.__dataclass_fields__[name].default


@main.command()
@click.argument("data", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Checkpoint to write (atomically, at every epoch end); with --resume, the one to continue.")
@click.option("--model", default=_field(_T, "model"), show_default=True,
              help="compact; pix2pix (a conditional GAN: U-Net + 70x70 PatchGAN); or eccv16 with --init.")
@click.option("--init", type=click.Path(dir_okay=False), default=None, help="Start from these weights (fine-tuning).")
@click.option("--steps", type=click.IntRange(1), default=None, help="Total optimizer steps.")
@click.option("--epochs", type=click.IntRange(1), default=None,
              help=f"Total epochs (default {O.DEFAULT_EPOCHS} when --steps is not given).")
@click.option("--batch-size", type=click.IntRange(1), default=_field(_T, "batch_size"), show_default=True)
@click.option("--size", type=int, default=_field(_T, "size"), show_default=True,
              help="Side of the random training crops (multiple of 16).")
@click.option("--lr", type=float, default=None,
              help="Peak learning rate (default: " + ", ".join(f"{k} {v:g}" for k, v in O.TRAIN_LR.items())
              + "). class/l1: warm-up, then cosine; cgan: constant, then linear to 0 over the second half.")
@click.option("--val-split", type=float, default=_field(_T, "val_split"), show_default=True,
              help="Share of the files held out for validation.")
@click.option("--loss", type=click.Choice(O.TRAIN_LOSSES), default=None,
              help="class: rebalanced classification over ab bins (Zhang et al. 2016); l1: regression; cgan: "
                   "pix2pix's L1 + conditional adversarial loss (Isola et al. 2017). Default: the model's own "
                   "(pix2pix: cgan, others: class).")
@click.option("--gan-lambda", type=float, default=_field(_T, "gan_lambda"), show_default=True,
              help="cgan: weight of the L1 term against the adversarial one.")
@click.option("--seed", type=int, default=_field(_T, "seed"), show_default=True)
@click.option("--device", default=_field(_T, "device"), show_default=True, help=_DEVICE_HELP)
@click.option("--checkpoint-every", type=click.IntRange(0), default=_field(_T, "checkpoint_every"), show_default=True,
              help="Also checkpoint every N steps (0: at epoch ends only).")
@click.option("--resume", is_flag=True,
              help="Continue the run saved in --output with its own settings (--steps, if given, sets a new total).")
@click.option("--export", "export", type=click.Path(dir_okay=False), default=None,
              help="At the end, also write the bare model weights here (for --weights).")
def train(data, output, model, init, steps, epochs, batch_size, size, lr, val_split, loss, gan_lambda, seed, device,
          checkpoint_every, resume, export):
    """Train or fine-tune a colorizer on DATA: folders of color images, videos, or
    manifests (.jsonl) written by `vidcolor frames extract`."""
    from .train import export_weights
    from .train import train as run

    cfg = O.TrainConfig(data=list(data), output=output, model=model, init=init, steps=steps, epochs=epochs,
                        batch_size=batch_size, size=size, lr=lr, val_split=val_split, loss=loss, gan_lambda=gan_lambda, seed=seed,
                        device=device, checkpoint_every=checkpoint_every)
    ckpt = run(cfg, resume=resume, steps=steps)
    last = ckpt["meta"]["history"][-1] if ckpt["meta"]["history"] else {}
    click.echo(f"{output}: step {ckpt['step']}" + "".join(f", {k} {last[k]:.4g}" for k in ("loss", "auc", "auc_gray",
                                                                                          "psnr", "psnr_gray", "colorfulness") if k in last))
    if export:
        click.echo(f"weights: {export_weights(output, export)}")


# --- metrics and eval (frame-level metrics, evaluation protocol) -----------------

def _metrics_option(f):
    return click.option("--metrics", "metric_list", default=None, cls=_LazyHelp, help_from=_metrics_help)(f)


def _classify_option(f):
    return click.option(
        "--classify", "classify", type=click.Choice(O.CLASSIFIERS), is_flag=False, flag_value=O.CLASSIFIER,
        default=None, metavar="[NET]",
        help=f"Add classification accuracy: top-1/top-5 agreement of an ImageNet classifier "
             f"({', '.join(O.CLASSIFIERS)}; default {O.CLASSIFIER}) between each output and its original "
             "(Zhang et al. 2016). Its torchvision "
             "weights must be in the torch hub cache (never downloaded): an error here when they are not, while "
             "--metrics all includes it only when they are.")(f)


@main.command("metrics")
@click.argument("reference", type=click.Path())
@click.argument("candidate", type=click.Path())
@_metrics_option
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Write per-frame values, summary and settings as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None, help="Write one CSV line per frame.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None, help=_REPORT_HELP)
@click.option("--resize", is_flag=True, help="Resize candidate frames to the reference size instead of failing.")
@click.option("--lpips-net", type=click.Choice(O.LPIPS_NETS), default=O.LPIPS_NET, show_default=True)
@_classify_option
@click.option("--device", default=O.DEVICE, show_default=True, help=_DEVICE_HELP)
@click.option("--batch-size", type=int, default=O.BATCH_SIZE, show_default=True, help="Frames scored per batch.")
def metrics_cmd(reference, candidate, metric_list, json_path, csv_path, report_path, resize, lpips_net, classify,
                device, batch_size):
    """Score CANDIDATE against REFERENCE frame by frame (videos, image folders or photos).

    PSNR, SSIM (Gaussian sigma 1.5, population covariance), LPIPS, mean CIEDE2000,
    colorfulness, ab AuC, classification accuracy (top-1/top-5, see --classify), and the
    temporal warp error (OpenCV DIS flow on the reference) and CDC. Prints mean and median;
    --json/--csv hold every frame; --report draws them, with the worst frames and a
    contact sheet (see `vidcolor report`).
    """
    from .media.files import write_json
    from .metrics import report

    _report_paths([json_path, csv_path], [reference, candidate], html=report_path)
    O.check_batch_size(batch_size)
    rep = report.compare(reference, candidate, metrics=metric_list, resize=resize, device=device,
                         lpips_net=lpips_net, batch_size=batch_size, warn=_notify, classify=classify)
    click.echo(f"{len(rep['frames'])} frames: {candidate} vs {reference}")
    for line in report.format_summary(rep["summary"]):
        click.echo(line)
    if json_path:
        write_json(json_path, rep)
    if csv_path:
        report.write_csv(rep["frames"], csv_path)
    if report_path:
        from .metrics.html import write_result

        write_result(rep, report_path, name=str(candidate))


@main.command("eval")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--model", "models", multiple=True, required=True, help="Colorizer to evaluate (repeat for several).")
@click.option("--weights", "weights_files", multiple=True, type=click.Path(dir_okay=False),
              help="Local checkpoint, one per --model in the same order (default: catalogue weights).")
@click.option("--batch-size", type=int, default=O.BATCH_SIZE, show_default=True, help="Frames per model call.")
@click.option("--device", default=O.DEVICE, show_default=True, help=_DEVICE_HELP)
@click.option("--size", type=int, default=O.SIZE, help=_SIZE_HELP)
@click.option("--temporal", default=O.EVAL_TEMPORAL, show_default=True, help=_temporal.help_text())
@click.option("--temporal-strength", type=float, default=None,
              help=f"0..1 (exclusive), how strongly colors are smoothed (default {O.TEMPORAL_STRENGTH}).")
@_metrics_option
@click.option("--lpips-net", type=click.Choice(O.LPIPS_NETS), default=O.LPIPS_NET, show_default=True)
@_classify_option
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write summaries as JSON.")
@click.option("--markdown", "md_path", type=click.Path(dir_okay=False), default=None, help="Write a Markdown table.")
@click.option("--contact-sheet", type=click.Path(dir_okay=False), default=None,
              help="PNG with gray | each model | original for a few frames of the first input.")
@click.option("--sheet-frames", type=int, default=O.SHEET_FRAMES, show_default=True, help="Frames on the contact sheet.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None, help=_REPORT_HELP)
def eval_cmd(inputs, models, weights_files, batch_size, device, size, temporal, temporal_strength, metric_list,
             lpips_net, classify, json_path, md_path, contact_sheet, sheet_frames, report_path):
    """Evaluate colorizers on color INPUTS (videos, image folders): gray in, originals as ground truth.

    Each input is converted to gray (L kept, ab = 0), colorized by every --model
    through the same engine as `colorize`, and scored against the original. Prints
    one row per model plus `gray` (the input itself: the baseline to beat).
    --json holds every frame's values and the worst frames' thumbnails, for `vidcolor report`.
    """
    import time

    from .evaluate import evaluate, format_markdown, format_table
    from .media.files import write_json, write_text

    _report_paths([json_path, md_path], inputs, html=report_path)
    t0 = time.perf_counter()
    res = evaluate(list(inputs), list(models), list(weights_files), metrics=metric_list, batch_size=batch_size,
                   device=device, size=size, temporal=temporal, temporal_strength=temporal_strength,
                   lpips_net=lpips_net, contact_sheet=contact_sheet, sheet_frames=sheet_frames, warn=_notify,
                   classify=classify)
    click.echo(format_table(res))
    if json_path:
        write_json(json_path, res)
    if md_path:
        write_text(md_path, format_markdown(res))
    if report_path:
        from .metrics.html import write_result

        write_result(res, report_path, name=", ".join(inputs), title="vidcolor eval")
    click.echo(f"vidcolor: {res['settings']['frames']} frames x {len(models)} model(s) in "
               f"{time.perf_counter() - t0:.1f} s", err=True)


@main.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The HTML file to write.")
@click.option("--title", default=None, help="Page title (default: vidcolor report).")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUTPUT.")
def report_cmd(results, output, title, overwrite):
    """Turn RESULTS (JSON of `eval`, `metrics` or `bench --json`) into one HTML report.

    The page is self-contained: it opens offline, every plot and picture embedded, no
    external URL. A section per file: for eval and metrics, the summary tables (mean
    and median per metric and model), one plot per metric over the frames (the
    boundaries between inputs marked), the worst frames of the primary metric (CIEDE2000,
    else PSNR) as gray | output | original, and the contact sheet; for bench, the
    time per pipeline stage per configuration and the speed table. Needs matplotlib
    (pip install "vidcolor[report]"). `eval --report` and `metrics --report` write
    the same page directly.

    \b
    Example:
      vidcolor eval film.mp4 --model compact --json eval.json
      vidcolor bench film.mp4 --json bench.json
      vidcolor report eval.json bench.json -o report.html
    """
    from .metrics.html import write_report

    path = write_report(results, output, title=title, overwrite=overwrite)
    click.echo(f"{path}: report of {len(results)} result file(s)", err=True)


# --- study (real-vs-fake perceptual study) --------------------------------------------

@main.command("study")
@click.argument("files", nargs=-1, type=click.Path(), metavar="IMAGES... | --score ANSWERS...")
@click.option("--model", "models", multiple=True,
              help="Colorizer to put to the test (repeat for several; each is one condition besides the real photos).")
@click.option("--weights", "weights_files", multiple=True, type=click.Path(dir_okay=False),
              help="Local checkpoint, one per --model in the same order (default: catalogue weights).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="The study page to write (.html); its key goes beside it as NAME.key.json.")
@click.option("--seconds", type=float, default=O.STUDY_SECONDS, show_default=True,
              help="How long each photo is shown before it is hidden and the question asked.")
@click.option("--side", type=int, default=O.STUDY_SIDE, show_default=True,
              help="Longer side in pixels of every version (real and colorized alike).")
@click.option("--format", "fmt", type=click.Choice(["jpg", "png"]), default="jpg", show_default=True,
              help="Encoding of every version, the real photo included.")
@click.option("--quality", type=int, default=O.STUDY_JPEG_QUALITY, show_default=True, help="JPEG quality.")
@click.option("--size", type=int, default=O.SIZE, help=_SIZE_HELP)
@click.option("--seed", type=int, default=None,
              help="Make the build reproducible (same ids and page); default: random ids nobody can derive.")
@click.option("--device", default=O.DEVICE, show_default=True, help=_DEVICE_HELP)
@click.option("--title", default=O.STUDY_TITLE, show_default=True, help="The page's title.")
@click.option("--overwrite", is_flag=True, help="Replace an existing page and key.")
@click.option("--score", "score_", is_flag=True,
              help="Score instead of build: the arguments are answer files (one per participant), pooled.")
@click.option("--key", "key_file", type=click.Path(dir_okay=False), default=None,
              help="--score: the study's key (NAME.key.json, written beside the page).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="--score: also write the scores (and per-image counts) as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def study_cmd(files, models, weights_files, output, seconds, side, fmt, quality, size, seed, device, title, overwrite,
              score_, key_file, json_path, quiet):
    """A real-vs-fake perceptual study ("Turing test") of colorizers.

    \b
    Build: IMAGES are color photos (files, folders, globs). Each is resized to
    --side, made black-and-white as `vidcolor eval` does (L kept, ab = 0) and
    colorized by every --model. OUTPUT is one self-contained HTML page (works
    offline, no model or file names in it); the key NAME.key.json beside it says
    which version is which: keep it to yourself. Each participant opens the page,
    sees every photo once, in one condition (real or a model, balanced at random),
    for --seconds, then answers "real photo" or "colorized" (buttons or R / F),
    and downloads answers-<study>-<time>.json at the end.
    \b
    Score: --score ANSWERS... --key NAME.key.json pools the participants' files and
    prints, per model, its fooling rate (share of its images judged real) and, for
    the real photos, the control (share judged real), with 95% Clopper-Pearson
    intervals.
    \b
    Example:
      vidcolor study photos/ --model compact --model eccv16 -o study.html
      vidcolor study --score answers-*.json --key study.key.json --json scores.json
    """
    from .errors import OptionError

    if score_:
        if not key_file:
            raise OptionError("--score needs --key NAME.key.json, the key written beside the study page")
        extra = [o for o, v in (("--model", models), ("--weights", weights_files), ("-o", output)) if v]
        if extra:
            raise OptionError(f"--score scores answers; {', '.join(extra)} only apply when building a study")
        if not files:
            raise OptionError("--score needs the answer files: vidcolor study --score ANSWERS.json... --key KEY")
        from .study import format_table, score, write_score

        if json_path:
            from .media.files import check_output

            check_output(json_path, [*files, key_file], report=True)
        res = score(list(files), key_file)
        click.echo(format_table(res))
        click.echo(f"vidcolor: study {res['study']}: {res['participants']} participant(s), {res['trials']} trials",
                   err=True)
        if json_path:
            write_score(res, json_path)
        return
    stray = [o for o, v in (("--key", key_file), ("--json", json_path)) if v]
    if stray:
        raise OptionError(f"{', '.join(stray)} only apply with --score")
    if not files:
        raise click.UsageError("Missing argument 'IMAGES...' (or --score ANSWERS... --key KEY).")
    if not models:
        raise OptionError("give at least one --model to compare with the real photos")
    if not output:
        raise OptionError("give -o STUDY.html, the page to write (its key goes beside it)")
    import sys

    from tqdm import tqdm

    from .study import build_study

    bar = None

    def progress(done, total):
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="colorizing", unit="img", file=sys.stderr, dynamic_ncols=True,
                       disable=quiet or not sys.stderr.isatty())
        bar.update(1)

    try:
        res = build_study(list(files), list(models), list(weights_files), output=output, seconds=seconds, side=side,
                          seed=seed, device=device, size=size, fmt=fmt, quality=quality, title=title,
                          overwrite=overwrite, on_image=progress)
    finally:
        if bar is not None:
            bar.close()
    if not quiet:
        conds = " + ".join(res["conditions"])
        click.echo(f"{res['page']}: study {res['study']}, {res['images']} images x ({conds}), "
                   f"{res['bytes'] / 1e6:.1f} MB; key (keep it private): {res['key']}", err=True)


# --- bench (benchmark harness) ------------------------------------------------------

@main.command("bench")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--model", "models", multiple=True, help="Model to time (repeat for several). Default: the default model.")
@click.option("--batch-size", "batch_sizes", type=int, multiple=True,
              help=f"Batch size (repeat for several). Default {O.BATCH_SIZE}.")
@click.option("--size", type=int, default=O.SIZE, help=_SIZE_HELP)
@click.option("--device", default=O.DEVICE, show_default=True, help=_DEVICE_HELP)
@click.option("--temporal", "temporals", multiple=True,
              help=f"{_temporal.help_text()} Repeat for several. Default {O.EVAL_TEMPORAL}.")
@click.option("--repeats", type=int, default=O.BENCH_REPEATS, show_default=True,
              help="Timed runs per configuration (median and spread).")
@click.option("--random-weights", is_flag=True, help="Random model weights: speed does not depend on them.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None, help="Checkpoint for the model(s).")
@click.option("--no-baseline", is_flag=True, help="Skip the decode+encode-only (transcode) baseline.")
@click.option("--quality/--no-quality", default=None,
              help="Add the `vidcolor eval` quality summary (default: only for color inputs).")
@click.option("--precision", "precisions", type=click.Choice(O.PRECISIONS), multiple=True,
              help="Model arithmetic (repeat for several). Default auto: bf16 on a GPU, fp32 on the CPU.")
@click.option("--channels-last", "channels_last", is_flag=True,
              help="Also time each configuration with the model in channels_last (NHWC) memory layout.")
@click.option("--compile", "compile_", is_flag=True,
              help="Also time each configuration with the model compiled by torch.compile (slow to start).")
@click.option("--stage-timing/--no-stage-timing", default=True, show_default=True,
              help="GPU: synchronize after each stage to time it exactly; off measures pure throughput.")
@click.option("--model-only/--no-model-only", default=True, show_default=True,
              help="Also report frames/s of the model alone at --size (no decode, conversion or encode).")
@click.option("--crf", type=int, default=O.CRF, show_default=True)
@click.option("--preset", default=O.PRESET, show_default=True)
@click.option("--codec", default=O.CODEC, show_default=True)
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
    from .bench import benchmark, to_markdown
    from .media.files import write_json, write_text

    _report_paths([json_path, md_path], inputs)
    report = benchmark(list(inputs), list(models) or [O.DEFAULT_MODEL], list(batch_sizes) or [O.BATCH_SIZE],
                       size=size, device=device, temporal=list(temporals) or [O.EVAL_TEMPORAL], repeats=repeats,
                       random_weights=random_weights, weights=weights, baseline=not no_baseline, codec=codec,
                       crf=crf, preset=preset, quality=quality, progress=None if quiet else _notify,
                       precisions=list(precisions) or [O.PRECISION],
                       channels_last=[False, True] if channels_last else [None],
                       compile=[False, True] if compile_ else [False], stage_timing=stage_timing,
                       model_only=model_only)
    md = to_markdown(report)
    click.echo(md)
    if json_path:
        write_json(json_path, report, indent=2)
    if md_path:
        write_text(md_path, md)


# --- serve (the local web app) -------------------------------------------------------

@main.command()
@click.option("--host", default=O.WEB_HOST, show_default=True,
              help="Address to listen on; anything but loopback makes the app reachable from other machines "
                   "(there is no login), with a warning.")
@click.option("--port", type=click.IntRange(0, 65535), default=O.WEB_PORT, show_default=True, help="0: any free port.")
@click.option("--data", type=click.Path(file_okay=False), default=O.WEB_DATA, show_default=True,
              help="Folder for jobs, uploads and results; a restart keeps finished results.")
@click.option("--allow-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Also offer the media under this folder (read only); no other server path is readable.")
@click.option("--max-upload", "max_upload_mb", type=click.IntRange(1), default=O.WEB_MAX_UPLOAD_MB,
              show_default=True, help="Largest upload, in MB.")
@click.option("--device", default=O.DEVICE, show_default=True, help=_DEVICE_HELP + " One worker per GPU.")
def serve(host, port, data, allow_dir, max_upload_mb, device):
    """A local web app: upload a photo, a video or a zip of frames, colorize it, compare
    before/after and download. Needs the web extra: pip install "vidcolor[web]".

    Jobs run one at a time per device, with live progress and cancel; a JSON API
    (POST /api/jobs, GET/DELETE /api/jobs/ID, GET /api/jobs/ID/result) serves scripts,
    see the README. Open the printed address in a browser; Ctrl-C stops the server.
    """
    from . import web

    web.require()
    from .web.app import serve as run_server

    O.check_device(device)
    run_server(host=host, port=port, notify=_notify, data=data, allow_dir=allow_dir,
               max_upload_mb=max_upload_mb, device=device)


# --- frames: training-data extraction and dedup (issue 5) ------------------------------

@main.group()
def frames():
    """Extract distinct frames from videos as training data; find near-duplicate images."""


@frames.command("extract")
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Folder for <source>/<index>.png frames and manifest.jsonl (re-runs resume).")
@click.option("--method", type=click.Choice(O.EXTRACT_METHODS), default=O.EXTRACT_METHODS[0], show_default=True,
              help="How a frame is judged a duplicate of the last kept frame.")
@click.option("--hi", type=int, default=O.MPDECIMATE_HI, show_default=True,
              help="mpdecimate: 8x8 block SAD above which a frame differs.")
@click.option("--lo", type=int, default=O.MPDECIMATE_LO, show_default=True, help="mpdecimate: block SAD counted as changed.")
@click.option("--frac", type=float, default=O.MPDECIMATE_FRAC, show_default=True,
              help="mpdecimate: a plane differs if more than frac*(w/16)*(h/16) blocks exceed --lo.")
@click.option("--max", "max_", type=int, default=0, show_default=True,
              help="mpdecimate: >0 at most this many drops in a row; <0 dropped frames at least |max| apart.")
@click.option("--hash", "hash_", type=click.Choice(O.HASHES), default=O.HASHES[0], show_default=True,
              help="Hash for --method hash and for the manifest.")
@click.option("--threshold", type=float, default=None,
              help="hash: Hamming bits counted as duplicate (default "
                   + ", ".join(f"{k} {v}" for k, v in O.HASH_THRESHOLDS.items())
                   + f"); ssim: SSIM (default {O.SSIM_THRESHOLD}).")
@click.option("--min-gap", type=float, default=0.0, show_default=True, help="Seconds between two kept frames.")
@click.option("--per-scene", type=int, default=0, show_default=True, help="At most N kept frames per scene (0: no limit).")
@click.option("--format", "fmt", type=click.Choice(O.EXTRACT_FORMATS), default=O.EXTRACT_FORMATS[0], show_default=True)
@click.option("--quality", type=int, default=O.JPEG_QUALITY, show_default=True, help="JPEG quality.")
@click.option("--pairs", is_flag=True, help="Also write <index>_gray.png: CIE L* scaled to 0..255 (the colorizer's input).")
@click.option("--csv", "csv_", is_flag=True, help="Also write manifest.csv.")
@click.option("--fps", type=float, default=None, help=f"Frame rate assumed for image sequences (default {O.IMAGE_FPS}).")
@ray_option("Run on a Ray cluster: one task per source not complete yet")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def frames_extract(inputs, output, method, hi, lo, frac, max_, hash_, threshold, min_gap, per_scene, fmt, quality,
                   pairs, csv_, fps, ray, quiet):
    """Keep the distinct frames of INPUTS (videos, image folders, folders of videos).

    Sources already complete in OUTPUT are skipped; an interrupted one is redone.
    With --ray every other source is one Ray task; the frames and manifests are
    those of a run on this machine.
    """
    from .frames import ExtractOptions, extract

    ray, inputs = _ray_inputs(ray, inputs, "INPUTS")
    opts = ExtractOptions(method=method, hi=hi, lo=lo, frac=frac, max=max_, hash=hash_, threshold=threshold,
                          min_gap=min_gap, per_scene=per_scene, format=fmt, quality=quality, pairs=pairs)
    res = extract(list(inputs), output, opts, csv=csv_, quiet=quiet, fps=fps, ray=ray)
    if not quiet:
        for s in res.sources:
            state = "already complete" if s.skipped else f"{s.kept}/{s.decoded} frames kept"
            click.echo(f"{s.key}: {state}", err=True)
        click.echo(f"{res.manifest}: {res.kept} frames from {len(res.sources)} source(s)", err=True)


@frames.command("dedup")
@click.argument("folders", nargs=-1, type=click.Path(file_okay=False))
@click.option("--hash", "hash_", type=click.Choice(O.HASHES), default=O.HASHES[0], show_default=True)
@click.option("--threshold", type=int, default=None,
              help="Hamming bits of 64 (default " + ", ".join(f"{k} {v}" for k, v in O.HASH_THRESHOLDS.items()) + ").")
@click.option("--keep", type=click.Choice(O.DEDUP_KEEP), default=O.DEDUP_KEEP[0], show_default=True,
              help="Which image of a group is kept: first in name order, most pixels, or sharpest.")
@click.option("--dry-run", is_flag=True, help="Only report (the default).")
@click.option("--move-to", type=click.Path(file_okay=False), default=None, help="Move duplicates here (same relative paths).")
@click.option("--delete", is_flag=True, help="Delete duplicates.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the groups as JSON.")
@ray_option("Read and hash the images as Ray tasks, in chunks; the groups are made here, as without --ray")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary line.")
def frames_dedup(folders, hash_, threshold, keep, dry_run, move_to, delete, json_path, ray, quiet):
    """Find near-duplicate images under FOLDERS (recursive) and report, move or delete them.

    Several folders are one set: an image may be a duplicate of one in another
    folder. Paths are then shown relative to the folders' common parent (and kept
    so under --move-to); with one folder, relative to it.
    """
    from .errors import OptionError
    from .frames import dedup

    ray, folders = _ray_inputs(ray, folders, "FOLDERS")
    if sum([dry_run, move_to is not None, delete]) > 1:
        raise OptionError("choose one of --dry-run, --move-to and --delete")
    rep = dedup(list(folders), hash=hash_, threshold=threshold, keep=keep, move_to=move_to, delete=delete,
                json_path=json_path, quiet=quiet, ray=ray)
    if not quiet:
        for g in rep.groups:
            click.echo(f"keep {g['kept']}  ({g['reason']})")
            for d in g["duplicates"]:
                click.echo(f"  {'drop' if rep.action == 'dry-run' else rep.action} {d['file']}  ({d['distance']} bits)")
        for f in rep.unreadable:
            click.echo(f"unreadable: {f}", err=True)
    verb = {"dry-run": "would remove", "move": "moved", "delete": "deleted"}[rep.action]
    click.echo(f"{rep.images} images, {len(rep.groups)} groups of near-duplicates; {verb} {rep.duplicates}", err=True)
