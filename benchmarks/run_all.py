"""Run the project's benchmarks one after another (``make bench``); each records its own results beside it.

Throughput benchmarks run everywhere; the GPU training/sampling benchmarks only when CUDA is present. The quality
reports of bundled models (progan_faces, cyclegan_photo2painting) and the detector generalization study take
their inputs on the command line: run them as their results files say.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
CPU = ["corpus_throughput", "scoring_throughput", "realworld"]  # realworld skips cleanly without realworld-dev
GPU = ["progan_gpu", "cyclegan_gpu"]


def main() -> int:
    names = CPU + (GPU if torch.cuda.is_available() else [])
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(HERE / name / "run.py")], check=False).returncode != 0:
            failed.append(name)
    if not torch.cuda.is_available():
        print(f"skipped (no CUDA): {', '.join(GPU)}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
