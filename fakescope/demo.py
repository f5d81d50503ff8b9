"""``fakescope demo``: the default detector once, end to end, on bundled data, in a few minutes on a CPU.

Real images: windows of the photographs bundled with scikit-image and scikit-learn at their native resolution
(never resized). The default detector never saw them: it learnt from other photographs. A quarter as many other
windows of them enlarged 1.25-4 times by interpolation (``enlarged:photo-patches``) are reported on their own row:
real photographs the default is known to flag too often. Fakes: from every
bundled generator — each re-synthesis model redraws other windows of the same photographs, the CycleGAN turns
windows into paintings, and the small noise-to-image GANs sample at their own 32 px. Everything is written as
PNG, scored through the same path as ``fakescope score``, and reported per origin (AP and ROC-AUC of that
origin's fakes against every real image, and the share of each called correctly at the detector's threshold).

The report folder holds ``scores.json`` (one record per image with its true label and origin; the enlarged
reals are in it, but not in the table's ``all`` row or any generator's AP), ``report.json`` (the table) and
``grid.png`` (the most and least confident real and fake images).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from fakescope.core.checkpoint import bundled_root, list_bundled, write_json_atomic
from fakescope.core.imageio import atomic_path, read_image, resize, set_channels, to_uint8, write_png
from fakescope.core.progress import Progress
from fakescope.detector.base import DEFAULT_DETECTOR, load_detector
from fakescope.detector.metrics import summarize
from fakescope.detector.scoring import score_paths
from fakescope.generators.gan import load_gan
from fakescope.generators.kinds.image import ImageToImage, translate_images
from fakescope.generators.kinds.noise import NoiseToImage
from fakescope.generators.kinds.resynth import SameSizeImage, resynthesize_images
from fakescope.generators.sampling import generate_range, image_seed
from fakescope.generators.sources import create_source

REAL_SOURCE = "photo-patches"  # native-resolution windows of the bundled photographs
REAL = "real photographs"  # the origin of the windows as they are
ENLARGED = "real photographs, enlarged"  # the same photographs enlarged by interpolation: real, and a known weakness
WINDOW = 256  # side of the real windows and of the windows fed to image-to-image generators


def run_demo(
    out: str | os.PathLike,
    *,
    count: int = 64,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> dict:
    """Run the demo into ``out``: ``count`` real windows and ``max(4, count // 4)`` fakes per bundled generator.

    Returns the report (also written as ``out/report.json``).
    """
    out = Path(out)
    def say(message: str) -> None:
        if progress is not None:
            progress(description=message)

    det = load_detector()  # the bundled default, never a folder of that name here
    source = create_source(REAL_SOURCE)
    paths: list[Path] = []
    truth: list[int] = []
    origins: list[str] = []

    def keep(images: torch.Tensor, origin: str, label: int) -> None:
        for i, image in enumerate(images):  # [C, H, W] in [-1, 1]
            path = out / "images" / origin / f"{i:04d}.png"
            write_png(path, set_channels(to_uint8(image), 3))
            paths.append(path)
            truth.append(label)
            origins.append(origin)

    say(f"taking {count} real {WINDOW} px windows of the bundled photographs")
    keep(source.draw(count, size=WINDOW, channels=3, split="all", seed=seed).images, REAL, 0)
    per_generator = max(4, count // 4)
    say(f"enlarging {per_generator} other windows 1.25-4x by interpolation")
    keep(create_source(f"enlarged:{REAL_SOURCE}").draw(per_generator, size=WINDOW, channels=3, split="all",
                                                       seed=seed).images, ENLARGED, 0)
    sized = []  # the generators whose images are the photographs' size (not the 32 px noise-to-image ones)
    for k, name in enumerate(list_bundled("fakescope.generators")):
        say(f"{per_generator} fakes from {name}")
        images, from_noise = _fakes(name, per_generator, source, seed, seed + 1 + k, device)
        if images is not None:
            keep(images, name, 1)
            if not from_noise:
                sized.append(name)

    say(f"scoring {len(paths)} images with {DEFAULT_DETECTOR}")
    records = score_paths(paths, det, device=device)
    scores = np.array([r.score for r in records], dtype=float)
    labels, origin_of = np.array(truth), np.array(origins)
    enlarged = origin_of == ENLARGED  # reported apart: every fake is ranked against the photographs as they are
    is_real = (labels == 0) & ~enlarged
    table = {"all": summarize(labels[~enlarged], scores[~enlarged], det.threshold)}
    for name, sel in ((REAL, is_real), (ENLARGED, enlarged)):
        table[name] = {"n": int(sel.sum()), "real_accuracy": float((scores[sel] < det.threshold).mean())}
    for origin in dict.fromkeys(o for o, y in zip(origins, truth, strict=True) if y == 1):
        sel = is_real | (origin_of == origin)
        m = summarize(labels[sel], scores[sel], det.threshold)
        table[origin] = {"n": int((~is_real & sel).sum()), "ap": m["ap"], "roc_auc": m["roc_auc"],
                         "fake_accuracy": m["fake_accuracy"]}
    rows = [{**r.to_json(), "truth": "fake" if y else "real", "origin": o}
            for r, y, o in zip(records, truth, origins, strict=True)]
    report = {"detector": DEFAULT_DETECTOR, "threshold": det.threshold, "real": REAL_SOURCE, "window": WINDOW,
              "seed": seed, "table": table}
    report["adaptation"] = _adaptation_row(out, table, records, origins, source, sized, seed, device, say)
    write_json_atomic(out / "scores.json", rows)
    write_json_atomic(out / "report.json", report)
    _confidence_grid(out / "grid.png", paths, scores, labels, origins, det.threshold)
    return report


def _fakes(name: str, count: int, source, seed: int, input_seed: int, device) -> tuple[torch.Tensor | None, bool]:
    """``count`` images ``[N, C, H, W]`` of bundled generator ``name`` (None for a kind the demo does not make), and
    whether they were sampled from noise (else made from windows of the photographs drawn with ``input_seed``)."""
    gan, _ = load_gan(bundled_root("fakescope.generators") / name, device=device)  # never a folder here
    if isinstance(gan, NoiseToImage):
        return torch.cat([x for _, x in generate_range(gan, lambda i: image_seed(seed, i, "demo"), 0, count)]), True
    inputs = source.draw(count, size=WINDOW, channels=gan.image_shape[0], split="all", seed=input_seed).images
    if isinstance(gan, ImageToImage):
        return translate_images(gan, inputs.to(gan.device), "a2b"), False
    if isinstance(gan, SameSizeImage):
        return resynthesize_images(gan, inputs.to(gan.device)), False
    return None, False


ADAPT_EXAMPLES = 5  # images of the missed generator given to `fakescope adapt`


def _adaptation_row(out: Path, table: dict, records, origins: list[str], source, sized: list[str], seed: int,
                    device, say) -> dict | None:
    """The bundled photograph-sized generator the default catches least (lowest AP), then ``fakescope adapt`` with
    :data:`ADAPT_EXAMPLES` other images of it and as many other real windows (separate draws, never scored here),
    as a user adapts with their own reals: the default's AP on that generator's demo images against the real
    windows, and the adapted detector's on the same images, whatever it is."""
    from fakescope.detector.adapt import AdaptRequest, adapt

    if not sized:
        return None
    missed = min(sized, key=lambda g: table[g]["ap"])
    examples = out / "adapt-examples" / missed
    say(f"adapting to {missed} from {ADAPT_EXAMPLES} other images of it")
    images, _ = _fakes(missed, ADAPT_EXAMPLES, source, seed, seed + 1000, device)
    for i, image in enumerate(images):
        write_png(examples / f"{i:04d}.png", set_channels(to_uint8(image), 3))
    reals = out / "adapt-examples" / "real"
    for i, image in enumerate(source.draw(ADAPT_EXAMPLES, size=WINDOW, channels=3, split="all",
                                          seed=seed + 2000).images):
        write_png(reals / f"{i:04d}.png", set_channels(to_uint8(image), 3))
    adapted_dir = out / "adapted"
    estimate = adapt(AdaptRequest(fakes=((missed, examples),), reals=(reals,), out=adapted_dir, seed=seed,
                                  device=str(device)))
    adapted = load_detector(adapted_dir)
    sel = [i for i, o in enumerate(origins) if o in (REAL, missed)]
    paths = [Path(records[i].path) for i in sel]
    labels = np.array([int(origins[i] == missed) for i in sel])
    say(f"scoring {len(paths)} images with the adapted detector")
    after = np.array([r.score for r in score_paths(paths, adapted, device=device)], dtype=float)
    m = summarize(labels, after, adapted.threshold)
    return {"generator": missed, "examples": ADAPT_EXAMPLES, "n": int(labels.sum()), "ap_before": table[missed]["ap"],
            "fake_accuracy_before": table[missed]["fake_accuracy"], "ap_after": m["ap"], "roc_auc_after": m["roc_auc"],
            "fake_accuracy_after": m["fake_accuracy"], "real_accuracy_after": m["real_accuracy"],
            "threshold_after": adapted.threshold, "seconds": estimate.seconds, "checkpoint": str(adapted_dir)}


def _confidence_grid(path: Path, paths: list[Path], scores: np.ndarray, truth: np.ndarray, origins: list[str],
                     threshold: float, per_row: int = 8) -> None:
    """Four labelled rows: the reals the detector is surest of, the reals it is least sure of (highest scores),
    then the same for the fakes; each image with its origin and score, red when it is on the wrong side of the
    threshold."""
    from fakescope.core.report import new_figure  # matplotlib, only when a grid is drawn

    rows = []
    for label, kind in ((0, "real"), (1, "fake")):
        idx = np.flatnonzero(truth == label)
        confidence = scores[idx] if label else 1.0 - scores[idx]
        order = idx[np.argsort(-confidence, kind="stable")]
        rows += [(f"{kind}: surest", order[:per_row]), (f"{kind}: least sure", order[::-1][:per_row])]
    fig = new_figure(1.35 * per_row + 0.6, 1.75 * len(rows))
    axes = fig.subplots(len(rows), per_row, squeeze=False)
    for r, (title, row) in enumerate(rows):
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(title, fontsize=9)
            if c >= len(row):
                ax.axis("off")
                continue
            i = row[c]
            wrong = (scores[i] >= threshold) != bool(truth[i])
            ax.imshow(resize(read_image(paths[i]), 96).squeeze(), cmap="gray", vmin=0, vmax=255)
            origin = {REAL: "real photograph", ENLARGED: "real, enlarged"}.get(origins[i], origins[i])
            ax.set_title(f"{origin[:24]}\n{scores[i]:.2f}", fontsize=6, color="tab:red" if wrong else "black",
                         parse_math=False)
    fig.suptitle(f"most and least confident images (score = P(synthetic); red: wrong at threshold {threshold:.2f})",
                 fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
