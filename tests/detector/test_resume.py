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


def test_the_learning_rate_schedules():
    from fakescope.detector.neural import NeuralConfig, learning_rate

    constant, cosine = NeuralConfig(lr=1e-3), NeuralConfig(lr=1e-3, lr_schedule="cosine")
    assert [learning_rate(constant, s, 10) for s in (0, 5, 10)] == [1e-3] * 3
    assert [learning_rate(cosine, s, 10) for s in (0, 5, 10)] == pytest.approx([1e-3, 5e-4, 0.0])
    assert learning_rate(cosine, 2, 10) > learning_rate(cosine, 3, 10)  # decreasing
    with pytest.raises(ValueError, match="lr_schedule 'step': expected one of constant, cosine"):
        NeuralConfig(lr_schedule="step")


class _Killed(Exception):
    pass


def test_cosine_training_is_another_run_and_resumes_exactly(tmp_path, tiny_corpus):
    train, val = load_split([tiny_corpus], "train"), load_split([tiny_corpus], "val")

    def fit(schedule, state=None, progress=None):
        det = create_detector("npr", width=8, batch_size=32, epochs=3, patience=5, lr=1e-3, lr_schedule=schedule)
        return det, det.fit(train, val, device=torch.device("cpu"), seed=3, state=state, progress=progress)

    whole, record = fit("cosine")
    constant, _ = fit("constant")
    assert any(not torch.equal(v, constant.net.state_dict()[k]) for k, v in whole.net.state_dict().items())
    steps_per_epoch = record["steps"] // 3

    def kill_in_second_epoch(completed, **_):
        if completed > steps_per_epoch:
            raise _Killed

    state = tmp_path / "train_state.pt"
    with pytest.raises(_Killed):
        fit("cosine", state, kill_in_second_epoch)
    resumed, again = fit("cosine", state)
    assert again["history"] == record["history"] and again["steps"] == record["steps"]
    for k, v in whole.net.state_dict().items():
        assert torch.equal(v, resumed.net.state_dict()[k]), k


@pytest.mark.parametrize("family", ["npr", "timm:resnet18", "discriminator"])
def test_an_unknown_schedule_is_refused_with_the_settings(family):
    with pytest.raises(ValueError, match="lr_schedule 'linear': expected one of constant, cosine"):
        create_detector(family, lr_schedule="linear")


def test_a_state_saved_before_schedules_existed_still_resumes(tiny_corpus):
    # the key of a constant schedule is the key as it was computed before the setting existed (no lr_schedule in
    # the config), so such states are continued; another schedule is another configuration
    import dataclasses

    from fakescope.detector.neural import _content_digest

    from fakescope.core.safety import config_digest

    det = create_detector("npr", width=8)
    train, val = load_split([tiny_corpus], "train"), load_split([tiny_corpus], "val")
    before = {k: v for k, v in dataclasses.asdict(det.config).items() if k not in ("epochs", "lr_schedule")}
    old_key = config_digest({"family": "npr", "config": before, "seed": 3, "init": "None",
                             "train": _content_digest(train), "val": _content_digest(val)})
    assert det._state_key(train, val, 3) == old_key
    assert create_detector("npr", width=8, lr_schedule="cosine")._state_key(train, val, 3) != old_key
