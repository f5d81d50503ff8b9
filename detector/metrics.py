"""Detection metrics (scikit-learn): AP, ROC-AUC, accuracies at a threshold, TPR at a fixed FPR, EER, expected
calibration error, and bootstrap intervals for small sets."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score, roc_curve

from .calibration import expected_calibration_error


def summarize(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """AP and ROC-AUC over scores; accuracy, real and fake accuracy at ``threshold``; ECE of the scores."""
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    pred = (scores >= threshold).astype(int)
    both = len(np.unique(labels)) == 2
    real, fake = labels == 0, labels == 1
    return {
        "n": int(len(labels)),
        "ap": float(average_precision_score(labels, scores)) if both else float("nan"),
        "roc_auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
        "accuracy": float(accuracy_score(labels, pred)),
        "real_accuracy": float((pred[real] == 0).mean()) if real.any() else float("nan"),
        "fake_accuracy": float((pred[fake] == 1).mean()) if fake.any() else float("nan"),
        "ece": expected_calibration_error(labels, scores),
        "threshold": float(threshold),
    }


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr: float) -> float:
    """The share of fakes caught at the best threshold that flags at most ``fpr`` of the reals (NaN: one class)."""
    labels = np.asarray(labels, dtype=int)
    if len(np.unique(labels)) < 2:
        return float("nan")
    f, t, _ = roc_curve(labels, np.asarray(scores, dtype=float), drop_intermediate=False)
    return float(t[f <= fpr + 1e-12].max())


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
    """The rate where false positives and misses are equal (interpolated on the ROC curve; NaN: one class)."""
    labels = np.asarray(labels, dtype=int)
    if len(np.unique(labels)) < 2:
        return float("nan")
    f, t, _ = roc_curve(labels, np.asarray(scores, dtype=float), drop_intermediate=False)
    miss = 1.0 - t
    i = int(np.flatnonzero(f >= miss)[0])  # f rises from 0 and miss falls to 0: they cross once
    if i == 0:
        return float(f[0])
    d0, d1 = miss[i - 1] - f[i - 1], miss[i] - f[i]  # d0 > 0 >= d1
    w = d0 / (d0 - d1) if d0 != d1 else 0.0
    return float(f[i - 1] + w * (f[i] - f[i - 1]))


def detection_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Everything a benchmark row reports: :func:`summarize` plus TPR at 1% and 5% FPR and the EER."""
    return {**summarize(labels, scores, threshold),
            "tpr_at_1fpr": tpr_at_fpr(labels, scores, 0.01), "tpr_at_5fpr": tpr_at_fpr(labels, scores, 0.05),
            "eer": equal_error_rate(labels, scores)}


def bootstrap_interval(labels: np.ndarray, scores: np.ndarray, metric: str = "ap", *, resamples: int = 200,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """A percentile bootstrap interval of ``metric`` (``ap`` or ``roc_auc``): reals and fakes are resampled
    separately (stratified), so every resample holds both classes. NaN, NaN when a class is missing."""
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    real, fake = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    if not len(real) or not len(fake):
        return float("nan"), float("nan")
    fn = average_precision_score if metric == "ap" else roc_auc_score
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(len(real), int), np.ones(len(fake), int)]
    values = np.empty(resamples)
    for b in range(resamples):
        pick = np.r_[rng.choice(real, len(real)), rng.choice(fake, len(fake))]
        values[b] = fn(y, scores[pick])
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
