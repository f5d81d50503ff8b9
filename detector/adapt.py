"""Few-shot adaptation: a few images of a new generator (and optionally the user's own real images) and a base
detector become an ``adapted`` detector for that threat (:mod:`fakescope.detector.families.adapted`).

What :func:`adapt` does, and why:

1. **Features.** Every given image is cut into the head's tiles at native resolution and each tile is described
   by a frozen ImageNet backbone (the ``probe`` family's per-channel statistics; the backbone ships in the
   package, so nothing is installed or downloaded for it).
2. **Negatives that replay what the base knows.** The real images the head learns against are the given reals
   and a *bank* of stored features of real images (windows of the base's own training photographs and its 32 px
   real images, :mod:`fakescope.detector.bank`), so a user with no real images of their own still gets a head
   that has seen reals, and the 32 px images the base was trained on are not newly flagged.
3. **The head**: logistic regression on standardised features, both classes weighted equally.
4. **Honest estimates.** Grouped cross-validation (every fold leaves out whole images, and whole source
   photographs of the bank) gives every image an out-of-fold head score; the head's Platt calibration, the fused
   score ``max(base, head)``, the operating points (the share of reals flagged: 1%, 5%, 10%) and the printed
   estimates (cross-validated AP of the given fakes against the reals, the share of given fakes caught and of
   reals flagged at the chosen point) all come from those out-of-fold scores, never from images the final head
   was fit on. With fewer than :data:`MIN_RELIABLE` images of a generator the estimate is flagged as too small to
   say.
5. The final head is fit on everything and saved with the base as one ordinary checkpoint folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.preprocessing import StandardScaler

from fakescope.core.imageio import IMAGE_SUFFIXES, ImageReadError, read_image
from fakescope.core.walk import Found, walk

from .base import Detector, load_detector
from .calibration import Calibration
from .families.adapted import AdaptedDetector
from .linear import LinearHead
from .operating import OPERATING_POINTS, operating_thresholds

MIN_RELIABLE = 5  # fewer given fakes of a generator than this: the estimate says it cannot tell
MAX_IMAGES = 500  # per --fake or --real folder: adaptation is for a few images, not a corpus
HEAD_C = 0.1  # inverse regularisation strength of the head (chosen on realworld-dev, benchmarks/fewshot)
FOLDS = 5


class AdaptError(ValueError):
    """A request that cannot be adapted to (no usable image, a file given as real and fake, ...)."""


@dataclass(frozen=True)
class AdaptRequest:
    fakes: tuple[tuple[str, Path], ...]  # (generator name, folder or file) per --fake NAME=DIR
    out: Path
    reals: tuple[Path, ...] = ()  # the user's own real images (folders or files)
    base: str | None = None  # --from: a bundled name or a checkpoint folder (None: the bundled default)
    seed: int = 0
    device: str = "cpu"
    command: str = ""


@dataclass(frozen=True)
class GeneratorEstimate:
    name: str
    images: int  # usable images given
    cv_ap: float | None  # cross-validated AP of this generator's images against the reals (None: k too small)
    caught: float | None  # the share of its images caught at the chosen threshold, cross-validated


@dataclass(frozen=True)
class AdaptReport:
    out: str
    base: str
    threshold: float
    operating_points: dict[str, float]
    reals_given: int
    reals_stored: int
    reals_flagged: float  # the cross-validated share of reals flagged at the threshold
    generators: tuple[GeneratorEstimate, ...]
    skipped: tuple[str, ...]  # one line per unusable file
    seconds: float
    warning: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class _Images:
    paths: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    keys: list[tuple] = field(default_factory=list)  # (device, inode) of each file


def _file_key(path: str) -> tuple:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def read_folder(where: Path, skipped: list[str]) -> _Images:
    """Every image in a folder (recursively) or one file; an unreadable one becomes a line of ``skipped``."""
    out = _Images()
    if where.is_dir():
        found = list(walk(where, IMAGE_SUFFIXES, content=("image",)))
    elif where.exists():
        found = [Found(str(where))]
    else:
        raise AdaptError(f"{where}: no such file or folder")
    for item in found:
        if item.error is not None:
            skipped.append(f"{item.path}: {item.error}")
            continue
        if len(out.paths) >= MAX_IMAGES:
            skipped.append(f"{where}: more than {MAX_IMAGES} images; the rest left out")
            break
        try:
            image = read_image(item.path)
        except (ImageReadError, OSError) as exc:
            skipped.append(f"{item.path}: {exc}")
            continue
        out.paths.append(item.path)
        out.images.append(image)
        out.keys.append(_file_key(item.path))
    return out


def _check_request(request: AdaptRequest) -> None:
    if not request.fakes:
        raise AdaptError("give at least one --fake NAME=DIR")
    names = [name for name, _ in request.fakes]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise AdaptError(f"--fake {dup}=...: the name is given twice")
    for name in names:
        if not name or any(c in name for c in "/\\=\n"):
            raise AdaptError(f"--fake {name!r}: a generator name is a plain word (NAME=DIR)")


def cv_folds(groups: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """``[N]`` fold index per tile: whole groups (an image, or a source photograph of the bank) in one fold, each
    class's groups dealt round-robin in a seeded order, so every fold holds both classes where it can."""
    fold = np.zeros(len(groups), dtype=np.int64)
    rng = np.random.default_rng(seed)
    for label in np.unique(labels):
        uniq = np.unique(groups[labels == label])
        order = rng.permutation(len(uniq))
        for j, g in enumerate(uniq[order]):
            fold[(groups == g) & (labels == label)] = j % folds
    return fold


