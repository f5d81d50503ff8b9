"""Issue 31, item 1: no command writes over what it reads. ``score a.png -o a.png`` turned the photograph into a
table; ``--plot`` naming an input, ``score d/ -o d/x.png`` and ``bench --real . -o r.png`` did the same. One guard
(:func:`fakescope.core.safety.check_outputs_apart`) used by every command that writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sec_helpers import invoke, one_error_line

from fakescope.core.safety import OutputClashError, check_outputs_apart


def _png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def no_scoring(monkeypatch):
    """Scoring and benchmarking fail the test: a refusal must come before any work."""
    import fakescope.detector.bench
    import fakescope.detector.scoring

    def no_work(*args, **kwargs):
        raise AssertionError("the work started before the output was refused")

    monkeypatch.setattr(fakescope.detector.scoring, "iter_scores", no_work)
    monkeypatch.setattr(fakescope.detector.bench, "run_bench", no_work)


def test_the_guard_refuses_outputs_that_are_hold_or_lie_in_what_is_read(tmp_path):
    image = _png(tmp_path / "d" / "x.png")
    os.link(image, tmp_path / "hard.png")
    os.symlink(image, tmp_path / "soft.png")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for output in (image, tmp_path / "d" / ".." / "d" / "x.png", tmp_path / "hard.png", tmp_path / "soft.png"):
        with pytest.raises(OutputClashError, match="is also an input"):
            check_outputs_apart({"-o": output}, [image])
    with pytest.raises(OutputClashError, match="holds an input"):
        check_outputs_apart({"--report": tmp_path / "d"}, [image])
    with pytest.raises(OutputClashError, match="which this command reads"):
        check_outputs_apart({"--out": corpus / "det"}, folders=[corpus])
    with pytest.raises(OutputClashError, match="which this command reads"):
        check_outputs_apart({"--out": tmp_path}, folders=[corpus])
    with pytest.raises(OutputClashError, match="same place"):
        check_outputs_apart({"-o": tmp_path / "a.png", "--plot": tmp_path / "a.png"})
    # what is allowed: a new file beside the inputs, an output folder inside a walked input folder (left out of
    # the walk), nothing given
    check_outputs_apart({"-o": tmp_path / "d" / "scores.json", "--heatmap": tmp_path / "d" / "heat",
                         "--plot": None}, [tmp_path / "d", image])


@pytest.mark.parametrize("case", ["output", "plot", "walked"])
def test_score_never_writes_over_an_image_it_scores(tmp_path, monkeypatch, no_scoring, case):
    monkeypatch.chdir(tmp_path)
    image = _png(Path("d") / "x.png")
    before = image.read_bytes()
    args = {"output": ("score", "d/x.png", "-o", "d/x.png"), "plot": ("score", "d/x.png", "--plot", "d/x.png"),
            "walked": ("score", "d/", "-o", "d/x.png")}[case]
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert "is also an input" in one_error_line(result)
    assert image.read_bytes() == before


def test_score_leaves_its_own_output_folders_out_of_the_walk(tmp_path, monkeypatch):
    """A heatmap folder inside the scored folder: its heatmaps are never scored (nor deleted while read)."""
    monkeypatch.chdir(tmp_path)
    _png(Path("d") / "x.png")
    for _ in range(2):
        result = invoke("score", "d", "--heatmap", "d/heat", "--overwrite", "-f", "json", "--device", "cpu")
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in Path("d/heat").iterdir()) == ["0001-x.png"]
    result = invoke("score", "d/heat/0001-x.png", "--heatmap", "d/heat", "--overwrite")
    assert result.exit_code == 1 and "holds an input" in one_error_line(result)


def test_bench_never_writes_over_an_image_of_its_folders(tmp_path, monkeypatch, no_scoring):
    monkeypatch.chdir(tmp_path)
    real = _png(Path("r.png"), 1)
    _png(Path("fakes") / "f.png", 2)
    before = real.read_bytes()
    result = invoke("bench", "--real", ".", "--fake", "g=fakes", "-o", "r.png", "-d", "discriminator-digits",
                    "--device", "cpu")
    assert result.exit_code == 1, result.output
    assert "is also an input" in one_error_line(result)
    assert real.read_bytes() == before


def test_folder_outputs_never_hold_or_enter_what_is_read(tmp_path, small_corpus):
    import shutil

    from fakescope.core.checkpoint import bundled_root

    photos = tmp_path / "photos"
    _png(photos / "a.png")
    ckpt = tmp_path / "gen"
    shutil.copytree(bundled_root("fakescope.generators") / "resynth-bilinear-s2", ckpt)
    before = (ckpt / "model.safetensors").read_bytes()
    cases = [
        ("gan", "export", ckpt, "--out", ckpt),
        ("corpus", "import", "--real", photos, "--fake", f"g={photos}", "--out", photos),
        ("corpus", "import", "--real", photos, "--fake", f"g={photos}", "--out", tmp_path),
        ("gan", "translate", "resynth-bilinear-s2", photos / "a.png", "--out", photos, "--device", "cpu"),
        ("train", "spectrum", "--corpus", small_corpus, "--out", small_corpus / "det", "--device", "cpu"),
        ("corpus", "merge", small_corpus, "--out", small_corpus / "merged"),
    ]
    for args in cases:
        result = invoke(*args)
        assert result.exit_code == 1, (args, result.output)
        line = one_error_line(result)
        assert "input" in line or "which this command reads" in line, line
    assert sorted(p.name for p in photos.iterdir()) == ["a.png"]
    assert not (small_corpus / "det").exists() and not (small_corpus / "merged").exists()
    assert (ckpt / "model.safetensors").read_bytes() == before
