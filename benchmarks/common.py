"""Helpers shared by the benchmark scripts: what machine ran them, timing on asynchronous devices, recording.

Scripts import it with ``sys.path.insert(0, str(Path(__file__).resolve().parents[1]))`` (benchmarks/ is not a
package).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch


def cpu_name() -> str:
    """The CPU model as the kernel reports it (what ``lscpu`` shows as Model name)."""
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def sync(device: torch.device) -> None:
    """Wait for queued CUDA work, so that a timer measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def record(result: dict, script: str, device: torch.device, *, save: bool = True) -> None:
    """Add the peak CUDA memory, print ``result`` as one JSON line and append it to ``results.jsonl`` beside
    ``script`` (the caller's ``__file__``) unless ``save`` is false."""
    if device.type == "cuda":
        result["max_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    print(json.dumps(result))
    if save:
        with open(Path(script).with_name("results.jsonl"), "a") as f:
            f.write(json.dumps(result) + "\n")
