"""Benchmark detectors against generators and perturbations: AP per generator on one split of labeled corpora.

For each perturbation, every image of the split is perturbed once (real and fake alike, the perturbations of
corpus recipes: JPEG re-encoding, Gaussian blur, Gaussian noise) and scored by each detector. A generator's AP
ranks its fakes against *every* real image of the split, so a detector that flags one real domain as fake
loses AP on every generator; accuracies are read at each detector's own calibrated threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from fakescope.core.perturb import Perturbation, apply_perturbation
from fakescope.core.progress import Progress
from fakescope.core.seeding import numpy_rng

from .base import Detector
from .data import ImageSet
from .metrics import summarize

ALL = "all"  # the row over every generator of the split
METRICS = ("ap", "roc_auc", "fake_accuracy", "real_accuracy")


def generator_name(row: dict) -> str:
    """The generator a fake manifest row came from: its ``origin``, else the name of its checkpoint folder."""
    key = row.get("origin") or row.get("checkpoint") or row.get("generator") or row.get("corpus") or "?"
    path = Path(str(key))
    return path.parent.name if path.name == "checkpoint" else path.name


def generator_labels(data: ImageSet) -> np.ndarray:
    """Per image: ``""`` for a real one, else its generator's name. Generators that share a name but not their
    weights (``checkpoint_sha256``), or are called ``all``, get the first 8 digits of that hash appended."""
    fakes = {i: (generator_name(r), r.get("checkpoint_sha256") or "")
             for i, (y, r) in enumerate(zip(data.labels, data.rows or [{}] * len(data), strict=True)) if y == 1}
    hashes: dict[str, set[str]] = {}
    for name, digest in fakes.values():
        hashes.setdefault(name, set()).add(digest)
    labels = np.full(len(data), "", dtype=object)
    for i, (name, digest) in fakes.items():
        ambiguous = name == ALL or len(hashes[name]) > 1
        labels[i] = f"{name}@{digest[:8] or 'unknown'}" if ambiguous else name
    return labels


def perturb_images(images: Sequence[np.ndarray], p: Perturbation | None, seed: int = 0,
                   keys: Sequence[str] | None = None) -> list[np.ndarray]:
    """``images`` with ``p`` applied to each; None: as they are. Noise is drawn from ``seed`` and each image's
    key (its corpus path; default its position), so an image gets the same noise in any company."""
    if p is None:
        return list(images)
    keys = keys if keys is not None else [str(i) for i in range(len(images))]
    return [apply_perturbation(im, p, numpy_rng(seed, "bench", str(p), k)) for im, k in zip(images, keys, strict=True)]


def bench(
    detectors: dict[str, Detector],
    data: ImageSet,
    perturbations: Sequence[Perturbation | None] = (None,),
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: Progress | None = None,
) -> list[dict]:
    """One row per perturbation × detector × generator (first the ``all`` row): counts, AP, ROC-AUC and the
    shares of fakes caught and reals passed at the detector's threshold; None where the split lacks the class a
    metric needs. ``progress(1)`` after each scoring."""
    labels = np.asarray(data.labels)
    gens = generator_labels(data)
    names = sorted(set(gens) - {""})
    keys = [f"{r.get('corpus', '')}/{r.get('path', i)}" for i, r in enumerate(data.rows or [{}] * len(data))]
    rows = []
    for p in perturbations:
        images = perturb_images(data.images, p, seed, keys)
        for det_name, det in detectors.items():
            scores = det.predict_proba(images, device=device)
            for g in [ALL, *names]:
                keep = np.ones(len(labels), dtype=bool) if g == ALL else (gens == "") | (gens == g)
                m = summarize(labels[keep], scores[keep], det.threshold)
                rows.append({"detector": det_name, "perturbation": str(p) if p else "none", "generator": g,
                             "fakes": int((labels[keep] == 1).sum()), "reals": int((labels[keep] == 0).sum()),
                             **{k: None if np.isnan(m[k]) else m[k] for k in METRICS},  # NaN: a class missing
                             "threshold": det.threshold})
            if progress is not None:
                progress(1)
    return rows
