"""The bundled ``cyclegan-photo2painting`` model on held-out photographs: a grid of translations, how close the
photo → painting translations come to the filter they imitate, and translation speed on the CPU.

    python benchmarks/cyclegan_photo2painting/run.py [--model NAME|DIR] [--out benchmarks/cyclegan_photo2painting]

Writes ``grid.png`` (rows: test photos, photo→painting, photo→painting→photo, what ``cv2.stylization`` makes of
the same crops, then test paintings, painting→photo, painting→photo→painting) and ``results.json``.

``paired_l1``: the painting domain is derived from the photos by a known filter, so the true painting of
each held-out photo crop is known. The mean absolute difference (0–255 scale) to it is reported for the
untranslated photo and for the model's translation: a model that learned the style comes closer than the photo.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import torch
from fakescope.generators.gan import load_gan
from fakescope.generators.sources import create_source
from fakescope.generators.translate import translate_images

from fakescope.core.imageio import resize, save_grid, set_channels, to_tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_name  # noqa: E402

HERE = Path(__file__).parent


def true_paintings(paintings, meta: list[dict], size: int, channels: int) -> torch.Tensor:
    """The filter's rendering of exactly the crops described by ``meta`` (photo crops): ``[N, C, size, size]``."""
    out = []
    for m in meta:
        image = paintings.load_item(paintings.item_ids().index(m["item"]))
        y, x, h, w = m["crop"]
        out.append(to_tensor(resize(set_channels(image[y : y + h, x : x + w], channels), size)))
    return torch.stack(out)


def images_per_second(gan, images: torch.Tensor) -> float:
    translate_images(gan, images[:1], "a2b")  # warm-up
    start = time.perf_counter()
    translate_images(gan, images, "a2b")
    return round(len(images) / (time.perf_counter() - start), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="cyclegan-photo2painting")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--count", type=int, default=8, help="held-out crops per domain in the grid")
    parser.add_argument("--metric-count", type=int, default=200, help="held-out photo crops for paired_l1")
    parser.add_argument("--size", type=int, default=None,
                        help="crop side (default: the side of the model's training images, load_size)")
    args = parser.parse_args()

    gan, meta = load_gan(args.model)
    c, size, _ = gan.image_shape
    size = args.size or gan.config.load_size or size
    photos, paintings = create_source("photos"), create_source("paintings")
    test_photos = photos.draw(args.metric_count, size=size, channels=c, split="test", seed=0)
    test_paintings = paintings.draw(args.count, size=size, channels=c, split="test", seed=0)
    target = true_paintings(paintings, test_photos.meta, size, c)

    a = test_photos.images
    ab = translate_images(gan, a, "a2b")
    aba = translate_images(gan, ab, "b2a")
    b = test_paintings.images
    ba = translate_images(gan, b, "b2a")
    bab = translate_images(gan, ba, "a2b")
    n = args.count
    save_grid(args.out / "grid.png", torch.cat([a[:n], ab[:n], aba[:n], target[:n], b, ba, bab]), nrow=n)

    def l1(x: torch.Tensor, y: torch.Tensor) -> float:
        return round(float((x - y).abs().mean() * 127.5), 2)

    torch.set_num_threads(1)
    photo = photos.load_item(photos.indices("test")[0])
    speeds = {}
    for side, n in ((64, 64), (128, 16), (256, 4)):
        batch = to_tensor(resize(set_channels(photo, c), side)).unsqueeze(0).repeat(n, 1, 1, 1)
        speeds[f"{side}px"] = images_per_second(gan, batch)
    record = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()} CPU, {cpu_name()}",
        "torch": torch.__version__,
        "model": args.model,
        "model_sha256": meta["sha256"],
        "training": meta.get("training", {}),
        "held_out": sorted({m["item"] for m in test_photos.meta}),
        "paired_l1": {
            "photo_vs_true_painting": l1(a, target),
            "translation_vs_true_painting": l1(ab, target),
            "crops": len(a),
        },
        "cycle_l1": {"photo": l1(aba, a), "painting": l1(bab, b)},
        "crop_size": size,
        "translate_images_per_s_1_thread": speeds,
    }
    (args.out / "results.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
