"""Items 3, 4, 6 and 7 of issue 16: which checkpoint a name loads, what its config.json may say, and files that
are not what they claim (a FIFO, /dev/zero) as model.safetensors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakescope.detector.base import DEFAULT_DETECTOR, load_detector
from PIL import Image
from sec_helpers import Unblocker, invoke, one_error_line

from fakescope.core.checkpoint import CheckpointError, bundled_root, list_bundled
from fakescope.core.safety import config_digest


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


def copy_bundled(dst: Path, name: str = DEFAULT_DETECTOR) -> Path:
    shutil.copytree(bundled_root("fakescope.detector") / name, dst)
    return dst


def edit_config(folder: Path, rehash: bool = False, **changes) -> None:
    meta = json.loads((folder / "config.json").read_text())
    meta.update(changes)
    if rehash:
        meta["config_sha256"] = config_digest(meta)
    (folder / "config.json").write_text(json.dumps(meta))


def test_a_folder_in_the_working_directory_never_replaces_a_bundled_detector(tmp_path, monkeypatch, image):
    """Item 3: ``npr-bundled/`` in the working directory silently replaced the default detector."""
    monkeypatch.chdir(tmp_path)
    copy_bundled(tmp_path / DEFAULT_DETECTOR)
    edit_config(tmp_path / DEFAULT_DETECTOR, rehash=True, threshold=1.0)  # labels everything real
    result = invoke("score", image, "--format", "json")  # the default: the bundled one
    assert result.exit_code == 0, result.output
    assert load_detector().info["path"] == str(bundled_root("fakescope.detector") / DEFAULT_DETECTOR)
    result = invoke("score", image, "--detector", DEFAULT_DETECTOR)  # a bare name that is also a folder here
    assert result.exit_code == 2 and "ambiguous" in one_error_line(result)
    with pytest.raises(CheckpointError, match="ambiguous"):
        load_detector(DEFAULT_DETECTOR)
    assert load_detector(f"./{DEFAULT_DETECTOR}").threshold == 1.0  # a path that looks like one: the folder


def test_a_bare_name_that_is_not_bundled_is_not_taken_from_the_working_directory(tmp_path, monkeypatch):
    """Item 3: a path must look like a path (``./x``, ``/x``, or with a separator)."""
    monkeypatch.chdir(tmp_path)
    copy_bundled(tmp_path / "mydet")
    with pytest.raises(CheckpointError, match=r"\./mydet"):
        load_detector("mydet")
    assert load_detector("./mydet").threshold == load_detector().threshold
    assert load_detector(tmp_path / "mydet").threshold == load_detector().threshold  # a Path is a path


@pytest.mark.parametrize("change", [{"threshold": 0.9}, {"calibration_method": "none"},
                                    {"config": {"crop": 16}}])
def test_an_edited_config_json_is_refused(tmp_path, change):
    """Item 4: only the weights were hashed, so the threshold or calibration could be edited without notice."""
    folder = copy_bundled(tmp_path / "det")
    meta = json.loads((folder / "config.json").read_text())
    if "config" in change:
        change = {"config": {**meta["config"], **change["config"]}}
    edit_config(folder, **change)
    with pytest.raises(CheckpointError, match="config.json"):
        load_detector(folder)


@pytest.mark.parametrize("change, message", [
    ({"threshold": 1.5}, "threshold"), ({"threshold": -0.1}, "threshold"), ({"threshold": "high"}, "threshold"),
    ({"calibration_method": "magic"}, "calibration"), ({"calibration_method": "isotonic"}, "calibration"),
])
def test_out_of_range_fields_are_refused_even_with_a_matching_hash(tmp_path, change, message):
    """Item 4: every field's range is validated (the CLI refused --threshold 1.5 but the file could hold it)."""
    folder = copy_bundled(tmp_path / "det")
    edit_config(folder, rehash=True, **change)
    with pytest.raises(CheckpointError, match=message):
        load_detector(folder)


@pytest.mark.parametrize("change, message", [
    ({"crop": 60000}, "crop=60000 must be between"),  # every image padded to a 60000 px tile: gigabytes
    ({"crop": 0}, "crop=0"), ({"width": -1}, "width=-1"), ({"crop": "32"}, "crop='32': expected an integer"),
    ({"augment": {"jpeg_prob": 2.0}}, "jpeg_prob=2.0"), ({"lr": None}, "lr=None: expected a finite number"),
    ({"lr": 10**400}, "expected a finite number"),  # too large for a float: one line, not an OverflowError
])
def test_settings_out_of_range_or_of_the_wrong_type_are_refused_even_with_a_matching_hash(tmp_path, change,
                                                                                          message):
    """The hash only catches accidental edits; every setting is checked for its type and range on loading."""
    folder = copy_bundled(tmp_path / "det")
    config = json.loads((folder / "config.json").read_text())["config"]
    if "augment" in change:
        change = {"augment": {**config["augment"], **change["augment"]}}
    edit_config(folder, rehash=True, config={**config, **change})
    with pytest.raises(CheckpointError, match=message):
        load_detector(folder)


