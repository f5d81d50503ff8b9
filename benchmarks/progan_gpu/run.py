"""ProGAN throughput: training steps of the ``gpu`` preset at 64 px, then sampling 10,000 images, in images/s.

On CUDA (the default when present) it builds the paper-sized ``gpu`` preset networks (fmap_base 8192,
fmap_max 512, latent 512, bf16 autocast) with ``image_size=64``, jumps to the last phase (64×64, stabilising,
batch 32) and times a few hundred real training steps (WGAN-GP with its double backward, Adam, EMA), then a
few fade-in steps; finally it samples 10,000 images through the library's one-seed-per-image path
(:func:`fakescope.generators.sampling.generate_range`). ``--tiny`` shrinks everything so that the script can be checked
on a CPU in seconds.

    python benchmarks/progan_gpu/run.py                        # CUDA: gpu preset at 64 px, 300 steps, 10,000 images
    python benchmarks/progan_gpu/run.py --size 128             # the preset's own 128 px
    python benchmarks/progan_gpu/run.py --device cpu --tiny    # a check of the script itself

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
from fakescope.generators.sampling import generate_range, image_seed
from fakescope.generators.sources import create_source

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name, record, sync  # noqa: E402

TINY = {"fmap_base": 64, "fmap_max": 16, "latent_dim": 16, "batch_sizes": (8,)}


def timed_steps(trainer, first: int, count: int, device: torch.device) -> tuple[float, dict]:
    losses: dict = {}
    sync(device)
    start = time.perf_counter()
    for step in range(first, first + count):
        losses = trainer.step(step)
    sync(device)
    return time.perf_counter() - start, losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default="gpu")
    parser.add_argument("--size", type=int, default=64, help="image_size (the last phase is timed)")
    parser.add_argument("--data", default="faces", help="real source: faces, photos, folder:PATH")
    parser.add_argument("--images", type=int, default=None, help="real images to draw (default: the train split)")
    parser.add_argument("--steps", type=int, default=300, help="timed stabilising steps (after --warmup)")
    parser.add_argument("--fade-steps", type=int, default=50, help="timed fade-in steps at the same resolution")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--sample", type=int, default=10_000, help="images to sample (timed)")
    parser.add_argument("--batch-size", type=int, default=256, help="sampling batch size on CUDA")
    parser.add_argument("--tiny", action="store_true", help="tiny model and counts: checks the script on a CPU")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to results.jsonl")
    args = parser.parse_args()
    overrides = {"image_size": args.size}
    if args.tiny:
        overrides.update(TINY, image_size=16)
        args.steps, args.fade_steps, args.warmup, args.sample = 5, 3, 2, 128

    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    gan = create_gan("progan", seed=0, preset=args.preset, **overrides).to(device)
    cfg = gan.config
    source = create_source(args.data)
    real = source.draw(args.images, size=cfg.image_size, channels=cfg.channels, split="train", seed=0).images
    trainer = gan.make_trainer(real, device=device, seed=0)
    fade, stable = trainer.phases[-2], trainer.phases[-1]
    gan.nets.train()

    timed_steps(trainer, stable.start, args.warmup, device)
    train_s, losses = timed_steps(trainer, stable.start + args.warmup, args.steps, device)
    timed_steps(trainer, fade.start, args.warmup, device)  # a new optimizer, a new graph: warm up again
    fade_s, _ = timed_steps(trainer, fade.start + args.warmup, args.fade_steps, device)
    # sample at the full resolution, as a finished model would
    for name in ("G", "G_ema"):
        gan.nets[name].level.fill_(stable.level)
        gan.nets[name].alpha.fill_(1.0)
    gan.nets.eval()

    seed_of = lambda i: image_seed(0, i)  # noqa: E731
    for _ in generate_range(gan, seed_of, 0, min(args.sample, args.batch_size), batch_size=args.batch_size):
        pass  # warm-up
    sync(device)
    start = time.perf_counter()
    count = 0
    for _, images in generate_range(gan, seed_of, 0, args.sample, batch_size=args.batch_size):
        count += len(images)
        assert torch.isfinite(images).all()
    sync(device)
    sample_s = time.perf_counter() - start

    result = {
        "date": datetime.date.today().isoformat(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu: {cpu_name()}",
        "torch": torch.__version__,
        "preset": args.preset + (" (tiny)" if args.tiny else ""),
        "config": {k: getattr(cfg, k) for k in ("image_size", "channels", "latent_dim", "fmap_base", "fmap_max",
                                                 "amp")},
        "threads": torch.get_num_threads(),
        "batch": stable.batch,
        "train_steps": args.steps,
        "train_steps_per_s": round(args.steps / train_s, 2),
        "train_images_per_s": round(args.steps * stable.batch / train_s, 1),
        "fade_in_images_per_s": round(args.fade_steps * fade.batch / fade_s, 1),
        "final_losses": {k: round(v, 4) for k, v in losses.items()},
        "sampled": count,
        "sample_images_per_s": round(count / sample_s, 1),
        "sample_batch_size": args.batch_size if device.type == "cuda" else 64,
    }
    record(result, __file__, device, save=not args.no_record)


if __name__ == "__main__":
    main()
