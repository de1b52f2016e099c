"""`vidcolor train`: data discovery, loss going down, bit-for-bit resume, safe checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from skimage import data as skdata

from vidcolor.errors import InputError, OutputError
from vidcolor.media import write_image
from vidcolor.train import (TrainConfig, bin_centers, data_sha256, export_weights, find_items, lr_at, sample_batch,
                            split_items, train)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A tiny color image folder (scikit-image's photos, 96 px short side) and a manifest."""
    import cv2

    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    names = []
    for i, name in enumerate(("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field")):
        img = getattr(skdata, name)()
        h, w = img.shape[:2]
        s = 96 / min(h, w)
        small = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        rel = f"sub/{name}.png" if i % 2 else f"{name}.png"
        write_image(root / rel, small)
        names.append(rel)
    (root / "frames.jsonl").write_text("".join(json.dumps({"file": n, "index": k}) + "\n" for k, n in enumerate(names)))
    return root


def _cfg(photos, out, **kw) -> TrainConfig:
    base = dict(data=[str(photos)], output=str(out), steps=8, batch_size=4, size=32, val_split=0.2, val_size=64,
                lr=3e-3, seed=1, device="cpu", log_every=0)
    base.update(kw)
    return TrainConfig(**base)


def test_find_items_folders_manifests_and_errors(photos, tmp_path):
    items = find_items([photos])
    assert len(items) == 5 and all(it.path.endswith(".png") for it in items)    # recursive, images only
    from_manifest = find_items([photos / "frames.jsonl"])
    assert sorted(it.path for it in from_manifest) == sorted(it.path for it in items)
    with pytest.raises(InputError, match="not found"):
        find_items([tmp_path / "nope"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"file": "missing.png"}\n')
    with pytest.raises(InputError, match="missing.png is missing"):
        find_items([bad])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images or videos"):
        find_items([tmp_path / "empty"])


def test_split_is_seeded_disjoint_and_hash_tracks_the_list(photos):
    items = find_items([photos])
    tr, va = split_items(items, 0.2, seed=3)
    assert len(va) == 1 and len(tr) == 4 and not set(tr) & set(va)
    assert split_items(items, 0.2, seed=3) == (tr, va)
    assert data_sha256(items) == data_sha256(list(items))
    assert data_sha256(items) != data_sha256(items[:-1])


def test_lr_schedule_and_crops():
    assert lr_at(0, 100, 1.0, 0.1) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 0.1) == pytest.approx(1.0)
    assert lr_at(55, 100, 1.0, 0.1) == pytest.approx(0.5)          # half way through the cosine
    img = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    batch = sample_batch([img], np.random.default_rng(0), 6, 8)
    assert batch.shape == (6, 8, 8, 3) and batch.dtype == torch.uint8
    for crop in batch.numpy():
        found = any(np.array_equal(c, img[y:y + 8, x:x + 8]) for y in range(3) for x in range(5)
                    for c in (crop, crop[:, ::-1]))
        assert found


def test_training_lowers_the_loss_and_writes_a_safe_checkpoint(photos, tmp_path):
    """Cross-entropy on a fixed batch of the training images: trained model vs its initialization."""
    from vidcolor.models import create_model
    from vidcolor.models.abbins import rebalanced_ce
    from vidcolor.train import lab_batch, load_items

    out = tmp_path / "run.pt"
    ck = train(_cfg(photos, out, steps=30, size=32, val_split=0.0), log=lambda m: None)
    images = load_items(find_items([photos]), 40).images
    l_norm, ab = lab_batch(sample_batch(images, np.random.default_rng(7), 16, 32), torch.device("cpu"))
    torch.manual_seed(1)
    model = create_model("compact").eval()         # the run's initialization (same seed)

    def loss() -> float:
        with torch.no_grad():
            return float(rebalanced_ce(model.logits(l_norm), ab, model.ab_centers, None))
    before = loss()
    model.load_state_dict(ck["state_dict"])
    assert loss() < 0.9 * before
    ck = torch.load(out, map_location="cpu", weights_only=True)        # no code, only data
    meta = ck["meta"]
    assert ck["step"] == 30 and meta["seed"] == 1 and len(meta["data_sha256"]) == 64
    assert meta["config"]["steps"] == 30 and meta["versions"]["torch"] == str(torch.__version__)
    assert len(meta["train_files"]) == 5 and meta["val_files"] == []
    assert set(ck["rng"]) >= {"torch", "numpy", "python", "sampler"}
    with pytest.raises(OutputError, match="--resume"):
        train(_cfg(photos, out), log=lambda m: None)


