"""Scaling under torchrun: a corpus build and a short detector training with 1 vs 2 processes on the CPU (gloo),
and, when CUDA is present, the same on the GPUs (NCCL), with the byte-equality check of the corpus.

    python benchmarks/distributed/run.py --out benchmarks/distributed/results.json

Every command runs as a subprocess (``python -m torch.distributed.run --standalone``), timed from start to exit
(start-up included: what a user waits for). On one GPU, 2 ranks sharing it measure nothing useful; it runs
1 process with NCCL (the NCCL path) and reports that. Takes about 2 minutes on the CPU of the project's machines.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name  # noqa: E402

CORPUS = ["--train", "512", "--val", "64", "--test", "64"]
TRAIN = ["--epochs", "1", "--set", "width=16", "--set", "batch_size=64"]


def run(args: list[str], procs: int, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    if procs == 1:
        cmd = [sys.executable, "-m", "fakescope", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}",
               "-m", "fakescope", *args]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result.stderr[-3000:]}")
    return seconds, result


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scaling(device: str, procs_list: list[int], work: Path, env: dict) -> dict:
    out: dict = {"device": device, "corpus_build": {}, "detector_training": {}}
    base = work / f"{device}-base"
    for procs in procs_list:
        folder = work / f"{device}-corpus-{procs}"
        seconds, _ = run(["corpus", "build", *CORPUS, "--device", device, "--out", folder], procs, env)
        out["corpus_build"][str(procs)] = {"seconds": round(seconds, 2), "images": 1280,
                                           "manifest_sha256": sha(folder / "manifest.jsonl")}
        if not base.exists():
            base = folder
    shas = {v["manifest_sha256"] for v in out["corpus_build"].values()}
    out["corpus_build"]["identical_bytes"] = len(shas) == 1
    first = None
    for procs in procs_list:
        ckpt = work / f"{device}-det-{procs}"
        seconds, _ = run(["train", "npr", "--corpus", base, *TRAIN, "--device", device, "--out", ckpt], procs, env)
        entry = {"seconds": round(seconds, 2)}
        if first is None:
            first = ckpt
        else:
            from safetensors.torch import load_file

            a, b = load_file(str(first / "model.safetensors")), load_file(str(ckpt / "model.safetensors"))
            entry["max_abs_weight_diff_vs_1"] = max((a[k].double() - b[k].double()).abs().max().item() for k in a
                                                    if not k.startswith("calibration"))
        out["detector_training"][str(procs)] = entry
    for key in ("corpus_build", "detector_training"):
        times = out[key]
        if "1" in times and "2" in times:
            times["speedup_2_vs_1"] = round(times["1"]["seconds"] / times["2"]["seconds"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    parser.add_argument("--skip-cpu", action="store_true", help="Only the GPU part.")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.setdefault("OMP_NUM_THREADS", "1")
    record: dict = {"machine": {"cpu": cpu_name()}, "torch": torch.__version__, "cpu_count": os.cpu_count(),
                    "omp_num_threads": env["OMP_NUM_THREADS"],
                    "sizes": {"corpus": " ".join(CORPUS), "training": "npr " + " ".join(TRAIN)}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_cpu:
            record["cpu"] = scaling("cpu", [1, 2], work, env)
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        record["gpus"] = gpus
        if gpus:
            record["gpu_names"] = [torch.cuda.get_device_name(i) for i in range(gpus)]
            procs = [1] if gpus == 1 else [1, min(gpus, 2)]
            record["cuda"] = scaling("cuda", procs, work, env)
            if gpus == 1:
                record["cuda"]["note"] = ("one GPU: 2 ranks on one GPU measure nothing useful; 1 process only. "
                                          "NCCL checked by nccl_check (world size 1)")
            record["cuda"]["nccl_check"] = nccl_check(work, env)
            single = work / "cuda-corpus-1"
            ranked = work / "cuda-corpus-torchrun"
            run(["corpus", "build", *CORPUS, "--device", "cuda", "--out", ranked], 2, env)  # gloo: may share a GPU
            record["cuda"]["torchrun_corpus_identical_to_1_process"] = \
                sha(single / "manifest.jsonl") == sha(ranked / "manifest.jsonl")
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


def nccl_check(work: Path, env: dict) -> dict:
    """The NCCL path of fakescope.core.distributed: an NCCL group (1 process per GPU, at most 2), an all-reduce,
    and a global-batch BatchNorm forward/backward."""
    script = work / "nccl.py"
    script.write_text(
        "import os, torch, torch.distributed as dist\n"
        "from fakescope.core import distributed as d\n"
        "os.environ.setdefault('LOCAL_WORLD_SIZE', os.environ['WORLD_SIZE'])\n"
        "dev = torch.device('cuda', int(os.environ['LOCAL_RANK']))\n"
        "if int(os.environ['WORLD_SIZE']) > 1:\n"
        "    d.init(dev)\n"
        "else:\n"
        "    torch.cuda.set_device(dev); dist.init_process_group('nccl', device_id=dev)\n"
        "x = torch.ones(4, device=dev); dist.all_reduce(x)\n"
        "bn = d.sync_batchnorm(torch.nn.BatchNorm2d(3)).to(dev).train()\n"
        "y = bn(torch.randn(4, 3, 5, 5, device=dev, requires_grad=True)); y.sum().backward()\n"
        "print(dist.get_backend(), dist.get_world_size(), x.tolist())\n"
        "dist.destroy_process_group()\n")
    n = max(1, min(2, torch.cuda.device_count()))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}", str(script)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    return {"processes": n, "returncode": result.returncode, "output": result.stdout.strip()[-500:],
            "error": result.stderr.strip()[-1000:] if result.returncode else None}


if __name__ == "__main__":
    main()
