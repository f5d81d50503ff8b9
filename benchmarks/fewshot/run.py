"""Few-shot adaptation on images nobody here generated: for each generator of a measuring set with at least 8
images, adapt the default detector to k of its images (10 seeded draws per k) and score that generator's *other*
images against real images not used in adapting.

The adaptation is the library's own (:func:`fakescope.detector.adapt.fit_adapted`, the code ``fakescope adapt``
runs after reading the images); only the features and base scores of the set's images are computed once and
reused across draws. Recorded per generator and k: AP and ROC-AUC against the test reals (and ROC-AUC against the
PNG reals alone, and the JPEG ones alone), the share of test reals passed and of test fakes caught at the adapted
(balanced) threshold, AP on the set's *other* generators after adapting (side effects, beside the base's), AP on the
bundled generators' test split after adapting (forgetting; ``--mixed runs/mixed``), and the time of each fit.

``--real`` adds k of the set's real images to each adaptation, drawn from half of the real images' sources (a
hash of the source repository or dataset name) while the test reals come from the other half, so a detector
cannot win by learning a repository's look.

    python benchmarks/fewshot/run.py --set realworld-dev --mixed runs/mixed --out benchmarks/fewshot/dev.json
    python benchmarks/fewshot/run.py --set realworld-dev2 --mixed runs/mixed --out benchmarks/fewshot/dev2.json

Users do not have the sets: without ``../shared/<set>`` (or ``$FAKESCOPE_SHARED``) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name  # noqa: E402
from fakescope.detector.adapt import base_points, fit_adapted  # noqa: E402
from fakescope.detector.bank import load_bank  # noqa: E402
from fakescope.detector.base import Detector, load_detector  # noqa: E402

from fakescope.core.imageio import read_image  # noqa: E402

MIN_IMAGES = 8


def generator_of(row: dict, set_name: str) -> str | None:
    """The generator a fake belongs to (realworld-dev2's names carry details in parentheses: the model is the
    group, e.g. 'pix2pix (TensorFlow port, facades)' is pix2pix)."""
    if row["label"] != "fake":
        return None
    return re.split(r" \(", row["generator"])[0].strip() if set_name == "realworld-dev2" else row["generator"]


def source_of(row: dict, set_name: str) -> str:
    """Where a real image comes from (a repository, or a dataset for realworld-dev2)."""
    return row["repo"] if set_name == "realworld-dev" else row["family"]


def half_of(source: str) -> int:
    return int(hashlib.sha256(source.encode()).hexdigest(), 16) % 2


class Features:
    """Head tile features and base scores of a list of images, computed once."""

    def __init__(self, images: list[np.ndarray], head: Detector, base: Detector, device: str,
                 cache: Path | None = None) -> None:
        if cache is not None and cache.is_file():
            got = np.load(cache)
            self.x, self.owner, self.base = got["x"], got["owner"], got["base"]
        else:
            tiles, owner = head.tiled(images)
            self.x = head.featurize(tiles, device)  # [T, F]
            self.owner = np.asarray(owner)
            self.base = base.predict_proba(images, device=device)  # [N]
            if cache is not None:
                np.savez(cache, x=self.x, owner=self.owner, base=self.base)
        self.n = len(images)

    def of(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The tile features of images ``idx`` and their owner renumbered 0..len(idx)-1."""
        pos = {int(i): j for j, i in enumerate(idx)}
        keep = np.isin(self.owner, idx)
        return self.x[keep], np.array([pos[int(o)] for o in self.owner[keep]])

    def fused(self, fit, idx: np.ndarray | None = None) -> np.ndarray:
        """The adapted detector's probability of images ``idx`` (all when None): max(base, calibrated head)."""
        head = Detector.image_means(fit.head.probs(self.x), self.owner, self.n)
        p = np.maximum(self.base, fit.calibration(head))
        return p if idx is None else p[idx]


def _ap(y: np.ndarray, s: np.ndarray) -> float:
    return float(average_precision_score(y, s))


def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else None


