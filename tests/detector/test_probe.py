"""The ``probe`` family: a frozen backbone's per-channel statistics under a linear head."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from fakescope.detector.base import create_detector, load_detector
from fakescope.detector.data import load_split
from fakescope.detector.training import train_detector
from safetensors import safe_open
from safetensors.torch import save_file


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Seeded random weights of the whole timm model, and the model itself."""
    torch.manual_seed(0)
    full = timm.create_model("mobilenetv2_100", pretrained=False).eval()
    path = tmp_path_factory.mktemp("w") / "mnv2.safetensors"
    save_file(full.state_dict(), path)
    return path, full


def test_features_are_each_stages_channel_mean_and_std_of_the_normalised_tile(weights):
    path, full = weights
    det = create_detector("probe", crop=32, stages=(1, 3))
    det.init_from(path)
    rng = np.random.default_rng(0)
    tiles = [rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8) for _ in range(3)]
    x = torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).float() / 255.0
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    x = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    with torch.no_grad():
        maps = full.forward_intermediates(x, indices=[1, 3], intermediates_only=True)  # [3, 24, 8, 8], [3, 96, 2, 2]
    expected = torch.cat([torch.cat([m.mean((2, 3)), m.std((2, 3), correction=0)], 1) for m in maps], 1)
    assert det.n_features() == 2 * (24 + 96)
    np.testing.assert_allclose(det.featurize(tiles), expected.double().numpy(), rtol=1e-4, atol=1e-5)


def test_the_blocks_past_the_last_stage_are_pruned():
    shallow, deep = create_detector("probe", stages=(0, 1, 2)), create_detector("probe")
    assert shallow.complexity()["parameters"] < deep.complexity()["parameters"] / 10
    assert shallow.complexity()["macs_per_crop"] < deep.complexity()["macs_per_crop"]


def test_training_refuses_a_backbone_that_was_never_initialised(tiny_corpus):
    with pytest.raises(ValueError, match="--init imagenet"):
        train_detector(create_detector("probe", crop=32), [tiny_corpus], device="cpu", seed=0)


def test_a_weights_file_that_does_not_fit_the_backbone_is_refused(weights, tmp_path):
    wrong = tmp_path / "wrong.safetensors"
    save_file({"conv_stem.weight": torch.zeros(32, 3, 3, 3)}, wrong)
    with pytest.raises(ValueError, match="weights do not fit probe:mobilenetv2_100 .missing"):
        create_detector("probe").init_from(wrong)
    state = dict(weights[1].state_dict())
    state["conv_stem.weight"] = torch.zeros(16, 3, 3, 3)
    save_file(state, wrong)
    with pytest.raises(ValueError, match="weights do not fit probe:mobilenetv2_100 .*conv_stem.weight"):
        create_detector("probe").init_from(wrong)


def test_the_checkpoint_holds_the_frozen_backbone_in_fp16_and_the_head_in_float64(weights, tiny_corpus, tmp_path):
    det = create_detector("probe", crop=32, stages=(0, 1, 2))
    det.init_from(weights[0])
    train_detector(det, [tiny_corpus], device="cpu", seed=0, half=True)
    det.save(tmp_path / "ckpt", half=True)
    with safe_open(tmp_path / "ckpt" / "model.safetensors", "pt") as f:
        dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes["backbone.conv_stem.weight"] == "F16" and dtypes["linear.weight"] == "F64"
    # the backbone travels with the checkpoint: scoring needs no weights file
    images = load_split([tiny_corpus], "test").images[:8]
    np.testing.assert_array_equal(load_detector(tmp_path / "ckpt").predict_proba(images), det.predict_proba(images))


@pytest.mark.needs("imagenet")
def test_imagenet_weights_initialise_the_backbone():
    from fakescope.detector.pretrained import imagenet_file

    det = create_detector("probe", stages=(0,))
    det.init_from("imagenet")
    source = torch.load(imagenet_file("mobilenetv2_100"), map_location="cpu", weights_only=True)
    assert torch.equal(det.backbone.conv_stem.weight, source["features.0.0.weight"])  # torchvision's stem


@pytest.mark.parametrize("settings", [{"stages": (0, 9)}, {"arch": "mixer_s16_224"}, {"arch": "inception_v3",
                                                                                      "crop": 16}])
def test_a_probe_that_cannot_be_built_is_a_clear_error(settings):
    with pytest.raises(ValueError, match="^probe:"):
        create_detector("probe", **settings)


def test_a_checkpoint_with_a_bad_head_or_backbone_is_refused(weights, tmp_path):
    from fakescope.detector.base import CHECKPOINT_KIND

    from fakescope.core.checkpoint import CheckpointError, save_checkpoint

    det = create_detector("probe", crop=32, stages=(0, 1))
    det.init_from(weights[0])
    tensors = det.tensors()
    for key, value, words in (("linear.bias", torch.zeros(0, dtype=torch.float64), "linear.bias"),
                              ("scaler.mean", torch.zeros(()), "features"),
                              ("backbone.conv_stem.weight", torch.zeros(16, 3, 3, 3), "backbone.conv_stem.weight")):
        with pytest.raises(ValueError, match=words):
            create_detector("probe", crop=32, stages=(0, 1)).load_tensors({**tensors, key: value})
    bad = {**tensors, "linear.bias": torch.zeros(2, dtype=torch.float64)}
    save_checkpoint(tmp_path / "bad", bad, {"kind": CHECKPOINT_KIND, "family": "probe", "config": det.config,
                                            "threshold": 0.5, "calibration_method": "none"})
    with pytest.raises(CheckpointError):
        load_detector(tmp_path / "bad")


def test_a_probe_or_spectrum_is_not_a_third_party_weights_file(weights):
    from fakescope.detector.external import load_external

    for family in ("probe", "spectrum"):
        with pytest.raises(ValueError, match="trained here"):
            load_external(f"{family}={weights[0]}")
