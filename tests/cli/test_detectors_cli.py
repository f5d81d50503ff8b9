"""`fakescope train` options (calibration, threshold rule, --init, --epochs 0) and `fakescope detectors list`."""

import json

import torch
from fakescope.detector.base import create_detector
from safetensors.torch import load_file
from typer.testing import CliRunner

from fakescope.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_train_calibrates_on_val_and_score_uses_that_threshold(tmp_path, tiny_corpus):
    ckpt = tmp_path / "spec"
    result = invoke("train", "spectrum", "--corpus", tiny_corpus, "--calibration", "isotonic",
                    "--threshold-rule", "balanced", "--jpeg-prob", "0.3", "--device", "cpu", "--out", ckpt)
    assert result.exit_code == 0, result.output
    assert "ECE" in result.output and "isotonic calibration" in result.output
    meta = json.loads((ckpt / "config.json").read_text())
    assert meta["calibration_method"] == "isotonic" and meta["calibration"]["fit_on"] == "val"
    assert meta["config"]["augment"]["jpeg_prob"] == 0.3
    assert meta["training"]["command"].startswith("fakescope train spectrum")
    assert {"calibration.isotonic_x", "calibration.isotonic_y"} <= set(load_file(ckpt / "model.safetensors"))

    images = [p for label in ("1_fake", "0_real") for p in sorted((tiny_corpus / "test" / label).iterdir())[:2]]
    records = json.loads(invoke("score", *images, "--detector", ckpt, "--format", "json").stdout)
    assert all(r["label"] == ("fake" if r["score"] >= meta["threshold"] else "real") for r in records)


def test_train_with_init_and_zero_epochs_only_calibrates(tmp_path, tiny_corpus):
    source = create_detector("timm:test_resnet", crop=16)
    weights = tmp_path / "init.pth"
    torch.save({"model": source.net.body.state_dict()}, weights)
    ckpt = tmp_path / "det"
    result = invoke("train", "timm:test_resnet", "--set", "crop=16", "--init", weights, "--epochs", "0",
                    "--device", "cpu", "--out", ckpt)
    assert result.exit_code == 2 and "--corpus" in result.output  # a corpus is required
    result = invoke("train", "timm:test_resnet", "--set", "crop=16", "--init", weights, "--epochs", "0",
                    "--corpus", tiny_corpus, "--device", "cpu", "--out", ckpt)
    assert result.exit_code == 0, result.output
    saved = load_file(ckpt / "model.safetensors")
    for k, v in source.net.body.state_dict().items():
        assert torch.equal(saved[f"body.{k}"], v), k
    meta = json.loads((ckpt / "config.json").read_text())
    assert meta["training"]["init"]["path"] == str(weights) and meta["training"]["steps"] == 0


def test_train_recalibrates_a_detector_checkpoint_with_init_and_zero_epochs(tmp_path, tiny_corpus):
    """--init takes a checkpoint folder or a bundled name: the same network, a calibration from these corpora."""
    from fakescope.detector.base import load_detector

    result = invoke("train", "npr", "--init", "npr-bundled", "--epochs", "0", "--corpus", tiny_corpus,
                    "--device", "cpu", "--out", tmp_path / "x")
    assert result.exit_code == 2 and "give its settings with --set: width=32 (here 64)" in result.output
    result = invoke("train", "npr", "--init", "npr-bundled", "--epochs", "0", "--set", "width=32", "--set", "factor=4",
                    "--corpus", tiny_corpus, "--device", "cpu", "--out", tmp_path / "x")
    # same weights, another network: refused too
    assert result.exit_code == 2 and "factor=2 (here 4)" in result.output, result.output
    result = invoke("train", "npr", "--init", "npr-bundled", "--epochs", "0", "--set", "width=32",
                    "--corpus", tiny_corpus, "--device", "cpu", "--out", tmp_path / "re")
    assert result.exit_code == 0, result.output
    bundled, again = load_detector("npr-bundled"), load_detector(tmp_path / "re")
    for k, v in bundled.net.state_dict().items():
        assert torch.equal(again.net.state_dict()[k], v), k
    assert again.threshold != bundled.threshold  # fit on the tiny corpus's val split, not the bundled one's
    meta = json.loads((tmp_path / "re" / "config.json").read_text())
    assert meta["training"]["init"] == {"path": "npr-bundled",
                                        "sha256": bundled.info["sha256"]}
    result = invoke("train", "npr", "--set", "width=32", "--init", tmp_path / "re", "--epochs", "0",
                    "--corpus", tiny_corpus, "--device", "cpu", "--out", tmp_path / "re2")
    assert result.exit_code == 0, result.output  # a folder works as a bundled name does
    result = invoke("train", "discriminator", "--init", tmp_path / "re", "--epochs", "0", "--corpus", tiny_corpus,
                    "--device", "cpu", "--out", tmp_path / "y")
    assert result.exit_code == 2 and "is a 'npr' detector, not 'discriminator'" in result.output


