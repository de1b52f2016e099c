"""CPU ms/frame of every model at its default size, fp32 against bf16 (with and without
channels_last), and what `--precision auto` picks, with the compact default as the in-run baseline.

    python benchmarks/zoo_cpu.py [--repeats 2] [--models deoldify-video ddcolor-paper-tiny ...]
                                 [--json out.json]

Random weights (speed does not depend on the values). Models that share an architecture
(deoldify-stable/-video at different default sizes, the three DDColor-L releases) are timed per
model anyway: the default size differs for DeOldify. Per model and precision: the network alone
on one 640x480 frame prepared by the release's own preprocessing (batch 1, as the releases run),
the median of ``--repeats`` timed calls after one warm-up, plus one engine call (prepare +
network + post-processing) for the whole-frame cost. Writes one Markdown row per model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch

from vidcolor.bench import machine_info
from vidcolor.media import synth
from vidcolor.models import create_model, get_info
from vidcolor.pipeline import Engine, cpu_bf16

MODELS = ["compact", "eccv16", "deoldify-artistic", "deoldify-stable", "deoldify-video", "ddcolor-paper",
          "ddcolor-modelscope", "ddcolor-artistic", "ddcolor-paper-tiny"]
SAME_AS = {"ddcolor-modelscope": "ddcolor-paper", "ddcolor-artistic": "ddcolor-paper"}   # identical network and size


def frame(width: int = 640, height: int = 480) -> np.ndarray:
    import cv2
    img = cv2.resize(synth.photo("astronaut"), (width, height), interpolation=cv2.INTER_AREA)
    return synth.to_gray([img])[0]


def time_engine(model, prec: str, channels_last, f: np.ndarray, repeats: int) -> dict:
    eng = Engine(model, "cpu", precision=prec, channels_last=channels_last)
    with torch.inference_mode():
        if eng.release:
            x = model.prepare(f[None], eng.size)
            run = lambda: eng._run_net(x)  # noqa: E731
        else:
            import vidcolor.color as C
            L = C.resize(torch.from_numpy(C.host_rgb_to_l(f[None]))[:, None], eng.size)
            run = lambda: eng.predict_ab(L)  # noqa: E731
        run()                                             # warm-up (oneDNN primitives, allocator)
        net = []
        for _ in range(repeats):
            t = time.perf_counter()
            run()
            net.append(time.perf_counter() - t)
        t = time.perf_counter()
        eng(f[None])
        whole = time.perf_counter() - t
    return {"label": eng.precision_choice.label, "reason": eng.precision_choice.reason, "size": eng.size,
            "net_ms": 1000 * statistics.median(net), "frame_ms": 1000 * whole}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    bf16_ok, what = cpu_bf16()
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['torch_threads']} torch threads, "
          f"native bf16: {what or 'none'}; torch {info['torch']}", file=sys.stderr)
    f = frame()
    rows = {}
    for name in a.models:
        if name in SAME_AS and SAME_AS[name] in rows:
            rows[name] = {**rows[SAME_AS[name]], "same_as": SAME_AS[name]}
            continue
        torch.manual_seed(0)
        model = create_model(name).eval()
        r = {"fp32": time_engine(model, "fp32", False, f, a.repeats)}
        if bf16_ok:
            r["bf16"] = time_engine(model, "bf16", False, f, a.repeats)
            r["bf16_cl"] = time_engine(model, "bf16", True, f, a.repeats)
        r["auto"] = Engine(model, "cpu", precision="auto").precision_choice.label
        r["params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
        rows[name] = r
        print(f"{name}: " + ", ".join(f"{k} {v['net_ms']:.0f} ms" for k, v in r.items() if isinstance(v, dict)),
              file=sys.stderr, flush=True)
        del model
    base = rows.get("compact", {}).get("fp32", {}).get("net_ms")
    print("| model | size | params | fp32 ms/frame (net / whole frame) | bf16 | bf16 + channels_last | "
          "auto picks | fp32 vs compact fp32 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        def cell(k):
            return f"{r[k]['net_ms']:.0f} / {r[k]['frame_ms']:.0f}" if k in r else "-"
        ratio = f"{r['fp32']['net_ms'] / base:.0f}x" if base else "-"
        same = f" (= {r['same_as']})" if "same_as" in r else ""
        print(f"| {name}{same} | {r['fp32']['size']} | {r['params_m']:.1f} M | {cell('fp32')} | {cell('bf16')} | "
              f"{cell('bf16_cl')} | {r['auto']} | {ratio} |")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"machine": info, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
