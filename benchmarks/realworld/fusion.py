"""A fusion candidate: the mean of two or more detectors' calibrated probabilities, its threshold chosen on the
corpora's validation split (5% of validation reals flagged, as for every detector), then measured on realworld-dev
with the same metrics as ``run.py``. Nothing about the fusion is fitted on realworld-dev.

    python benchmarks/realworld/fusion.py --detector runs/det/a --detector runs/det/b --corpus runs/realworld
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fakescope.detector.base import load_detector  # noqa: E402
from fakescope.detector.calibration import choose_threshold  # noqa: E402
from fakescope.detector.data import load_split  # noqa: E402
from run import find_set, load_rows, metrics  # noqa: E402

from fakescope.core.imageio import read_image  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--detector", action="append", required=True)
    ap.add_argument("--corpus", action="append", required=True)
    ap.add_argument("--out", type=Path, default=HERE / "fusion.json")
    args = ap.parse_args()
    root = find_set()
    if root is None:
        print("realworld-dev not found: nothing to measure")
        return 0
    dets = [load_detector(d) for d in args.detector]
    val = load_split(args.corpus, "val")
    val_scores = np.mean([d.predict_proba(val.images) for d in dets], axis=0)
    threshold = choose_threshold(val.labels, val_scores, "fpr", 0.05)
    rows = load_rows(root)
    images = [read_image(root / "images" / r["file"]) for r in rows]
    images = [np.repeat(im, 3, axis=2) if im.shape[2] == 1 else im[..., :3] for im in images]
    scores = np.mean([d.predict_proba(images) for d in dets], axis=0)
    labels = np.array([r["label01"] for r in rows])
    tiles = np.array([r["tile"] and r["format"] == "png" for r in rows])
    result = {"detectors": args.detector, "threshold": round(float(threshold), 4),
              "val": metrics(val.labels, val_scores), "all": metrics(labels, scores),
              "png_tiles": metrics(labels[tiles], scores[tiles]),
              "real_accuracy": round(float((scores[labels == 0] < threshold).mean()), 4),
              "fake_accuracy": round(float((scores[labels == 1] >= threshold).mean()), 4)}
    print(json.dumps(result, indent=1))
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
