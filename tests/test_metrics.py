"""Frame metrics against hand-computed values and scikit-image, and the `metrics` report."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch
from skimage import data
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vidcolor.color import rgb_to_lab, to_float_rgb
from vidcolor.errors import InputError, OptionError, WeightsError
from vidcolor.media import write_image
from vidcolor.media.files import write_json
from vidcolor.metrics import auc_ab, colorfulness, deltae2000, deltae2000_map, numpy_metric, psnr, ssim
from vidcolor.metrics import perceptual, registry, report, temporal


def _t(img: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float (1, 3, H, W) in [0, 1]."""
    return to_float_rgb(torch.from_numpy(np.ascontiguousarray(img))[None])


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return data.astronaut()[100:196, 150:278].copy()  # 96x128


@pytest.fixture(scope="module")
def noisy(photo) -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.clip(photo.astype(int) + rng.integers(-20, 21, photo.shape), 0, 255).astype(np.uint8)


# --- PSNR -------------------------------------------------------------------

def test_psnr_of_known_noise_level():
    target = np.full((16, 16, 3), 128, np.uint8)
    pred = target.copy()
    pred[::2] += 10  # +-10 on alternate rows: MSE = 100
    pred[1::2] -= 10
    expected = 10 * math.log10(255**2 / 100)  # 28.1308 dB
    assert numpy_metric(psnr, pred, target) == pytest.approx(expected, abs=1e-4)
    # the data range follows the values: the same images on the 0..255 scale
    v = psnr(_t(pred) * 255, _t(target) * 255, data_range=255.0)
    assert v.item() == pytest.approx(expected, abs=1e-4)
    assert math.isinf(numpy_metric(psnr, target, target))


def test_psnr_batched_matches_skimage(photo, noisy):
    both = psnr(torch.cat([_t(noisy), _t(photo)]), torch.cat([_t(photo), _t(noisy[::-1].copy())]))
    assert both.shape == (2,)
    assert both[0].item() == pytest.approx(peak_signal_noise_ratio(photo, noisy, data_range=255), abs=1e-4)
    assert both[1].item() == pytest.approx(peak_signal_noise_ratio(noisy[::-1], photo, data_range=255), abs=1e-4)


# --- SSIM -------------------------------------------------------------------

def _sk_ssim(a, b):
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=255, channel_axis=-1)


def test_ssim_identical_is_one(photo):
    assert numpy_metric(ssim, photo, photo) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ssim_agrees_with_skimage(photo, noisy, dtype):
    other = cv2.GaussianBlur(photo, (7, 7), 2.0)
    pred = torch.cat([_t(noisy), _t(other)]).to(dtype)
    target = torch.cat([_t(photo), _t(photo)]).to(dtype)
    got = ssim(pred, target)
    assert got.shape == (2,)
    assert got[0].item() == pytest.approx(_sk_ssim(noisy, photo), abs=1e-5)
    assert got[1].item() == pytest.approx(_sk_ssim(other, photo), abs=1e-5)
    assert got[0].item() < 0.9


def test_ssim_too_small_image():
    x = torch.rand(1, 3, 10, 40)
    with pytest.raises(ValueError, match="11x11"):
        ssim(x, x)


# --- CIEDE2000 -----------------------------------------------------------------

# Sharma, Wu & Dalal (2005), test data pairs 1, 7, 17 and 25 (published dE00 values)
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
]


def test_deltae2000_published_pairs():
    a = torch.tensor([p[0] for p in SHARMA], dtype=torch.float64).T.reshape(1, 3, 1, len(SHARMA))
    b = torch.tensor([p[1] for p in SHARMA], dtype=torch.float64).T.reshape(1, 3, 1, len(SHARMA))
    got = deltae2000_map(a, b)[0, 0]
    assert got.tolist() == pytest.approx([p[2] for p in SHARMA], abs=1e-4)


def test_deltae2000_matches_skimage_including_hue_wrap():
    rng = np.random.default_rng(0)
    lab1 = np.stack([rng.uniform(0, 100, (20, 30)), *rng.uniform(-100, 100, (2, 20, 30))], -1)
    lab2 = lab1 + rng.normal(0, 15, lab1.shape)
    lab2[0, :5, 1:] = 0  # zero chroma
    lab1[1, :5] = [50, -40, 1]  # hue near 180 deg on both sides
    lab2[1, :5] = [50, -40, -1]
    t1 = torch.from_numpy(lab1).permute(2, 0, 1)[None]
    t2 = torch.from_numpy(lab2).permute(2, 0, 1)[None]
    ref = deltaE_ciede2000(lab1, lab2)
    np.testing.assert_allclose(deltae2000_map(t2, t1)[0].numpy(), ref, atol=1e-9)
    assert deltae2000(t2.float(), t1.float()).item() == pytest.approx(ref.mean(), rel=1e-5)


