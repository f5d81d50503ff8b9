"""How long ``fakescope adapt`` takes for k = 10, and how fast the adapted detector scores 512x512 images, beside the
default detector in the same run (the machines are shared and noisy: compare the two numbers, not runs).

    python benchmarks/fewshot/speed.py --out benchmarks/fewshot/speed.json

Needs nothing outside the package: the ten 'fakes' are windows of scikit-image's photographs under sensor-like
grain (a trace the default misses), the scored images are 512x512 windows of its astronaut and coffee photographs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name  # noqa: E402
from fakescope.detector.adapt import AdaptRequest, adapt  # noqa: E402
from fakescope.detector.base import load_detector  # noqa: E402
from fakescope.detector.scoring import score_paths  # noqa: E402

from fakescope.core.imageio import write_png  # noqa: E402


def windows(photo: np.ndarray, n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    h, w = photo.shape[:2]
    out = []
    for _ in range(n):
        y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        out.append(np.ascontiguousarray(photo[y:y + size, x:x + size]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i, w in enumerate(windows(data.chelsea(), args.k, 256, rng)):
            grainy = np.clip(w.astype(np.float64) + rng.normal(0, 12, w.shape), 0, 255).astype(np.uint8)
            write_png(tmp / "fake" / f"{i:02d}.png", grainy)
        start = time.perf_counter()
        report = adapt(AdaptRequest(fakes=(("grainy", tmp / "fake"),), out=tmp / "det"))
        adapt_seconds = time.perf_counter() - start
        big = [np.ascontiguousarray(data.astronaut())] + windows(np.pad(data.coffee(), ((56, 56), (0, 0), (0, 0)),
                                                                        mode="reflect"), args.images - 1, 512, rng)
        paths = []
        for i, image in enumerate(big):
            paths.append(tmp / "score" / f"{i:02d}.png")
            write_png(paths[-1], image)
        result = {"k": args.k, "adapt_seconds": round(adapt_seconds, 1), "machine": cpu_name(),
                  "threads": torch.get_num_threads(), "images": len(paths), "size": "512x512",
                  "cv_ap": report.generators[0].cv_ap}
        for name, det in (("adapted", load_detector(tmp / "det")), ("default", load_detector(None))):
            score_paths(paths[:2], det)  # warm-up
            start = time.perf_counter()
            score_paths(paths, det)
            result[f"{name}_images_per_s"] = round(len(paths) / (time.perf_counter() - start), 1)
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
