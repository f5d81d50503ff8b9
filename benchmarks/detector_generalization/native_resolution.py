"""The default detector on whole images, beyond the 32 px corpora it was trained on.

Scores the 17 bundled photographs (real) at their native resolution, after JPEG 85 and at 256 px on the long side,
and CycleGAN painting→photo translations (fake) of the 256 px paintings of the same photographs, with the
detector's calibrated threshold. Images are scored as ``fakescope score`` does: tiles at native resolution.
Most of these photographs (or their paintings) gave the training crops (``split``: the photograph's split), so
this shows behaviour at other scales, not generalization to new photographs.

    python benchmarks/detector_generalization/native_resolution.py            # writes native_resolution.json
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import cv2
import numpy as np
from fakescope.detector.base import DEFAULT_DETECTOR, load_detector
from fakescope.generators.gan import load_gan
from fakescope.generators.sources import create_source
from fakescope.generators.translate import translate_array

from fakescope.core.perturb import jpeg_roundtrip as jpeg

HERE = Path(__file__).resolve().parent


def fit_long_side(image: np.ndarray, side: int) -> np.ndarray:
    """Area-downscaled so the long side is ``side`` (sides rounded down to multiples of 4)."""
    h, w = image.shape[:2]
    s = side / max(h, w)
    return cv2.resize(image, (int(w * s) // 4 * 4, int(h * s) // 4 * 4), interpolation=cv2.INTER_AREA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", default=DEFAULT_DETECTOR)
    parser.add_argument("--generator", default="cyclegan-photo2painting")
    parser.add_argument("--no-record", action="store_true", help="print only; do not write native_resolution.json")
    args = parser.parse_args()

    det = load_detector(args.detector)
    gan, _ = load_gan(args.generator)
    photos, paintings = create_source("photos"), create_source("paintings")
    ids = photos.item_ids()
    split_of = {i: split for split in ("train", "val", "test") for i in photos.indices(split)}
    real = {"native": [], "jpeg85": [], "256px": []}
    fake = []
    for i in range(len(ids)):
        image = photos.load_item(i)
        real["native"].append(image)
        real["jpeg85"].append(jpeg(image, 85))
        real["256px"].append(fit_long_side(image, 256))
        fake.append(translate_array(gan, fit_long_side(paintings.load_item(i), 256), "b2a"))

    scores = {f"real {k}": det.predict_proba(v) for k, v in real.items()}
    scores["fake cyclegan b2a 256px"] = det.predict_proba(fake)
    rows = []
    for i, name in enumerate(ids):
        rows.append({"image": name, "split": split_of[i], "native_size": list(real["native"][i].shape[:2]),
                     **{k: round(float(v[i]), 4) for k, v in scores.items()}})
    summary = {k: {"flagged_fake": int((v >= det.threshold).sum()), "of": len(v)} for k, v in scores.items()}
    result = {"date": date.today().isoformat(), "detector": args.detector, "threshold": det.threshold,
              "generator": args.generator, "summary": summary, "images": rows}
    print(json.dumps(result, indent=2))
    if not args.no_record:
        (HERE / "native_resolution.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
