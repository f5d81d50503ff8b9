"""Detector generalization: in-distribution AP and leave-one-generator-out (LOGO) AP for every detector family.

The question an auditor asks is not "does it spot the fakes it trained on" but "does it spot a generator it
never saw". For each detector family this script trains

- once on every generator's fakes (train split; val split for early stopping and calibration) and measures,
  per generator G, the AP of G's test fakes against every real test image: the in-distribution AP;
- once per generator G on every *other* generator's fakes (G's fakes left out of train and val; all real
  images kept) and measures the AP of G's test fakes against every real test image: the LOGO AP, plus the
  share of G's fakes caught and of reals passed at the threshold calibrated without G.

Generators are told apart by each fake's manifest row (``origin``, else ``checkpoint``, else ``generator``), so
a recipe corpus holding several generators (the ``mixed`` recipe) works as well as several single-generator
corpora. ``--name NAME=DIR`` renames the generator of a single-generator corpus in the report.

Results are appended to ``results.jsonl`` one training at a time (rerunning skips what is done, so a killed run
loses little) and summarised in ``results.json`` and ``results.md``. The detector chosen as the default is the
family with the best mean LOGO AP (in-distribution AP breaks ties).

    python benchmarks/detector_generalization/run.py --corpus runs/corpus-a --corpus runs/corpus-b \\
        --family discriminator --family npr --family spectrum --family timm:resnet18 --device auto

Runs on CUDA when present (``--device auto``); the recorded numbers name the device they came from.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from fakescope.detector.base import create_detector, family_spec
from fakescope.detector.bench import generator_name
from fakescope.detector.data import ImageSet, load_split
from fakescope.detector.metrics import summarize
from fakescope.detector.training import CalibrationSpec, fit_and_calibrate

HERE = Path(__file__).resolve().parent
DEFAULT_FAMILIES = ("discriminator", "npr", "spectrum", "timm:resnet18")


def generator_of(row: dict, names: dict[str, str]) -> str:
    """The generator a fake row came from: a ``--name`` for its corpus, else its manifest's own name for it."""
    return names.get(row["corpus"]) or generator_name(row)


def load_all(corpora: list[str], names: dict[str, str]) -> dict[str, tuple[ImageSet, np.ndarray]]:
    """``split → (images, generator of each image or "" for reals)``."""
    out = {}
    for split in ("train", "val", "test"):
        images = load_split(corpora, split)
        gens = np.array(["" if r["label"] == 0 else generator_of(r, names) for r in images.rows], dtype=object)
        out[split] = (images, gens)
    return out


def without(split: tuple[ImageSet, np.ndarray], held_out: str | None) -> ImageSet:
    images, gens = split
    return images if held_out is None else images.subset(np.flatnonzero(gens != held_out).tolist())


def only(split: tuple[ImageSet, np.ndarray], generator: str) -> ImageSet:
    """G's fakes and every real image of the split."""
    images, gens = split
    return images.subset(np.flatnonzero((gens == "") | (gens == generator)).tolist())


