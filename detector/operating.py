"""Named operating points: where a detector's threshold sits, said as the share of real images it flags.

``strict``, ``balanced`` and ``sensitive`` flag at most 1%, 5% and 10% of a detector's own validation reals
(its training corpora's validation split, or for an adapted detector the cross-validated reals it was adapted
with). They travel in the checkpoint's ``config.json`` (``operating_points``); ``fakescope score
--operating-point NAME`` picks one, and ``--threshold`` still takes any number.
"""

from __future__ import annotations

import numpy as np

from .calibration import FLAG_NOTHING

OPERATING_POINTS: dict[str, float] = {"strict": 0.01, "balanced": 0.05, "sensitive": 0.10}


def threshold_for_fpr(real_scores: np.ndarray, fpr: float) -> float:
    """The lowest threshold (``score >= threshold`` is fake) that flags at most ``fpr`` of ``real_scores``, placed
    midway between two neighbouring scores so that it does not sit on a sample."""
    s = np.sort(np.asarray(real_scores, dtype=np.float64))[::-1]  # descending
    if len(s) == 0:
        raise ValueError("no real scores to place a threshold on")
    allowed = int(np.floor(fpr * len(s) + 1e-9))  # how many reals may be flagged
    while allowed > 0 and allowed < len(s) and s[allowed - 1] == s[allowed]:
        allowed -= 1  # a tie across the cut: flag none of the tied scores
    if allowed == 0:
        return float(min(np.nextafter(s[0], np.inf), FLAG_NOTHING))
    upper = s[allowed - 1]
    lower = s[allowed] if allowed < len(s) else 0.0
    t = 0.5 * (upper + lower)
    return float(t if lower < t <= upper else upper)


def operating_thresholds(real_scores: np.ndarray) -> dict[str, float]:
    """``{name: threshold}`` for every named operating point, from the reals' (calibrated) scores."""
    return {name: threshold_for_fpr(real_scores, fpr) for name, fpr in OPERATING_POINTS.items()}


def describe(name: str) -> str:
    """``balanced: at most 5% of validation reals flagged``."""
    return f"{name}: at most {OPERATING_POINTS[name]:.0%} of validation reals flagged"


def fit_operating_points(detector: str, corpora: list[str], device: str = "cpu") -> dict[str, float]:
    """Score the validation reals of ``corpora`` with ``detector`` (a bundled name or a folder), store the operating
    points in its config.json, and return them."""
    from fakescope.core.checkpoint import resolve_checkpoint, update_meta

    from .base import load_detector
    from .data import load_split

    det = load_detector(detector)
    val = load_split(corpora, "val")
    reals = [im for im, y in zip(val.images, val.labels, strict=True) if y == 0]
    points = operating_thresholds(det.predict_proba(reals, device=device))
    record = {**points, "fit_on": [f"{c} val reals" for c in corpora], "reals": len(reals)}
    update_meta(resolve_checkpoint(detector, __package__), operating_points=record)
    return points


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Store a detector's operating points (its corpora's val reals).")
    parser.add_argument("--detector", required=True)
    parser.add_argument("--corpus", action="append", required=True)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    print(json.dumps(fit_operating_points(args.detector, args.corpus, args.device), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
