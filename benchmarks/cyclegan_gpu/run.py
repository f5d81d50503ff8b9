"""CycleGAN throughput: training steps of a preset on photos ↔ paintings, then translation, in images/s.

On CUDA (the default when present) it trains a few hundred steps of the ``gpu`` preset (128 px, 6 blocks,
bf16 autocast) and translates a few thousand 128 px crops; ``--preset gpu-256`` runs the 256 px, 9-block
reference. ``--tiny`` shrinks everything so that the script can be checked on a CPU in seconds.

    python benchmarks/cyclegan_gpu/run.py                       # CUDA: gpu preset, 300 steps, 5000 images
    python benchmarks/cyclegan_gpu/run.py --preset gpu-256
    python benchmarks/cyclegan_gpu/run.py --device cpu --tiny   # a check of the script itself

Prints one JSON record and appends it to ``results.jsonl`` beside this file.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import torch
from fakescope.generators.gan import create_gan
from fakescope.generators.kinds.image import draw_domains, translate_images

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name, record, sync  # noqa: E402

TINY = {"image_size": 32, "ngf": 8, "ndf": 8, "n_blocks": 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default="gpu", help="cyclegan preset: cpu, gpu, gpu-256")
    parser.add_argument("--steps", type=int, default=300, help="timed training steps (after --warmup)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--images", type=int, default=200, help="training crops drawn per domain")
    parser.add_argument("--translate", type=int, default=5000, help="images to translate (timed)")
    parser.add_argument("--batch-size", type=int, default=32, help="translation batch size on CUDA")
    parser.add_argument("--tiny", action="store_true", help="tiny model and counts: checks the script on a CPU")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to results.jsonl")
    args = parser.parse_args()
    if args.tiny:
        args.steps, args.warmup, args.images, args.translate = 5, 2, 8, 16

    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    gan = create_gan("cyclegan", seed=0, preset=args.preset, **(TINY if args.tiny else {})).to(device)
    cfg = gan.config
    data, _ = draw_domains("photos", "paintings", count=args.images, size=cfg.image_size, channels=cfg.channels,
                           seed=0)
    trainer = gan.make_trainer(data, device=device, seed=0)
    gan.nets.train()
    for step in range(args.warmup):
        trainer.step(step)
    sync(device)
    start = time.perf_counter()
    for step in range(args.warmup, args.warmup + args.steps):
        losses = trainer.step(step)
    sync(device)
    train_s = time.perf_counter() - start

    crops = data["a"].repeat(-(-args.translate // len(data["a"])), 1, 1, 1)[: args.translate]
    translate_images(gan, crops[: min(len(crops), args.batch_size)], "a2b", batch_size=args.batch_size)  # warm-up
    sync(device)
    start = time.perf_counter()
    out = translate_images(gan, crops, "a2b", batch_size=args.batch_size)
    sync(device)
    translate_s = time.perf_counter() - start
    assert out.shape == crops.shape and torch.isfinite(out).all()

    result = {
        "date": datetime.date.today().isoformat(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu: {cpu_name()}",
        "torch": torch.__version__,
        "preset": args.preset + (" (tiny)" if args.tiny else ""),
        "config": {k: getattr(cfg, k) for k in ("image_size", "ngf", "ndf", "n_blocks", "batch_size", "amp")},
        "threads": torch.get_num_threads(),
        "train_steps": args.steps,
        "train_steps_per_s": round(args.steps / train_s, 2),
        "train_images_per_s": round(args.steps * cfg.batch_size / train_s, 2),  # per domain
        "final_losses": {k: round(v, 4) for k, v in losses.items()},
        "translated": len(crops),
        "translate_images_per_s": round(len(crops) / translate_s, 1),
        "translate_batch_size": args.batch_size if device.type == "cuda" else 1,
    }
    record(result, __file__, device, save=not args.no_record)


if __name__ == "__main__":
    main()