def machine() -> dict:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines()
    models = [line.split(":", 1)[1].strip() for line in lscpu if line.startswith("Model name")]
    model = models[0] if models else platform.processor() or "unknown"
    info = {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def parse_family(label: str) -> tuple[str, dict]:
    """``"npr,width=32,epochs=5"`` → ``("npr", {"width": 32, "epochs": 5})``: one family with its own settings."""
    name, *items = label.split(",")
    return name, {k: v for item in items for k, v in parse_sets([f"{name}:{item}"])[name].items()}


def parse_sets(items: list[str]) -> dict[str, dict]:
    """``["npr:epochs=5", "timm:resnet18:lr=1e-3"]`` → ``{"npr": {"epochs": 5}, "timm:resnet18": {"lr": 0.001}}``."""
    out: dict[str, dict] = {}
    for item in items:
        target, sep, value = item.rpartition("=")
        family, _, key = target.rpartition(":")
        if not sep or not family or not key:
            raise SystemExit(f"--set expects FAMILY:key=value, got {item!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out.setdefault(family, {})[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", action="append", required=True, help="corpus folder (repeatable)")
    ap.add_argument("--name", action="append", default=[], help="NAME=DIR: the generator name of a corpus")
    ap.add_argument("--family", action="append",
                    help=f"detector family, optionally with settings: npr,width=32 (repeatable; "
                         f"default {', '.join(DEFAULT_FAMILIES)})")
    ap.add_argument("--set", action="append", default=[], help="FAMILY:key=value config override (repeatable)")
    ap.add_argument("--epochs", type=int, help="epochs for every family that has them")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=str(HERE), help="folder for results.jsonl, results.json, results.md")
    ap.add_argument("--no-logo", action="store_true", help="in-distribution only")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    names = {}
    for item in args.name:
        name, _, folder = item.partition("=")
        names[folder] = name
    sets = parse_sets(args.set)
    families = args.family or list(DEFAULT_FAMILIES)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "results.jsonl"
    done = {}
    if log.is_file():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            done[rec["key"]] = rec

    data = load_all(args.corpus, names)
    generators = sorted({g for split in data.values() for g in split[1] if g})
    print(f"generators: {', '.join(generators)}; device {device}", flush=True)
    corpus_ids = [hashlib.sha256(Path(c, "manifest.jsonl").read_bytes()).hexdigest()[:12] for c in args.corpus]

    wanted = []
    for label in families:
        family, overrides = parse_family(label)
        cls, _ = family_spec(family)
        overrides = {**sets.get(family, {}), **overrides}
        if args.epochs is not None and "epochs" in cls.Config.__dataclass_fields__:
            overrides.setdefault("epochs", args.epochs)
        for held_out in [None] + ([] if args.no_logo or len(generators) < 2 else generators):
            key = hashlib.sha256(json.dumps([family, sorted(overrides.items()), corpus_ids, args.seed, held_out,
                                             str(device)], default=str).encode()).hexdigest()[:16]
            wanted.append(key)
            if key in done:
                continue
            det = create_detector(family, **overrides)
            t0 = time.perf_counter()
            fitted, _ = fit_and_calibrate(det, without(data["train"], held_out), without(data["val"], held_out),
                                          device=device, seed=args.seed, calibration=CalibrationSpec())
            seconds = time.perf_counter() - t0
            test_images, test_gens = data["test"]
            probs = det.predict_proba(test_images.images, device=device)
            per_gen = {}
            for g in ([held_out] if held_out else generators):
                keep = (test_gens == "") | (test_gens == g)
                per_gen[g] = summarize(test_images.labels[keep], probs[keep], det.threshold)
            rec = {"key": key, "family": label, "overrides": {k: str(v) for k, v in overrides.items()},
                   "held_out": held_out, "train_generators": [g for g in generators if g != held_out],
                   "seconds": round(seconds, 1), "fit": {k: v for k, v in fitted.items() if k != "history"},
                   "threshold": det.threshold, "complexity": det.complexity(), "test": per_gen,
                   "device": str(device)}
            with log.open("a") as f:
                f.write(json.dumps(rec, default=str) + "\n")
            done[key] = rec
            shown = ", ".join(f"{g} AP {m['ap']:.3f}" for g, m in per_gen.items())
            print(f"{label:24s} {'held out ' + held_out if held_out else 'all generators':28s} "
                  f"{seconds:7.1f}s  {shown}", flush=True)

    summary = summarize_runs([done[k] for k in wanted], generators)
    test_gens = data["test"][1]
    summary["test_counts"] = {g: {"fakes": int((test_gens == g).sum()), "reals": int((test_gens == "").sum())}
                              for g in generators}
    summary["machine"] = machine()
    summary["date"] = date.today().isoformat()
    summary["corpora"] = [{"path": c, "manifest_sha256_prefix": i} for c, i in zip(args.corpus, corpus_ids,
                                                                                     strict=True)]
    summary["command"] = " ".join(["python", *sys.argv])
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out / "results.md").write_text(render_md(summary, generators))
    print(render_md(summary, generators))
    return 0


