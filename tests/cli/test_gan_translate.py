"""`fakescope gan train cyclegan` on two folders and `fakescope gan translate`, end to end on tiny inputs."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from fakescope.cli import app
from fakescope.core.imageio import read_image, write_png

runner = CliRunner()
TINY = ["--set", "ngf=4", "--set", "ndf=4", "--set", "n_blocks=1", "--size", "24"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def tiny_cyclegan(tmp_path_factory):
    """A cyclegan checkpoint trained for one epoch on two folders of 4 images: ``(run folder, folder A)``."""
    root = tmp_path_factory.mktemp("cg")
    rng = np.random.default_rng(0)
    for domain, offset in (("a", 0), ("b", 128)):
        for i in range(4):
            write_png(root / domain / f"{i}.png", rng.integers(offset, offset + 128, (30, 40, 3), dtype=np.uint8))
    run = root / "run"
    result = invoke("gan", "train", "cyclegan", "--domain-a", f"folder:{root / 'a'}", "--domain-b",
                    f"folder:{root / 'b'}", *TINY, "--epochs", "1", "--device", "cpu", "--out", run)
    assert result.exit_code == 0, result.output
    return run, root / "a"


def test_train_records_both_domains_and_resumes_only_when_asked(tiny_cyclegan):
    run, folder_a = tiny_cyclegan
    cfg = json.loads((run / "checkpoint" / "config.json").read_text())
    assert cfg["family"] == "cyclegan" and cfg["config"]["image_size"] == 24
    assert cfg["training"]["domain_a"] == f"folder:{folder_a}"
    assert cfg["training"]["count"] == {"a": 3, "b": 3}  # the train split of each folder (70%)
    assert cfg["training"]["command"].startswith("fakescope gan train cyclegan")
    assert len(list((run / "samples").glob("*.png"))) == 1
    again = invoke("gan", "train", "cyclegan", "--domain-a", f"folder:{folder_a}", "--domain-b",
                   f"folder:{folder_a}", *TINY, "--epochs", "1", "--device", "cpu", "--out", run)
    assert again.exit_code == 2 and "--resume" in again.output


def test_translate_files_and_folders_at_their_own_size(tiny_cyclegan, tmp_path):
    run, folder_a = tiny_cyclegan
    odd = tmp_path / "odd.png"
    write_png(odd, np.random.default_rng(1).integers(0, 256, (37, 53, 3), dtype=np.uint8))
    bad = tmp_path / f"bad-{'x' * 80}.jpg"  # its message is longer than a terminal line
    bad.write_text("not an image")
    out = tmp_path / "out"
    result = invoke("gan", "translate", run / "checkpoint", odd, folder_a, bad, "--direction", "b2a",
                    "--device", "cpu", "--out", out)
    assert result.exit_code == 1, result.output  # one unreadable input: reported, the rest translated
    assert "5 images translated" in result.output
    assert any(line.startswith(f"{bad}: ") for line in result.output.splitlines())  # one line in a pipe, unwrapped
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and sum(r["error"] is not None for r in rows) == 1
    by_source = {r["source_image"]: r for r in rows}
    assert by_source[str(odd)]["size"] == [37, 53]
    assert read_image(out / by_source[str(odd)]["path"]).shape == (37, 53, 3)
    assert read_image(out / by_source[str(folder_a / "0.png")]["path"]).shape == (30, 40, 3)


def test_a_resynthesiser_redraws_images_at_their_own_size_without_a_direction(tmp_path):
    odd = tmp_path / "in" / "odd.png"
    image = np.random.default_rng(2).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    write_png(odd, image)
    out = tmp_path / "out"
    result = invoke("gan", "translate", "resynth-nearest-s2", odd, "--device", "cpu", "--out", out)
    assert result.exit_code == 0, result.output
    assert "1 images re-synthesised by resynth" in " ".join(result.output.split())
    row = json.loads((out / "manifest.jsonl").read_text())
    assert row["direction"] is None and row["generator"] == "resynth" and row["size"] == [37, 53]
    redrawn = read_image(out / row["path"])
    assert redrawn.shape == image.shape and not np.array_equal(redrawn, image)
    result = invoke("gan", "translate", "resynth-nearest-s2", odd, "--direction", "a2b", "--out", tmp_path / "o2")
    assert result.exit_code == 2 and "has no direction" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["gan", "train", "cyclegan", "--domain-a", "photos", "--out", "{tmp}/r"], "--domain-b"),
    (["gan", "train", "vanilla", "--domain-a", "photos", "--domain-b", "paintings", "--out", "{tmp}/r"],
     "image-to-image"),
    (["gan", "train", "cyclegan", "--domain-a", "folder:{tmp}/none", "--domain-b", "photos", "--size", "24",
      "--out", "{tmp}/r"], "is not a directory"),
    (["gan", "translate", "vanilla-digits", "{tmp}", "--out", "{tmp}/o"], "generates from noise"),
    (["gan", "translate", "{run}", "{tmp}", "--direction", "sideways", "--out", "{tmp}/o"], "unknown direction"),
    (["gan", "sample", "{run}", "--out", "{tmp}/o"], "gan translate"),
])
def test_usage_errors_are_one_line_with_status_2(tiny_cyclegan, tmp_path, args, message):
    run, _ = tiny_cyclegan
    result = invoke(*[a.format(tmp=tmp_path, run=run / "checkpoint") for a in args])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