# --- colorfulness and AuC ---------------------------------------------------

def test_colorfulness_of_constructed_image():
    img = np.zeros((4, 4, 3), np.uint8)
    img[:2, :, 0] = 255  # half pure red, half black
    # rg: 255 | 0 -> mean 127.5, std 127.5; yb: 127.5 | 0 -> mean 63.75, std 63.75
    s = math.hypot(127.5, 63.75)
    assert numpy_metric(colorfulness, img) == pytest.approx(s + 0.3 * s, abs=1e-3)  # 185.31
    gray = np.full((4, 4, 3), 77, np.uint8)
    assert numpy_metric(colorfulness, gray) == pytest.approx(0.0, abs=1e-6)


def _ab_error(err: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """An ab pair whose L2 error is ``err`` (split over a and b by a 3-4-5 triangle)."""
    e = torch.from_numpy(err).double()
    pred = torch.stack([0.6 * e, -0.8 * e])[None]
    return pred, torch.zeros_like(pred)


def test_auc_of_known_error_maps():
    assert auc_ab(*_ab_error(np.zeros((4, 4)))).item() == pytest.approx(1.0)
    half = np.zeros((4, 4))
    half[2:] = 200.0  # half the pixels beyond every threshold
    assert auc_ab(*_ab_error(half)).item() == pytest.approx(0.5)
    # error 75 everywhere: acc(t) = 0 for t < 75, 1 for t >= 75; trapezoid area 75.5 of 150
    assert auc_ab(*_ab_error(np.full((3, 3), 75.0))).item() == pytest.approx(75.5 / 150)
    # error 45.5: thresholds 46..150 count, 104.5 of 150
    assert auc_ab(*_ab_error(np.full((3, 3), 45.5))).item() == pytest.approx(104.5 / 150)


def test_auc_matches_explicit_threshold_sweep():
    rng = np.random.default_rng(3)
    err = rng.uniform(0, 180, (2, 20, 20))
    pred = torch.stack([torch.from_numpy(err * 0.6), torch.from_numpy(-err * 0.8)], dim=1)
    t = np.arange(151)
    acc = (err.reshape(2, -1, 1) <= t).mean(1)  # (2, 151)
    expected = np.trapezoid(acc, t, axis=1) / 150
    np.testing.assert_allclose(auc_ab(pred, torch.zeros_like(pred)).numpy(), expected, atol=1e-9)


# --- LPIPS --------------------------------------------------------------------

def test_lpips_plumbing_with_random_backbone(photo, noisy):
    m = perceptual.LPIPS("alex", pnet_rand=True)
    x = torch.cat([_t(photo), _t(photo)])
    y = torch.cat([_t(photo), _t(noisy)])
    d = m(y, x)
    assert d.shape == (2,)
    assert d[0].item() == pytest.approx(0.0, abs=1e-7)
    assert d[1].item() > 0


def test_lpips_missing_backbone_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    msg = perceptual.missing_backbone("alex")
    assert "alexnet-owt-7be5be79.pth" in msg and str(tmp_path) in msg
    with pytest.raises(WeightsError, match="alexnet-owt-7be5be79.pth"):
        perceptual.LPIPS("alex")
    with pytest.raises(WeightsError, match="vgg16-397923af.pth"):
        report.parse_metrics("psnr,lpips", lpips_net="vgg")
    warnings = []
    assert "lpips" not in report.parse_metrics(None, warn=warnings.append)
    # one warning per skipped metric: LPIPS, and classify (its AlexNet is the same torchvision file)
    assert [w.split(":")[0] for w in warnings] == ["LPIPS skipped", "top-1/top-5 skipped"]
    assert "alexnet-owt-7be5be79.pth" in warnings[0]
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "squeezenet1_1-b8a52dc0.pth").write_bytes(b"")
    assert perceptual.missing_backbone("squeeze") is None
    with pytest.raises(OptionError, match="resnet"):
        perceptual.backbone_path("resnet")


# --- temporal -------------------------------------------------------------------

