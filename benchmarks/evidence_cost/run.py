"""Cost of the provenance evidence step: folder scoring with evidence read (the default) against without it.

Budget: reading evidence slows folder scoring by at most 10 %. Measured side by side (``score_paths`` on the same
folder, ``provenance=True`` and ``provenance=False`` alternating, each repeated; the ratio of medians), on

- ``realworld``: the measuring set ``../shared/realworld-dev/images`` (real photographs and images of public
  generators, mixed sizes), when it is there;
- ``synthetic``: 120 crops (512×512) of the bundled photographs written here, a third plain PNG, a third JPEG,
  and a third carrying evidence (a PNG parameters chunk, XMP digital source type, the Stable Diffusion watermark).

Also the evidence step alone per image (``read_provenance`` on bytes and pixels already in memory).

    python benchmarks/evidence_cost/run.py                  # full run, writes results.json beside this file
    python benchmarks/evidence_cost/run.py --tiny --no-record
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from fakescope.detector.base import DEFAULT_DETECTOR, load_detector
from fakescope.detector.provenance import read_provenance
from fakescope.detector.scoring import score_paths
from fakescope.generators.sources import create_source

from fakescope.core.imageio import decode_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name  # noqa: E402

HERE = Path(__file__).resolve().parent
REALWORLD = HERE.parents[2] / "shared" / "realworld-dev" / "images"


def make_folder(folder: Path, count: int) -> list[Path]:
    import io

    from imwatermark import WatermarkEncoder
    from PIL import Image, PngImagePlugin

    folder.mkdir(parents=True)
    batch = create_source("photos").draw(count, size=512, channels=3, split="all", seed=0).images
    arr = ((batch.permute(0, 2, 3, 1).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
    enc = WatermarkEncoder()
    enc.set_watermark("bytes", b"StableDiffusionV1")
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description Iptc4xmpExt:DigitalSourceType='
           b'"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>')
    paths = []
    for i, image in enumerate(arr):
        kind = i % 6
        buf = io.BytesIO()
        if kind in (0, 1):
            Image.fromarray(image).save(buf, "PNG")
        elif kind in (2, 3):
            Image.fromarray(image).save(buf, "JPEG", quality=90, **({"xmp": xmp} if kind == 3 else {}))
        elif kind == 4:
            info = PngImagePlugin.PngInfo()
            info.add_text("parameters", "a photo\nSteps: 20, Sampler: Euler a, Seed: 1")
            Image.fromarray(image).save(buf, "PNG", pnginfo=info)
        else:
            marked = enc.encode(np.ascontiguousarray(image[..., ::-1]), "dwtDct")[..., ::-1]
            Image.fromarray(np.ascontiguousarray(marked)).save(buf, "PNG")
        path = folder / f"{i:04d}.{'jpg' if kind in (2, 3) else 'png'}"
        path.write_bytes(buf.getvalue())
        paths.append(path)
    return paths


def side_by_side(paths: list[Path], det, repeats: int) -> dict:
    """Wall-clock and CPU seconds (this process, every thread) of scoring ``paths`` with and without evidence,
    alternating (ABBA order). On a shared machine the wall clock swings with other work; CPU seconds much less."""
    times = {True: [], False: []}
    cpu = {True: [], False: []}
    score_paths(paths[:8], det, provenance=True)  # warm up: imports, the C2PA library, the model
    for r in range(repeats):
        for flag in ((True, False) if r % 2 == 0 else (False, True)):
            start, start_cpu = time.perf_counter(), time.process_time()
            records = score_paths(paths, det, provenance=flag)
            times[flag].append(time.perf_counter() - start)
            cpu[flag].append(time.process_time() - start_cpu)
    with_, without = statistics.median(times[True]), statistics.median(times[False])
    cpu_with, cpu_without = statistics.median(cpu[True]), statistics.median(cpu[False])
    pairs = [w / o - 1 for w, o in zip(times[True], times[False], strict=True)]
    found = sum(any(f.synthetic for f in r.provenance or []) for r in score_paths(paths, det, provenance=True))
    return {"images": len(paths), "seconds_with_evidence": [round(t, 3) for t in times[True]],
            "seconds_without": [round(t, 3) for t in times[False]], "median_with": round(with_, 3),
            "median_without": round(without, 3), "slowdown": round(with_ / without - 1, 4),
            "slowdown_per_pair": [round(p, 4) for p in pairs],
            "cpu_seconds_with_evidence": [round(t, 3) for t in cpu[True]],
            "cpu_seconds_without": [round(t, 3) for t in cpu[False]],
            "cpu_slowdown": round(cpu_with / cpu_without - 1, 4),
            "images_with_synthesis_evidence": found, "records": len(records)}


def load_revision(rev: str):
    """``read_provenance`` of the evidence module at git revision ``rev`` (to measure before and after in one run)."""
    import importlib.util
    import subprocess

    source = subprocess.run(["git", "show", f"{rev}:detector/provenance.py"], cwd=HERE.parents[1], check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "provenance_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("fakescope.detector.provenance_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.read_provenance


def before_and_after(paths: list[Path], det, repeats: int, old_reader) -> dict:
    """CPU and wall seconds of scoring with the evidence step of ``--before REV`` against this tree's, alternating
    (the step is swapped in the module the decoding threads call)."""
    from fakescope.detector import provenance as prov

    current = prov.read_provenance
    times = {"before": [], "after": []}
    cpu = {"before": [], "after": []}
    try:
        for r in range(repeats):
            for which in (("before", "after") if r % 2 == 0 else ("after", "before")):
                prov.read_provenance = old_reader if which == "before" else current
                start, start_cpu = time.perf_counter(), time.process_time()
                score_paths(paths, det, provenance=True)
                times[which].append(time.perf_counter() - start)
                cpu[which].append(time.process_time() - start_cpu)
    finally:
        prov.read_provenance = current
    return {k: {"seconds": [round(t, 3) for t in times[k]], "cpu_seconds": [round(t, 3) for t in cpu[k]],
                "median_seconds": round(statistics.median(times[k]), 3),
                "median_cpu_seconds": round(statistics.median(cpu[k]), 3)} for k in times}


def evidence_alone(paths: list[Path]) -> dict:
    """The evidence step alone per image (bytes and pixels in memory), and each of its parts."""
    from fakescope.detector import provenance as prov

    items = [(p.read_bytes(),) for p in paths]
    items = [(d, decode_image(d)) for (d,) in items]
    read_provenance(*items[0])
    parts = {
        "all": lambda d, im: read_provenance(d, im),
        "metadata (byte scan, then Pillow header, XMP, EXIF, PNG text)": lambda d, im: prov.read_metadata(d),
        "C2PA marker scan": lambda d, im: prov._may_hold_c2pa(d),
        "JPEG watermark gate (header)": lambda d, im: prov.may_keep_watermark(d),
        "watermark decoding (whenever run)": lambda d, im: prov.read_watermark(im),
        "decoding the image (for scale; not part of the evidence)": lambda d, im: decode_image(d),
    }
    out = {}
    for name, fn in parts.items():
        start = time.perf_counter()
        for data, image in items:
            fn(data, image)
        out[name] = round((time.perf_counter() - start) / len(items) * 1000, 3)
    skipped = sum(not prov.may_keep_watermark(d) for d, _ in items)
    return {"ms_per_image": out["all"], "ms_per_image_parts": out, "watermark_check_skipped": skipped}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tiny", action="store_true", help="a check of the script: 12 images, 1 repeat")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--before", metavar="REV", help="also score with the evidence step of this git revision, "
                    "alternating with this tree's (before/after in one run)")
    ap.add_argument("--sets", default="synthetic,realworld", help="which sets to measure")
    ap.add_argument("--note", default="2-core x86_64 VM, no GPU, shared with other work (noisy)",
                    help="what else ran on the machine")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    det = load_detector()
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "arch": platform.machine(), "gpu": None,
                    "torch_threads": torch.get_num_threads(),
                    "note": args.note},
        "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python "
                   f"benchmarks/evidence_cost/run.py {' '.join(sys.argv[1:])}",
        "detector": DEFAULT_DETECTOR, "repeats": 1 if args.tiny else args.repeats, "sets": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        synthetic = make_folder(Path(tmp) / "synthetic", 12 if args.tiny else 120)
        sets = {"synthetic": synthetic}
        if REALWORLD.is_dir():
            real = sorted(p for p in REALWORLD.iterdir() if p.is_file())
            sets["realworld"] = real[:12] if args.tiny else real
        sets = {k: v for k, v in sets.items() if k in args.sets.split(",")}
        old_reader = load_revision(args.before) if args.before else None
        for name, paths in sets.items():
            if old_reader is not None:
                result.setdefault("before_and_after", {"revision": args.before})[name] = before_and_after(
                    paths, det, result["repeats"], old_reader)
                print(name, "before/after", json.dumps(result["before_and_after"][name]), flush=True)
            load = os.getloadavg()
            result["sets"][name] = {**side_by_side(paths, det, result["repeats"]), **evidence_alone(paths),
                                    "load_average_1min": {"before": round(load[0], 2),
                                                          "after": round(os.getloadavg()[0], 2)}}
            print(name, json.dumps(result["sets"][name]), flush=True)
    if not args.no_record:
        (HERE / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    worst = max(s["slowdown"] for s in result["sets"].values())
    worst_cpu = max(s["cpu_slowdown"] for s in result["sets"].values())
    print(f"worst slowdown {worst:+.1%} wall clock, {worst_cpu:+.1%} CPU time (budget +10%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
