"""The bundled ``progan-faces`` model: its sample grid, its quality metrics, its sampling speed, its training curve.

    python benchmarks/progan_faces/run.py --run runs/progan-faces     # after training and export (see README)

Writes beside this file:

- ``grid.png``: 64 samples, image ``i`` from seed ``image_seed(0, i)`` (what ``fakescope gan sample
  progan-faces --seed 0`` writes), and ``grid-real.png``: 64 real training faces for comparison;
- ``metrics.jsonl``: a copy of the training run's per-checkpoint metrics, and ``curve.png``: its plot;
- ``results.json``: the bundled model's metrics (1,000 samples against the mirrored training faces, as during
  training, and against the held-out test faces) and sampling images/s on the CPU.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from fakescope.generators.gan import load_gan
from fakescope.generators.metrics import quality_metrics
from fakescope.generators.sampling import generate_range, image_seed, sample_to_folder
from fakescope.generators.sources import create_source

from fakescope.core.imageio import save_grid
from fakescope.core.seeding import torch_generator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name  # noqa: E402

HERE = Path(__file__).parent


def plot_curve(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if "FD-random-conv" in r]
    kimg = [r["kimg"] for r in rows]
    labels = [f"{r['resolution']}px\n{'fade' if r['phase'] == 'fade-in' else 'stab'}" for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key in zip(axes, ("FD-random-conv", "KID-random-conv", "SWDx1e3-avg"), strict=True):
        ax.plot(kimg, [r.get(key) for r in rows], marker="o")
        ax.set_title(key)
        ax.set_xlabel("real images shown (thousands)")
        ax.set_xticks(kimg, labels, fontsize=7)
        if all(r.get(key, 0) > 0 for r in rows):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    fig.suptitle("progan-faces: quality at the end of each phase (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="progan-faces", help="bundled name or checkpoint folder")
    parser.add_argument("--run", type=Path, default=None, help="the training run folder (for its metrics.jsonl)")
    parser.add_argument("--metric-images", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=2000, help="images for the sampling-speed measurement")
    args = parser.parse_args()

    gan, meta = load_gan(args.model, device="cpu")
    c, s, _ = gan.image_shape
    seeds = [image_seed(0, i) for i in range(64)]
    fakes = torch.cat([images for _, images in generate_range(gan, lambda i: seeds[i], 0, 64)])
    save_grid(HERE / "grid.png", fakes)
    faces = create_source("faces")
    train = faces.draw(None, size=s, channels=c, split="train", seed=0).images
    test = faces.draw(None, size=s, channels=c, split="test", seed=0).images
    save_grid(HERE / "grid-real.png", train[:64])

    z = torch.randn((args.metric_images, gan.config.latent_dim), generator=torch_generator(0, "metrics"))
    samples = torch.cat([gan.generate(chunk) for chunk in z.split(256)])
    mirrored = torch.cat([train, train.flip(3)])
    results: dict = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()} CPU: {cpu_name()}, no GPU",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "model": args.model,
        "sha256": meta["sha256"],
        "metrics_vs_train_mirrored": quality_metrics(mirrored, samples, seed=0),
        "metrics_vs_test": quality_metrics(torch.cat([test, test.flip(3)]), samples, seed=0),
        "reference_train_vs_test": quality_metrics(mirrored, torch.cat([test, test.flip(3)]), seed=0),
    }

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        n = sum(len(x) for _, x in generate_range(gan, lambda i: image_seed(1, i), 0, args.sample))
        results["generate_images_per_s"] = round(n / (time.perf_counter() - start), 1)
        start = time.perf_counter()
        sample_to_folder(gan, Path(tmp) / "s", count=args.sample, seed=1)
        results["sample_to_png_images_per_s"] = round(args.sample / (time.perf_counter() - start), 1)

    if args.run is not None:
        shutil.copyfile(args.run / "metrics.jsonl", HERE / "metrics.jsonl")
    if (HERE / "metrics.jsonl").exists():
        rows = [json.loads(line) for line in (HERE / "metrics.jsonl").read_text().splitlines() if line.strip()]
        plot_curve(rows, HERE / "curve.png")
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
