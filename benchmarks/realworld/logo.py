"""Leave-one-group-out inside the ``realworld`` corpus: does a detector trained without a kind of up-sampler (or
without the CycleGAN) still find it?

Groups of origins are held out whole: transposed convolutions (``resynth-deconv*``), resize-convolutions
(``resynth-nearest*``, ``resynth-bilinear*``), sub-pixel convolution (``resynth-pixelshuffle*``), the CycleGAN and,
when the ``photos-upscaled`` corpus is given too, the three published super-resolution GANs of Real-ESRGAN
(``realesr*``), and with ``photos-published`` the four of RealSR, waifu2x and Real-CUGAN. A group with no fakes in
the corpora given is skipped.
For each group the detector is trained (train split; val split for early stopping and calibration) on every
other origin's fakes and all reals, then the AP of the group's test fakes against every real test image is
measured, with the share caught at the threshold calibrated without the group. Target: mean AP ≥ 0.80.

    python benchmarks/realworld/logo.py --corpus runs/realworld --family timm:mobilenetv2_100 --init imagenet \\
        --set crop=64 --set batch_size=32 --set lr=2e-4 --epochs 4 --augment realworld
    python benchmarks/realworld/logo.py --corpus runs/realworld --corpus runs/photos-upscaled --family npr \
        --set width=32 --set patience=6 --epochs 20 --augment basic --out benchmarks/realworld/logo-upscaled.json
    python benchmarks/realworld/logo.py --corpus runs/realworld --corpus runs/photos-upscaled \
        --corpus runs/photos-published --family npr --set width=32 --set patience=6 --epochs 20 --augment basic \
        --out benchmarks/realworld/logo-published.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import torch
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name  # noqa: E402
from fakescope.detector.base import create_detector, family_spec  # noqa: E402
from fakescope.detector.data import AUGMENT_POLICIES, ImageSet, load_split  # noqa: E402
from fakescope.detector.metrics import summarize  # noqa: E402
from fakescope.detector.training import fit_and_calibrate  # noqa: E402

from fakescope.console import parse_overrides  # noqa: E402

HERE = Path(__file__).resolve().parent
GROUPS = {
    "transposed conv": ("resynth-deconv",),
    "resize conv": ("resynth-nearest", "resynth-bilinear"),
    "pixel shuffle": ("resynth-pixelshuffle",),
    "cyclegan": ("cyclegan",),
    "published super-resolution GANs": ("realesrgan-", "realesr-"),
    "RealSR, waifu2x, Real-CUGAN": ("realsr-", "waifu2x-", "realcugan-"),
}


def group_of(row: dict) -> str | None:
    if row.get("label") != 1:
        return None
    origin = str(row.get("origin", ""))
    return next((g for g, prefixes in GROUPS.items() if origin.startswith(prefixes)), None)


def without(images: ImageSet, group: str) -> ImageSet:
    return images.subset([i for i, r in enumerate(images.rows) if group_of(r) != group])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, action="append", help="corpus folder (repeatable)")
    ap.add_argument("--family", required=True)
    ap.add_argument("--set", action="append", default=[], help="key=value config override, as fakescope train's")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--augment", default="realworld")
    ap.add_argument("--init")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=HERE / "logo.json")
    args = ap.parse_args()
    try:
        overrides = parse_overrides(args.set, family_spec(args.family)[0].Config)
    except typer.Exit as exc:  # parse_overrides has printed the error line
        return exc.exit_code
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    data = {s: load_split(args.corpus, s) for s in ("train", "val", "test")}
    results = {"date": date.today().isoformat(), "machine": f"{cpu_name()}, {os.cpu_count()} cores",
               "command": " ".join(sys.argv), "groups": {}}
    for group in GROUPS:
        if not any(group_of(r) == group for r in data["test"].rows):
            continue
        start = time.perf_counter()
        det = create_detector(args.family, **overrides)
        det.config = replace(det.config, augment=AUGMENT_POLICIES[args.augment])
        fit_and_calibrate(det, without(data["train"], group), without(data["val"], group), device="cpu",
                          seed=args.seed, init=args.init)
        test = data["test"]
        keep = [i for i, r in enumerate(test.rows) if r["label"] == 0 or group_of(r) == group]
        held = test.subset(keep)
        scores = det.predict_proba(held.images, device=torch.device("cpu"))
        m = summarize(held.labels, scores, det.threshold)
        results["groups"][group] = {"ap": round(m["ap"], 4), "roc_auc": round(m["roc_auc"], 4),
                                    "fake_accuracy": round(m["fake_accuracy"], 4),
                                    "real_accuracy": round(m["real_accuracy"], 4),
                                    "fakes": int(held.labels.sum()), "seconds": round(time.perf_counter() - start)}
        print(group, results["groups"][group], flush=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    results["mean_ap"] = round(float(np.mean([g["ap"] for g in results["groups"].values()])), 4)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print("mean AP", results["mean_ap"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
