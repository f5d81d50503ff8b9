"""Resumable detector training: a run continued from its saved state ends exactly as an uninterrupted one."""

from __future__ import annotations

import pytest
import torch
from fakescope.detector.base import create_detector
from fakescope.detector.data import load_split
from typer.testing import CliRunner

from fakescope.cli import app


def _fit(corpus, epochs: int, state=None):
    det = create_detector("npr", width=8, batch_size=32, epochs=epochs, patience=5)
    record = det.fit(load_split([corpus], "train"), load_split([corpus], "val"), device=torch.device("cpu"), seed=3,
                     state=state)
    return det, record


def test_resumed_training_equals_uninterrupted(tmp_path, tiny_corpus):
    whole, whole_record = _fit(tiny_corpus, 3)
    state = tmp_path / "train_state.pt"
    _, first = _fit(tiny_corpus, 1, state)  # "killed" after its first epoch: the state file stays
    assert state.is_file() and len(first["history"]) == 1
    resumed, record = _fit(tiny_corpus, 3, state)  # --epochs raised on resume
    assert record["history"] == whole_record["history"] and record["steps"] == whole_record["steps"]
    for k, v in whole.net.state_dict().items():
        assert torch.equal(v, resumed.net.state_dict()[k]), k


def test_a_state_of_another_configuration_is_refused(tmp_path, tiny_corpus):
    state = tmp_path / "train_state.pt"
    _fit(tiny_corpus, 1, state)
    det = create_detector("npr", width=16, batch_size=32, epochs=2)
    with pytest.raises(ValueError, match="another configuration"):
        det.fit(load_split([tiny_corpus], "train"), load_split([tiny_corpus], "val"), device=torch.device("cpu"),
                seed=3, state=state)


def test_cli_resume_needs_a_state_and_an_interrupted_run_needs_resume(tmp_path, tiny_corpus):
    runner = CliRunner()
    args = ["train", "npr", "--corpus", str(tiny_corpus), "--set", "width=8", "--epochs", "1", "--device", "cpu"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "new"), "--resume"])
    assert result.exit_code != 0 and "no interrupted training" in result.output
    # what `fakescope train ... --epochs 1` leaves when killed after its first epoch (CLI defaults: seed 0)
    create_detector("npr", width=8, epochs=1).fit(
        load_split([tiny_corpus], "train"), load_split([tiny_corpus], "val"), device=torch.device("cpu"), seed=0,
        state=tmp_path / "half" / "train_state.pt")
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "half")])
    assert result.exit_code == 1 and "--resume" in result.output
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "half"), "--resume"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "half" / "model.safetensors").is_file() and not (tmp_path / "half" / "train_state.pt").exists()


def test_a_damaged_state_is_a_one_line_error(tmp_path, tiny_corpus):
    state = tmp_path / "train_state.pt"
    _fit(tiny_corpus, 1, state)
    state.write_bytes(state.read_bytes()[:200])  # truncated, as by a full disk
    with pytest.raises(ValueError, match="unreadable or truncated"):
        _fit(tiny_corpus, 2, state)
    torch.save([1, 2], state)  # a file of another kind
    with pytest.raises(ValueError, match="not a training state"):
        _fit(tiny_corpus, 2, state)


def test_a_state_of_other_data_of_the_same_size_is_refused(tmp_path, tiny_corpus):
    state = tmp_path / "train_state.pt"
    _fit(tiny_corpus, 1, state)
    det = create_detector("npr", width=8, batch_size=32, epochs=2, patience=5)
    train = load_split([tiny_corpus], "train")
    train.rows[0] = {**train.rows[0], "sha256": "0" * 64}  # another corpus of the same size: another image
    with pytest.raises(ValueError, match="another configuration"):
        det.fit(train, load_split([tiny_corpus], "val"), device=torch.device("cpu"), seed=3, state=state)
