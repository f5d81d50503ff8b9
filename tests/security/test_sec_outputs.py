"""Items 8, 10, 11 and 12 of issue 16: nothing written where it cannot or must not be, no traceback, nothing left
behind by a failed start, nothing overwritten silently."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sec_helpers import invoke, one_error_line

UNWRITABLE = Path("/proc/fakescope-no-such-folder/out")  # /proc refuses new files, even to root


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


# --- item 10: unwritable output folders, full disks -----------------------------------------------------------

def test_unwritable_outputs_are_one_line_errors_before_any_work(tmp_path, image, small_corpus, monkeypatch):
    """Item 10: gan train, train, score -o, gan sample and demo ended in PermissionError/OSError tracebacks."""
    import fakescope.detector.scoring
    import fakescope.detector.training
    import fakescope.generators.corpus
    import fakescope.generators.sampling
    import fakescope.generators.training

    import fakescope.demo

    def no_work(*args, **kwargs):
        raise AssertionError("the work started before the output was refused")

    for module, name in ((fakescope.generators.training, "train_gan"), (fakescope.detector.training,
                         "train_detector"), (fakescope.detector.scoring, "iter_scores"),
                         (fakescope.generators.sampling, "sample_to_folder"), (fakescope.demo, "run_demo"),
                         (fakescope.generators.corpus, "build_corpus")):
        monkeypatch.setattr(module, name, no_work)
    commands = [
        ("gan", "train", "vanilla", "--out", UNWRITABLE, "--epochs", "1", "--size", "8", "--device", "cpu"),
        ("train", "spectrum", "--corpus", small_corpus, "--out", UNWRITABLE, "--device", "cpu"),
        ("score", image, "-o", "/proc/scores.json"),
        ("gan", "sample", "vanilla-digits", "--count", "2", "--out", UNWRITABLE, "--device", "cpu"),
        ("demo", "--out", UNWRITABLE, "--count", "4", "--device", "cpu"),  # main: --count >= 4
        ("corpus", "build", "--train", "1", "--val", "1", "--test", "1", "--out", UNWRITABLE, "--device", "cpu"),
    ]
    for args in commands:  # the writability check's own message: refused before the work, not after
        result = invoke(*args)
        assert result.exit_code == 1, (args, result.output)
        assert "cannot write" in one_error_line(result) or "not a folder" in one_error_line(result)


def test_a_file_in_the_way_of_the_output_folder_is_a_one_line_error(tmp_path, image):
    (tmp_path / "file").write_text("x")
    result = invoke("gan", "sample", "vanilla-digits", "--count", "2", "--out", tmp_path / "file" / "sub",
                    "--device", "cpu")
    assert result.exit_code == 1 and "not a folder" in one_error_line(result)


def test_a_full_disk_during_the_work_is_a_one_line_error(tmp_path, monkeypatch):
    """Item 10: an OSError in the middle of the work (here: no space left) is one line, exit 1."""
    import fakescope.generators.sampling as sampling

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(sampling, "write_bytes_atomic", full)
    result = invoke("gan", "sample", "vanilla-digits", "--count", "2", "--out", tmp_path / "s", "--device", "cpu")
    assert result.exit_code == 1
    assert "no space left on device" in one_error_line(result).lower()


# --- item 11: gan train options checked before anything is created ----------------------------------------------

@pytest.mark.parametrize("args", [
    ("--count", "0"), ("--count", "-3"), ("--size", "0"), ("--set", "epochs=abc"), ("--epochs", "0"),
    ("--epochs", "-2"), ("--channels", "2"), ("--set", "lr=-1"),
])
def test_bad_gan_train_options_fail_cleanly_and_leave_nothing(tmp_path, args):
    """Item 11: these ended in tracebacks and left options.json behind (or exited 0 without a checkpoint)."""
    out = tmp_path / "run"
    result = invoke("gan", "train", "vanilla", "--out", out, "--device", "cpu", *args)
    assert result.exit_code in (1, 2), result.output
    one_error_line(result)
    assert not out.exists()


def test_bad_resume_states_are_one_line_errors(tmp_path):
    """Item 11: --resume with a missing or invalid options.json or a truncated train_state.pt gave tracebacks."""
    run = tmp_path / "run"
    base = ("gan", "train", "vanilla", "--out", run, "--size", "8", "--epochs", "1", "--device", "cpu",
            "--set", "g_hidden=[16]", "--set", "d_hidden=[16]", "--count", "64")
    assert invoke(*base).exit_code == 0
    state = (run / "train_state.pt").read_bytes()
    options = (run / "options.json").read_text()
    cases = [
        lambda: (run / "options.json").unlink(),
        lambda: (run / "options.json").write_text("{not json"),
        lambda: (run / "options.json").write_text("[1, 2]"),
        lambda: (run / "train_state.pt").write_bytes(state[: len(state) // 2]),
        lambda: (run / "train_state.pt").write_bytes(b""),
    ]
    for damage in cases:
        (run / "train_state.pt").write_bytes(state)
        (run / "options.json").write_text(options)
        damage()
        result = invoke(*base, "--resume")
        assert result.exit_code == 1, result.output
        one_error_line(result)
    (run / "train_state.pt").write_bytes(state)
    (run / "options.json").write_text(options)
    assert invoke(*base, "--resume").exit_code == 0


def test_resume_of_a_folder_without_a_run_is_a_one_line_error(tmp_path):
    result = invoke("gan", "train", "vanilla", "--out", tmp_path / "nothing", "--resume", "--device", "cpu")
    assert result.exit_code == 1 and "no training run" in one_error_line(result)
    assert not (tmp_path / "nothing").exists()


# --- item 12: never overwrite, never write into an unrelated folder ----------------------------------------------

def test_train_refuses_an_unrelated_folder_and_replaces_a_checkpoint_only_with_overwrite(tmp_path, small_corpus):
    """Item 12: `train --out X` overwrote an existing checkpoint and wrote into an unrelated non-empty folder."""
    unrelated = tmp_path / "photos"
    unrelated.mkdir()
    (unrelated / "holiday.jpg").write_bytes(b"precious")
    base = ("train", "spectrum", "--corpus", small_corpus, "--device", "cpu")
    for extra in ((), ("--overwrite",)):
        result = invoke(*base, "--out", unrelated, *extra)
        assert result.exit_code == 1 and "not empty" in one_error_line(result)
        assert sorted(p.name for p in unrelated.iterdir()) == ["holiday.jpg"]
    ckpt = tmp_path / "det"
    assert invoke(*base, "--out", ckpt).exit_code == 0
    before = (ckpt / "config.json").read_text()
    result = invoke(*base, "--out", ckpt)
    assert result.exit_code == 1 and "--overwrite" in one_error_line(result)
    assert (ckpt / "config.json").read_text() == before
    assert invoke(*base, "--out", ckpt, "--overwrite", "--seed", "1").exit_code == 0


def test_gan_sample_refuses_to_overwrite_and_never_writes_into_an_unrelated_folder(tmp_path):
    """Item 12: `gan sample --out` overwrote a previous sample."""
    out = tmp_path / "s"
    base = ("gan", "sample", "vanilla-digits", "--device", "cpu", "--out", out)
    assert invoke(*base, "--count", "3").exit_code == 0
    first = (out / "000000.png").read_bytes()
    result = invoke(*base, "--count", "2", "--seed", "5")
    assert result.exit_code == 1 and "--overwrite" in one_error_line(result)
    assert (out / "000000.png").read_bytes() == first
    assert invoke(*base, "--count", "2", "--seed", "5", "--overwrite").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png", "manifest.jsonl"]
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 2
    (out / "notes.txt").write_text("mine")
    result = invoke(*base, "--count", "2", "--overwrite")
    assert result.exit_code == 1 and "not empty" in one_error_line(result)
    assert (out / "notes.txt").read_text() == "mine"


# --- item 8: absurd recipe counts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("train", [1_000_000_000_000, 20_000_000])
def test_huge_recipe_counts_are_refused_with_an_estimate(tmp_path, tiny_recipe, train):
    """Item 8: counts of 10^12 worked for 77 s and died with a MemoryError; 2×10^7 started writing without an
    estimate. Refused at once with the estimated disk size, unless confirmed with --allow-large."""
    recipe = tmp_path / "huge.toml"
    shutil.copytree(tiny_recipe.parent / "gen", tmp_path / "gen")
    recipe.write_text(tiny_recipe.read_text() + f"counts = {{ train = {train}, val = 3, test = 3 }}\n")  # the fakes
    result = invoke("corpus", "build", recipe, "--out", tmp_path / "c", "--device", "cpu")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "images" in line and ("GB" in line or "TB" in line or "limit" in line)
    assert not (tmp_path / "c").exists()


def test_the_size_check_reports_the_estimate_and_the_confirming_option(tiny_recipe):
    from fakescope.generators.corpus import check_corpus_size
    from fakescope.generators.recipes import load_recipe

    from fakescope.core.corpus import CorpusError

    recipe = load_recipe(tiny_recipe)
    check_corpus_size(recipe, 8, 1, None, limit=100)  # 24 images: fine
    with pytest.raises(CorpusError, match=r"24 images.*--allow-large"):
        check_corpus_size(recipe, 8, 1, None, limit=10)
    check_corpus_size(recipe, 8, 1, None, limit=10, allow_large=True)


def test_another_process_write_probe_is_not_content(tmp_path):
    """Under torchrun every rank checks the same output folder; one rank's short-lived write probe must not make
    the folder look non-empty (or not a previous result) to another."""
    from fakescope.core.safety import WRITE_CHECK_PREFIX, check_output_folder

    out = tmp_path / "out"
    out.mkdir()
    (out / f"{WRITE_CHECK_PREFIX}abc123").write_bytes(b"")  # another rank's probe, caught in the act
    assert check_output_folder(out, what="report") is False
    (out / "index.html").write_text("x")
    assert check_output_folder(out, what="report", overwrite=True, is_previous=lambda p: True) is True
