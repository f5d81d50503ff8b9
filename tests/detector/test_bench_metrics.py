"""Benchmark metrics (TPR at FPR, EER, bootstrap intervals), cost per detector, and the official NPR layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fakescope.detector.base import load_detector
from fakescope.detector.bench import run_bench
from fakescope.detector.data import load_split
from fakescope.detector.external import load_external
from fakescope.detector.metrics import bootstrap_interval, equal_error_rate, tpr_at_fpr
from sklearn.metrics import average_precision_score

from fakescope.core.perturb import parse_grid


def test_tpr_at_fpr_and_eer_on_scores_worked_by_hand():
    labels = np.array([0] * 10 + [1] * 10)
    scores = np.r_[np.linspace(0.0, 0.45, 9), 0.9, np.linspace(0.5, 1.0, 10)]  # one real above most fakes
    assert tpr_at_fpr(labels, scores, 0.0) == pytest.approx(0.2)  # two fakes (0.94, 1.0) score above that real
    assert tpr_at_fpr(labels, scores, 0.1) == pytest.approx(1.0)
    assert equal_error_rate(labels, scores) == pytest.approx(0.1, abs=0.051)
    assert equal_error_rate(labels, np.r_[np.zeros(10), np.ones(10)]) == 0.0
    assert np.isnan(tpr_at_fpr(np.ones(4), np.ones(4), 0.05)) and np.isnan(equal_error_rate(np.ones(3), np.ones(3)))


def test_bootstrap_interval_brackets_the_ap_and_narrows_with_more_images():
    rng = np.random.default_rng(0)

    def sample(n):
        labels = np.r_[np.zeros(n), np.ones(n)].astype(int)
        return labels, labels * 0.8 + rng.normal(0, 0.5, 2 * n)

    labels, scores = sample(15)
    low, high = bootstrap_interval(labels, scores, "ap", seed=1)
    assert low <= average_precision_score(labels, scores) <= high
    assert (low, high) == bootstrap_interval(labels, scores, "ap", seed=1)
    big_low, big_high = bootstrap_interval(*sample(300), "ap", seed=1)
    assert big_high - big_low < high - low


def test_run_bench_reports_cost_and_intervals_for_small_generators(bench_corpora, bench_detector_dir):
    det = load_detector(bench_detector_dir)
    data = load_split([bench_corpora[0]], "test")
    result = run_bench({"spec": det}, data, parse_grid("none") + parse_grid("resize:0.5"), few=1000, resamples=50)
    assert result.perturbations == ["none", "resize:0.5"]
    cost = result.cost["spec"]
    assert cost["parameters"] > 0 and cost["macs_per_image"] > 0 and cost["images_per_s"] > 0
    assert "tiles" in cost["preprocessing"]
    gen = next(r for r in result.rows if r["generator"] != "all" and r["perturbation"] == "none")
    assert gen["ap_low"] <= gen["ap"] <= gen["ap_high"]
    assert all(k in gen for k in ("tpr_at_1fpr", "tpr_at_5fpr", "eer", "ece", "accuracy"))
    assert result.scores[("spec", "none")].shape == (len(data),)
    assert next(r for r in result.rows if r["generator"] == "all")["ap_low"] is None  # the pooled row has none


def _official_npr_reference() -> tuple[dict, torch.nn.Module]:
    """The authors' network rebuilt here from torchvision's ResNet-50 (their file's key layout), random weights."""
    import torchvision
    from torch.nn import functional as F

    torch.manual_seed(3)
    full = torchvision.models.resnet50()
    fc1 = torch.nn.Linear(512, 1)

    class Reference(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1, self.relu, self.maxpool = full.conv1, full.bn1, full.relu, full.maxpool
            self.conv1 = torch.nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
            self.layer1, self.layer2, self.fc1 = full.layer1, full.layer2, fc1

        def forward(self, x):  # x: ImageNet-normalised
            down = F.interpolate(x, scale_factor=0.5, mode="nearest", recompute_scale_factor=True)
            npr = x - F.interpolate(down, scale_factor=2, mode="nearest", recompute_scale_factor=True)
            h = self.maxpool(self.relu(self.bn1(self.conv1(npr * 2.0 / 3.0))))
            h = self.layer2(self.layer1(h))
            return self.fc1(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(h, 1), 1))

    ref = Reference().eval()
    for m in ref.modules():  # non-trivial BatchNorm statistics, so a mis-mapped key shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return ref.state_dict(), ref


def test_official_npr_checkpoint_loads_and_scores_like_the_reference(tmp_path):
    state, ref = _official_npr_reference()
    assert {k.split(".")[0] for k in state} == {"conv1", "bn1", "layer1", "layer2", "fc1"}
    path = tmp_path / "NPR.pth"
    torch.save(state, path)
    name, det = load_external(f"npr:official={path}")
    assert name == "npr:official@NPR.pth" and det.threshold == 0.5 and "ImageNet" in det.preprocessing()
    image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = torch.sigmoid(ref((x - mean) / std)).item()
    assert det.predict_proba([image])[0] == pytest.approx(expected, abs=1e-5)
    assert det.complexity()["parameters"] == sum(v.numel() for k, v in state.items()
                                                 if "running" not in k and "num_batches" not in k)


def test_weights_files_that_do_not_fit_are_refused(tmp_path):
    state, _ = _official_npr_reference()
    state.pop("fc1.weight")
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(ValueError, match="weights do not fit npr:official"):
        load_external(f"npr:official={tmp_path / 'cut.pth'}")
    with pytest.raises(ValueError, match="expected FAMILY=FILE"):
        load_external("npr:official=")
    with pytest.raises(ValueError, match="unknown detector family"):
        load_external(f"nope={tmp_path / 'cut.pth'}")


def test_score_takes_a_third_party_weights_file_too(tmp_path):
    """``fakescope score -d FAMILY=FILE``: the file's network, its preprocessing, threshold 0.5; a file that does
    not fit is a one-line usage error naming it."""
    import json

    import cv2
    from typer.testing import CliRunner

    from fakescope.cli import app

    state, ref = _official_npr_reference()
    path = tmp_path / "NPR.pth"
    torch.save(state, path)
    image = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "x.png"), image[:, :, ::-1])
    runner = CliRunner()
    result = runner.invoke(app, ["score", str(tmp_path / "x.png"), "-d", f"npr:official={path}", "-f", "json",
                                 "--no-provenance", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = torch.sigmoid(ref((x - mean) / std)).item()
    assert record["score"] == pytest.approx(expected, abs=1e-4)
    assert record["label"] == ("fake" if expected >= 0.5 else "real")
    state.pop("fc1.weight")
    torch.save(state, tmp_path / "cut.pth")
    result = runner.invoke(app, ["score", str(tmp_path / "x.png"), "-d", f"npr:official={tmp_path / 'cut.pth'}"])
    assert result.exit_code == 2 and "cut.pth" in result.stderr and len(result.stderr.strip().splitlines()) == 1
