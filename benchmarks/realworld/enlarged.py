"""How often a detector flags real photographs that were only enlarged.

Super-resolution fakes (the ``photos-upscaled`` and ``photos-published`` corpora) are windows shrunk and enlarged
back by a network, while the reals beside them are never enlarged; a detector trained on them may learn "was
enlarged" instead of "was generated", and then accuses every real photograph a browser, an editor or a
thumbnail service enlarged. This measures it on our own data: windows of the held-out test photographs of
``debian-photos`` (`make data`; photographs under 256 px left out), each enlarged by every factor and
interpolation below, in two ways (the centre ``256 / s`` px of the window enlarged, and the whole window
area-shrunk by ``s`` and enlarged back), scored by each detector at its own threshold. The share flagged for
each, against the windows as they are and shrunk ×0.5.

    python benchmarks/realworld/enlarged.py --detector npr-published --out benchmarks/realworld/enlarged.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name  # noqa: E402
from fakescope.detector.base import load_detector  # noqa: E402
from fakescope.generators.sources import ENLARGE_INTERPOLATIONS, create_source, enlarge  # noqa: E402

from fakescope.core.imageio import to_uint8  # noqa: E402

FACTORS = (1.25, 1.5, 2.0, 3.0, 4.0)
SIZE = 256


def variants(windows: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Every enlargement of ``windows`` by name (``x2-bicubic-native``...), and the windows as they are."""
    out = {"as-is": windows,
           "shrunk-x0.5": [cv2.resize(w, (SIZE // 2, SIZE // 2), interpolation=cv2.INTER_AREA) for w in windows]}
    for s in FACTORS:
        small = round(SIZE / s)
        lo = (SIZE - small) // 2
        for interpolation in ENLARGE_INTERPOLATIONS:
            out[f"x{s:g}-{interpolation}-native"] = [enlarge(w[lo:lo + small, lo:lo + small], SIZE, small,
                                                             interpolation) for w in windows]
            out[f"x{s:g}-{interpolation}-area-shrunk"] = [enlarge(w, SIZE, small, interpolation) for w in windows]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--detector", required=True, action="append", help="bundled name or checkpoint folder")
    ap.add_argument("--images", type=int, default=120, help="windows of the test photographs")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    windows, photographs = [], set()
    source, start = create_source("debian-photos"), 0
    while len(windows) < args.images:  # windows of photographs under SIZE px would be enlarged already: left out
        drawn = source.draw(args.images, size=SIZE, channels=3, split="test", seed=0, start=start)
        start += args.images
        for image, meta in zip(drawn.images, drawn.meta, strict=True):
            if "resized" not in meta and len(windows) < args.images:
                windows.append(to_uint8(image))
                photographs.add(meta["item"])
    sets = variants(windows)
    enlarged = [k for k in sets if k.startswith("x")]
    results = {"date": date.today().isoformat(), "machine": f"{cpu_name()}, {os.cpu_count()} cores",
               "command": " ".join(["python", *sys.argv]), "windows": len(windows),
               "photographs": sorted(photographs), "detectors": {}}
    for name in args.detector:
        det = load_detector(name)
        flagged = {k: float(np.mean(det.predict_proba(v) >= det.threshold)) for k, v in sets.items()}
        by_factor = {f"x{s:g}": float(np.mean([flagged[k] for k in enlarged if k.startswith(f"x{s:g}-")]))
                     for s in FACTORS}
        results["detectors"][name] = {
            "threshold": round(det.threshold, 4), "as-is": round(flagged["as-is"], 4),
            "shrunk-x0.5": round(flagged["shrunk-x0.5"], 4),
            "enlarged_mean": round(float(np.mean([flagged[k] for k in enlarged])), 4),
            "by_factor": {k: round(v, 4) for k, v in by_factor.items()},
            "flagged": {k: round(v, 4) for k, v in flagged.items()}}
        r = results["detectors"][name]
        print(f"{name}: as-is {r['as-is']:.3f}, shrunk x0.5 {r['shrunk-x0.5']:.3f}, enlarged (mean of "
              f"{len(enlarged)}) {r['enlarged_mean']:.3f}; by factor "
              + ", ".join(f"{k} {v:.3f}" for k, v in r["by_factor"].items()))
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
