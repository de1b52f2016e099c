"""The engine's speed options give the same colors: precision, channels_last, torch.compile,
the asynchronous submit path and its reused host buffers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidcolor.errors import OptionError
from vidcolor.models import create_model
from vidcolor.pipeline import Engine, _HostRing, resolve_precision


@pytest.fixture(scope="module")
def frames():
    """Six 48x64 frames of a smooth gradient with texture: real luminance structure."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:48, 0:64]
    base = (x * 3 + y * 2)[..., None] + rng.integers(0, 40, (6, 48, 64, 1))
    return np.clip(np.repeat(base, 3, axis=-1), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("compact").eval()


def test_resolve_precision_on_cpu(monkeypatch):
    import vidcolor.pipeline as P
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision("bf16", cpu) is torch.bfloat16 and resolve_precision("fp16", cpu) is torch.float16
    with pytest.raises(OptionError, match="--precision"):
        resolve_precision("int8", cpu)
    # auto follows the CPU's capability, never the model
    monkeypatch.setattr(P, "cpu_bf16", lambda: (True, "AMX and AVX512-BF16"))
    c = P.choose_precision("auto", cpu)
    assert (c.dtype, c.channels_last, c.label) == (torch.bfloat16, True, "bf16 + channels_last")
    assert "AMX" in c.reason
    assert P.choose_precision("auto", cpu, channels_last=False).label == "bf16"
    monkeypatch.setattr(P, "cpu_bf16", lambda: (False, ""))
    c = P.choose_precision("auto", cpu)
    assert (c.dtype, c.channels_last, c.label) == (None, False, "fp32") and "neither AMX nor AVX512-BF16" in c.reason
    assert P.choose_precision("bf16", cpu).channels_last       # bf16 on the CPU: NHWC by default


def test_cpu_bf16_detection_agrees_with_the_cpu_flags():
    from pathlib import Path
    from vidcolor.pipeline import cpu_bf16
    info = Path("/proc/cpuinfo")
    if not info.exists():
        pytest.skip("no /proc/cpuinfo")
    flags = set(info.read_text().split())
    ok, what = cpu_bf16()
    assert ok == bool({"amx_bf16", "avx512_bf16"} & flags)
    assert ("AMX" in what) == ("amx_bf16" in flags)


class _OOMAbove(torch.nn.Module):
    """Wraps a colorizer; a call with more than ``limit`` frames raises torch's OutOfMemoryError."""

    def __init__(self, inner, limit: int):
        super().__init__()
        self.inner, self.limit, self.calls = inner, limit, []
        self.name, self.input_size = inner.name, inner.input_size

    def check_size(self, size):
        return size

    def forward(self, x):
        self.calls.append(x.shape[0])
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner(x)


def test_out_of_memory_halves_the_batch_and_loses_nothing(model, frames):
    ref = Engine(model, "cpu", size=64, precision="fp32")(frames)
    wrapped = _OOMAbove(model, limit=2)
    notes = []
    eng = Engine(wrapped, "cpu", size=64, precision="fp32", notify=notes.append)
    out = eng(frames)                                 # 6 frames: 6 fails, 3 fails, then 2 + 2 + 2
    assert np.array_equal(out, ref)                   # every frame colorized, none gray, none dropped
    assert wrapped.calls == [6, 3, 2, 2, 2]
    assert notes == ["out of memory at 6 frames per model call; continuing with 3",
                     "out of memory at 3 frames per model call; continuing with 2"]
    wrapped.calls.clear()
    assert np.array_equal(eng(frames), ref) and max(wrapped.calls) <= 2   # the smaller size is kept
    # at one frame the error stands (the run then fails with its one-line message)
    with pytest.raises(torch.OutOfMemoryError):
        Engine(_OOMAbove(model, limit=0), "cpu", size=64, precision="fp32", notify=notes.append)(frames)


def test_bf16_close_to_fp32(model, frames):
    ref = Engine(model, "cpu", size=64, precision="fp32")(frames)
    L = torch.rand(2, 1, 64, 64) * 100
    ab32 = Engine(model, "cpu", size=64, precision="fp32").predict_ab(L)
    ab16 = Engine(model, "cpu", size=64, precision="bf16").predict_ab(L)
    assert ab16.dtype == torch.float32
    # bf16 keeps ~3 significant digits: ab (Lab units, |ab| up to ~100) within a couple of units
    assert 0 < (ab16 - ab32).abs().max() < 3.0
    out = Engine(model, "cpu", size=64, precision="bf16")(frames)
    assert out.shape == ref.shape and np.abs(out.astype(int) - ref.astype(int)).mean() < 1.0


def test_channels_last_same_colors_and_shared_model_restored(model, frames):
    ref = Engine(model, "cpu", size=64)(frames)
    eng = Engine(model, "cpu", size=64, channels_last=True)
    assert next(p for p in model.parameters() if p.dim() == 4).is_contiguous(memory_format=torch.channels_last)
    assert np.abs(eng(frames).astype(int) - ref.astype(int)).max() <= 1
    Engine(model, "cpu", size=64)            # the next plain engine puts the shared model back
    assert next(p for p in model.parameters() if p.dim() == 4).is_contiguous()


def test_compiled_model_pads_the_short_last_batch(model, frames):
    ref = Engine(model, "cpu", size=64)
    eng = Engine(model, "cpu", size=64, compile="eager")   # dynamo + eager backend: the plumbing, fast
    a = eng(frames[:4])
    b = eng(frames[4:])                                     # 2 frames, padded to the compiled batch of 4
    assert eng._static_batch == 4 and b.shape == (2, 48, 64, 3)
    assert np.abs(np.concatenate([a, b]).astype(int) - ref(frames).astype(int)).max() <= 1


def test_submit_list_equals_call(model, frames):
    eng = Engine(model, "cpu", size=64)
    pending = eng.submit(list(frames))
    np.testing.assert_array_equal(pending.result(), Engine(model, "cpu", size=64)(frames))


def test_host_ring_reuses_slots_round_robin():
    ring = _HostRing(3, pin=False)                  # pinning needs a GPU driver; the logic does not
    bufs = [ring.take((4, 8, 8, 3), torch.uint8) for _ in range(4)]
    assert [i for _, i in bufs] == [0, 1, 2, 0]
    assert bufs[3][0].data_ptr() == bufs[0][0].data_ptr()        # the 4th batch reuses the 1st buffer
    short, i = ring.take((2, 8, 8, 3), torch.uint8)               # a short batch: a view of slot 1
    assert i == 1 and short.shape[0] == 2 and short.data_ptr() == bufs[1][0].data_ptr()
    old = bufs[2][0]
    old.fill_(7)
    bigger, i = ring.take((4, 16, 16, 3), torch.uint8)            # new frame size: new buffers ...
    assert i == 0 and bigger.shape == (4, 16, 16, 3)
    assert int(old.sum()) == 7 * old.numel()                      # ... and a consumer's view stays valid


def test_engine_keeps_enough_output_slots():
    eng = Engine(create_model("compact"), "cpu", size=64)
    eng._ring_out = _HostRing(3, pin=False)         # as on a GPU
    eng.hold_batches(4)                             # 3 queued + 1 being encoded
    assert eng._ring_out.slots >= 6


def test_model_runs_at_its_own_input_size_unless_size_is_given(frames):
    """A model trained at 64 runs at 64 (its registered input_size), not at a global 256."""
    from vidcolor.models import get_info

    seen = []
    net = create_model("tiny")
    net.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[-2:])))
    assert get_info("tiny").input_size == net.input_size == 64
    Engine(net, "cpu")(frames[:2])
    Engine(net, "cpu", size=96)(frames[:2])
    assert seen == [(64, 64), (96, 96)]
    with pytest.raises(OptionError, match="--size must be a multiple of 8"):
        Engine(net, "cpu", size=100)
