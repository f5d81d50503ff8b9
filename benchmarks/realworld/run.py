"""Detectors on images nobody here generated: ``realworld-dev`` (95 real photographs, 110 images of 16 public
generators, from public repositories; see its README).

For measuring only: nothing here trains, calibrates or picks a threshold on it. Each detector scores every image
as ``fakescope score`` does (the detector's own tiling at native resolution, its calibrated threshold) and the
script records, per detector: AP and ROC-AUC over all images, ROC-AUC on the PNG tiles only (both classes stored
the same way: the fair subset, since the reals are mostly JPEG files and the fakes PNG tiles), AP of each
generator's images against every real image, real and fake accuracy at the detector's threshold, and images/s
of scoring (decoding included). The same after JPEG quality 75 and after ×0.5 down-scaling (both classes alike)
with ``--perturb``.

The set is not in the repository (users do not have it): without it the script says so and exits 0.

    python benchmarks/realworld/run.py                          # every bundled detector → results.json, README table
    python benchmarks/realworld/run.py --detector runs/det-a --detector npr-bundled --perturb --out results-x.json
    python benchmarks/realworld/run.py --detector runs/det-b --seen super-resolution   # also without a seen generator
    FAKESCOPE_REALWORLD_DEV=/path/to/realworld-dev python benchmarks/realworld/run.py
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name  # noqa: E402
from fakescope.detector.base import load_detector  # noqa: E402

from fakescope.core.checkpoint import list_bundled  # noqa: E402
from fakescope.core.imageio import read_image  # noqa: E402
from fakescope.core.perturb import jpeg_roundtrip  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_SET = HERE.parents[2] / "shared" / "realworld-dev"


def find_set() -> Path | None:
    path = Path(os.environ.get("FAKESCOPE_REALWORLD_DEV", DEFAULT_SET))
    return path if (path / "manifest.csv").is_file() else None


def load_rows(root: Path) -> list[dict]:
    rows = []
    with open(root / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            row["label01"] = 1 if row["label"] == "fake" else 0
            row["tile"] = "crop box" in row["evidence"]
            row["format"] = Path(row["file"]).suffix.lower().lstrip(".").replace("jpeg", "jpg")
            rows.append(row)
    return rows


def perturb(image: np.ndarray, kind: str) -> np.ndarray:
    """``jpeg75``: JPEG quality 75 round trip; ``half``: ×0.5 area down-scaling; ``none``: unchanged."""
    if kind == "jpeg75":
        return jpeg_roundtrip(image, 75)
    if kind == "half":
        h, w = image.shape[:2]
        return cv2.resize(image, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    return image


def metrics(labels: np.ndarray, scores: np.ndarray) -> dict:
    if len(set(labels.tolist())) < 2:
        return {"n": int(len(labels)), "ap": None, "roc_auc": None}
    return {"n": int(len(labels)), "ap": round(float(average_precision_score(labels, scores)), 4),
            "roc_auc": round(float(roc_auc_score(labels, scores)), 4)}


def evaluate(det, rows: list[dict], root: Path, kind: str, device: str, seen: tuple[str, ...] = ()) -> dict:
    start = time.perf_counter()
    images = [perturb(read_image(root / "images" / r["file"]), kind) for r in rows]
    images = [np.repeat(im, 3, axis=2) if im.shape[2] == 1 else im[..., :3] for im in images]
    scores = det.predict_proba(images, device=device)
    seconds = time.perf_counter() - start
    labels = np.array([r["label01"] for r in rows])
    thr = det.threshold
    real, fake = labels == 0, labels == 1
    tiles = np.array([r["tile"] and r["format"] == "png" for r in rows])
    out = {
        "perturbation": kind,
        "all": metrics(labels, scores),
        "png_tiles": metrics(labels[tiles], scores[tiles]),
        "threshold": round(thr, 4),
        "real_accuracy": round(float((scores[real] < thr).mean()), 4),
        "fake_accuracy": round(float((scores[fake] >= thr).mean()), 4),
        "images_per_s": round(len(rows) / seconds, 1),
        "per_generator": {},
        "per_format": {},
    }
    if seen:  # the same without the fakes of generators the detector was trained on
        unseen = np.array([r["generator"] not in seen for r in rows])
        out["unseen"] = {"without": list(seen), "all": metrics(labels[unseen], scores[unseen]),
                         "png_tiles": metrics(labels[unseen & tiles], scores[unseen & tiles])}
    for gen in sorted({r["generator"] for r in rows if r["generator"]}):
        keep = real | np.array([r["generator"] == gen for r in rows])
        m = metrics(labels[keep], scores[keep])
        m["fake_accuracy"] = round(float((scores[keep & fake] >= thr).mean()), 4)
        out["per_generator"][gen] = m
    for fmt in ("jpg", "png"):
        sel = np.array([r["format"] == fmt for r in rows])
        out["per_format"][fmt] = {"real": int((sel & real).sum()), "fake": int((sel & fake).sum()),
                                  "mean_score_real": _mean(scores[sel & real]),
                                  "mean_score_fake": _mean(scores[sel & fake])}
    out["scores"] = {r["file"]: round(float(s), 5) for r, s in zip(rows, scores, strict=True)}
    return out


def _mean(x: np.ndarray) -> float | None:
    return round(float(x.mean()), 4) if len(x) else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", action="append", help="bundled name or checkpoint folder (repeatable; "
                                                            "default: every bundled detector)")
    parser.add_argument("--perturb", action="store_true", help="also after JPEG 75 and after x0.5 down-scaling")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--seen", action="append", default=[], metavar="GENERATOR",
                        help="a generator of the set that a detector was trained on (repeatable): AP and ROC-AUC "
                             "are also recorded without its fakes")
    args = parser.parse_args()
    root = find_set()
    if root is None:
        print("realworld-dev not found (set FAKESCOPE_REALWORLD_DEV or place it at ../shared/realworld-dev): "
              "nothing to measure")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = load_rows(root)
    generators = sorted({r["generator"] for r in rows if r["generator"]})
    unknown = [g for g in args.seen if g not in generators]
    if unknown:
        parser.error(f"--seen {', '.join(unknown)}: not a generator of the set ({', '.join(generators)})")
    detectors = args.detector or list_bundled("fakescope.detector")
    results = {"date": date.today().isoformat(), "machine": f"{cpu_name()}, {os.cpu_count()} cores, "
               f"torch {torch.__version__}, {torch.get_num_threads()} threads", "device": args.device,
               "set": {"images": len(rows), "real": sum(1 - r["label01"] for r in rows),
                       "fake": sum(r["label01"] for r in rows),
                       "png_tiles": sum(r["tile"] and r["format"] == "png" for r in rows)},
               "detectors": {}}
    for name in detectors:
        det = load_detector(name)
        kinds = ("none", "jpeg75", "half") if args.perturb else ("none",)
        results["detectors"][name] = {"family": det.name, "runs": [evaluate(det, rows, root, k, args.device,
                                                                            tuple(args.seen)) for k in kinds]}
        for run in results["detectors"][name]["runs"]:
            print(f"{name:28s} {run['perturbation']:7s} AP {run['all']['ap']:.3f}  ROC-AUC {run['all']['roc_auc']:.3f}"
                  f"  PNG-tile ROC-AUC {run['png_tiles']['roc_auc']:.3f}  real acc {run['real_accuracy']:.2f}"
                  f"  fake acc {run['fake_accuracy']:.2f}  {run['images_per_s']:.1f} img/s", flush=True)
            if "unseen" in run:
                u = run["unseen"]
                print(f"{'':28s} {'':7s} without {', '.join(u['without'])}: AP {u['all']['ap']:.3f}  ROC-AUC "
                      f"{u['all']['roc_auc']:.3f}  PNG-tile ROC-AUC {u['png_tiles']['roc_auc']:.3f}", flush=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
