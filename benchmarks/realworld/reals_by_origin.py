"""Which real images a detector flags, per origin: the share of a corpus split's reals at or above each detector's
threshold, by the manifest's ``origin`` (``fakescope bench`` pools the reals of a corpus).

    python benchmarks/realworld/reals_by_origin.py --corpus runs/mixed --detector npr-published \\
        --detector npr-upscaled --detector npr-photos --out benchmarks/realworld/reals-by-origin.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name  # noqa: E402
from fakescope.detector.base import load_detector  # noqa: E402
from fakescope.detector.data import load_split  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, action="append", help="corpus folder (repeatable)")
    ap.add_argument("--split", default="test", choices=("train", "val", "test"))
    ap.add_argument("--detector", required=True, action="append", help="bundled name or checkpoint folder")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    data = load_split(args.corpus, args.split)
    reals = data.subset([i for i, label in enumerate(data.labels) if label == 0])
    origins = [str(r.get("origin")) for r in reals.rows]
    results = {"date": date.today().isoformat(), "machine": f"{cpu_name()}, {os.cpu_count()} cores",
               "command": " ".join(["python", *sys.argv]), "split": args.split, "detectors": {}}
    for name in args.detector:
        det = load_detector(name)
        flagged = det.predict_proba(reals.images) >= det.threshold
        by_origin = defaultdict(list)
        for origin, f in zip(origins, flagged, strict=True):
            by_origin[origin].append(bool(f))
        results["detectors"][name] = {
            "threshold": round(det.threshold, 4),
            "flagged": {o: {"reals": len(v), "flagged": int(sum(v)), "share": round(float(np.mean(v)), 4)}
                        for o, v in sorted(by_origin.items())}}
        print(name, {o: f"{v['flagged']}/{v['reals']}" for o, v in results["detectors"][name]["flagged"].items()})
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
