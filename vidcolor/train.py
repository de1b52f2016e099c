"""Train or fine-tune a colorizer on folders of color images, videos or manifests.

``train(TrainConfig(data=[...], output="run.pt"))`` is what ``vidcolor train``
runs. The data are decoded once, resized so their short side is
``1.25 * size`` and kept in memory as uint8 RGB; every step draws a batch of
random ``size`` x ``size`` crops with random horizontal flips (one seeded
generator), converts it to Lab on the device and minimizes the loss of Zhang
et al. (2016) (:func:`vidcolor.models.abbins.rebalanced_ce`) or, with
``loss="l1"``, an L1 regression of the decoded mean ab; ``--model pix2pix`` trains with
``loss="cgan"``, the conditional GAN of Isola et al. (2017) (:class:`GanObjective`: the generator
against its PatchGAN, L1 + adversarial). One loop serves both: an objective owns its
optimizers, learning-rate schedule and checkpoint part. Each epoch ends with a
validation pass (AuC, colorfulness, PSNR, next to the gray baseline) and an
atomic checkpoint (``tmp`` + ``os.replace``) that holds everything needed to
resume bit for bit (model, optimizer, step, all RNG states) and to reproduce
the run (config, data list sha256, train/val split, command, seed, versions).
Checkpoints load with ``torch.load(weights_only=True)``; ``export_weights``
strips one down to the model weights that ``load_model(..., weights=PATH)``
takes.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import platform
import random
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import cv2
import kornia
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import __version__
from .color import AB_NORM, lab_to_rgb, normalize_ab, normalize_l, rgb_to_lab, to_float_rgb
from .errors import InputError, OptionError, OutputError
from .metrics.image import auc_ab, colorfulness, psnr
from .media import IMAGE_EXTS, VIDEO_EXTS, discover, open_source, read_image, to_uint8
from .media.files import make_parent, write_bytes
from .frames.manifest import frame_files
from .options import BATCH_SIZE, DEFAULT_EPOCHS, GAN_BETAS, TRAIN_LOSSES, TRAIN_LR, TrainConfig, check_choice
from .pipeline import resolve_device
from .weights import load_state_dict
from .models import create_model, get_info, load_weights_into
from .models.abbins import annealed_mean, empirical_prior, nearest_bin, rebalance_weights, rebalanced_ce

#: most frames taken from one video (evenly spaced)
MAX_VIDEO_FRAMES = 300


@dataclass(frozen=True)
class Item:
    """One training sample source: an image file, or one frame of a video."""

    path: str
    frame: int | None = None


@dataclass
class Dataset:
    """Decoded training data: uint8 HxWx3 RGB arrays and where they came from."""

    images: list[np.ndarray]
    items: list[Item] = field(default_factory=list)


# ----------------------------------------------------------------------------- data

def find_items(data: Sequence[str | os.PathLike]) -> list[Item]:
    """Expand DATA arguments into items: image folders (recursive), image files,
    videos (one item each, frames taken at load time) and JSONL manifests of
    ``vidcolor frames extract`` (their ``file`` field, relative to the manifest's folder).
    Raises InputError for a missing path or when nothing usable is found.
    """
    items: list[Item] = []
    for spec in data:
        p = Path(spec)
        if p.is_dir():
            items += [Item(str(f)) for f in discover(p, IMAGE_EXTS | VIDEO_EXTS, recursive=True)]
        elif not p.is_file():
            raise InputError(f"training data not found: {p}; pass folders of color images, videos or manifests")
        elif p.suffix.lower() == ".jsonl":
            items += [Item(str(f)) for f in frame_files(p)]
        elif p.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS:
            items.append(Item(str(p)))
        else:
            raise InputError(f"{p}: not an image, a video or a .jsonl manifest of `vidcolor frames extract`")
    if not items:
        raise InputError(f"no images or videos found in {', '.join(map(str, data))}")
    return items


def data_sha256(items: Sequence[Item]) -> str:
    """sha256 of the item list (path, frame, file size per line): identifies the data of a run."""
    h = hashlib.sha256()
    for it in items:
        size = os.path.getsize(it.path) if os.path.exists(it.path) else -1
        h.update(f"{it.path}\t{it.frame}\t{size}\n".encode())
    return h.hexdigest()


def split_items(items: Sequence[Item], val_split: float, seed: int) -> tuple[list[Item], list[Item]]:
    """Seeded random split into (train, val); val gets ``round(n * val_split)`` items (at least 1
    when ``val_split > 0`` and there are 2 items or more)."""
    if not 0.0 <= val_split < 1.0:
        raise OptionError(f"--val-split must be in [0, 1), got {val_split}")
    n = len(items)
    n_val = min(n - 1, max(1, round(n * val_split))) if val_split > 0 and n >= 2 else 0
    order = np.random.default_rng(seed).permutation(n)
    val = sorted(order[:n_val].tolist())
    train = sorted(order[n_val:].tolist())
    return [items[i] for i in train], [items[i] for i in val]


def resize_short(rgb: np.ndarray, short: int) -> np.ndarray:
    """uint8 HxWx3 -> the same with its short side = ``short`` (area when shrinking)."""
    h, w = rgb.shape[:2]
    s = short / min(h, w)
    if s == 1.0:
        return rgb
    size = (max(short, round(w * s)), max(short, round(h * s)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def load_items(items: Sequence[Item], short: int, progress: bool = False) -> Dataset:
    """Decode every item (videos: up to MAX_VIDEO_FRAMES evenly spaced frames), resized
    to short side ``short``, uint8 RGB."""
    out = Dataset([])
    for it in tqdm(items, desc="loading", unit="file", disable=not progress, file=sys.stderr):
        if Path(it.path).suffix.lower() in VIDEO_EXTS:
            with open_source(it.path) as src:
                stride = max(1, math.ceil((src.frame_count or MAX_VIDEO_FRAMES) / MAX_VIDEO_FRAMES))
                for fr in src:
                    if fr.index % stride == 0:
                        out.images.append(resize_short(to_uint8(fr.rgb), short))
                        out.items.append(Item(it.path, fr.index))
        else:
            out.images.append(resize_short(to_uint8(read_image(Path(it.path))), short))
            out.items.append(it)
    return out


def sample_batch(images: Sequence[np.ndarray], rng: np.random.Generator, n: int, size: int) -> torch.Tensor:
    """``n`` random ``size`` x ``size`` crops (random image, position, horizontal flip) -> uint8 NHWC."""
    out = np.empty((n, size, size, 3), np.uint8)
    for k in range(n):
        img = images[int(rng.integers(len(images)))]
        y = int(rng.integers(img.shape[0] - size + 1))
        x = int(rng.integers(img.shape[1] - size + 1))
        crop = img[y:y + size, x:x + size]
        out[k] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return torch.from_numpy(out)


def center_crops(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """Center ``size`` x ``size`` crop of each image -> uint8 NHWC."""
    crops = []
    for img in images:
        y, x = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
        crops.append(img[y:y + size, x:x + size])
    return torch.from_numpy(np.stack(crops))


def lab_batch(rgb_u8: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 NHWC RGB -> (normalized L N1HW, ab N2HW in Lab units) on ``device``."""
    lab = rgb_to_lab(to_float_rgb(rgb_u8.to(device)))
    return normalize_l(lab[:, :1]), lab[:, 1:]


def bin_counts(images: Sequence[np.ndarray], centers: torch.Tensor, stride: int = 4, chunk: int = 64) -> torch.Tensor:
    """How often each bin is the nearest one over all pixels (images area-shrunk by ``stride``,
    the resolution of the logits). Returns float64 Q."""
    counts = torch.zeros(centers.shape[0], dtype=torch.float64)
    for i in range(0, len(images), chunk):
        for img in images[i:i + chunk]:
            small = cv2.resize(img, (img.shape[1] // stride, img.shape[0] // stride), interpolation=cv2.INTER_AREA)
            _, ab = lab_batch(torch.from_numpy(small)[None], torch.device("cpu"))
            counts += torch.bincount(nearest_bin(ab, centers).reshape(-1), minlength=centers.shape[0]).double()
    return counts


# ----------------------------------------------------------------------------- training

def lr_at(step: int, total: int, base: float, warmup: float) -> float:
    """Learning rate of step ``step`` (0-based): linear warm-up, then cosine decay to 0."""
    w = max(1, round(total * warmup))
    if step < w:
        return base * (step + 1) / w
    return base * 0.5 * (1.0 + math.cos(math.pi * (step - w) / max(1, total - w)))


def bin_centers(model: torch.nn.Module) -> torch.Tensor:
    """The ab bin centers (Qx2, Lab units) a classification colorizer predicts over."""
    if hasattr(model, "ab_centers"):
        return model.ab_centers
    if hasattr(model, "logits") and isinstance(getattr(model, "model_out", None), torch.nn.Conv2d):
        # ECCV16: the release keeps them in its bias-free 1x1 output conv
        return model.model_out.weight.detach().view(2, -1).t() * AB_NORM
    raise OptionError(f"model '{model.name}' is not a classification colorizer with ab bins; "
                      "train --model compact, or eccv16 with --init")


def compute_loss(model, l_norm: torch.Tensor, ab: torch.Tensor, loss: str, weights: torch.Tensor | None) -> torch.Tensor:
    """Training loss of a batch: rebalanced cross-entropy over the bins, or L1 of the mean ab."""
    logits = model.logits(l_norm)
    centers = bin_centers(model)
    if loss == "class":
        return rebalanced_ce(logits, ab, centers, weights)
    target = F.adaptive_avg_pool2d(ab, logits.shape[-2:])
    return F.l1_loss(normalize_ab(annealed_mean(logits, centers, 1.0)), normalize_ab(target))


def gan_lr_at(step: int, total: int, base: float) -> float:
    """pix2pix's "linear" policy: ``base`` for the first half of the steps, then linearly down towards 0."""
    n_const = total // 2
    return base * (1.0 - max(0, step - n_const) / (total - n_const + 1))


class ClassObjective:
    """``class`` / ``l1``: one AdamW on a classification colorizer (Zhang et al. 2016, or the L1 of
    its decoded mean). Its checkpoint part: ``optimizer`` and the empirical ab ``prior``."""

    def __init__(self, model, cfg: TrainConfig, device: torch.device) -> None:
        if not hasattr(model, "logits"):
            own = f"; train {cfg.model} with --loss {model.train_loss}" if model.train_loss != cfg.loss else ""
            raise OptionError(f"--model {cfg.model} is not a classification colorizer with ab bins: --loss {cfg.loss} "
                              f"trains compact, or eccv16 with --init{own}")
        if not hasattr(model, "ab_centers") and not cfg.init:
            raise OptionError(f"--model {cfg.model} is fine-tuned from its released weights (they hold its ab bins): "
                              "pass --init PATH")
        self.model, self.cfg = model, cfg
        self.centers = bin_centers(model).to(device)
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.prior: torch.Tensor | None = None
        self.weights: torch.Tensor | None = None

    def start(self, images: Sequence[np.ndarray], fine_tune: bool) -> None:
        """A new run: the decoding temperature, the class-rebalancing prior of the training pixels."""
        if hasattr(self.model, "temperature"):
            self.model.temperature.fill_(self.cfg.temperature if self.cfg.loss == "class" else 1.0)
        centers = self.centers.cpu()
        self._set_prior(empirical_prior(bin_counts(images, centers), centers))

    def _set_prior(self, prior: torch.Tensor) -> None:
        self.prior = prior
        rb = self.cfg.rebalance
        self.weights = rebalance_weights(prior, rb).to(self.centers.device) if rb > 0 else None

    def state(self) -> dict:
        return {"optimizer": self.opt.state_dict(), "prior": self.prior.cpu()}

    def load(self, state: dict) -> None:
        self.opt.load_state_dict(state["optimizer"])
        self._set_prior(state["prior"])

    def set_lr(self, step: int, total: int) -> None:
        for g in self.opt.param_groups:
            g["lr"] = lr_at(step, total, self.cfg.lr, self.cfg.warmup)

    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def step(self, l_norm: torch.Tensor, ab: torch.Tensor, autocast) -> dict:
        with autocast:
            loss = compute_loss(self.model, l_norm, ab, self.cfg.loss, self.weights)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": float(loss.detach())}


class GanObjective:
    """``cgan``: pix2pix (Isola et al. 2017). The generator (the colorizer) against its PatchGAN on
    ``(L, ab)``; the discriminator minimizes half the binary cross-entropy of real and fake
    patches, the generator the adversarial term plus ``gan_lambda`` x L1 of ab / 110. Adam (2e-4,
    beta1 0.5) for each. Its checkpoint part: ``optimizer`` (the generator's), ``discriminator``
    and ``optimizer_d``."""

    def __init__(self, model, cfg: TrainConfig, device: torch.device) -> None:
        if not hasattr(model, "discriminator"):
            raise OptionError(f"--loss cgan trains a generator against a discriminator: --model pix2pix, "
                              f"not {cfg.model}")
        self.model, self.cfg = model, cfg
        self.disc = model.discriminator().to(device).train()
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=GAN_BETAS)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.lr, betas=GAN_BETAS)

    def start(self, images: Sequence[np.ndarray], fine_tune: bool) -> None:
        """A new run: the paper's N(0, 0.02) initialization (of the generator too, unless --init)."""
        from .models.pix2pix import init_weights
        if not fine_tune:
            init_weights(self.model)
        init_weights(self.disc)

    def state(self) -> dict:
        return {"optimizer": self.opt.state_dict(), "discriminator": self.disc.state_dict(),
                "optimizer_d": self.opt_d.state_dict()}

    def load(self, state: dict) -> None:
        self.opt.load_state_dict(state["optimizer"])
        self.disc.load_state_dict(state["discriminator"])
        self.opt_d.load_state_dict(state["optimizer_d"])

    def set_lr(self, step: int, total: int) -> None:
        for opt in (self.opt, self.opt_d):
            for g in opt.param_groups:
                g["lr"] = gan_lr_at(step, total, self.cfg.lr)

    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def step(self, l_norm: torch.Tensor, ab: torch.Tensor, autocast) -> dict:
        with autocast:
            fake = self.model(l_norm)
        # the discriminator: real (L, ab) patches -> 1, generated ones -> 0
        self.disc.requires_grad_(True)
        with autocast:
            p_fake = self.disc(l_norm, fake.detach())
            p_real = self.disc(l_norm, ab)
            loss_d = 0.5 * (F.binary_cross_entropy_with_logits(p_fake, torch.zeros_like(p_fake))
                            + F.binary_cross_entropy_with_logits(p_real, torch.ones_like(p_real)))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # the generator: fool the discriminator, stay close to the true ab
        self.disc.requires_grad_(False)
        with autocast:
            p = self.disc(l_norm, fake)
            adv = F.binary_cross_entropy_with_logits(p, torch.ones_like(p))
            l1 = F.l1_loss(normalize_ab(fake), normalize_ab(ab))
            loss = adv + self.cfg.gan_lambda * l1
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": float(loss.detach()), "loss_d": float(loss_d.detach()), "adv": float(adv.detach()),
                "l1": float(l1.detach())}