def summarize_runs(records: list[dict], generators: list[str]) -> dict:
    """Per family: in-distribution AP and LOGO AP per generator and their means; the winner by mean LOGO AP."""
    table = {}
    for rec in records:
        row = table.setdefault(rec["family"], {"in_distribution": {}, "logo": {}, "logo_fake_recall": {},
                                               "logo_real_accuracy": {}, "seconds": 0.0})
        row["seconds"] += rec["seconds"]
        row["complexity"] = rec["complexity"]
        if rec["held_out"] is None:
            row["in_distribution"] = {g: m["ap"] for g, m in rec["test"].items()}
        else:
            m = rec["test"][rec["held_out"]]
            row["logo"][rec["held_out"]] = m["ap"]
            row["logo_fake_recall"][rec["held_out"]] = m["fake_accuracy"]
            row["logo_real_accuracy"][rec["held_out"]] = m["real_accuracy"]
    for row in table.values():
        row["mean_in_distribution"] = float(np.mean(list(row["in_distribution"].values()))) \
            if row["in_distribution"] else None
        row["mean_logo"] = float(np.mean(list(row["logo"].values()))) if row["logo"] else None
    ranked = sorted(table, key=lambda f: (-(table[f]["mean_logo"] or 0), -(table[f]["mean_in_distribution"] or 0),
                                          table[f].get("complexity", {}).get("macs_per_crop", 0)))
    return {"generators": generators, "families": table, "ranking": ranked, "winner": ranked[0] if ranked else None}


def render_md(summary: dict, generators: list[str]) -> str:
    def f(v):
        return "-" if v is None else f"{v:.3f}"

    m = summary.get("machine", {})
    lines = ["# Detector generalization: in-distribution and leave-one-generator-out AP", "",
             f"- date: {summary.get('date')}; machine: {m.get('cpu')}, {m.get('cores')} cores"
             + (f", GPU {m['gpu']}" if m.get("gpu") else ", no GPU") + f"; torch {m.get('torch')}, "
             f"{m.get('threads')} thread(s)",
             f"- command: `{summary.get('command')}`",
             "- corpora: " + ", ".join(f"`{c['path']}`" for c in summary.get("corpora", [])),
             "- AP of a generator: its test fakes against every real test image. LOGO: trained (and calibrated) "
             "with that generator's fakes left out of train and val.",
             "- test images per generator (chance AP = fakes / (fakes + reals)): " + ", ".join(
                 f"{g} {c['fakes']} fakes vs {c['reals']} reals (chance {c['fakes'] / (c['fakes'] + c['reals']):.3f})"
                 for g, c in summary.get("test_counts", {}).items()), ""]
    lines += ["| family | mean in-dist AP | mean LOGO AP | " + " | ".join(f"LOGO AP {g}" for g in generators)
             + " | params | MACs/crop | train s |",
             "|---|---|---|" + "---|" * len(generators) + "---|---|---|"]
    for fam in summary["ranking"]:
        row = summary["families"][fam]
        cx = row.get("complexity", {})
        lines.append(f"| {fam} | {f(row['mean_in_distribution'])} | {f(row['mean_logo'])} | "
                     + " | ".join(f(row["logo"].get(g)) for g in generators)
                     + f" | {cx.get('parameters', '-'):,} | {cx.get('macs_per_crop', '-'):,} | {row['seconds']:.0f} |")
    lines += ["", "In-distribution AP per generator (trained on all):", "",
              "| family | " + " | ".join(generators) + " |", "|---|" + "---|" * len(generators)]
    for fam in summary["ranking"]:
        row = summary["families"][fam]
        lines.append(f"| {fam} | " + " | ".join(f(row["in_distribution"].get(g)) for g in generators) + " |")
    lines += ["", "At the threshold calibrated without the held-out generator (FPR 5% on validation reals): "
              "share of its fakes caught / share of reals passed:", "",
              "| family | " + " | ".join(generators) + " |", "|---|" + "---|" * len(generators)]
    for fam in summary["ranking"]:
        row = summary["families"][fam]
        lines.append(f"| {fam} | " + " | ".join(
            f"{f(row['logo_fake_recall'].get(g))} / {f(row['logo_real_accuracy'].get(g))}" for g in generators) + " |")
    lines += ["", f"Winner by mean LOGO AP: **{summary['winner']}**", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
