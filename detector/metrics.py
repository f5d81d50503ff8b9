"""Detection metrics (scikit-learn): AP, ROC-AUC, accuracies at a threshold, expected calibration error."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

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

