"""Benchmark detectors against generators and perturbations: AP per generator on one split of labeled corpora.

For each perturbation (or chain of them, :mod:`fakescope.core.perturb`: JPEG re-encoding, blur, noise,
resizing, cropping), every image of the split is perturbed once, real and fake alike, and scored by each
detector. A generator's AP ranks its fakes against *every* real image of the split, so a detector that flags one
real domain as fake loses AP on every generator; accuracies are read at each detector's own threshold.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fakescope.core.perturb import Chain, Perturbation, apply_chain
from fakescope.core.progress import Progress
from fakescope.core.seeding import numpy_rng

from .base import Detector
from .data import ImageSet
from .metrics import bootstrap_interval, detection_metrics

ALL = "all"  # the row over every generator of the split
METRICS = ("ap", "roc_auc", "accuracy", "fake_accuracy", "real_accuracy", "tpr_at_1fpr", "tpr_at_5fpr", "eer", "ece")
TABLE_METRICS = ("ap", "roc_auc", "fake_accuracy", "real_accuracy")  # the terminal table's columns
FEW = 100  # a generator with fewer fakes gets a bootstrap interval of its AP


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


#: Real and fake images whose median sides differ by more than this factor get a warning: size alone can then tell
#: them apart (512 px photographs against 32 px fakes score AP 1.000 with no trace of synthesis found).
SIZE_RATIO_WARNED = 1.5


def size_notes(data: ImageSet) -> list[str]:
    """Warnings, one per generator, when its fakes and the real images differ in size (median side, width and
    height): a detector may then rank by size rather than by any trace of synthesis."""
    if not (data.labels == 0).any():
        return []

    def median(idx: np.ndarray) -> tuple[int, int]:
        return (int(np.median([data.images[i].shape[1] for i in idx])),
                int(np.median([data.images[i].shape[0] for i in idx])))

    def side(wh: tuple[int, int]) -> float:
        return max(1.0, float(np.sqrt(wh[0] * wh[1])))

    reals = median(np.flatnonzero(data.labels == 0))
    generators = generator_labels(data)
    notes = []
    for name in sorted({g for g in generators if g}):
        fakes = median(np.flatnonzero(generators == name))
        ratio = max(side(fakes), side(reals)) / min(side(fakes), side(reals))
        if ratio > SIZE_RATIO_WARNED:
            notes.append(f"{name}: WARNING: real and fake images differ in size (reals median {reals[0]}x{reals[1]} "
                         f"px, fakes median {fakes[0]}x{fakes[1]} px); a detector can score well by telling the "
                         "sizes apart. Compare images of like sizes.")
    return notes


def perturb_images(images: Sequence[np.ndarray], p: Chain | Perturbation | None, seed: int = 0,
                   keys: Sequence[str] | None = None) -> list[np.ndarray]:
    """``images`` with ``p`` (one perturbation or a chain) applied to each; None or an empty chain: as they are.
    Random draws (noise, crop windows) come from ``seed`` and each image's key (its corpus path; default its
    position), so an image is perturbed the same way in any company."""
    if not p:
        return list(images)
    keys = keys if keys is not None else [str(i) for i in range(len(images))]
    return [apply_chain(im, p, numpy_rng(seed, "bench", str(p), k)) for im, k in zip(images, keys, strict=True)]


@dataclass
class BenchResult:
    """Rows (one per perturbation × detector × generator), the scores behind them, and each detector's cost."""

    rows: list[dict]
    perturbations: list[str]  # in run order; "none" is the clean images
    labels: np.ndarray  # [N] 0 real, 1 fake
    generators: np.ndarray  # [N] "" for a real image, else its generator's name
    keys: list[str]  # [N] each image's corpus path (or source file)
    scores: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (detector, perturbation) → [N]
    cost: dict[str, dict] = field(default_factory=dict)  # detector → parameters, MACs per image, images/s, ...


def image_keys(data: ImageSet) -> list[str]:
    return [f"{r.get('corpus', '')}/{r.get('path', i)}" for i, r in enumerate(data.rows or [{}] * len(data))]


