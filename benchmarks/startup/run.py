"""Start-up time of the command line: what a user waits for before anything happens.

Each command runs in a fresh process (``fakescope …`` through this interpreter), repeated, alternating with the
reference ``python -c "import torch"`` so that a busy machine slows both alike; medians are recorded in
``results.json`` beside this script with the machine and date. Targets (issue 17): ``--help`` and the ``list``
commands (and usage errors) under 1 s; scoring one small image at most the torch import plus 1.5 s.

    python benchmarks/startup/run.py              # writes results.json
    python benchmarks/startup/run.py --repeats 2 --no-record
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name  # noqa: E402

HERE = Path(__file__).resolve().parent


def timed(args: list[str], status: int = 0) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True)
    if proc.returncode != status:
        raise SystemExit(f"{' '.join(args)}: exit status {proc.returncode}, expected {status}")
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    cli = [sys.executable, "-m", "fakescope"]
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "one.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(image)
        commands = {
            'python -c "import torch"': [sys.executable, "-c", "import torch"],
            "fakescope --help": [*cli, "--help"],
            "fakescope --version": [*cli, "--version"],
            "fakescope gan list": [*cli, "gan", "list"],
            "fakescope detectors list": [*cli, "detectors", "list"],
            "fakescope corpus recipes": [*cli, "corpus", "recipes"],
            "fakescope bench (usage error)": [*cli, "bench"],
            "fakescope score one.png": [*cli, "score", str(image), "--device", "cpu"],
        }
        runs: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                runs[name].append(timed(command, 2 if "usage error" in name else 0))
    result = {"date": date.today().isoformat(), "machine": f"{cpu_name()}, {os.cpu_count()} cores",
              "load_average": os.getloadavg()[0], "repeats": args.repeats,
              "median_s": {k: round(statistics.median(v), 2) for k, v in runs.items()}}
    print(json.dumps(result, indent=1))
    if not args.no_record:
        path = HERE / "results.json"
        previous = json.loads(path.read_text()) if path.is_file() else {}
        if "before" in previous:  # the measurement before the start-up work stays beside the latest
            result["before"] = previous["before"]
        path.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
