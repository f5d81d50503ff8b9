"""``fakescope demo``: the whole loop once, on bundled data, in about a minute on a CPU.

It samples fakes from the bundled generator, takes the same number of real images from the real source's
test split (never used to train the bundled detector), writes both as PNG files, scores the files through the
same path as ``fakescope score``, and writes a report folder: ``scores.json`` (one record per image, with its
true label) and ``grid.png`` (the most and least confident real and fake images).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from fakescope.core.checkpoint import write_json_atomic
from fakescope.core.imageio import read_image, resize, save_grid, to_tensor, to_uint8, write_png
from fakescope.core.progress import Progress
from fakescope.detector.base import DEFAULT_DETECTOR, load_detector
from fakescope.detector.metrics import summarize
from fakescope.detector.scoring import score_paths
from fakescope.generators.gan import load_gan
from fakescope.generators.sampling import generate_range, image_seed
from fakescope.generators.sources import create_source

DEMO_GENERATOR = "vanilla-digits"


def run_demo(
    out: str | os.PathLike,
    *,
    count: int = 200,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> dict:
    """Run the demo into ``out``; returns the report (also written as ``out/report.json``)."""
    out = Path(out)
    def say(message: str) -> None:
        if progress is not None:
            progress(description=message)

    say("loading the bundled generator and detector")
    gan, gan_meta = load_gan(DEMO_GENERATOR, device=device)
    det = load_detector(DEFAULT_DETECTOR)
    real_source = gan_meta["training"]["data"]
    c, size, _ = gan.image_shape

    say(f"sampling {count} fakes from {DEMO_GENERATOR}")
    paths, labels = [], []
    for first, images in generate_range(gan, lambda i: image_seed(seed, i, "demo"), 0, count):
        for j, image in enumerate(images):
            path = out / "images" / "fake" / f"{first + j:04d}.png"
            write_png(path, to_uint8(image))
            paths.append(path)
            labels.append(1)
    say(f"taking {count} held-out real images from {real_source!r}")
    real = create_source(real_source).draw(count, size=size, channels=c, split="test", seed=seed)
    for i, image in enumerate(real.images):
        path = out / "images" / "real" / f"{i:04d}.png"
        write_png(path, to_uint8(image))
        paths.append(path)
        labels.append(0)

    say(f"scoring {len(paths)} images with {DEFAULT_DETECTOR}")
    records = score_paths(paths, det, device=device)
    scores = np.array([r.score for r in records], dtype=float)
    truth = np.array(labels)
    metrics = summarize(truth, scores, det.threshold)
    rows = [{**r.to_json(), "truth": "fake" if y else "real"} for r, y in zip(records, labels, strict=True)]
    report = {"generator": DEMO_GENERATOR, "detector": DEFAULT_DETECTOR, "real": real_source, "seed": seed,
              "metrics": metrics}
    write_json_atomic(out / "scores.json", rows)
    write_json_atomic(out / "report.json", report)
    _confidence_grid(out / "grid.png", paths, scores, truth, det.threshold)
    return report


def _confidence_grid(path: Path, paths: list[Path], scores: np.ndarray, truth: np.ndarray, threshold: float,
                     per_row: int = 8) -> None:
    """Four rows: most confident real, least confident real, most confident fake, least confident fake."""
    rows = []
    for label in (0, 1):
        idx = np.flatnonzero(truth == label)
        confidence = scores[idx] if label else 1.0 - scores[idx]
        order = idx[np.argsort(-confidence, kind="stable")]
        rows += [order[:per_row], order[::-1][:per_row]]
    tiles = [to_tensor(resize(read_image(paths[i]), 64)) for row in rows for i in row]
    save_grid(path, torch.stack(tiles), nrow=per_row)