OBJECTIVES = {"class": ClassObjective, "l1": ClassObjective, "cgan": GanObjective}


def resolve_config(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with its defaults that depend on the model filled in: the model's own loss
    (pix2pix: cgan, else class) and that loss's learning rate (:data:`~vidcolor.options.TRAIN_LR`)."""
    loss = cfg.loss or getattr(get_info(cfg.model).factory, "train_loss", "class")
    check_choice("--loss", loss, TRAIN_LOSSES)
    return replace(cfg, loss=loss, lr=cfg.lr if cfg.lr is not None else TRAIN_LR[loss])


@torch.no_grad()
def validate(model, rgb_u8: torch.Tensor, device: torch.device, batch_size: int = BATCH_SIZE) -> dict:
    """Metrics over validation images (uint8 NHWC, all the same size) at the model's
    temperature, next to the gray baseline: AuC (ab L2 thresholds 0..150), colorfulness
    (Hasler & Suesstrunk), PSNR; means over the images."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    for i in range(0, rgb_u8.shape[0], batch_size):
        rgb = to_float_rgb(rgb_u8[i:i + batch_size].to(device))
        lab = rgb_to_lab(rgb)
        ab_true = lab[:, 1:]
        ab = model(normalize_l(lab[:, :1])).float()
        pred = lab_to_rgb(torch.cat([lab[:, :1], ab], 1))
        gray = lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(ab)], 1))
        vals = {
            "auc": auc_ab(ab, ab_true), "auc_gray": auc_ab(torch.zeros_like(ab), ab_true),
            "psnr": psnr(pred, rgb), "psnr_gray": psnr(gray, rgb),
            "colorfulness": colorfulness(pred), "colorfulness_true": colorfulness(rgb),
        }
        for k, v in vals.items():
            sums[k] = sums.get(k, 0.0) + float(v.double().sum())
    model.train(was_training)
    n = max(1, rgb_u8.shape[0])
    return {k: v / n for k, v in sums.items()}


def _rng_state(sampler: np.random.Generator) -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
        "sampler": sampler.bit_generator.state,
    }


def _set_rng_state(state: dict, sampler: np.random.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, key, *rest = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), *rest))
    random.setstate(state["python"])
    sampler.bit_generator.state = state["sampler"]


def save_checkpoint(path: str | os.PathLike, ckpt: dict) -> None:
    """torch.save to a temporary name and rename (:func:`vidcolor.media.files.atomic_path`):
    a crash or a full disk never leaves a half-written checkpoint."""
    buf = io.BytesIO()
    torch.save(ckpt, buf)          # torch reports a failed file write as a RuntimeError: write the bytes ourselves
    write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A training checkpoint, read with ``weights_only=True``."""
    load_state_dict(path)                     # the safety and format checks, with their messages
    return torch.load(path, map_location="cpu", weights_only=True)


def load_model_state(model: torch.nn.Module, state_dict: dict) -> None:
    """Strict load, except that buffers added to the model after the checkpoint was written
    (decoding settings) keep their defaults."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict and k in dict(model.named_buffers())]
    model.load_state_dict({**{k: own[k] for k in missing}, **state_dict})


def versions() -> dict:
    return {"vidcolor": __version__, "torch": str(torch.__version__), "numpy": np.__version__,
            "kornia": kornia.__version__, "python": platform.python_version()}


def _stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def train(cfg: TrainConfig, resume: bool = False, steps: int | None = None, command: str | None = None,
          on_step: Callable[[int, float], None] | None = None,
          log: Callable[[str], None] = _stderr_log) -> dict:
    """Run (or, with ``resume``, continue from ``cfg.output``) a training run; returns the final checkpoint.

    On resume the checkpoint's own config is used, except that ``steps`` (when given)
    sets a new total (to extend or shorten the run; the LR schedule follows the new
    total from the current step); its data list must hash to the same sha256.
    ``on_step(step, loss)`` is called after every optimizer step (1-based).
    """
    out = Path(cfg.output)
    state = None
    if resume:
        if not out.is_file():
            raise InputError(f"--resume: no checkpoint at {out}; run without --resume to start")
        state = load_checkpoint(out)
        cfg = TrainConfig(**{**state["meta"]["config"], "output": str(out), **({"steps": steps} if steps else {})})
    elif out.exists():
        raise OutputError(f"{out} exists; pass --resume to continue that run or choose another -o")
    cfg = resolve_config(cfg)
    make_parent(out)                              # fail now, not at the first checkpoint
    if cfg.size % 16 or cfg.size < 32:
        raise OptionError(f"--size must be a multiple of 16 and at least 32, got {cfg.size}")
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    sampler = np.random.default_rng(cfg.seed)

    items = find_items(cfg.data)
    sha = data_sha256(items)
    if state is not None and state["meta"]["data_sha256"] != sha:
        raise InputError(f"the data of {out} changed since it was written (sha256 of the file list differs); "
                         "resume with the same files or start a new run")
    train_items, val_items = split_items(items, cfg.val_split, cfg.seed)
    tty = sys.stderr.isatty()
    log(f"data: {len(items)} files ({len(train_items)} train, {len(val_items)} val), sha256 {sha[:16]}")
    data = load_items(train_items, round(cfg.size * 1.25), progress=tty)
    val = center_crops(load_items(val_items, cfg.val_size, progress=tty).images, cfg.val_size) if val_items else None

    model = create_model(cfg.model)
    if state is not None:
        load_model_state(model, state["state_dict"])
    elif cfg.init:
        load_weights_into(model, cfg.init)
    model.check_size(cfg.size)
    model.to(device).train()
    objective = OBJECTIVES[cfg.loss](model, cfg, device)
    steps_per_epoch = max(1, math.ceil(len(data.images) / cfg.batch_size))
    total = cfg.steps or steps_per_epoch * (cfg.epochs or DEFAULT_EPOCHS)

    if state is None:
        objective.start(data.images, fine_tune=bool(cfg.init))
        step, history = 0, []
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        elapsed0 = 0.0
    else:
        objective.load(state)
        step, history = state["step"], state["meta"]["history"]
        started, elapsed0 = state["meta"]["started"], state["meta"]["elapsed_s"]
        _set_rng_state(state["rng"], sampler)
    meta = {
        "config": asdict(cfg), "data_sha256": sha, "n_items": len(items),
        "train_files": [it.path for it in train_items], "val_files": [it.path for it in val_items],
        "n_train_images": len(data.images), "seed": cfg.seed,
        "command": state["meta"]["command"] if state else command or shlex.join(sys.argv),
        "resumed_with": (state["meta"].get("resumed_with", []) + [command or shlex.join(sys.argv)]) if state else [],
        "versions": versions(), "machine": f"{platform.machine()}, {os.cpu_count()} CPU, device {device}",
        "started": started, "history": history, "total_steps": total,
    }
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    t0 = time.monotonic()
    bar = tqdm(total=total, initial=step, unit="step", disable=not tty, file=sys.stderr, dynamic_ncols=True)
    sums: dict[str, float] = {}
    run_n, t_last, n_last = 0, time.monotonic(), step

    def checkpoint() -> dict:
        meta.update(step=step, epoch=step / steps_per_epoch, elapsed_s=elapsed0 + time.monotonic() - t0)
        ckpt = {"state_dict": model.state_dict(), "step": step, "rng": _rng_state(sampler), "meta": meta,
                **objective.state()}
        save_checkpoint(out, ckpt)
        return ckpt

    def means() -> dict:
        return {k: v / max(1, run_n) for k, v in sums.items()}

    ckpt = None
    while step < total:
        objective.set_lr(step, total)
        l_norm, ab = lab_batch(sample_batch(data.images, sampler, cfg.batch_size, cfg.size), device)
        losses = objective.step(l_norm, ab, autocast)
        step += 1
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v
        run_n += 1
        if on_step is not None:
            on_step(step, losses["loss"])
        speed = (step - n_last) * cfg.batch_size / max(1e-9, time.monotonic() - t_last)
        bar.set_postfix(loss=f"{sums['loss'] / run_n:.4f}", img_s=f"{speed:.1f}", refresh=False)
        bar.update(1)
        if cfg.log_every and step % cfg.log_every == 0:
            if not tty:
                log(f"step {step}/{total} " + " ".join(f"{k} {v:.4f}" for k, v in means().items())
                    + f" lr {objective.lr():.2e} {speed:.1f} img/s")
            t_last, n_last = time.monotonic(), step
        end_epoch = step % steps_per_epoch == 0 or step == total
        if end_epoch:
            rec = {"step": step, "epoch": round(step / steps_per_epoch, 3), **means(),
                   "elapsed_s": round(elapsed0 + time.monotonic() - t0, 1)}
            if val is not None:
                rec.update(validate(model, val, device))
            history.append(rec)
            log("epoch " + " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in rec.items()))
            sums, run_n = {}, 0
        if end_epoch or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0):
            ckpt = checkpoint()
    bar.close()
    return ckpt if ckpt is not None else checkpoint()


def decode_bias(checkpoint: dict, unbalance: float) -> torch.Tensor:
    """``-unbalance * log w`` for the class weights w the run trained with (zeros when it used none)."""
    cfg = checkpoint["meta"]["config"]
    if cfg["loss"] != "class" or cfg["rebalance"] <= 0:
        return torch.zeros_like(checkpoint["prior"])
    return -float(unbalance) * rebalance_weights(checkpoint["prior"], cfg["rebalance"]).log()


def sweep_decoding(checkpoint: str | os.PathLike, temperatures: Sequence[float], unbalances: Sequence[float] = (0.0,),
                   device: str = "cpu") -> list[dict]:
    """Validation metrics (see :func:`validate`) of a checkpoint's model for each pair of
    annealed-mean temperature and rebalancing undone at decode time (see
    :mod:`vidcolor.models.compact`), on the run's own validation files; one dict per pair."""
    ck = load_checkpoint(checkpoint)
    cfg = ck["meta"]["config"]
    dev = resolve_device(device)
    model = create_model(cfg["model"])
    if not hasattr(model, "temperature"):
        raise OptionError(f"model '{model.name}' has no annealed-mean temperature")
    load_model_state(model, ck["state_dict"])
    model.to(dev)
    val = center_crops(load_items([Item(p) for p in ck["meta"]["val_files"]], cfg["val_size"]).images, cfg["val_size"])
    rows = []
    for u in unbalances:
        model.decode_bias.copy_(decode_bias(ck, u))
        for t in temperatures:
            model.temperature.fill_(float(t))
            rows.append({"temperature": float(t), "unbalance": float(u), **validate(model, val, dev)})
    return rows


def export_weights(checkpoint: str | os.PathLike, output: str | os.PathLike, temperature: float | None = None,
                   unbalance: float | None = None) -> Path:
    """Write the model weights of a training checkpoint (plus a small ``meta`` of primitives) to
    ``output``, atomically. ``temperature`` and ``unbalance`` (see :func:`sweep_decoding`)
    override the decoding settings stored in the model."""
    ck = load_checkpoint(checkpoint)
    m = ck["meta"]
    model = create_model(m["config"]["model"])
    load_model_state(model, ck["state_dict"])
    if temperature is not None:
        model.temperature.fill_(float(temperature))
    if unbalance is not None:
        model.decode_bias.copy_(decode_bias(ck, unbalance))
    meta = {"model": m["config"]["model"], "step": ck["step"], "seed": m["seed"], "command": m["command"],
            "resumed_with": m.get("resumed_with", []), "data_sha256": m["data_sha256"], "versions": m["versions"],
            "started": m["started"], "elapsed_s": m["elapsed_s"], "machine": m["machine"]}
    save_checkpoint(output, {"state_dict": model.state_dict(), "meta": meta})
    return Path(output)
