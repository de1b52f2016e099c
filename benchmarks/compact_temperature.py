"""Choose the decoding of a trained classification colorizer on its validation split
(held-out training files, never eval-images): annealed-mean temperature T and the
share of the class rebalancing undone at decode time (unbalance, 0..1).

    python benchmarks/compact_temperature.py CHECKPOINT [--temperatures 0.38,0.6,1.0]
        [--unbalance 0,0.5,1] [--export weights/compact.pt]

Prints one Markdown row per setting: AuC, PSNR and colorfulness next to the gray
baseline and the originals (means over the validation images, center 256x256
crops). With --export, writes the weights with the chosen setting: the most
colorful one whose AuC beats gray by at least 0.003 and whose PSNR is within
0.5 dB of gray.
"""

from __future__ import annotations

import argparse

from vidcolor.train import export_weights, sweep_decoding

AUC_MARGIN = 0.003
PSNR_SLACK_DB = 0.5


def choose(rows: list[dict]) -> dict | None:
    """The most colorful row that beats gray on AuC (by AUC_MARGIN) within PSNR_SLACK_DB of its PSNR."""
    ok = [r for r in rows if r["auc"] >= r["auc_gray"] + AUC_MARGIN and r["psnr"] >= r["psnr_gray"] - PSNR_SLACK_DB]
    return max(ok, key=lambda r: r["colorfulness"]) if ok else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--temperatures", default="0.38,0.6,1.0")
    ap.add_argument("--unbalance", default="0,0.25,0.5,0.75,1")
    ap.add_argument("--export", default=None, help="write the weights with the chosen setting here")
    args = ap.parse_args()
    rows = sweep_decoding(args.checkpoint, [float(t) for t in args.temperatures.split(",")],
                          [float(u) for u in args.unbalance.split(",")])
    r0 = rows[0]
    print(f"gray baseline: AuC {r0['auc_gray']:.4f}, PSNR {r0['psnr_gray']:.2f} dB; "
          f"originals' colorfulness {r0['colorfulness_true']:.1f}")
    print("| unbalance | T | AuC | PSNR (dB) | colorfulness |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['unbalance']:.2f} | {r['temperature']:.2f} | {r['auc']:.4f} | {r['psnr']:.2f} | {r['colorfulness']:.1f} |")
    if args.export:
        best = choose(rows)
        if best is None:
            raise SystemExit("no setting beats gray on AuC within the PSNR slack; nothing exported")
        export_weights(args.checkpoint, args.export, temperature=best["temperature"], unbalance=best["unbalance"])
        print(f"\nchosen: unbalance {best['unbalance']}, T {best['temperature']} -> {args.export}")


if __name__ == "__main__":
    main()