def test_train_refuses_bad_requests_in_one_line(tmp_path, tiny_corpus):
    for args, message in [
        (["timm:resnt18"], "did you mean resnet18"),
        (["spectrum", "--epochs", "2"], "has no epochs"),
        (["npr", "--epochs", "0"], "--epochs 0 needs --init"),
        (["npr", "--calibration", "beta"], "unknown calibration 'beta'"),
    ]:
        result = invoke("train", *args, "--corpus", tiny_corpus, "--out", tmp_path / "x")
        assert result.exit_code == 2 and message in result.output, (args, result.output)


def test_detectors_list_shows_families_and_bundled_checkpoints():
    result = invoke("detectors", "list", "--format", "json")
    assert result.exit_code == 0
    listing = json.loads(result.stdout)
    assert {"discriminator", "npr", "spectrum", "timm:<arch>"} <= {f["family"] for f in listing["families"]}
    assert sum(b["default"] for b in listing["bundled"]) == 1
    assert all(b["corpora"] and "ap" in b["test"] for b in listing["bundled"])
    # a detector only recalibrated on its corpora says whose network it holds
    by_name = {b["name"]: b for b in listing["bundled"]}
    assert by_name["npr-photos"]["network_from"] == "npr-bundled" and "network_from" not in by_name["npr-bundled"]
    assert "npr-bundled's network, calibrated on" in invoke("detectors", "list").stdout
    assert by_name["npr-enlarged"]["corpora"][-1] == "enlarged:debian-photos (reals only)"


def test_detectors_list_names_the_third_party_layouts_it_loads():
    from fakescope.detector.families import EXTERNAL_LAYOUTS

    listing = json.loads(invoke("detectors", "list", "--format", "json").stdout)
    assert [x["family"] for x in listing["external"]] == ["timm:resnet50", "npr:official"]
    for layout in EXTERNAL_LAYOUTS:  # each names a family that builds and can take a weights file
        assert layout.example.split("=")[0] == layout.family
        assert hasattr(create_detector(layout.family, **layout.overrides), "init_from")
    table = invoke("detectors", "list").stdout
    assert "npr:official=NPR.pth" in table and "FAMILY=FILE" in table


def test_train_warns_when_the_validation_split_ranks_fakes_below_reals(tmp_path):
    """A one-class head pointed the wrong way for these fakes: the calibration is flat, never reversed, and said."""
    import numpy as np

    from fakescope.core.imageio import write_png

    rng = np.random.default_rng(0)
    rows = []
    for split, n in (("train", 16), ("val", 12)):
        for label in (0, 1):
            for i in range(n):
                if label == 0:  # smooth: predictable
                    img = np.kron(rng.uniform(40, 200, size=(4, 4, 3)), np.ones((8, 8, 1)))
                    img = img + rng.normal(0, 2, (32, 32, 3))
                else:  # white noise: coded far more dearly than the real images, so `below` ranks it lowest
                    img = rng.uniform(0, 255, size=(32, 32, 3))
                path = f"{split}/{label}/{i:03d}.png"
                write_png(tmp_path / "c" / path, np.clip(img, 0, 255).astype(np.uint8))
                rows.append({"path": path, "label": label, "split": split})
    (tmp_path / "c" / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = invoke("train", "surprisal", "--corpus", tmp_path / "c", "--set", "head=below", "--set", "crop=32",
                    "--set", "steps=30", "--set", "width=8", "--device", "cpu", "--out", tmp_path / "det")
    assert result.exit_code == 0, result.output
    assert "ranks the validation fakes no higher than the reals" in result.output
    assert json.loads((tmp_path / "det" / "config.json").read_text())["training"]["metrics"]["val"]["roc_auc"] == 0.5
