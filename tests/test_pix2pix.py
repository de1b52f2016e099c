"""pix2pix (Isola et al. 2017): the U-Net generator and 70x70 PatchGAN, `vidcolor train --model pix2pix`
(its objective against an independent re-computation, bit-for-bit resume, training from a
`frames extract` manifest) and the trained generator as a colorizer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from vidcolor.cli import main
from vidcolor.errors import OptionError
from vidcolor.media import synth, write_image
from vidcolor.models import create_model, load_model
from vidcolor.models.pix2pix import PatchGAN, Pix2Pix
from vidcolor.options import GAN_BETAS
from vidcolor.train import TrainConfig, _set_rng_state, gan_lr_at, lab_batch, load_items, find_items, sample_batch, train

from conftest import decode_timed

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Six color photos of scikit-image, short side 96 (the trainer upsamples them to 160 for 128 crops)."""
    import cv2

    root = tmp_path_factory.mktemp("p2p_photos")
    for name in ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry"):
        img = synth.photo(name)
        h, w = img.shape[:2]
        s = 96 / min(h, w)
        write_image(root / f"{name}.png", cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA))
    return root


def _cfg(photos, out, **kw) -> TrainConfig:
    base = dict(data=[str(photos)], output=str(out), model="pix2pix", steps=4, batch_size=2, size=128,
                val_split=0.2, val_size=64, seed=3, device="cpu", log_every=0)
    base.update(kw)
    return TrainConfig(**base)


def test_generator_is_a_unet_and_the_discriminator_sees_70x70_patches():
    g = create_model("pix2pix").eval()
    assert isinstance(g, Pix2Pix) and g.depth == 7 and g.input_size == 256
    # encoder widths C32-C64-C128-C256-C256-C256-C256 (the paper's with ngf 32, capped at 8 ngf)
    assert [d[-1].num_features if isinstance(d[-1], torch.nn.BatchNorm2d) else d[-1].out_channels
            for d in g.down] == [32, 64, 128, 256, 256, 256, 256]
    # no BatchNorm on the first and the innermost down-step; dropout on the three innermost up-steps only
    assert [any(isinstance(m, torch.nn.BatchNorm2d) for m in d) for d in g.down] == [False] + [True] * 5 + [False]
    assert [any(isinstance(m, torch.nn.Dropout) for m in u) for u in g.up] == [False] * 4 + [True] * 3
    x = torch.randn(2, 1, 128, 128)
    ab = g(x)
    assert ab.shape == (2, 2, 128, 128) and float(ab.detach().abs().max()) <= 110.0   # tanh * 110
    # any size: padded, cropped back; eval mode is deterministic (dropout off)
    odd = torch.randn(1, 1, 150, 200)
    assert g(odd).shape == (1, 2, 150, 200) and torch.equal(g(odd), g(odd))
    with pytest.raises(OptionError, match="at least 128"):
        g.check_size(64)

    # the PatchGAN: the receptive field of one output logit is 70 x 70 input pixels
    d = PatchGAN(ndf=8).eval()
    inp = torch.zeros(1, 3, 256, 256, requires_grad=True)
    out = d.net(inp)
    assert out.shape[-2:] == (30, 30)
    out[0, 0, 15, 15].backward()
    rows = torch.nonzero(inp.grad[0].abs().sum(0).sum(1)).flatten()
    cols = torch.nonzero(inp.grad[0].abs().sum(0).sum(0)).flatten()
    assert int(rows[-1] - rows[0] + 1) == 70 and int(cols[-1] - cols[0] + 1) == 70
    assert g.discriminator().net[0].out_channels == 32