def mixed_test(folder: Path | None) -> tuple[list[np.ndarray], np.ndarray] | None:
    if folder is None:
        return None
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["split"] == "test"]
    return [read_image(folder / r["path"]) for r in rows], np.array([int(r["label"]) for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="realworld-dev")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 3, 5, 10])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--real", action="store_true", help="add k of the set's reals (other sources than the test)")
    parser.add_argument("--mixed", type=Path, default=None, help="a built `mixed` corpus: forgetting on its test split")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache", type=Path, default=None, help="a folder to keep the set's features in")
    parser.add_argument("--generators", nargs="*", default=None, help="only these generators")
    args = parser.parse_args()
    shared = Path(os.environ.get("FAKESCOPE_SHARED", Path(__file__).resolve().parents[3] / "shared"))
    root = shared / args.set
    if not (root / "manifest.csv").is_file():
        print(f"{root}: not here (the measuring sets live outside the repository); nothing measured")
        return 0

    rows = list(csv.DictReader((root / "manifest.csv").open()))
    t0 = time.perf_counter()
    images = [read_image(root / "images" / r["file"]) for r in rows]
    base, bank = load_detector(None), load_bank()
    head = bank.head_detector()
    cache = None
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
        cache = args.cache / f"{args.set}-{bank.meta['sha256'][:12]}-{base.info.get('sha256', '')[:12]}.npz"
    feats = Features(images, head, base, args.device, cache)
    bank_base = bank.base_scores(base)
    mixed = mixed_test(args.mixed)
    mixed_feats = Features(mixed[0], head, base, args.device, cache and cache.with_name("mixed-" + cache.name)
                           ) if mixed else None
    print(f"features of {len(images)} images in {time.perf_counter() - t0:.0f} s", flush=True)

    gen = np.array([generator_of(r, args.set) or "" for r in rows], dtype=object)
    real = gen == ""
    fmt = np.array([Path(r["file"]).suffix.lower().lstrip(".").replace("jpeg", "jpg") for r in rows])
    sources = np.array([source_of(r, args.set) if m else "" for r, m in zip(rows, real, strict=True)], dtype=object)
    names = [g for g in sorted(set(gen[~real])) if (gen == g).sum() >= MIN_IMAGES]
    if args.generators:
        names = [g for g in names if g in args.generators]
    result = {"set": args.set, "mode": "with --real" if args.real else "fakes only", "ks": args.ks,
              "draws": args.draws, "generators": {}, "machine": cpu_name(), "bank": bank.describe(),
              "base": base.name, "command": "python " + " ".join(sys.argv)}
    base_rows = {}
    for g in names:
        y = np.r_[np.zeros(real.sum()), np.ones((gen == g).sum())]
        s = np.r_[feats.base[real], feats.base[gen == g]]
        base_rows[g] = {"ap": _ap(y, s), "auc": _auc(y, s), "caught": float(np.mean(feats.base[gen == g] >=
                                                                                     base.threshold))}
    result["base_alone"] = {"per_generator": base_rows,
                            "real_accuracy": float(np.mean(feats.base[real] < base.threshold))}
    if mixed:
        result["base_alone"]["mixed_test_ap"] = _ap(mixed[1], mixed_feats.base)
    for g in names:
        idx = np.flatnonzero(gen == g)
        per_k = {}
        for k in args.ks:
            if k > len(idx) - 3:  # keep at least 3 images to judge on
                continue
            runs = []
            for d in range(args.draws):
                rng = np.random.default_rng([d, k, int(hashlib.sha256(g.encode()).hexdigest()[:8], 16)])
                train = rng.choice(idx, k, replace=False)
                test_fake = np.setdiff1d(idx, train)
                reals = np.flatnonzero(real)
                if args.real:
                    side = np.array([half_of(sources[i]) for i in reals])
                    pool, test_real = reals[side == d % 2], reals[side != d % 2]
                    train_real = rng.choice(pool, min(k, len(pool)), replace=False)
                else:
                    train_real, test_real = np.zeros(0, dtype=int), reals
                given = np.r_[train, train_real]
                x, owner = feats.of(given)
                start = time.perf_counter()
                fit = fit_adapted(x, owner, [g] * len(train) + [""] * len(train_real), feats.base[given], bank,
                                  bank_base, base_points(base), seed=d)
                seconds = time.perf_counter() - start
                p = feats.fused(fit)
                thr = fit.points["balanced"]
                y = np.r_[np.zeros(len(test_real)), np.ones(len(test_fake))]
                s = np.r_[p[test_real], p[test_fake]]
                run = {"ap": _ap(y, s), "auc": _auc(y, s), "real_accuracy": float(np.mean(p[test_real] < thr)),
                       "caught": float(np.mean(p[test_fake] >= thr)), "seconds": seconds,
                       "estimated_cv_ap": fit.estimates[0].cv_ap}
                for f in ("png", "jpg"):
                    r = test_real[fmt[test_real] == f]
                    if len(r) >= 5:
                        run[f"auc_{f}_reals"] = _auc(np.r_[np.zeros(len(r)), np.ones(len(test_fake))],
                                                     np.r_[p[r], p[test_fake]])
                others = [o for o in names if o != g]
                side_ap = []
                for o in others:
                    oi = np.flatnonzero(gen == o)
                    side_ap.append(_ap(np.r_[np.zeros(len(test_real)), np.ones(len(oi))], np.r_[p[test_real], p[oi]]))
                run["other_generators_ap"] = float(np.mean(side_ap)) if side_ap else None
                if mixed:
                    run["mixed_test_ap"] = _ap(mixed[1], mixed_feats.fused(fit))
                runs.append(run)
            per_k[str(k)] = {key: _mean([r.get(key) for r in runs]) for key in runs[0]}
            per_k[str(k)]["ap_std"] = float(np.std([r["ap"] for r in runs]))
            print(g, k, json.dumps({a: round(b, 3) for a, b in per_k[str(k)].items() if b is not None}), flush=True)
        result["generators"][g] = {"images": int(len(idx)), "per_k": per_k}
    result["mean"] = {}
    for k in args.ks:
        got = [v["per_k"][str(k)] for v in result["generators"].values() if str(k) in v["per_k"]]
        if got:
            result["mean"][str(k)] = {key: _mean([x.get(key) for x in got]) for key in got[0]}
            result["mean"][str(k)]["generators"] = len(got)
    result["seconds"] = time.perf_counter() - t0
    print(json.dumps(result["mean"], indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _mean(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


if __name__ == "__main__":
    raise SystemExit(main())