def test_resume_continues_bit_for_bit(photos, tmp_path):
    full = []
    train(_cfg(photos, tmp_path / "a.pt", checkpoint_every=4), on_step=lambda s, v: full.append(v), log=lambda m: None)

    class Crash(Exception):
        pass

    def crash_at_5(step, loss):
        if step == 5:
            raise Crash
    with pytest.raises(Crash):
        train(_cfg(photos, tmp_path / "b.pt", checkpoint_every=4), on_step=crash_at_5, log=lambda m: None)
    assert torch.load(tmp_path / "b.pt", weights_only=True)["step"] == 4
    resumed = []
    cfg = _cfg(photos, tmp_path / "b.pt", lr=99.0)          # ignored: the checkpoint's own config is used
    ck = train(cfg, resume=True, on_step=lambda s, v: resumed.append((s, v)), log=lambda m: None)
    assert [s for s, _ in resumed] == [5, 6, 7, 8]
    assert [v for _, v in resumed] == full[4:]                 # exact equality, not approximate
    a = torch.load(tmp_path / "a.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], v) for k, v in ck["state_dict"].items())
    # 4 training images, batch 4: one step per epoch, validated at each epoch end
    assert [h["step"] for h in ck["meta"]["history"]] == list(range(1, 9))
    assert {"auc", "auc_gray", "psnr", "psnr_gray", "colorfulness"} <= set(ck["meta"]["history"][-1])
    assert len(ck["meta"]["resumed_with"]) == 1
    more = []
    ck = train(cfg, resume=True, steps=10, on_step=lambda s, v: more.append(s), log=lambda m: None)
    assert more == [9, 10] and ck["meta"]["config"]["steps"] == 10                  # extended run


def test_cli_train_and_export(photos, tmp_path):
    from vidcolor.cli import main
    from vidcolor.models import load_model
    from vidcolor.models.abbins import rebalance_weights

    out, w = tmp_path / "cli.pt", tmp_path / "w.pt"
    r = CliRunner().invoke(main, ["train", str(photos), "-o", str(out), "--steps", "2", "--batch-size", "2",
                                  "--size", "32", "--val-split", "0", "--export", str(w)])
    assert r.exit_code == 0, r.output
    assert "step 2" in r.output
    m = load_model("compact", weights=w)
    assert float(m.temperature) == pytest.approx(0.38)
    export_weights(out, tmp_path / "w2.pt", temperature=0.5, unbalance=0.5)
    m2 = load_model("compact", weights=tmp_path / "w2.pt")
    assert float(m2.temperature) == 0.5
    ck = torch.load(out, weights_only=True)
    w = rebalance_weights(ck["prior"], 0.5)
    assert torch.allclose(m2.decode_bias, -0.5 * w.log())
    assert torch.equal(m.decode_bias, torch.zeros_like(w))
    r = CliRunner().invoke(main, ["train", str(tmp_path / "nothing"), "-o", str(tmp_path / "x.pt")])
    assert r.exit_code == 1 and "training data not found" in r.output


def test_other_models_need_released_weights(photos, tmp_path):
    from vidcolor.errors import OptionError
    from vidcolor.models import create_model
    from vidcolor.models.eccv16 import ECCV16

    with pytest.raises(OptionError, match="--init"):
        train(_cfg(photos, tmp_path / "e.pt", model="eccv16"), log=lambda m: None)
    with pytest.raises(OptionError, match="not a classification colorizer"):
        bin_centers(create_model("siggraph17"))            # a regression head, no bins
    # fine-tuning ECCV16 from (here: stand-in) released weights: the bins come from its output conv
    init = create_model("eccv16")
    centers = torch.tensor([[0.0, 0.0], [10.0, -20.0]]).repeat(157, 1)[:313]
    with torch.no_grad():
        init.model_out.weight.copy_((centers.t() / 110.0).view(2, 313, 1, 1))
    torch.save(init.state_dict(), tmp_path / "e0.pt")
    ck = train(_cfg(photos, tmp_path / "e.pt", model="eccv16", init=str(tmp_path / "e0.pt"), steps=1, size=32,
                    batch_size=2, val_split=0.0), log=lambda m: None)
    m = ECCV16()
    m.load_state_dict(ck["state_dict"])
    assert torch.allclose(m.model_out.weight.view(2, -1).t() * 110.0, centers, atol=1e-4)