def _shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """out[y, x] = img[y - dy, x - dx] (content moves by +dx, +dy), edges replicated."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)


def test_warp_error_zero_for_exact_translation(photo):
    prev, cur = photo, _shift(photo, 3, 2)
    back = torch.tensor([-3.0, -2.0]).view(1, 2, 1, 1).expand(1, 2, *photo.shape[:2])
    fwd = -back
    mask = temporal.valid_mask(back, fwd)
    assert mask[0, 0, 10:, 10:].all() and not mask[0, 0, :2].any() and not mask[0, 0, :, :3].any()
    assert temporal.warp_error(_t(prev), _t(cur), back, mask).item() == pytest.approx(0.0, abs=1e-10)
    recolored = cur[:, :, ::-1].copy()  # same structure, colors changed
    assert temporal.warp_error(_t(prev), _t(recolored), back, mask).item() > 0.01


def test_warp_error_with_estimated_flow(photo):
    frames = [_shift(photo, 2 * i, i) for i in range(3)]
    motion = report.ReferenceMotion(torch.device("cpu"))
    steps = [motion.step(f) for f in frames]
    assert steps[0] is None
    same, changed = [], []
    for i in (1, 2):
        back, mask = steps[i]
        assert mask.float().mean() > 0.7
        same.append(temporal.warp_error(_t(frames[i - 1]), _t(frames[i]), back, mask).item())
        tinted = np.clip(frames[i].astype(int) + [40, 0, -40], 0, 255).astype(np.uint8)
        changed.append(temporal.warp_error(_t(frames[i - 1]), _t(tinted), back, mask).item())
    assert max(same) < 2e-4
    assert min(changed) > 0.01


def test_cdc_zero_for_identical_frames_and_ln2_for_disjoint(photo):
    h = temporal.channel_histograms(np.stack([photo, photo]))
    assert h.shape == (2, 3, 256) and np.allclose(h.sum(-1), 1.0)
    assert h[0, 0, 37] == np.count_nonzero(photo[..., 0] == 37) / photo[..., 0].size
    assert temporal.cdc_pair(h[:1], h[1:])[0] == 0.0
    black = np.zeros((2, 2, 3), np.uint8)
    white = np.full((2, 2, 3), 255, np.uint8)
    half = np.concatenate([black[:1], white[:1]])  # half black, half white
    hb = temporal.channel_histograms(np.stack([black, white, half]))
    assert temporal.cdc_pair(hb[:1], hb[1:2])[0] == pytest.approx(math.log(2))  # disjoint
    # p = (1, 0), q = (1/2, 1/2): JS = 1/2 KL(p, m) + 1/2 KL(q, m) with m = (3/4, 1/4)
    expected = 0.5 * math.log(4 / 3) + 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2))
    assert temporal.cdc_pair(hb[:1], hb[2:])[0] == pytest.approx(expected)


# --- the `metrics` report -------------------------------------------------------

def _write_seq(folder, frames):
    folder.mkdir()
    for i, f in enumerate(frames):
        write_image(folder / f"f{i:03d}.png", f)
    return folder


def test_compare_json_shape_and_values(tmp_path, photo):
    ref_frames = [_shift(photo, 2 * i, 0) for i in range(6)]
    cand_frames = [f.copy() for f in ref_frames]
    cand_frames[3] = np.clip(cand_frames[3].astype(int) + [30, 0, -30], 0, 255).astype(np.uint8)
    ref = _write_seq(tmp_path / "ref", ref_frames)
    cand = _write_seq(tmp_path / "cand", cand_frames)
    rep = report.compare(ref, cand, metrics="psnr,ssim,deltae2000,colorfulness,auc,warp_error,cdc", device="cpu")
    assert set(rep) == {"kind", "frames", "summary", "images", "settings"}
    assert len(rep["frames"]) == 6
    f3 = rep["frames"][3]
    assert f3["index"] == 3 and f3["name"] == "f003.png"
    assert set(f3) == {"index", "name", "psnr", "ssim", "deltae2000", "colorfulness", "colorfulness_reference",
                       "auc", "warp_error", "cdc_d1", "cdc_d2", "cdc_d4"}
    assert rep["frames"][0]["warp_error"] is None and rep["frames"][3]["cdc_d4"] is None
    assert rep["frames"][4]["cdc_d4"] is not None
    s = rep["summary"]
    assert s["psnr"]["worst"][0] == {"name": "f003.png", "index": 3, "value": f3["psnr"]}
    assert s["deltae2000"]["worst"][0]["index"] == 3
    assert s["ssim"]["median"] == pytest.approx(1.0)
    assert s["warp_error"]["frames"] == 5 and s["warp_error"]["worst"][0]["index"] in (3, 4)
    assert s["cdc"]["sequences"] == 1 and s["cdc"]["value"] > 0
    assert set(s["colorfulness"]) == {"mean", "median", "frames"}
    assert rep["settings"]["ssim"]["sigma"] == 1.5 and rep["settings"]["warp_error"]["method"].startswith("OpenCV DIS")
    out = write_json(tmp_path / "r.json", rep)
    back = json.loads(out.read_text())  # strict JSON: +inf PSNR became null
    assert back["frames"][0]["psnr"] is None and back["summary"]["psnr"]["mean"] is None
    assert back["frames"][3]["psnr"] == pytest.approx(f3["psnr"]) and back["summary"]["psnr"]["worst"][0]["index"] == 3
    csv_path = report.write_csv(rep["frames"], tmp_path / "r.csv")
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("name,index,psnr,ssim") and len(lines) == 7


def test_compare_identical_cdc_is_zero_and_psnr_summary_inf(tmp_path, photo):
    seq = _write_seq(tmp_path / "a", [photo] * 5)
    rep = report.compare(seq, seq, metrics="psnr,cdc", device="cpu")
    assert rep["summary"]["cdc"]["value"] == 0.0
    assert math.isinf(rep["summary"]["psnr"]["mean"])


def test_compare_mismatches(tmp_path, photo):
    ref = _write_seq(tmp_path / "ref", [photo] * 3)
    short = _write_seq(tmp_path / "short", [photo] * 2)
    with pytest.raises(InputError, match="frame counts differ"):
        report.compare(ref, short, metrics="psnr", device="cpu")
    half = cv2.resize(photo, (64, 48), interpolation=cv2.INTER_AREA)
    small = _write_seq(tmp_path / "small", [half] * 3)
    with pytest.raises(InputError, match="--resize"):
        report.compare(ref, small, metrics="psnr", device="cpu")
    rep = report.compare(ref, small, metrics="psnr", device="cpu", resize=True)
    assert 20 < rep["summary"]["psnr"]["mean"] < 40
    with pytest.raises(OptionError, match="unknown metric"):
        report.compare(ref, ref, metrics="psnr,fid", device="cpu")


def test_pair_batches_count_mismatch_found_while_streaming(photo):
    class F:
        def __init__(self, i):
            self.index, self.rgb, self.name = i, photo, None

    with pytest.raises(InputError, match="cand ends after 2 frames"):
        list(report.pair_batches([F(0), F(1), F(2)], [F(0), F(1)], 8, False, "ref", "cand"))


def test_photo_set_of_different_sizes_has_no_temporal_metrics(tmp_path, photo):
    imgs = [photo, photo, cv2.resize(photo, (64, 48)), photo]
    seq = _write_seq(tmp_path / "photos", imgs)
    warnings = []
    rep = report.compare(seq, seq, metrics=None, device="cpu", warn=warnings.append)
    assert "warp_error" not in rep["summary"] and "cdc" not in rep["summary"]
    assert all("warp_error" not in f and "cdc_d1" not in f for f in rep["frames"])
    assert rep["summary"]["ssim"]["frames"] == 4
    assert any("differ in size" in w for w in warnings)
    with pytest.raises(OptionError, match="temporal"):
        report.compare(seq, seq, metrics="psnr,warp_error", device="cpu")


def test_scorer_chunking_does_not_change_values(photo, noisy, monkeypatch):
    ref = np.stack([photo, noisy, photo])
    cand = np.stack([noisy, photo, cv2.GaussianBlur(photo, (5, 5), 1.0)])
    metrics = ["psnr", "ssim", "deltae2000", "colorfulness", "auc", "warp_error", "cdc"]
    whole = report.Scorer(metrics).score(ref, cand)
    monkeypatch.setattr(report, "CHUNK_PIXELS", photo.shape[0] * photo.shape[1])  # one frame per call
    single = report.Scorer(metrics).score(ref, cand)
    assert single == whole
    assert whole[1]["psnr"] == pytest.approx(numpy_metric(psnr, photo, noisy))


# --- the registry: a metric is added in one place -------------------------------------

def test_registry_keeps_the_reports_layout():
    assert registry.names() == ["psnr", "ssim", "lpips", "deltae2000", "colorfulness", "auc", "classify", "warp_error",
                                "cdc"]
    assert registry.names("temporal") == ["warp_error", "cdc"]
    assert registry.get("cdc").columns == ("cdc_d1", "cdc_d2", "cdc_d4")
    assert registry.get("colorfulness").columns == ("colorfulness", "colorfulness_reference")
    assert registry.get("classify").columns == ("top1", "top5")
    assert [m.name for m in registry.all() if m.worst == "low"] == ["psnr", "ssim", "auc", "classify"]
    assert [m.name for m in registry.all() if m.worst is None] == ["colorfulness"]
    assert [m.name for m in registry.all() if m.needs_motion] == ["warp_error"]
    from vidcolor.evaluate import table_columns

    assert table_columns() == [("psnr", "PSNR", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"), ("lpips", "LPIPS", "{:.4f}"),
                               ("deltae2000", "dE00", "{:.2f}"), ("auc", "AuC", "{:.4f}"),
                               ("colorfulness", "colorful", "{:.1f}"), ("top1", "top-1", "{:.3f}"),
                               ("top5", "top-5", "{:.3f}"), ("warp_error", "warp err", "{:.5f}"),
                               ("cdc", "CDC", "{:.5f}")]
    assert registry.help_text() == (
        "Comma-separated: psnr, ssim, lpips, deltae2000, colorfulness, auc, classify, warp_error, cdc, or all "
        "(default; lpips skipped with a warning when its backbone weights are not cached; classify skipped with a "
        "warning when its classifier weights are not cached).")
    s = report.settings_for(registry.names(), lpips_net="vgg")
    assert list(s) == ["metrics", "device", "rgb_scale", *registry.names(), "non_finite"]
    assert s["lpips"]["net"] == "vgg" and s["auc"]["thresholds"] == "0..150 ab units, step 1"
    assert s["classify"]["classifier"] == "alexnet" and s["classify"]["file"] == "alexnet-owt-7be5be79.pth"
    with pytest.raises(KeyError, match="fid"):
        registry.get("fid")


def test_registry_refuses_clashes_and_wrong_columns(photo):
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.Metric(name="psnr", kind="image", compute=psnr))
    with pytest.raises(ValueError, match="cdc_d1"):
        registry.register(registry.Metric(name="other", kind="image", columns=("cdc_d1",), compute=psnr))
    with pytest.raises(ValueError, match="kind"):
        registry.Metric(name="x", kind="video", compute=psnr)
    bad = registry.Metric(name="two_cols", kind="image", columns=("two_a", "two_b"), compute=psnr)
    with registry.registered(bad):
        with pytest.raises(ValueError, match="two_a"):
            report.Scorer(["two_cols"]).score(photo[None], photo[None])
    assert "two_cols" not in registry.names()
    with pytest.raises(ValueError, match="lpips"):  # a metric with a model needs it
        report.Scorer(["psnr", "lpips"])


def _mean_chroma(pred, target):
    """Toy image metric: mean ab chroma sqrt(a^2 + b^2) of the candidate, (N, 2, H, W) -> (N,)."""
    return torch.linalg.vector_norm(pred, dim=1).mean(dim=(1, 2))


TOY = registry.Metric(name="mean_ab_chroma", kind="image", consumes="ab", compute=_mean_chroma, header="chroma",
                      fmt="{:.3f}", settings={"formula": "mean of sqrt(a^2 + b^2) over pixels"})


def test_a_metric_registered_once_is_in_every_report(tmp_path, photo, tiny_weights):
    from vidcolor.evaluate import evaluate, table

    gray = np.repeat(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    cand_frames = [_shift(photo, 2 * i, 0) for i in range(4)]
    cand_frames[2] = np.clip(cand_frames[2].astype(int) + [40, 0, -40], 0, 255).astype(np.uint8)  # most chroma
    ref = _write_seq(tmp_path / "ref", [_shift(gray, 2 * i, 0) for i in range(4)])  # gray: ~0 chroma
    cand = _write_seq(tmp_path / "cand", cand_frames)
    expected = [np.hypot(*rgb2lab(f)[..., 1:].transpose(2, 0, 1)).mean() for f in cand_frames]  # skimage Lab
    assert "mean_ab_chroma" not in registry.names()
    with registry.registered(TOY):
        assert report.parse_metrics(None, warn=lambda _: None)[-1] == "mean_ab_chroma"
        rep = report.compare(ref, cand, metrics="psnr,mean_ab_chroma", device="cpu")
        assert [list(f) for f in rep["frames"]] == [["name", "index", "psnr", "mean_ab_chroma"]] * 4
        got = [f["mean_ab_chroma"] for f in rep["frames"]]
        assert got == pytest.approx(expected, rel=1e-5)
        assert rep["frames"][1]["psnr"] == pytest.approx(peak_signal_noise_ratio(
            _shift(gray, 2, 0), cand_frames[1], data_range=255), abs=1e-4)
        s = rep["summary"]["mean_ab_chroma"]
        assert s["mean"] == pytest.approx(np.mean(expected), rel=1e-5) and s["frames"] == 4
        assert s["median"] == pytest.approx(np.median(expected), rel=1e-5)
        assert [w["index"] for w in s["worst"]] == list(np.argsort(expected)[::-1])  # high values first
        assert rep["settings"]["metrics"] == ["psnr", "mean_ab_chroma"]
        assert rep["settings"]["mean_ab_chroma"] == {"formula": "mean of sqrt(a^2 + b^2) over pixels"}
        csv_head = report.write_csv(rep["frames"], tmp_path / "r.csv").read_text().splitlines()[0]
        assert csv_head == "name,index,psnr,mean_ab_chroma"

        res = evaluate([cand], ["tiny"], [tiny_weights], metrics="psnr,mean_ab_chroma", device="cpu")
        header, rows = table(res)
        assert header == ["model", "PSNR", "chroma", "frames"]
        by_label = {r[0]: r for r in rows}
        assert float(by_label["gray"][2]) < 1.0  # the gray input has ab = 0 (up to 8-bit rounding)
        assert by_label["tiny"][2] == "{:.3f}".format(res["models"]["tiny"]["summary"]["mean_ab_chroma"]["mean"])
        assert float(by_label["tiny"][2]) > 5.0
    assert "mean_ab_chroma" not in registry.names()
    with pytest.raises(OptionError, match="mean_ab_chroma"):
        report.parse_metrics("psnr,mean_ab_chroma")


class _FrameChange(registry.TemporalMetric):
    """Toy temporal metric: column ``frame_change_px``, mean |frame - previous frame| of the
    8-bit host frames; summary entry ``frame_change``: the sequences closed."""

    def __init__(self):
        self.prev, self.sequences = None, 0

    def new_sequence(self):
        self.sequences += self.prev is not None
        self.prev = None

    def step(self, frame, motion):
        assert frame.dtype == np.uint8 and motion is None
        v = None if self.prev is None else float(np.abs(frame.astype(int) - self.prev).mean())
        self.prev = frame.astype(int)
        return {"frame_change_px": v}

    def summary(self):
        self.new_sequence()
        return {"frame_change": {"value": self.sequences, "sequences": self.sequences}}


def test_a_temporal_metric_registered_once_is_scored(photo):
    toy = registry.Metric(name="frame_change", kind="temporal", compute=_FrameChange, columns=("frame_change_px",))
    frames16 = np.clip(np.stack([_shift(photo, 3 * i, 0) for i in range(3)]).astype(np.int64) * 257 + 200,
                       0, 65535).astype(np.uint16)
    eight = np.round(frames16 / 257.0).astype(int)  # what the metric sees
    with registry.registered(toy):
        assert report.asks_temporal("psnr,frame_change")
        sc = report.Scorer(["psnr", "frame_change"])
        assert not sc.needs_motion
        rows = sc.score(frames16, frames16)
        assert [r["frame_change_px"] for r in rows] == [None, *[np.abs(eight[i] - eight[i - 1]).mean() for i in (1, 2)]]
        assert rows[1]["frame_change_px"] > 1
        sc.new_sequence()
        assert sc.score(frames16[:1], frames16[:1])[0]["frame_change_px"] is None  # nothing across inputs
        s = sc.summary()
        assert list(s) == ["psnr", "frame_change_px", "frame_change"]
        assert s["frame_change"]["sequences"] == 2 and s["frame_change_px"]["frames"] == 2
        assert sc.summary()["frame_change"]["sequences"] == 2  # closing twice counts once
        assert any(line.startswith("frame_change ") and "(2 sequence(s))" in line for line in report.format_summary(s))
        sc.mark_photo_set()
        assert "frame_change" not in sc.summary() and all("frame_change_px" not in r for r in sc.rows)
    assert not report.asks_temporal("psnr,frame_change")
