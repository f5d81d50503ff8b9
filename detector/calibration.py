"""Calibration: turn a detector's raw scores into probabilities, and choose its decision threshold.

Both are fit on the validation split only, never on test data:

- **Platt scaling** (Platt 1999): a one-feature logistic regression on ``logit(raw score)`` with a slope that
  is not negative: strictly increasing, so it keeps a ranking (AP and ROC-AUC are unchanged). Where the validation
  split ranks fakes *below* reals, the best such map is flat — every image gets the validation share of fakes, so
  every ranking measured afterwards is at chance — rather than a silent turn of the detector around
  (:attr:`Calibration.flat`; ``fakescope train`` warns).
- **Isotonic regression** (Zadrozny & Elkan 2002): a monotone step function; more flexible, but it can merge
  nearby scores into ties.

Both are fit with scikit-learn and stored as plain arrays in the checkpoint's safetensors file (no pickle):
Platt as ``[slope, intercept]``, isotonic as its breakpoints ``x``/``y`` (applied with linear interpolation,
clipped at the ends — exactly what :class:`sklearn.isotonic.IsotonicRegression` does).

The threshold is chosen on calibrated validation scores, either for a target false-positive rate (the most
fakes caught while at most ``target_fpr`` of the real validation images are flagged, and no more reals flagged
than that needs) or for the best balanced
accuracy; it is placed midway between two neighbouring validation scores so it does not sit on a sample.
The expected calibration error (Naeini et al., AAAI 2015) is reported with equal-width bins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

METHODS = ("platt", "isotonic", "none")
THRESHOLD_RULES = ("fpr", "balanced")
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


@dataclass
class Calibration:
    """A monotone map from raw scores in [0, 1] to calibrated probabilities."""

    method: str = "none"  # platt | isotonic | none
    params: np.ndarray = field(default_factory=lambda: np.zeros(0))  # platt: [slope, intercept]
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))  # isotonic breakpoints (raw scores)
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))  # isotonic values at the breakpoints

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if self.method == "platt":
            slope, intercept = self.params
            return 1.0 / (1.0 + np.exp(-(slope * _logit(raw) + intercept)))
        if self.method == "isotonic":
            return np.interp(raw, self.x, self.y)
        return raw

    @property
    def flat(self) -> bool:
        """Whether every raw score maps to one probability (a validation split that ranked fakes below reals)."""
        if self.method == "platt":
            return bool(self.params[0] == 0)
        return self.method == "isotonic" and bool(np.all(self.y == self.y[0]))

    def tensors(self) -> dict[str, torch.Tensor]:
        """Arrays for the checkpoint (float64, kept at full precision even in an fp16 checkpoint)."""
        if self.method == "platt":
            return {"calibration.platt": torch.from_numpy(self.params.astype(np.float64))}
        if self.method == "isotonic":
            return {"calibration.isotonic_x": torch.from_numpy(self.x.astype(np.float64)),
                    "calibration.isotonic_y": torch.from_numpy(self.y.astype(np.float64))}
        return {}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> Calibration:
        if "calibration.platt" in tensors:
            return cls("platt", params=tensors["calibration.platt"].double().numpy())
        if "calibration.isotonic_x" in tensors:
            return cls("isotonic", x=tensors["calibration.isotonic_x"].double().numpy(),
                       y=tensors["calibration.isotonic_y"].double().numpy())
        return cls()


def fit_calibration(raw: np.ndarray, labels: np.ndarray, method: str = "platt") -> Calibration:
    """Fit ``method`` on validation ``raw`` scores (in [0, 1]) and their labels (0 real, 1 fake)."""
    if method not in METHODS:
        raise ValueError(f"unknown calibration {method!r}; known: {', '.join(METHODS)}")
    raw = np.asarray(raw, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    if method == "none" or len(np.unique(labels)) < 2:
        return Calibration()
    if method == "platt":
        # Platt's smoothed targets (N+ + 1)/(N+ + 2) and 1/(N- + 2) keep the slope finite even when the
        # validation scores separate the classes perfectly; soft targets are fit as two weighted copies of each
        # sample, one per class. A large C: maximum likelihood, no shrinkage of the slope.
        n_pos, n_neg = int(labels.sum()), int((1 - labels).sum())
        target = np.where(labels == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
        x = np.concatenate([_logit(raw), _logit(raw)])[:, None]
        y = np.concatenate([np.ones_like(labels), np.zeros_like(labels)])
        from sklearn.linear_model import LogisticRegression  # here: scoring never fits, and never loads sklearn

        lr = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
        lr.fit(x, y, sample_weight=np.concatenate([target, 1.0 - target]))
        if lr.coef_[0, 0] < 0:  # the likelihood is concave: with the slope held at 0, the base rate is the optimum
            return Calibration("platt", params=np.array([0.0, np.log(target.sum() / (1.0 - target).sum())]))
        return Calibration("platt", params=np.array([lr.coef_[0, 0], lr.intercept_[0]], dtype=np.float64))
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(raw, labels)
    return Calibration("isotonic", x=np.asarray(iso.X_thresholds_, dtype=np.float64),
                       y=np.asarray(iso.y_thresholds_, dtype=np.float64))


#: The threshold that flags nothing, not even a score of exactly 1 (the "fpr" rule's answer when no real may be
#: flagged and the highest validation score is 1).
FLAG_NOTHING = float(np.nextafter(1.0, 2.0))


def choose_threshold(labels: np.ndarray, scores: np.ndarray, rule: str = "fpr", target_fpr: float = 0.05) -> float:
    """A decision threshold (``score >= threshold`` means fake) from validation ``scores``.

    ``fpr``: the highest true-positive rate whose false-positive rate on the validation reals is at most
    ``target_fpr`` (and of the thresholds reaching it, the one flagging the fewest reals);
    ``balanced``: the threshold with the best balanced accuracy (Youden's J).
    """
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"unknown threshold rule {rule!r}; known: {', '.join(THRESHOLD_RULES)}")
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=np.float64)
    if len(np.unique(labels)) < 2:
        return 0.5
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    # thresholds are the distinct scores, descending (thresholds[0] = +inf); point i flags scores >= thresholds[i]
    if rule == "fpr":  # the most fakes caught within the FPR budget, and of those points the fewest reals flagged
        allowed = np.flatnonzero(fpr <= target_fpr + 1e-12)
        best = int(allowed[np.argmax(tpr[allowed])])
    else:
        best = int(np.argmax(tpr - fpr))
    upper = thresholds[best]
    lower = thresholds[best + 1] if best + 1 < len(thresholds) else -np.inf
    if not np.isfinite(upper):  # nothing may be flagged: just above the highest score (FLAG_NOTHING if that is 1)
        return float(min(np.nextafter(scores.max(), np.inf), FLAG_NOTHING))
    t = upper if not np.isfinite(lower) else 0.5 * (upper + lower)
    return float(t if lower < t <= upper else upper)  # neighbours too close for a midpoint: upper itself


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """ECE: the bin-size-weighted mean gap between the fraction of fakes and the mean probability per bin."""
    labels = np.asarray(labels, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    if len(labels) == 0:
        return float("nan")
    which = np.minimum((probs * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, weights=labels, minlength=bins) - np.bincount(which, weights=probs, minlength=bins))
    return float(gap.sum() / len(labels)) if count.any() else float("nan")