def test_a_checkpoint_trained_with_patience_0_still_loads(tmp_path):
    """Range checks refuse what cannot work; patience 0 always worked (it stops like 1)."""
    folder = copy_bundled(tmp_path / "det")
    config = json.loads((folder / "config.json").read_text())["config"]
    edit_config(folder, rehash=True, config={**config, "patience": 0})
    assert load_detector(folder).config.patience == 0


@pytest.mark.parametrize("package", ["fakescope.detector", "fakescope.generators"])
def test_every_bundled_checkpoint_carries_and_passes_its_config_hash(package):
    from fakescope.core.checkpoint import load_checkpoint

    for name in list_bundled(package):
        meta = json.loads((bundled_root(package) / name / "config.json").read_text())
        assert meta["config_sha256"] == config_digest(meta)
        load_checkpoint(bundled_root(package) / name)


def test_a_fifo_as_model_safetensors_is_refused_without_hanging(tmp_path):
    """Item 6: a checkpoint whose model.safetensors is a FIFO hung."""
    folder = copy_bundled(tmp_path / "det")
    (folder / "model.safetensors").unlink()
    os.mkfifo(folder / "model.safetensors")
    with Unblocker(folder / "model.safetensors") as watch, pytest.raises(CheckpointError, match="FIFO"):
        load_detector(folder)
    assert not watch.needed


def test_model_safetensors_linked_to_dev_zero_is_refused(tmp_path):
    """Item 7: model.safetensors pointing to /dev/zero ended in a MemoryError traceback."""
    folder = copy_bundled(tmp_path / "det")
    (folder / "model.safetensors").unlink()
    os.symlink("/dev/zero", folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="character device"):
        load_detector(folder)


def test_an_oversized_model_safetensors_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import fakescope.core.checkpoint as checkpoint

    folder = copy_bundled(tmp_path / "det")
    with open(folder / "model.safetensors", "r+b") as f:
        f.truncate(checkpoint.MAX_WEIGHTS_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(CheckpointError, match="too large"):
        load_detector(folder)


@pytest.mark.parametrize("calibration", [("platt", {"params": [-0.3, 0.1]}),
                                         ("isotonic", {"x": [0.0, 0.5, 1.0], "y": [0.9, 0.5, 0.1]})])
def test_a_calibration_that_turns_the_ranking_around_is_refused(tmp_path, calibration):
    """Calibration is fit increasing (a Platt slope >= 0, isotonic increasing): a file that decreases is refused."""
    import numpy as np
    from fakescope.detector.calibration import Calibration

    det = load_detector()
    method, arrays = calibration
    det.calibration = Calibration(method, **{k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()})
    det.save(tmp_path / "det")
    with pytest.raises(CheckpointError, match="turns the detector's ranking around"):
        load_detector(tmp_path / "det")


def test_a_gan_config_edited_to_huge_sizes_is_refused_before_any_network_is_built(tmp_path, monkeypatch):
    """The hash only catches accidental edits (it is recomputed here): shapes that do not fit the weights, and a
    discriminator (not in the weights file) made 10^6 wide, which would allocate terabytes, are found on networks
    built without memory first."""
    import fakescope.generators.gan as gan_module
    from fakescope.generators.gan import load_gan

    folder = tmp_path / "g"
    shutil.copytree(bundled_root("fakescope.generators") / "vanilla-digits", folder)
    config = json.loads((folder / "config.json").read_text())["config"]
    edit_config(folder, rehash=True, config={**config, "g_hidden": [w + 1 for w in config["g_hidden"]]})
    import torch

    built = []
    family = gan_module.GANS.get("vanilla")
    real_init = family.__init__

    def spy(self, *args, **kwargs):
        built.append(torch.empty(0).device)  # where this network is being built
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(family, "__init__", spy)
    with pytest.raises(CheckpointError, match="weights do not fit the vanilla config"):
        load_gan(folder)
    assert built and all(d.type == "meta" for d in built)  # only the memory-free skeleton was built
    built.clear()  # the discriminator is not in the weights file; its size is bounded all the same
    edit_config(folder, rehash=True, config={**config, "d_hidden": [1_000_000] * len(config["d_hidden"])})
    with pytest.raises(CheckpointError, match="networks would take .* GB"):
        load_gan(folder)
    assert built and all(d.type == "meta" for d in built)
    edit_config(folder, rehash=True, config={**config, "latent_dim": -3})
    with pytest.raises(CheckpointError, match="bad vanilla config"):
        load_gan(folder)
