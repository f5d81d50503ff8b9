"""Every registered detector family, through the one interface: training, separation, checkpoints, calibration.

Parametrized over the registry: a newly registered family is tested here the moment it is registered.
Families get small settings below (``TINY``) to keep the suite fast; an unknown family runs its defaults.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import fields
from pathlib import Path

import cv2
import fakescope.detector.data as data_module
import numpy as np
import pytest
import torch
from fakescope.detector.base import DETECTORS, create_detector, family_spec, list_detectors, load_detector
from fakescope.detector.data import Augment, load_split
from fakescope.detector.training import train_detector

from fakescope.core.checkpoint import CheckpointError
from fakescope.core.imageio import write_png

FAMILIES = [f for f in list_detectors() if DETECTORS.get(f).trainable]  # adapted: tests/detector/test_adapt.py
# Small, fast settings per family; ``name`` is what create_detector receives (a variant for timm).
COMMON = {"batch_size": 16}
TINY = {
    "discriminator": {"width": 8, "depth": 2, "lr": 1e-3},
    "npr": {"width": 8, "lr": 1e-3},
    "timm": {"name": "timm:test_resnet", "lr": 1e-3},
    "probe": {"crop": 32},
    "surprisal": {"crop": 32, "steps": 30, "width": 8},
}
PRETRAINED: dict[str, Path] = {}  # family -> the weights file its backbone starts from (see _pretrained_backbones)


@pytest.fixture(scope="session", autouse=True)
def _pretrained_backbones(tmp_path_factory):
    """``probe`` reads a pretrained backbone and refuses to train without one: the tests give it seeded random
    weights of the whole timm model (ImageNet's are a training extra the test suite does not install)."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("backbones") / "mobilenetv2_100.safetensors"
    save_file(timm.create_model("mobilenetv2_100", pretrained=False).state_dict(), path)
    PRETRAINED["probe"] = path


def make(family: str, **overrides):
    """A small detector of ``family`` with ``overrides`` (those its config lacks are dropped)."""
    settings = {**COMMON, **TINY.get(family, {}), **overrides}
    name = settings.pop("name", family)
    known = {f.name for f in fields(family_spec(name)[0].Config)}
    det = create_detector(name, **{k: v for k, v in settings.items() if k in known})
    if family in PRETRAINED:
        det.init_from(PRETRAINED[family])
    return det


def _write_corpus(root: Path, counts: dict[str, int], size: int = 32, seed: int = 0) -> Path:
    """Real: smooth (bicubic) images with sensor-like noise; fake: nearest-neighbour 2× up-sampled noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in counts.items():
        for label in (0, 1):
            for i in range(n):
                if label == 0:
                    small = rng.uniform(20, 220, size=(size // 4, size // 4, 3)).astype(np.float32)
                    img = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
                    img = img + rng.normal(scale=4.0, size=img.shape)
                else:
                    img = np.kron(rng.uniform(20, 220, size=(size // 2, size // 2, 3)), np.ones((2, 2, 1)))
                path = f"{split}/{label}_{'real' if label == 0 else 'fake'}/{i:04d}.png"
                write_png(root / path, np.clip(img, 0, 255).astype(np.uint8))
                rows.append({"path": path, "label": label, "split": split, "index": i})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module")
def separable(tmp_path_factory) -> Path:
    return _write_corpus(tmp_path_factory.mktemp("separable"), {"train": 48, "val": 24, "test": 24})


@pytest.fixture(scope="module")
def trained(separable):
    """One detector per family trained on the separable corpus (cached across the tests that need one)."""
    cache = {}

    def get(family: str):
        if family not in cache:
            det = make(family, epochs=4)
            train_detector(det, [separable], device="cpu", seed=0)
            cache[family] = det
        return cache[family]

    return get


@pytest.mark.parametrize("family", FAMILIES)
def test_trains_a_few_steps_on_the_tiny_corpus(family, tiny_corpus):
    det = make(family, epochs=1)
    info = train_detector(det, [tiny_corpus], device="cpu", seed=0)
    metrics = info["training"]["metrics"]
    assert set(metrics) == {"val", "test"} and metrics["val"]["n"] == 64
    test = load_split([tiny_corpus], "test")
    probs = det.predict_proba(test.images[:5])
    assert probs.shape == (5,) and np.all((probs >= 0) & (probs <= 1))
    assert 0.0 <= det.threshold <= 1.0 and det.complexity()["parameters"] > 0
    crop = det.complexity()["crop"]
    assert det.macs_per_image(crop, crop) == det.complexity()["macs_per_crop"] > 0
    assert det.macs_per_image(2 * crop, 3 * crop) == 6 * det.complexity()["macs_per_crop"]


@pytest.mark.parametrize("family", FAMILIES)
def test_training_is_deterministic_on_the_cpu_for_a_seed(family, tiny_corpus):
    images = load_split([tiny_corpus], "test").images
    runs = []
    for _ in range(2):
        det = make(family, epochs=1, augment=Augment(blur_prob=0.5, jpeg_prob=0.5))
        train_detector(det, [tiny_corpus], device="cpu", seed=3)
        runs.append((det.predict_proba(images), det.threshold))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


@pytest.mark.parametrize("family", FAMILIES)
def test_beats_chance_clearly_on_a_separable_corpus(family, trained):
    det = trained(family)
    test = det.info["training"]["metrics"]["test"]
    assert test["ap"] > 0.9 and test["accuracy"] > 0.8, test


@pytest.mark.parametrize("family", FAMILIES)
def test_save_then_load_gives_identical_scores(family, trained, separable, tmp_path):
    det = trained(family)
    images = load_split([separable], "test").images
    det.save(tmp_path / "ckpt")
    loaded = load_detector(tmp_path / "ckpt", family=det.name)
    assert loaded.name == det.name and loaded.threshold == det.threshold
    np.testing.assert_array_equal(loaded.predict_proba(images), det.predict_proba(images))
    # fp16 checkpoints: rounding before saving makes the saved model score exactly like the one in memory
    half = make(family)
    half.load_tensors(det.tensors())
    half.calibration, half.threshold = det.calibration, det.threshold
    half.round_to_half()
    half.save(tmp_path / "half", half=True)
    np.testing.assert_array_equal(load_detector(tmp_path / "half").predict_proba(images), half.predict_proba(images))


@pytest.mark.parametrize("family", FAMILIES)
def test_an_image_scores_the_same_bits_whatever_it_is_scored_with(family, trained):
    """Batches are cut by timing when scoring (decoding falling behind) and by rank under torchrun: a score must
    not depend on the batch. Images of several sizes, so that batches hold different numbers of tiles."""
    det = trained(family)
    rng = np.random.default_rng(5)
    crop = det.config.crop
    images = [rng.integers(0, 256, (int(rng.integers(crop, 5 * crop)), int(rng.integers(crop, 5 * crop)), 3),
                           dtype=np.uint8) for _ in range(12)]
    together = det.predict_proba(images)
    alone = np.array([det.predict_proba([image])[0] for image in images])
    split = np.concatenate([det.predict_proba(images[:5]), det.predict_proba(images[5:])])
    np.testing.assert_array_equal(alone, together)
    np.testing.assert_array_equal(split, together)


@pytest.mark.parametrize("family", FAMILIES)
def test_augmentation_is_applied_to_both_classes_alike(family, separable, monkeypatch):
    # surprisal's one-class heads never read a fake: its linear head does, through the same crops
    det = make(family, epochs=1, head="linear", augment=Augment(blur_prob=0.5, jpeg_prob=0.5, flip=False))
    if "augment" not in {f.name for f in fields(det.Config)}:
        pytest.skip(f"{family} has no training augmentation")
    train, val = load_split([separable], "train"), load_split([separable], "val")
    label_of = {id(im): int(y) for im, y in zip(train.images, train.labels, strict=True)}
    changed = {0: [], 1: []}
    original = data_module.augment

    def spy(image, aug, rng):
        out = original(image, aug, rng)
        if id(image) in label_of:
            changed[label_of[id(image)]].append(not np.array_equal(out, image))
        return out

    monkeypatch.setattr(data_module, "augment", spy)
    det.fit(train, val, device=torch.device("cpu"), seed=0)
    rates = {label: np.mean(v) for label, v in changed.items()}
    assert min(len(v) for v in changed.values()) >= 20, changed
    # P(blur or JPEG) = 0.75 for every image, whatever its label
    assert 0.5 < rates[0] < 0.95 and 0.5 < rates[1] < 0.95 and abs(rates[0] - rates[1]) < 0.25, rates


@pytest.mark.parametrize("family", FAMILIES)
def test_threshold_and_calibration_never_see_the_test_split(family, separable, tmp_path):
    """Flipping every test label changes the reported test AP, and nothing else: same threshold, same model."""
    flipped = tmp_path / "flipped"
    shutil.copytree(separable, flipped)
    rows = [json.loads(line) for line in (flipped / "manifest.jsonl").read_text().splitlines()]
    for r in rows:
        if r["split"] == "test":
            r["label"] = 1 - r["label"]
    (flipped / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    a, b = make(family, epochs=1), make(family, epochs=1)
    info_a = train_detector(a, [separable], device="cpu", seed=3)
    info_b = train_detector(b, [flipped], device="cpu", seed=3)
    assert a.threshold == b.threshold
    assert info_a["training"]["metrics"]["val"] == info_b["training"]["metrics"]["val"]
    for k, v in a.tensors().items():
        assert torch.equal(v, b.tensors()[k]), k
    ap_a, ap_b = (i["training"]["metrics"]["test"]["ap"] for i in (info_a, info_b))
    assert ap_a != ap_b


@pytest.mark.parametrize("family", FAMILIES)
def test_a_checkpoint_of_another_family_is_refused(family, tmp_path):
    det = make(family)
    det.save(tmp_path / "ckpt")
    for other in FAMILIES:
        if other == family:
            continue
        with pytest.raises(CheckpointError, match=f"is a '{det.name}' detector, not '{other}'"):
            load_detector(tmp_path / "ckpt", family=other)
    assert load_detector(tmp_path / "ckpt", family=family).name == det.name


def test_a_timm_checkpoint_of_another_architecture_is_refused(tmp_path):
    make("timm").save(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="not 'timm:resnet18'"):
        load_detector(tmp_path / "ckpt", family="timm:resnet18")


def test_timm_loads_a_cnndetection_resnet50_checkpoint(tmp_path):
    """A dict whose ``model`` key holds a torchvision ResNet-50 state dict with a one-output fc."""
    import torchvision

    torch.manual_seed(1)
    reference = torchvision.models.resnet50(num_classes=1).eval()
    path = tmp_path / "blur_jpg_prob0.5.pth"
    torch.save({"model": reference.state_dict(), "optimizer": {}, "total_steps": 1}, path)

    det = create_detector("timm:resnet50", crop=32)
    det.init_from(path)
    det.net.eval()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0  # CNNDetection's preprocessing
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    with torch.no_grad():
        expected = torch.sigmoid(reference((x - mean[:, None, None]) / std[:, None, None])).item()
    assert det.raw_scores([image])[0] == pytest.approx(expected, abs=1e-5)


class NotWeights:
    """Pickled as a class reference: ``torch.load(weights_only=True)`` must refuse to rebuild it."""


def test_init_files_that_do_not_fit_are_refused_clearly(tmp_path):
    pickled = tmp_path / "code.pth"
    torch.save({"model": NotWeights()}, pickled)
    det = make("timm")
    with pytest.raises(ValueError, match="not a readable weights file") as info:
        det.init_from(pickled)
    text = str(info.value)  # torch's advice to load it some other way is not passed on
    assert "without running code" in text and "weights_only" not in text and "add_safe_globals" not in text
    wrong = tmp_path / "wrong.pth"
    torch.save({"model": {"fc.weight": torch.zeros(1, 4)}}, wrong)
    with pytest.raises(ValueError, match="weights do not fit timm:test_resnet"):
        det.init_from(wrong)
    with pytest.raises(ValueError, match="cannot be initialised"):
        make("spectrum").init_from(wrong)


def test_scores_are_the_mean_over_native_resolution_tiles(trained):
    """A large image is scored tile by tile at its own resolution: its score is the mean of its tiles' scores."""
    det = trained("spectrum")
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, size=(64, 96, 3), dtype=np.uint8)
    parts = [big[y : y + 32, x : x + 32] for y in (0, 32) for x in (0, 32, 64)]
    assert det.raw_scores([big])[0] == pytest.approx(np.mean(det.raw_scores(parts)), abs=1e-12)


