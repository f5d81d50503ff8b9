"""Helpers shared by the benchmark scripts: what machine ran them, and timing on asynchronous devices.

Scripts import it with ``sys.path.insert(0, str(Path(__file__).resolve().parents[1]))`` (benchmarks/ is not a
package).
"""

from __future__ import annotations

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
