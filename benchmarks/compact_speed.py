"""Forward speed of the compact colorizer against ECCV16, same input, same run.

Both models get the same batch of normalized L (random weights: speed does not
depend on them), 256x256, batch 8, in eval mode under ``torch.no_grad``. The
two are timed in alternation (A B A B ...) and each keeps its fastest repeat,
so a busy shared CPU hurts both alike; the ratio is the figure to quote.

    python benchmarks/compact_speed.py [--size 256] [--batch 8] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from vidcolor.models import create_model


def time_forward(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Seconds for one forward pass of ``x``."""
    t = time.perf_counter()
    with torch.no_grad():
        model(x)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 1, args.size, args.size) - 0.5
    models = {name: create_model(name).eval() for name in ("compact", "eccv16")}
    best = {}
    for name, m in models.items():                       # warm-up
        time_forward(m, x)
    for _ in range(args.repeats):
        for name, m in models.items():
            best[name] = min(best.get(name, float("inf")), time_forward(m, x))
    params = {n: sum(p.numel() for p in m.parameters()) for n, m in models.items()}
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {args.threads} threads, input {args.batch}x1x{args.size}x{args.size}")
    print("| model | params | s/batch | ms/frame | frames/s |")
    print("|---|---|---|---|---|")
    for name in models:
        s = best[name]
        print(f"| {name} | {params[name] / 1e6:.2f} M | {s:.3f} | {1000 * s / args.batch:.1f} | {args.batch / s:.1f} |")
    print(f"\ncompact is {best['eccv16'] / best['compact']:.1f}x faster than eccv16")


if __name__ == "__main__":
    main()
