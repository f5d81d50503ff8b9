"""Corpus generation throughput per bundled generator, plus the determinism and resume checks of corpus builds.

Throughput (images/s, fakes only, at the generator's native size, batch 256 by default):

- ``generate``: the device's forward passes (latents or translation inputs included) and the conversion to
  ``uint8`` on the host, nothing written;
- ``encode+write``: the writer pool of ``build_corpus`` alone (PNG encoding, sha256, atomic file writes,
  journal) fed with images generated beforehand;
- ``end to end``: ``build_corpus`` as the CLI runs it.

The slower of the first two is the limit; ``ratio = end to end ÷ limit`` shows how well the two overlap
(goal ≥ 0.8). ``--check`` also builds the ``digits-vanilla`` recipe several ways (batch sizes, writer threads,
a 4-shard layout merged, a ``fakescope corpus build`` subprocess killed with SIGKILL and resumed) and reports
whether every build has the same manifest and files. Results are printed as JSON and appended to
``results.jsonl`` beside this file.

    python benchmarks/corpus_throughput/run.py                     # every bundled generator, auto device
    python benchmarks/corpus_throughput/run.py --check             # + determinism and resume checks
    python benchmarks/corpus_throughput/run.py --device cpu --count 512 --only vanilla-digits
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from fakescope.generators.corpus import FakeRequest, Shard, build_corpus, generate_fakes, merge_corpora
from fakescope.generators.gan import load_gan
from fakescope.generators.kinds.image import ImageToImage
from fakescope.generators.kinds.resynth import SameSizeImage
from fakescope.generators.recipes import load_recipe, parse_recipe
from fakescope.generators.sources import create_source

from fakescope.core.checkpoint import list_bundled
from fakescope.core.corpus import verify_corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name, sync  # noqa: E402

HERE = Path(__file__).resolve().parent
#: Fewer images per measurement for families that run one forward pass per image on the CPU (translation).
SLOW_IMAGE_TO_IMAGE = 8


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {cpu_name()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def fake_recipe(name: str, gan, count: int):
    """A fakes-only recipe for one bundled generator at its native size."""
    c, h, _ = gan.image_shape
    entry = {"generator": name}
    if isinstance(gan, SameSizeImage):  # re-synthesis of 256 px windows of the bundled photographs
        entry.update(input="photos")
        h = 256
    elif isinstance(gan, ImageToImage):
        entry.update(input="paintings", direction="b2a")
    return parse_recipe({"name": f"bench-{Path(name).name}", "size": h, "channels": c, "counts": {"train": count},
                         "fake": [entry]})


def batches(gan, recipe, batch_size: int):
    """Every batch a build of ``recipe`` generates (``uint8`` pixels on the host), as the build generates them."""
    entry = recipe.fake[0]
    sources = {entry.input: create_source(entry.input)} if entry.input else {}
    request = FakeRequest(gan, entry, "train", 0, entry.counts["train"], recipe.seed, batch_size, sources,
                          size=recipe.size)
    yield from generate_fakes(request)


def measure(name: str, device: torch.device, count: int, batch_size: int, workers: int, threads: int | None,
            root: Path, repeat: int) -> dict:
    """Images/s of generation alone, the writer pool alone and the whole build: medians of ``repeat`` rounds,
    the three measured one after the other in each round (a shared machine's load drifts)."""
    gan, _ = load_gan(name, device=device)
    count = max(batch_size, count // (SLOW_IMAGE_TO_IMAGE if isinstance(gan, ImageToImage) else 1))
    recipe = fake_recipe(name, gan, count)
    warm = fake_recipe(name, gan, min(count, 4 * batch_size))
    list(batches(gan, warm, batch_size))  # warm up
    rounds: dict[str, list[float]] = {"generate": [], "encode": [], "end_to_end": []}
    same = True
    for _ in range(repeat):
        sync(device)
        t = time.perf_counter()
        cached = list(batches(gan, recipe, batch_size))  # the host-side conversion is part of generating
        sync(device)
        rounds["generate"].append(count / (time.perf_counter() - t))

        # the writer pool alone: the same build, fed with the batches generated above
        def replay(request, cached=cached):
            yield from cached

        def run_encode() -> float:
            return timed_build(recipe, root / "encode", device, batch_size, workers, threads, generate=replay)

        def run_e2e() -> float:
            return timed_build(recipe, root / "e2e", device, batch_size, workers, threads)

        # an untimed build first (on this VM's disk, a build right after files were deleted runs slower), then
        # the two timed ones in alternating order; folders are deleted only at the end of the round
        build_corpus(warm, root / "warm", device=device, batch_size=batch_size, workers=workers, threads=threads)
        first_encode = len(rounds["encode"]) % 2 == 0
        for kind, fn in (("encode", run_encode), ("end_to_end", run_e2e))[:: 1 if first_encode else -1]:
            rounds[kind].append(count / fn())
        del cached
        same &= (root / "e2e" / "manifest.jsonl").read_bytes() == (root / "encode" / "manifest.jsonl").read_bytes()
        for folder in ("warm", "encode", "e2e"):
            shutil.rmtree(root / folder)
        os.sync()
    generate, encode, end_to_end = (statistics.median(rounds[k]) for k in ("generate", "encode", "end_to_end"))
    limit = min(generate, encode)
    return {
        "generator": name, "family": gan.name, "kind": gan.kind, "image": list(gan.image_shape), "images": count,
        "generate_per_s": round(generate, 1), "encode_write_per_s": round(encode, 1),
        "end_to_end_per_s": round(end_to_end, 1), "limit": "generate" if generate < encode else "encode+write",
        "ratio": round(end_to_end / limit, 3), "rounds": {k: [round(v, 1) for v in r] for k, r in rounds.items()},
        "replayed_manifest_identical": same,
    }


def timed_build(recipe, out: Path, device: torch.device, batch_size: int, workers: int, threads: int | None,
                **build) -> float:
    """Seconds ``build_corpus`` takes, file system write-back of earlier work flushed first."""
    os.sync()
    sync(device)
    t = time.perf_counter()
    build_corpus(recipe, out, device=device, batch_size=batch_size, workers=workers, threads=threads, **build)
    sync(device)
    return time.perf_counter() - t


def digest(folder: Path) -> str:
    """sha256 over every file's path and bytes (manifest and corpus.json included)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def check(recipe_name: str, root: Path, device: torch.device) -> dict:
    """Build one recipe several ways; every way must give the same bytes."""
    recipe = load_recipe(recipe_name)
    runs: dict[str, str] = {}
    build_corpus(recipe, root / "a", device=device, batch_size=256, workers=2)
    runs["batch 256, 2 writers"] = digest(root / "a")
    build_corpus(recipe, root / "b", device=device, batch_size=50, workers=1)
    runs["batch 50, 1 writer"] = digest(root / "b")
    for i in range(4):
        build_corpus(recipe, root / f"s{i}", device=device, batch_size=128, workers=3, shard=Shard(i, 4))
    merge_corpora([root / f"s{i}" for i in (2, 0, 3, 1)], root / "m")
    runs["4 shards, merged"] = digest(root / "m")

    out = root / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "fakescope", "corpus", "build", recipe_name, "--out", str(out),
           "--device", device.type, "--workers", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / ".build" / "journal.jsonl"
    while proc.poll() is None and not (journal.is_file() and journal.stat().st_size > 200_000):
        time.sleep(0.01)
    killed_mid_run = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(journal.read_text().splitlines()) if journal.is_file() else 0
    partial = len(list(out.rglob("*.tmp")))
    build_corpus(recipe, out, device=device, resume=True)
    runs[f"SIGKILL after ~{written} files, then --resume"] = digest(out)
    report = verify_corpus(out)
    return {
        "recipe": recipe_name, "device": str(device), "digests": runs, "identical": len(set(runs.values())) == 1,
        "killed_mid_run": killed_mid_run, "partial_files_after_kill": partial, "verify_ok": report["ok"],
        "files": report["checked"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--count", type=int, default=4096, help="fakes per measurement (translation: ÷ 8)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2, help="writer threads")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per generator (medians are reported)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default, as the CLI: the cores left by "
                        "the writer threads, at least 1)")
    parser.add_argument("--root", help="where the corpora are written (default: a temporary folder)")
    parser.add_argument("--only", nargs="*", help="bundled generator names (default: all)")
    parser.add_argument("--check", action="store_true", help="also run the determinism and resume checks")
    parser.add_argument("--check-recipe", default="digits-vanilla")
    parser.add_argument("--no-record", action="store_true", help="do not append to results.jsonl")
    args = parser.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    names = args.only or list_bundled("fakescope.generators")
    threads = args.threads or (max(1, (os.cpu_count() or 1) - args.workers) if device.type == "cpu" else None)
    if threads is not None:
        torch.set_num_threads(threads)  # generation alone runs with the threads a build gives it
    with tempfile.TemporaryDirectory(prefix="corpus-bench-", dir=args.root) as tmp:
        rows = [measure(n, device, args.count, args.batch_size, args.workers, threads, Path(tmp), args.repeat)
                for n in names]
        result = {
            "date": datetime.date.today().isoformat(),
            "machine": f"{platform.machine()}, {device_name(device)}",
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "filesystem": str(Path(tmp).resolve().parent), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "batch_size": args.batch_size, "workers": args.workers,
            "command": "python " + " ".join([str(Path(sys.argv[0])), *sys.argv[1:]]),
            "throughput": rows,
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        if args.check:
            result["determinism"] = check(args.check_recipe, Path(tmp) / "check", device)
    print(json.dumps(result, indent=2))
    if not args.no_record:
        with open(HERE / "results.jsonl", "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
