"""Every default and fixed choice of vidcolor, and the checks of option values: one home.

The command line, the Python API, ``bench`` and ``eval`` read their defaults from here
and validate values with the ``check_*`` functions, which raise :class:`OptionError`
(the CLI prints it as one line). Importable without torch: ``vidcolor --help`` and the
``frames`` commands never load it (about 2 s and 0.8 GB).

Choices that grow with the code live in their registries instead, next to what they
name: models (:mod:`vidcolor.models`), smoothers (:mod:`vidcolor.temporal`) and
metrics (:mod:`vidcolor.metrics.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .errors import OptionError

# --- colorize: the engine -------------------------------------------------------
DEFAULT_MODEL = "compact"    # the shipped model: vidcolor/shipped/compact.pt, no download needed
BATCH_SIZE = 8               # frames per model call
DEVICES = ("auto", "cpu", "cuda")
DEVICE = "auto"
SIZE = None                  # side of the model's square input; None: the model's own input_size
MIN_SIZE, SIZE_MULTIPLE = 32, 8
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
PRECISION = "auto"
IMAGE_FPS = Fraction(24)     # frame rate given to image-sequence inputs

# --- colorize: the encoder ------------------------------------------------------
#: codec -> (pixel format, encoder options); x264/x265/VP9 also take --crf (and x26x --preset)
CODECS: dict[str, tuple[str, dict[str, str]]] = {
    "libx264": ("yuv420p", {}),
    "h264": ("yuv420p", {}),
    "libx265": ("yuv420p", {}),
    "ffv1": ("yuv444p", {"level": "3", "slicecrc": "1"}),
    "prores": ("yuv422p10le", {"profile": "3"}),
    "prores_ks": ("yuv422p10le", {"profile": "3"}),
    "libvpx-vp9": ("yuv420p", {}),
    "png": ("rgb24", {}),
}
CODEC = "libx264"
CRF = 18
CRF_RANGE = (0, 63)
PRESET = "medium"

# --- temporal stage (kinds: vidcolor.temporal.kinds()) -------------------------------
TEMPORAL = "flow"            # colorize
EVAL_TEMPORAL = "none"       # eval and bench: score the model itself
TEMPORAL_STRENGTH = 0.8      # weight of the past, [0, 1)
SCENE_THRESHOLD = 14.0       # mean |dL| (L units) on a 128x128 grid; benchmarks/RESULTS.md "Temporal stage"
MIN_SCENE_LEN = 15           # frames between two cuts, as PySceneDetect (frames extract --per-scene)

# --- guided colorization: --reference, --hints, --exemplar (vidcolor.guide.guided) --------
WORK_SIDE = 256              # longer side of the frames deflicker and the guided stage work at
REFERENCE_MIN_CORRELATION = 0.9   # of a reference's L with its frame's L; below: the wrong frame
PROPAGATION_HALF_LIFE = 100  # frames: confidence in a propagated colour halves over this distance

# --- metrics, eval, bench ---------------------------------------------------------
LPIPS_NETS = ("alex", "vgg", "squeeze")
LPIPS_NET = "alex"
CLASSIFIERS = ("alexnet", "vgg16", "resnet50")   # the classify metric's torchvision ImageNet classifiers
CLASSIFIER = "alexnet"
SHEET_FRAMES = 4             # rows of the eval and metrics contact sheets
BENCH_REPEATS = 3

# --- reports: the worst frames and the HTML report (vidcolor report, --report) ---------------
WORST_FRAMES = 5             # worst frames listed per metric in summaries and shown as thumbnails
PRIMARY_METRICS = ("deltae2000", "psnr")   # ranks the worst-frame thumbnails: the first computed
THUMB_SIDE = 320             # longer side (px) of a worst-frame thumbnail; smaller frames are kept as they are
THUMB_JPEG_QUALITY = 85      # thumbnails and contact sheets stored in the JSON (base64 JPEG)

# --- study: the real-vs-fake perceptual study (vidcolor study) --------------------------
STUDY_SECONDS = 3.0          # each image is shown this long, then hidden and the question asked
STUDY_SIDE = 512             # longer side (px) of every version, the real photo included
STUDY_MIN_SIDE, STUDY_MAX_SIDE = 32, 4096
STUDY_JPEG_QUALITY = 90      # every version encoded alike (OpenCV JPEG, 4:2:0, no metadata)
STUDY_TITLE = "Real photo or colorized?"

# --- frames extract / dedup ----------------------------------------------------------
EXTRACT_METHODS = ("mpdecimate", "hash", "ssim")
EXTRACT_FORMATS = ("png", "jpg")
HASHES = ("phash", "dhash")
HASH_THRESHOLDS = {"phash": 8, "dhash": 6}    # Hamming bits of 64 counted as duplicate
SSIM_THRESHOLD = 0.95
MPDECIMATE_HI, MPDECIMATE_LO, MPDECIMATE_FRAC = 64 * 12, 64 * 5, 0.33   # ffmpeg's defaults
JPEG_QUALITY = 95
DEDUP_KEEP = ("first", "largest", "sharpest")


@dataclass
class TrainConfig:
    """Everything that defines a training run (``vidcolor train``); stored in every checkpoint."""

    data: list[str]
    output: str
    model: str = DEFAULT_MODEL
    init: str | None = None          # weights to start from (fine-tuning)
    steps: int | None = None         # total optimizer steps (default: ``epochs`` epochs)
    epochs: int | None = None        # default DEFAULT_EPOCHS when neither is given
    batch_size: int = 16
    size: int = 128                  # training crop side
    lr: float | None = None          # default: TRAIN_LR of the loss (class/l1 1e-3, cgan 2e-4 as pix2pix)
    weight_decay: float = 1e-4
    warmup: float = 0.03             # share of the steps with a linear LR warm-up, then cosine to 0 (class, l1)
    val_split: float = 0.05
    val_size: int = 256              # validation images: short side resized to this, center crop
    seed: int = 0
    device: str = DEVICE
    loss: str | None = None          # "class" (rebalanced cross-entropy), "l1" (regression), "cgan" (pix2pix:
                                     # L1 + conditional adversarial); default: the model's (TRAIN_MODEL_LOSS)
    gan_lambda: float = 100.0        # cgan: weight of the L1 term (pix2pix's lambda)
    rebalance: float = 0.5           # lambda of the class rebalancing (0: none)
    temperature: float = 0.38        # annealed-mean temperature stored in the model
    checkpoint_every: int = 0        # also checkpoint every N steps (0: at epoch ends only)
    log_every: int = 50              # progress lines every N steps when stderr is not a TTY


DEFAULT_EPOCHS = 10
TRAIN_LOSSES = ("class", "l1", "cgan")
TRAIN_LR = {"class": 1e-3, "l1": 1e-3, "cgan": 2e-4}
#: cgan: Adam's betas (pix2pix: beta1 = 0.5); the LR is constant for the first half of the steps, then
#: falls linearly to 0 (pix2pix's "linear" policy)
GAN_BETAS = (0.5, 0.999)

# --- web app (vidcolor serve) -------------------------------------------------------
WEB_HOST = "127.0.0.1"           # loopback only unless asked; anything else is warned about
WEB_PORT = 8000
WEB_DATA = "vidcolor-data"       # jobs, uploads and results (a restart keeps them)
WEB_MAX_UPLOAD_MB = 2048         # per request
WEB_ZIP_MAX_BYTES = 8 << 30      # unpacked frames of one zip
WEB_ZIP_MAX_MEMBERS = 200_000
WEB_ZIP_MAX_RATIO = 200          # a member compressed more than this to one is a zip bomb
WEB_CODECS = ("libx264", "libvpx-vp9", "libx265", "ffv1", "prores_ks")   # first: plays in every browser
WEB_PLAYABLE = ("libx264", "libvpx-vp9")   # results a browser plays as they are; others get a preview
WEB_SCRUB_FRAMES = 48            # stills of the frame scrubber (evenly spaced)
WEB_PREVIEW_SIDE = 640           # longer side of the scrubber's stills


# --- many films, resume, Ray (colorize IN... -o OUTDIR/, --resume, --ray) --------------------
BATCH_SUFFIX = ""                # added to each output's stem under OUTDIR
BATCH_EXT = None                 # None: .mp4 for x264/x265, .mkv for the other codecs
VIDEO_INPUT_EXTS = (".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".mxf", ".ts", ".nut", ".mpg", ".mpeg", ".wmv")
SEGMENT_SECONDS = 60.0           # --resume / --ray: a closed segment (its own encoder keyframe) every N seconds
SEGMENT_SEAM_WEIGHT = 1e-3       # overlap: the frames before a segment after which the past's weight is below this
SEGMENT_MAX_OVERLAP = 250        # frames: at most this many (a strength near 1 would ask for thousands)
RAY_RETRIES = 3                  # re-runs of a task whose worker died


# --- checks: one error type (OptionError), one message per option ------------------

def check_choice(option: str, value, choices) -> str:
    if value not in choices:
        raise OptionError(f"unknown {option} {value}; choose one of: {', '.join(map(str, choices))}")
    return value


def check_int(option: str, value, lo: int = 1, hi: int | None = None) -> int:
    """An integer in [lo, hi]."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise OptionError(f"{option} must be a whole number, got {value!r}")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        raise OptionError(f"{option} must be {f'between {lo} and {hi}' if hi is not None else f'at least {lo}'}"
                          f" (got {v})")
    return v