def test_gan_lr_is_constant_then_linear():
    assert gan_lr_at(0, 10, 2e-4) == 2e-4 and gan_lr_at(4, 10, 2e-4) == 2e-4
    assert gan_lr_at(5, 10, 2e-4) == pytest.approx(2e-4)
    assert gan_lr_at(9, 10, 2e-4) == pytest.approx(2e-4 * (1 - 4 / 6))
    assert all(gan_lr_at(s, 10, 1.0) >= gan_lr_at(s + 1, 10, 1.0) > 0 for s in range(9))


def test_one_training_step_matches_an_independent_computation(photos, tmp_path):
    """The trainer's step 3 from its step-2 checkpoint, recomputed here from the paper's equations:
    D minimizes (BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)) / 2, then G minimizes BCE(D(x, G(x)), 1)
    + 100 |y - G(x)|_1 (ab / 110), each with Adam(2e-4, betas (0.5, 0.999))."""
    out = tmp_path / "run.pt"
    losses = []
    full = train(_cfg(photos, out, steps=3, checkpoint_every=2, val_split=0.0), log=lambda m: None,
                 on_step=lambda s, v: losses.append(v))
    ck2 = tmp_path / "step2.pt"
    train(_cfg(photos, ck2, steps=2, val_split=0.0), log=lambda m: None)
    st = torch.load(ck2, weights_only=True)
    assert st["step"] == 2 and st["meta"]["config"]["loss"] == "cgan" and st["meta"]["config"]["lr"] == 2e-4
    assert st["meta"]["config"]["gan_lambda"] == 100.0
    assert set(st) >= {"state_dict", "optimizer", "discriminator", "optimizer_d", "rng"}

    g = Pix2Pix()
    g.load_state_dict(st["state_dict"])
    d = g.discriminator()
    d.load_state_dict(st["discriminator"])
    g.train()
    d.train()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=GAN_BETAS)
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=GAN_BETAS)
    opt_g.load_state_dict(st["optimizer"])
    opt_d.load_state_dict(st["optimizer_d"])
    for o in (opt_g, opt_d):
        for grp in o.param_groups:
            grp["lr"] = 2e-4 * (1 - 1 / 3)        # step index 2 of 3: the linear half (independent of gan_lr_at)
    sampler = np.random.default_rng(0)
    _set_rng_state(st["rng"], sampler)
    images = load_items(find_items([photos]), 160).images
    l_norm, ab = lab_batch(sample_batch(images, sampler, 2, 128), torch.device("cpu"))

    fake = g(l_norm)
    pf = d(l_norm, fake.detach())                # the trainer's order (BatchNorm's running statistics)
    pr = d(l_norm, ab)
    loss_d = (F.binary_cross_entropy_with_logits(pr, torch.ones_like(pr))
              + F.binary_cross_entropy_with_logits(pf, torch.zeros_like(pf))) / 2
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    for p in d.parameters():
        p.requires_grad_(False)
    p = d(l_norm, fake)
    loss_g = F.binary_cross_entropy_with_logits(p, torch.ones_like(p)) + 100.0 * (fake - ab).abs().mean() / 110.0
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()

    for k, v in g.state_dict().items():
        assert torch.allclose(v.float(), full["state_dict"][k].float(), rtol=1e-4, atol=1e-6), k
    for k, v in d.state_dict().items():
        assert torch.allclose(v.float(), full["discriminator"][k].float(), rtol=1e-4, atol=1e-6), k
    assert losses[-1] == pytest.approx(float(loss_g.detach()), rel=1e-5)