def fit_head(x: np.ndarray, y: np.ndarray, C: float = HEAD_C, weight: np.ndarray | None = None) -> LinearHead:
    """Standardised logistic regression, both classes weighted equally (``weight``: per-sample weights within
    a class)."""
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=3000)
    clf.fit(scaler.transform(x), y, sample_weight=weight)
    return LinearHead(scaler.mean_.astype(np.float64), scaler.scale_.astype(np.float64),
                      clf.coef_[0].astype(np.float64), float(clf.intercept_[0]))


def balanced_platt(raw: np.ndarray, labels: np.ndarray) -> Calibration:
    """Platt scaling of head scores with both classes weighted equally (the prior of the base's calibration)."""
    from .calibration import _logit

    x = _logit(raw).reshape(-1, 1)
    clf = LogisticRegression(C=1e4, class_weight="balanced", max_iter=1000).fit(x, labels)
    slope = max(float(clf.coef_[0, 0]), 0.0)
    return Calibration("platt", params=np.array([slope, float(clf.intercept_[0])]))


def adapt(request: AdaptRequest, progress: Callable[[str], None] | None = None) -> AdaptReport:
    """Make the adapted detector ``request`` asks for, save it to ``request.out`` and say how well it should do."""
    from .bank import load_bank

    start = time.perf_counter()
    say = progress or (lambda _msg: None)
    _check_request(request)
    skipped: list[str] = []
    fakes = {name: read_folder(Path(where), skipped) for name, where in request.fakes}
    reals = _Images()
    for where in request.reals:
        part = read_folder(Path(where), skipped)
        reals.paths += part.paths
        reals.images += part.images
        reals.keys += part.keys
    for name, got in fakes.items():
        if not got.images:
            raise AdaptError(f"--fake {name}: no readable image in {dict(request.fakes)[name]}")
        both = set(got.keys) & set(reals.keys)
        if both:
            path = got.paths[got.keys.index(next(iter(both)))]
            raise AdaptError(f"{path}: given as real (--real) and as fake (--fake {name})")
    names = list(fakes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = set(fakes[a].keys) & set(fakes[b].keys)
            if both:
                path = fakes[a].paths[fakes[a].keys.index(next(iter(both)))]
                raise AdaptError(f"{path}: given for two generators (--fake {a} and --fake {b})")

    base = load_detector(request.base)
    if isinstance(base, AdaptedDetector):
        base = base.base  # adapting an adapted detector again starts from its base, with every example given now
    bank = load_bank()
    head = bank.head_detector()
    device = request.device
    given = [(img, name) for name in names for img in fakes[name].images] + [(img, "") for img in reals.images]
    images = [g[0] for g in given]
    say(f"features of {len(images)} images ({head.name})")
    tile_list, owner = head.tiled(images)
    x_given = head.featurize(tile_list, device)  # [T, F]
    say("scores of the base detector")
    base_given = base.predict_proba(images, device=device)  # [N]
    say(f"{FOLDS}-fold cross-validation")
    fit = fit_adapted(x_given, np.asarray(owner), [g[1] for g in given], base_given, bank, bank.base_scores(base),
                      base_points(base), seed=request.seed)
    head.head = fit.head
    det = AdaptedDetector.assemble(base, head, fit.calibration, names)
    det.threshold = fit.points["balanced"]
    seconds = time.perf_counter() - start
    report = AdaptReport(
        out=str(request.out), base=_base_label(base), threshold=det.threshold,
        operating_points=fit.points, reals_given=len(reals.images), reals_stored=bank.images,
        reals_flagged=fit.reals_flagged, generators=fit.estimates, skipped=tuple(skipped), seconds=seconds,
        warning=fit.warning)
    det.info = {"adaptation": {**report.to_json(), "command": request.command,
                               "fakes": {n: fakes[n].paths for n in names}, "reals": reals.paths,
                               "bank": bank.describe()},
                "operating_points": fit.points}
    det.save(request.out, half=True)
    return report


def base_points(base: Detector) -> dict[str, float]:
    """The base's own operating point thresholds; a base without stored points has its threshold as balanced."""
    stored = base.info.get("operating_points") or {}
    points = {name: float(stored[name]) for name in OPERATING_POINTS if name in stored}
    return points or {"balanced": float(base.threshold)}


def _base_label(base: Detector) -> str:
    """``npr-published (bundled)`` for a bundled base, else its folder as given."""
    from fakescope.core.checkpoint import bundled_root

    path = Path(str(base.info.get("path", base.name)))
    return f"{path.name} (bundled)" if path.parent == bundled_root(__package__) else str(path)


@dataclass
class AdaptedFit:
    head: LinearHead  # fit on every given and stored image
    calibration: Calibration  # the head's, from out-of-fold scores
    points: dict[str, float]  # operating point thresholds on the fused scale
    estimates: tuple[GeneratorEstimate, ...]
    reals_flagged: float  # out-of-fold share of reals flagged at the balanced point
    warning: str | None


def fit_adapted(x_given: np.ndarray, owner: np.ndarray, generator: Sequence[str], base_given: np.ndarray, bank,
                bank_base: np.ndarray | None, base_points: dict[str, float], *, seed: int = 0,
                C: float = HEAD_C) -> AdaptedFit:
    """The head, its calibration, thresholds and estimates from features alone (what :func:`adapt` and the few-shot
    benchmark share). ``x_given`` ``[T, F]``: the given images' tile features, ``owner`` ``[T]`` their image;
    ``generator`` ``[N]``: each given image's generator name, ``""`` for a real one; ``base_given`` ``[N]``: the
    base's calibrated scores of the given images; ``bank_base``: the base's scores of the bank's images (None when
    the bank was scored by another base: its reals then count for the head alone); ``base_points``: the base's
    own operating point thresholds (:func:`base_points`), below which no adapted point is placed."""
    generator = np.asarray(generator, dtype=object)
    n_given = len(generator)
    img_label = (generator != "").astype(np.int64)
    x = np.concatenate([x_given, bank.features])
    tile_owner = np.concatenate([owner, bank.owner + n_given])
    labels = np.concatenate([img_label, np.zeros(bank.images, dtype=np.int64)])
    groups = np.concatenate([np.arange(n_given), bank.groups + n_given])
    tile_y = labels[tile_owner]
    # the user's own reals weigh as much, all together, as the stored ones: they are what the detector will meet
    given_real = (tile_owner < n_given) & (tile_y == 0)
    weight = np.ones(len(x))
    if given_real.any():
        weight[given_real] = max(1.0, (len(x) - len(x_given)) / given_real.sum())
    tile_fold = cv_folds(groups, labels, FOLDS, seed)[tile_owner]
    oof = np.full(len(x), 0.5)
    for f in range(FOLDS):
        test = tile_fold == f
        if test.any() and len(np.unique(tile_y[~test])) == 2:  # a fold without fakes to learn from stays at 0.5
            oof[test] = fit_head(x[~test], tile_y[~test], C, weight[~test]).probs(x[test])
    img_oof = Detector.image_means(oof, tile_owner, len(labels))
    calibration = balanced_platt(img_oof, labels)
    head_p = calibration(img_oof)
    fused_given = np.maximum(base_given, head_p[:n_given])
    bank_fused = head_p[n_given:] if bank_base is None else np.maximum(bank_base, head_p[n_given:])
    fused_real = np.concatenate([fused_given[img_label == 0], bank_fused])
    # never below the base's own point: the base is kept whole, so reals it passes at its calibrated threshold (on
    # any kind of image, not only the stored ones) stay passed, and the head's flags come on top
    points = {name: max(t, base_points.get(name, 0.0)) for name, t in operating_thresholds(fused_real).items()}
    threshold = points["balanced"]
    estimates = []
    for name in dict.fromkeys(generator[img_label == 1]):
        mine = generator == name
        k = int(mine.sum())
        reliable = k >= MIN_RELIABLE
        scores = np.concatenate([fused_given[mine], fused_real])
        truth = np.r_[np.ones(k), np.zeros(len(fused_real))]
        estimates.append(GeneratorEstimate(
            str(name), k, float(average_precision_score(truth, scores)) if reliable else None,
            float(np.mean(fused_given[mine] >= threshold)) if reliable else None))
    small = [e.name for e in estimates if e.cv_ap is None]
    warning = (f"too few images to estimate how well it will do on {', '.join(small)} (fewer than {MIN_RELIABLE}); "
               "give more, or check it with `fakescope bench` on images it has not seen") if small else None
    return AdaptedFit(fit_head(x, tile_y, C, weight), calibration, points, tuple(estimates),
                      float(np.mean(fused_real >= threshold)), warning)


__all__ = ["AdaptError", "AdaptReport", "AdaptRequest", "AdaptedFit", "GeneratorEstimate", "adapt", "base_points",
           "fit_adapted", "read_folder"]