def run_bench(
    detectors: dict[str, Detector],
    data: ImageSet,
    perturbations: Sequence[Chain | Perturbation | None] = (None,),
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    few: int = FEW,
    resamples: int = 200,
    progress: Progress | None = None,
) -> BenchResult:
    """Score every image under every perturbation with every detector; ``progress(1)`` after each scoring.

    Each row holds the counts, AP, ROC-AUC, accuracy with real and fake accuracy at the detector's own threshold,
    TPR at 1% and 5% FPR, EER and ECE (None where the split lacks a class a metric needs), and, for a generator
    with fewer than ``few`` fakes, a stratified bootstrap 95% interval of its AP (``ap_low``, ``ap_high``).
    The cost of each detector: parameters, multiply-accumulates per image at the benchmark's own image sizes,
    and images/s measured on the clean pass.
    """
    labels = np.asarray(data.labels)
    gens = generator_labels(data)
    names = sorted(set(gens) - {""})
    keys = image_keys(data)
    result = BenchResult([], [], labels, gens, keys)
    sizes = [im.shape[:2] for im in data.images]
    for det_name, det in detectors.items():
        c = det.complexity()
        macs = float(np.mean([det.macs_per_image(h, w, c) for h, w in sizes])) if c and sizes else None
        result.cost[det_name] = {"parameters": c.get("parameters"), "macs_per_image": macs,
                                 "images_per_s": None, "preprocessing": det.preprocessing(),
                                 "threshold": det.threshold}
    for p in perturbations:
        name = str(p) if p else "none"
        result.perturbations.append(name)
        images = perturb_images(data.images, p, seed, keys)
        for det_name, det in detectors.items():
            start = time.perf_counter()
            scores = det.predict_proba(images, device=device)
            elapsed = time.perf_counter() - start
            if not p or result.cost[det_name]["images_per_s"] is None:
                result.cost[det_name]["images_per_s"] = len(images) / max(elapsed, 1e-9)
            result.scores[(det_name, name)] = scores
            for g in [ALL, *names]:
                keep = np.ones(len(labels), dtype=bool) if g == ALL else (gens == "") | (gens == g)
                m = detection_metrics(labels[keep], scores[keep], det.threshold)
                row = {"detector": det_name, "perturbation": name, "family": _family(p), "generator": g,
                       "fakes": int((labels[keep] == 1).sum()), "reals": int((labels[keep] == 0).sum()),
                       **{k: _value(m[k]) for k in METRICS}, "ap_low": None, "ap_high": None,
                       "threshold": det.threshold}
                if g != ALL and 0 < row["fakes"] < few and row["reals"]:
                    low, high = bootstrap_interval(labels[keep], scores[keep], "ap", resamples=resamples,
                                                   seed=seed)
                    row["ap_low"], row["ap_high"] = low, high
                result.rows.append(row)
            if progress is not None:
                progress(1)
    return result


def bench(
    detectors: dict[str, Detector],
    data: ImageSet,
    perturbations: Sequence[Chain | Perturbation | None] = (None,),
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: Progress | None = None,
) -> list[dict]:
    """The rows of :func:`run_bench` (one per perturbation × detector × generator, first the ``all`` row)."""
    return run_bench(detectors, data, perturbations, device=device, seed=seed, progress=progress).rows


def _family(p: Chain | Perturbation | None) -> str:
    if isinstance(p, Chain):
        return p.family()
    return p.kind if p is not None else "none"


def _value(v: float) -> float | None:
    return None if np.isnan(v) else float(v)  # NaN: a class missing


def limit_per_generator(data: ImageSet, limit: int, seed: int = 0) -> ImageSet:
    """At most ``limit`` images per generator and as many reals as the largest generator keeps (at most
    ``limit`` × generators), drawn by ``seed``; manifest order is kept."""
    gens = generator_labels(data)
    keep: list[int] = []
    groups = sorted(set(gens))
    for g in groups:
        idx = np.flatnonzero(gens == g)
        cap = limit if g else limit * max(1, len(groups) - 1)
        if len(idx) > cap:
            idx = np.sort(numpy_rng(seed, "bench-limit", g).choice(idx, cap, replace=False))
        keep.extend(int(i) for i in idx)
    return data.subset(sorted(keep))