def test_resume_continues_bit_for_bit(photos, tmp_path):
    full = []
    train(_cfg(photos, tmp_path / "a.pt", steps=6, checkpoint_every=3), on_step=lambda s, v: full.append(v),
          log=lambda m: None)

    class Crash(Exception):
        pass

    def crash_at_4(step, loss):
        if step == 4:
            raise Crash
    with pytest.raises(Crash):
        train(_cfg(photos, tmp_path / "b.pt", steps=6, checkpoint_every=3), on_step=crash_at_4, log=lambda m: None)
    assert torch.load(tmp_path / "b.pt", weights_only=True)["step"] == 3
    resumed = []
    ck = train(_cfg(photos, tmp_path / "b.pt", lr=1.0), resume=True, on_step=lambda s, v: resumed.append((s, v)),
               log=lambda m: None)
    assert [s for s, _ in resumed] == [4, 5, 6]
    assert [v for _, v in resumed] == full[3:]                 # exact equality
    a = torch.load(tmp_path / "a.pt", weights_only=True)
    for part in ("state_dict", "discriminator"):
        assert all(torch.equal(a[part][k], v) for k, v in ck[part].items()), part
    hist = ck["meta"]["history"][-1]
    assert {"loss", "loss_d", "adv", "l1", "auc", "auc_gray", "colorfulness"} <= set(hist)
    assert hist["loss"] == pytest.approx(hist["adv"] + 100 * hist["l1"], rel=1e-6)


def test_trains_from_a_frames_extract_manifest_and_colorizes(tmp_path):
    """The seed's pipeline: video -> `frames extract` (dedup) -> manifest -> pix2pix -> colorize."""
    frames = synth.pan(synth.photo("coffee"), 24, 192, 160, step=6.0)
    video = synth.write_clip(tmp_path / "color.mp4", frames, fps=24, audio_codec=None,
                             options={"crf": "10", "preset": "ultrafast"})
    r = CliRunner().invoke(main, ["frames", "extract", str(video), "-o", str(tmp_path / "frames"), "-q"])
    assert r.exit_code == 0, r.output
    manifest = tmp_path / "frames" / "manifest.jsonl"
    rows = [json.loads(x) for x in manifest.read_text().splitlines() if x.strip()]
    assert 2 <= len(rows) <= 24
    out, w = tmp_path / "p2p.pt", tmp_path / "p2p_w.pt"
    r = CliRunner().invoke(main, ["train", str(manifest), "-o", str(out), "--model", "pix2pix", "--steps", "2",
                                  "--batch-size", "2", "--size", "128", "--val-split", "0", "--export", str(w)])
    assert r.exit_code == 0, r.output
    ck = torch.load(out, weights_only=True)
    assert ck["meta"]["config"]["loss"] == "cgan" and len(ck["meta"]["train_files"]) == len(rows)
    assert set(ck["meta"]["train_files"]) == {str(tmp_path / "frames" / row["file"]) for row in rows}
    m = load_model("pix2pix", weights=w)                       # strict load of the exported generator
    assert all(torch.equal(m.state_dict()[k], v) for k, v in ck["state_dict"].items())

    gray = tmp_path / "bw.mp4"
    synth.write_clip(gray, synth.to_gray(frames[:10]), fps=24, audio_codec=None)
    r = CliRunner().invoke(main, ["colorize", str(gray), "-o", str(tmp_path / "c.mp4"), "--model", "pix2pix",
                                  "--weights", str(w), "-q"])
    assert r.exit_code == 0, r.output
    assert len(decode_timed(tmp_path / "c.mp4")) == 10


def test_wrong_pairings_are_one_line_errors(photos, tmp_path):
    r = CliRunner().invoke(main, ["train", str(photos), "-o", str(tmp_path / "x.pt"), "--model", "compact",
                                  "--loss", "cgan", "--steps", "1"])
    assert r.exit_code == 1 and "--model pix2pix" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["train", str(photos), "-o", str(tmp_path / "y.pt"), "--model", "pix2pix",
                                  "--loss", "class", "--steps", "1", "--size", "128"])
    assert r.exit_code == 1 and "not a classification colorizer" in r.output
    r = CliRunner().invoke(main, ["train", str(photos), "-o", str(tmp_path / "z.pt"), "--model", "pix2pix",
                                  "--steps", "1", "--size", "64"])
    assert r.exit_code == 1 and "at least 128" in r.output
    assert not any(tmp_path.iterdir())                          # nothing written
