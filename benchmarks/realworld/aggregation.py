"""How to turn tile scores into an image's score, measured on a detector's own validation split (never on
realworld-dev): the mean of tile probabilities (what ``Detector.raw_scores`` does), the mean of tile logits,
the maximum, and the mean of the top quarter. Images are the corpus's 256 px windows, tiled at native resolution.

    python benchmarks/realworld/aggregation.py --detector runs/det/mnv2-c64 --corpus runs/realworld
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from fakescope.detector.base import load_detector
from fakescope.detector.data import load_split, tiles
from sklearn.metrics import average_precision_score, roc_auc_score

HERE = Path(__file__).resolve().parent


def aggregate(probs: np.ndarray, how: str) -> float:
    if how == "mean":
        return float(probs.mean())
    if how == "logit-mean":
        p = np.clip(probs, 1e-6, 1 - 1e-6)
        return float(np.mean(np.log(p / (1 - p))))
    if how == "max":
        return float(probs.max())
    k = max(1, len(probs) // 4)
    return float(np.sort(probs)[-k:].mean())  # top-quarter


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--detector", required=True)
    ap.add_argument("--corpus", action="append", required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--out", type=Path, default=HERE / "aggregation.json")
    args = ap.parse_args()
    det = load_detector(args.detector)
    data = load_split(args.corpus, args.split)
    per_image = [det.tile_scores(tiles(image, det.config.crop)) for image in data.images]
    result = {"detector": args.detector, "split": args.split, "images": len(data), "aggregations": {}}
    for how in ("mean", "logit-mean", "max", "top-quarter"):
        s = np.array([aggregate(p, how) for p in per_image])
        result["aggregations"][how] = {"ap": round(float(average_precision_score(data.labels, s)), 4),
                                       "roc_auc": round(float(roc_auc_score(data.labels, s)), 4)}
    print(json.dumps(result, indent=1))
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
