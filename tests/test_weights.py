"""Weights catalogue, cache, verified download (loopback HTTP server) and safe loading."""

from __future__ import annotations

import hashlib

import pytest
import torch
from click.testing import CliRunner

from vidcolor import weights as W
from vidcolor.cli import main
from vidcolor.errors import WeightsError
from vidcolor.models import load_model


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("VIDCOLOR_HOME", str(d))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torchhome"))
    return d


@pytest.fixture
def spec(monkeypatch):
    payload = b"\x00vidcolor-test-weights" * 5000
    s = W.WeightSpec(name="testw", model="eccv16", filename="testw-1234.pth", url="http://127.0.0.1:9/none",
                     sha256=hashlib.sha256(payload).hexdigest(), size=len(payload), license="test",
                     description="test entry")
    monkeypatch.setitem(W.CATALOGUE, "testw", s)
    return s, payload


def test_download_verified_into_cache(cache, server, spec):
    base, files = server
    s, payload = spec
    files["/w.pth"] = payload
    path = W.download("testw", url=base + "/w.pth", progress=False)
    assert path == cache / s.filename
    assert path.read_bytes() == payload
    assert [p.name for p in cache.iterdir()] == [s.filename]
    assert W.find(s) == path


def test_corrupted_payload_rejected_and_nothing_cached(cache, server, spec):
    base, files = server
    s, payload = spec
    files["/bad.pth"] = payload[:-1] + b"X"          # same size, wrong bytes
    with pytest.raises(WeightsError, match="sha256"):
        W.download("testw", url=base + "/bad.pth", progress=False)
    files["/short.pth"] = payload[:1000]             # truncated
    with pytest.raises(WeightsError, match="expected"):
        W.download("testw", url=base + "/short.pth", progress=False)
    assert list(cache.iterdir()) == []


def test_unreachable_url_is_a_clear_error(cache, server, spec):
    base, _ = server
    with pytest.raises(WeightsError, match="cannot download 'testw'"):
        W.download("testw", url=base + "/missing.pth", progress=False)
    assert list(cache.iterdir()) == []


def test_torch_hub_checkpoint_folder_is_found(cache, tmp_path, spec):
    s, payload = spec
    hub = tmp_path / "torchhome" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / s.filename).write_bytes(payload)
    assert W.find(s) == hub / s.filename


def test_missing_weights_message_names_the_command(cache):
    with pytest.raises(WeightsError, match="vidcolor weights download eccv16"):
        load_model("eccv16")


def test_catalogue_has_the_official_checkpoints():
    e, s = W.CATALOGUE["eccv16"], W.CATALOGUE["siggraph17"]
    assert e.filename == "colorization_release_v2-9b330a0b.pth" and e.sha256.startswith("9b330a0b")
    assert s.filename == "siggraph17-df00044c.pth" and s.sha256.startswith("df00044c")
    assert len(e.sha256) == len(s.sha256) == 64


def test_cli_weights_list_and_download(cache, server, spec):
    base, files = server
    s, payload = spec
    files["/w.pth"] = payload
    r = CliRunner().invoke(main, ["weights", "list"])
    assert r.exit_code == 0
    assert "eccv16" in r.output and "missing" in r.output and str(cache) in r.output
    r = CliRunner().invoke(main, ["weights", "download", "testw", "--url", base + "/w.pth", "-q"])
    assert r.exit_code == 0, r.output
    assert (cache / s.filename).read_bytes() == payload
    r = CliRunner().invoke(main, ["weights", "download", "nope"])
    assert r.exit_code == 1 and "unknown weights 'nope'" in r.stderr


def test_loading_is_tensors_only(tmp_path):
    class Payload:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned > /dev/null",))

    p = tmp_path / "evil.pth"
    torch.save({"x": torch.zeros(1), "evil": Payload()}, p)
    with pytest.raises(WeightsError, match="could run code"):
        W.load_state_dict(p)


@pytest.mark.parametrize("wrap", ["fastai", "basicsr", "vidcolor", "bare"])
def test_release_wrappers_and_the_slice_builtin(tmp_path, wrap):
    """fastai's Learner.save writes {'model': sd, 'opt': ...} (its optimizer state may hold a
    Python slice, which weights_only=True alone refuses); DDColor's BasicSR files {'params': sd}."""
    sd = {"conv.weight": torch.arange(6.0).reshape(2, 3), "conv.bias": torch.ones(2)}
    obj = {"fastai": {"model": sd, "opt": {"state": {}, "hypers": [{"lr": slice(1e-4, 1e-3)}]}},
           "basicsr": {"params": sd}, "vidcolor": {"state_dict": sd, "meta": {"step": 3}}, "bare": sd}[wrap]
    p = tmp_path / "w.pth"
    torch.save(obj, p)
    if wrap == "fastai":
        with pytest.raises(Exception, match="slice"):
            torch.load(p, weights_only=True)               # what the allow-list is for
    got = W.load_state_dict(p)
    assert got.keys() == sd.keys() and all(torch.equal(got[k], sd[k]) for k in sd)
