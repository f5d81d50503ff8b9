"""Training a detector on corpora: fit on the train split, calibrate on the val split, report on the test split.

The test split is used only after the model, its calibration and its threshold are final, and only to report
metrics: nothing is ever fit on it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fakescope.core.checkpoint import WEIGHTS_FILE
from fakescope.core.corpus import CorpusError, read_record
from fakescope.core.imageio import sha256_file
from fakescope.core.progress import Progress

from .base import Detector
from .calibration import METHODS, THRESHOLD_RULES, choose_threshold, fit_calibration
from .data import EmptySplitError, ImageSet, load_split
from .metrics import summarize


@dataclass(frozen=True)
class CalibrationSpec:
    method: str = "platt"  # platt | isotonic | none: the map from raw scores to probabilities
    threshold_rule: str = "fpr"  # fpr: at most target_fpr of validation reals flagged; balanced: best balanced acc.
    target_fpr: float = 0.05

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown calibration {self.method!r}; known: {', '.join(METHODS)}")
        if self.threshold_rule not in THRESHOLD_RULES:
            raise ValueError(f"unknown threshold rule {self.threshold_rule!r}; known: {', '.join(THRESHOLD_RULES)}")
        if not 0.0 <= self.target_fpr < 1.0:
            raise ValueError(f"target FPR must be in [0, 1), got {self.target_fpr}")


def calibrate(det: Detector, val: ImageSet, spec: CalibrationSpec = CalibrationSpec(), *,
              device: torch.device | str = "cpu") -> dict:
    """Fit ``det``'s calibration and threshold on the validation set ``val``; returns the validation metrics."""
    raw = det.raw_scores(val.images, device=device)
    det.calibration = fit_calibration(raw, val.labels, spec.method)
    probs = det.calibration(raw)
    det.threshold = choose_threshold(val.labels, probs, spec.threshold_rule, spec.target_fpr)
    return summarize(val.labels, probs, det.threshold)


def fit_and_calibrate(
    det: Detector,
    train: ImageSet,
    val: ImageSet,
    test: ImageSet | None = None,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    calibration: CalibrationSpec = CalibrationSpec(),
    half: bool = False,
    init: str | os.PathLike | None = None,
    progress: Progress | None = None,
    state: str | os.PathLike | None = None,
) -> tuple[dict, dict]:
    """Fit on ``train`` (``val`` for early stopping), calibrate on ``val``, then — only then — measure ``test``.

    Returns ``(training record from fit, {"val": metrics, "test": metrics})``. ``state``: a file where a
    resumable detector keeps its training state after every epoch and continues from (see ``NeuralDetector.fit``).
    """
    if init is not None:
        det.init_from(init)
    resume = {"state": state} if state is not None and getattr(det, "resumable", False) else {}
    fitted = det.fit(train, val, device=torch.device(device), seed=seed, progress=progress, **resume)
    if half:
        det.round_to_half()
    metrics = {"val": calibrate(det, val, calibration, device=device)}
    if test is not None:
        metrics["test"] = summarize(test.labels, det.predict_proba(test.images, device=device), det.threshold)
    return fitted, metrics


def train_detector(
    det: Detector,
    corpora: Sequence[str | os.PathLike],
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    calibration: CalibrationSpec = CalibrationSpec(),
    half: bool = False,
    init: str | os.PathLike | None = None,
    command: str | None = None,
    progress: Progress | None = None,
    state: str | os.PathLike | None = None,
) -> dict:
    """Train ``det`` on the corpora's train split, calibrate on their val split, measure on their test split.

    ``half`` rounds the model through fp16 *before* calibrating, so a ``save(half=True)`` checkpoint scores
    exactly as calibrated. ``init`` starts from a local weights file (with ``epochs=0``: calibrate it only).
    Sets ``det.info`` (the training record saved with the checkpoint) and returns it.
    """
    train, val = load_split(corpora, "train"), load_split(corpora, "val")
    try:
        test = load_split(corpora, "test")
    except EmptySplitError:  # no test split; an unreadable test image still stops training with its name
        test = None
    fitted, metrics = fit_and_calibrate(det, train, val, test, device=device, seed=seed, calibration=calibration,
                                        half=half, init=init, progress=progress, state=state)
    training = {
        "corpora": [str(c) for c in corpora],
        "corpus_details": [_describe_corpus(c) for c in corpora],
        "seed": seed,
        "device": str(device),
        "half": half,
        "counts": {"train": len(train), "val": len(val), **({"test": len(test)} if test is not None else {})},
        **({"command": command} if command else {}),
        **({"init": _init_record(det, init)} if init is not None else {}),
        **fitted,
        "metrics": metrics,
    }
    det.info = {"name": det.name, "training": training,
                "calibration": {"method": det.calibration.method, "threshold_rule": calibration.threshold_rule,
                                "target_fpr": calibration.target_fpr, "fit_on": "val"},
                "complexity": det.complexity()}
    return det.info


def _describe_corpus(corpus: str | os.PathLike) -> dict:
    """Path, real source(s) and generator(s) of a corpus, from its ``corpus.json`` when it has one."""
    record: dict = {"path": str(corpus)}
    try:
        meta = read_record(corpus)
    except CorpusError:
        return record
    if not isinstance(meta, dict):
        return record
    sources = [s.get("source") for s in meta.get("sources", []) if isinstance(s, dict)]
    generators = [g for g in meta.get("generators", []) if isinstance(g, dict)]
    if sources:
        record["real"] = ", ".join(str(s) for s in sources)
    if generators:
        record["generator"] = ", ".join(str(g.get("name")) for g in generators)
        record["generator_sha256"] = [g.get("sha256") for g in generators]
    return record


def _init_record(det: Detector, init: str | os.PathLike) -> dict:
    """Which weights training started from: a file and its sha256, or installed ImageNet weights."""
    if str(init) == "imagenet":
        from .pretrained import imagenet_file

        path = imagenet_file(det.config.arch)
        return {"path": "imagenet", "file": path.name, "sha256": sha256_file(path)}
    from .neural import checkpoint_folder

    folder = checkpoint_folder(init)
    if folder is not None:  # a detector checkpoint: its weights file identifies it
        return {"path": str(init), "sha256": sha256_file(folder / WEIGHTS_FILE)}
    return {"path": str(init), "sha256": sha256_file(init)}