def test_a_checkpoint_of_an_unknown_family_is_a_clear_error_also_when_a_family_is_asked(tmp_path):
    from fakescope.detector.base import CHECKPOINT_KIND, load_detector

    from fakescope.core.checkpoint import CheckpointError, save_checkpoint

    save_checkpoint(tmp_path / "d", {"w": torch.zeros(1)}, {"kind": CHECKPOINT_KIND, "family": "bogus", "config": {}})
    for family in (None, "npr"):
        with pytest.raises(CheckpointError, match="bogus"):
            load_detector(f"{tmp_path}/d", family=family)


@pytest.mark.parametrize("family", ["spectrum", "probe", "surprisal"])
def test_a_linear_head_without_a_regularisation_strength_is_a_clear_error(family):
    with pytest.raises(ValueError, match=f"{family} needs at least one C"):
        create_detector(family, C=())
    with pytest.raises(ValueError, match=f"unknown {family} classifier 'tree'"):
        create_detector(family, classifier="tree")


def test_a_corpus_without_a_test_split_trains_but_an_unreadable_test_image_is_an_error(tmp_path):
    from fakescope.core.corpus import CorpusError

    corpus = _write_corpus(tmp_path / "c", {"train": 8, "val": 8})
    info = train_detector(make("spectrum"), [corpus], device="cpu", seed=0)
    assert set(info["training"]["metrics"]) == {"val"}
    corpus = _write_corpus(tmp_path / "d", {"train": 8, "val": 8, "test": 4})
    (corpus / "test/1_fake/0002.png").write_bytes(b"not a png")  # the held-out numbers must not vanish silently
    with pytest.raises(CorpusError, match="0002.png"):
        train_detector(make("spectrum"), [corpus], device="cpu", seed=0)