def check_range(option: str, value, lo: float, hi: float | None = None, hi_open: bool = False,
                lo_open: bool = False) -> float:
    """A number in [lo, hi] (``hi_open``: [lo, hi); ``lo_open``: (lo, ...])."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{option} must be a number, got {value!r}") from None
    bad = not (v > lo if lo_open else v >= lo) or (hi is not None and (v >= hi if hi_open else v > hi))
    if bad:
        left = "(" if lo_open else "["
        rng = f"{left}{lo}, {hi}{')' if hi_open else ']'}" if hi is not None else (f"> {lo}" if lo_open else f">= {lo}")
        raise OptionError(f"{option} must be in {rng}, got {value!r}")
    return v


def check_batch_size(n) -> int:
    return check_int("--batch-size", n, 1)


def check_size(size) -> int | None:
    """``--size``: None (the model's own) or a multiple of 8, at least 32."""
    if size is None:
        return None
    s = check_int("--size", size, MIN_SIZE)
    if s % SIZE_MULTIPLE:
        raise OptionError(f"--size must be a multiple of {SIZE_MULTIPLE} and at least {MIN_SIZE} (got {s})")
    return s


def check_crf(crf) -> int | None:
    if crf is None:
        return None
    return check_int("--crf", crf, *CRF_RANGE)


def check_codec(codec: str) -> str:
    return check_choice("--codec", codec, sorted(CODECS))


def check_precision(precision: str) -> str:
    return check_choice("--precision", precision, PRECISIONS)


def check_device(device) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (availability is checked by the engine)."""
    d = str(device)
    if d in DEVICES or (d.startswith("cuda:") and d[5:].isdigit()):
        return d
    raise OptionError(f"unknown --device {d}; use auto, cpu or cuda (cuda:N)")


def check_fps(fps) -> Fraction | None:
    if fps is None:
        return None
    check_range("--fps", fps, 0.0, lo_open=True)
    return Fraction(fps).limit_denominator(1001000)
