"""Scoring speed on 512×512 images, end to end, side by side with CNNDetection's model.

Target (issue: real-world detection): the default scores 512×512 images at ≥ 20 images/s end to end on the
2-core CPU. The reference is CNNDetection's classifier, a ResNet-50 on one 224×224 centre crop per image
(``timm:resnet50`` with ``crop=224``: one tile at the centre is not how fakescope tiles, so it is timed on the
model alone, decoding included, exactly as its evaluation script does). Both read the same JPEG files; the
repeats alternate so that a busy machine slows both alike; numbers are medians.

    python benchmarks/realworld/speed.py                         # the default and every --detector, writes speed.json
    python benchmarks/realworld/speed.py --detector runs/det-a --images 32 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import timm
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name  # noqa: E402
from fakescope.detector.base import DEFAULT_DETECTOR, load_detector  # noqa: E402
from fakescope.detector.scoring import score_paths  # noqa: E402
from fakescope.generators.sources import create_source  # noqa: E402

from fakescope.core.imageio import encode_jpeg, read_image, to_uint8  # noqa: E402

HERE = Path(__file__).resolve().parent


def make_images(folder: Path, n: int, size: int = 512) -> list[Path]:
    """``n`` JPEG files (quality 90) of ``size``×``size`` windows of the bundled photographs (resized if smaller)."""
    drawn = create_source("photos").draw(n, size=size, channels=3, split="all", seed=0)
    paths = []
    for i, image in enumerate(drawn.images):
        path = folder / f"{i:03d}.jpg"
        path.write_bytes(encode_jpeg(to_uint8(image), 90))
        paths.append(path)
    return paths


def cnndetection(paths: list[Path], net: torch.nn.Module) -> None:
    """CNNDetection's evaluation: decode, centre-crop 224, ImageNet-normalise, ResNet-50, one image at a time."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        for p in paths:
            image = read_image(p)
            h, w = image.shape[:2]
            y, x = (h - 224) // 2, (w - 224) // 2
            t = torch.from_numpy(np.ascontiguousarray(image[y : y + 224, x : x + 224])).permute(2, 0, 1)[None]
            net((t.float() / 255 - mean) / std)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", action="append", help="bundled name or folder (default: the default)")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "speed.json")
    args = parser.parse_args()
    detectors = {name: load_detector(name) for name in (args.detector or [DEFAULT_DETECTOR])}
    resnet = timm.create_model("resnet50", pretrained=False, num_classes=1).eval()
    timings: dict[str, list[float]] = {name: [] for name in [*detectors, "cnndetection-resnet50-224"]}
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(Path(tmp), args.images)
        for _ in range(args.repeats):
            for name, det in detectors.items():
                start = time.perf_counter()
                records = score_paths(paths, det, device="cpu")
                timings[name].append(len(paths) / (time.perf_counter() - start))
                assert all(r.error is None for r in records)
            start = time.perf_counter()
            cnndetection(paths, resnet)
            timings["cnndetection-resnet50-224"].append(len(paths) / (time.perf_counter() - start))
    result = {"date": date.today().isoformat(), "machine": f"{cpu_name()}, {os.cpu_count()} cores, torch "
              f"{torch.__version__}, {torch.get_num_threads()} threads", "images": args.images, "size": 512,
              "load_average": os.getloadavg()[0],
              "images_per_s": {k: round(statistics.median(v), 1) for k, v in timings.items()},
              "all_runs": {k: [round(x, 1) for x in v] for k, v in timings.items()}}
    print(json.dumps(result, indent=1))
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
