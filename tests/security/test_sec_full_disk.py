"""Issue 31, items 5 and 18: a full disk. `train` printed a 69-line torch traceback (torch.save's
``inline_container.cc``); `corpus import` and `corpus build` said ``[Errno 28] No space left on device`` without
the path. Every command: one ``error:`` line naming the file, nothing half-written left looking whole.

A full disk is simulated where the bytes are written: a file object's ``write`` (or ``Path.write_bytes``) raises
``OSError(ENOSPC)`` without a file name, as ``write(2)`` does."""

from __future__ import annotations

import builtins
import errno
import pathlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sec_helpers import invoke, one_error_line


def enospc() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


class FullFile:
    """A file opened for writing on a full disk: every write fails."""

    def __init__(self, f) -> None:
        self._f = f

    def write(self, data):
        raise enospc()

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(after=N, module=None)``: from the N+1-th file written on, writes fail (``Path.write_bytes``,
    and ``open(..., "w")`` in ``module``)."""

    def fill(after: int = 0, module=None) -> None:
        written = [0]
        write_bytes = pathlib.Path.write_bytes

        def full_write_bytes(self, data):
            written[0] += 1
            if written[0] > after:
                raise enospc()
            return write_bytes(self, data)

        monkeypatch.setattr(pathlib.Path, "write_bytes", full_write_bytes)
        if module is not None:
            def full_open(file, mode="r", *args, **kwargs):
                f = builtins.open(file, mode, *args, **kwargs)
                return FullFile(f) if "w" in mode or "a" in mode else f

            monkeypatch.setattr(module, "open", full_open, raising=False)

    return fill


def test_train_on_a_full_disk_is_one_line_naming_the_state_file(tmp_path, small_corpus, full_disk):
    """The neural families' training state is written by torch.save, which turns the failed write into a
    RuntimeError naming its own source line."""
    import fakescope.core.checkpoint

    full_disk(module=fakescope.core.checkpoint)
    out = tmp_path / "det"
    result = invoke("train", "discriminator", "--corpus", small_corpus, "--out", out, "--epochs", "1",
                    "--device", "cpu")
    assert result.exit_code == 1, result.output
    line = one_error_line(result)
    assert str(out / "train_state.pt") in line and "no space left on device" in line
    assert not list(out.glob(".*.tmp")) and not (out / "train_state.pt").exists()


def test_a_checkpoint_cut_short_is_no_checkpoint(tmp_path, small_corpus, full_disk):
    """`train --overwrite` over a checkpoint, the disk full after the weights: never a folder that still looks
    like a whole checkpoint (the old config.json beside the new weights)."""
    out = tmp_path / "det"
    base = ("train", "spectrum", "--corpus", small_corpus, "--device", "cpu", "--out", out)
    assert invoke(*base).exit_code == 0
    full_disk(after=1)  # model.safetensors is written, config.json is not
    result = invoke(*base, "--overwrite", "--seed", "3")
    assert result.exit_code == 1, result.output
    line = one_error_line(result)
    assert str(out / "config.json") in line and "no space left on device" in line.lower()
    from fakescope.core.checkpoint import is_checkpoint_folder

    assert not is_checkpoint_folder(out, "detector")


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    for name, seed in (("real", 0), ("fake", 1)):
        (tmp_path / name).mkdir()
        for i in range(3):
            pixels = np.random.default_rng(seed * 10 + i).integers(0, 255, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    return tmp_path / "real", tmp_path / "fake"


def test_corpus_import_on_a_full_disk_names_the_file(tmp_path, folders, full_disk):
    real, fake = folders
    out = tmp_path / "c"
    full_disk(after=2)
    result = invoke("corpus", "import", "--real", real, "--fake", f"g={fake}", "--out", out)
    assert result.exit_code == 1, result.output
    line = one_error_line(result)
    assert f"cannot write {out}" in line and line.endswith("no space left on device")
    assert not (out / "corpus.json").exists()


def test_corpus_build_on_a_full_disk_names_the_file(tmp_path, tiny_recipe, full_disk):
    out = tmp_path / "c"
    full_disk(after=3)
    result = invoke("corpus", "build", tiny_recipe, "--out", out, "--device", "cpu", "--workers", "1")
    assert result.exit_code == 1, result.output
    line = one_error_line(result)
    assert f"cannot write {out}" in line and line.endswith("no space left on device")
    from fakescope.core.corpus import verify_corpus

    with pytest.raises(ValueError, match="interrupted build"):  # no manifest: an interrupted build, not a corpus
        verify_corpus(out)


def test_a_sample_cut_short_keeps_no_manifest(tmp_path, full_disk):
    out = tmp_path / "s"
    base = ("gan", "sample", "vanilla-digits", "--device", "cpu", "--out", out)
    assert invoke(*base, "--count", "3").exit_code == 0
    full_disk(after=1)
    result = invoke(*base, "--count", "3", "--seed", "7", "--overwrite")
    assert result.exit_code == 1 and "no space left on device" in one_error_line(result).lower()
    assert not (out / "manifest.jsonl").exists()  # the old manifest no longer describes the images
