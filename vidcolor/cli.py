"""The ``vidcolor`` command line: click commands only (parse, call the library, print).

Every error a user can cause is a VidcolorError: printed as one line on stderr,
exit code 1, no traceback. Ctrl-C prints one line and exits 130; no output file
is left behind under its final name.
"""

from __future__ import annotations


import click

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
    from .models import DEFAULT_MODEL

    opts = [
        click.option("--model", "model", default=DEFAULT_MODEL, show_default=True,
                     help="Colorizer (see `vidcolor weights list`)."),
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Load this local checkpoint instead of the model's catalogue weights."),
        click.option("--batch-size", type=int, default=8, show_default=True, help="Frames per model call."),
        click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda (cuda:N)."),
        click.option("--size", type=int, default=256, show_default=True,
                     help="Side of the square the model sees; ab is upsampled to full size."),
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
@click.option("--temporal", default="none", show_default=True,
              help="Temporal smoothing of colors: none | ema | flow.")
@click.option("--temporal-strength", type=float, default=None, help="0..1, how strongly colors are smoothed.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def colorize(input, output, model, weights, batch_size, device, size, crf, preset, codec, fps,
             temporal, temporal_strength, overwrite, quiet):
    """Colorize INPUT (video, image folder/glob, or photo) into OUTPUT.

    Audio streams are copied untouched, frame timestamps and rate are kept; the
    output's luminance is the input's, only the color (Lab ab) is predicted.
    """
    from .pipeline import colorize_video

    res = colorize_video(input, output, model=model, weights=weights, batch_size=batch_size, device=device,
                         size=size, crf=crf, preset=preset, codec=codec, fps=fps, overwrite=overwrite,
                         quiet=quiet, temporal=temporal, temporal_strength=temporal_strength, notify=_notify)
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
@click.option("--resume", is_flag=True, help="Continue the run saved in --output (its own settings are used).")
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
    ckpt = run(cfg, resume=resume)
    last = ckpt["meta"]["history"][-1] if ckpt["meta"]["history"] else {}
    click.echo(f"{output}: step {ckpt['step']}" + "".join(f", {k} {last[k]:.4g}" for k in ("loss", "auc", "auc_gray",
                                                                                          "psnr", "psnr_gray", "colorfulness") if k in last))
    if export:
        click.echo(f"weights: {export_weights(output, export)}")
