import json

import pytest
import torch
from fakescope.generators.gan import create_gan, load_gan
from fakescope.generators.sources import create_source
from fakescope.generators.training import RunFolderError, train_gan


def _data():
    return create_source("digits").draw(100, size=8, channels=1, split="train", seed=0).images


def test_run_folder_contents(tmp_path):
    ckpt = train_gan(create_gan("vanilla", image_size=8, epochs=2, batch_size=50), _data(), tmp_path / "r", seed=0)
    run = tmp_path / "r"
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "config.json").is_file()
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-0000002.png", "step-0000004.png"]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    assert json.loads((run / "options.json").read_text())["total_steps"] == 4


def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    full = create_gan("vanilla", image_size=8, epochs=3, batch_size=50, seed=1)
    train_gan(full, _data(), tmp_path / "full", seed=7)

    part = create_gan("vanilla", image_size=8, epochs=3, batch_size=50, seed=1)
    train_gan(part, _data(), tmp_path / "part", seed=7, stop_after=3)  # killed after step 3; state saved at 2
    resumed = create_gan("vanilla", image_size=8, epochs=3, batch_size=50, seed=99)  # fresh process, other init
    train_gan(resumed, _data(), tmp_path / "part", seed=7, resume=True)

    for k, v in full.nets.state_dict().items():
        assert torch.equal(v, resumed.nets.state_dict()[k]), k
    steps = [json.loads(line)["step"] for line in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]


def test_existing_run_needs_resume_and_same_config(tmp_path):
    train_gan(create_gan("vanilla", image_size=8, epochs=1, batch_size=50), _data(), tmp_path / "r", seed=0)
    with pytest.raises(RunFolderError, match="--resume"):
        train_gan(create_gan("vanilla", image_size=8, epochs=1, batch_size=50), _data(), tmp_path / "r", seed=0)
    with pytest.raises(RunFolderError, match=r"different config \(batch_size\); only epochs may change"):
        train_gan(create_gan("vanilla", image_size=8, epochs=5, batch_size=25), _data(), tmp_path / "r",
                  seed=0, resume=True)
    with pytest.raises(RunFolderError, match=r"another seed \(it had seed=0\)"):
        train_gan(create_gan("vanilla", image_size=8, epochs=2, batch_size=50), _data(), tmp_path / "r",
                  seed=7, resume=True)
    with pytest.raises(RunFolderError, match=r"another count, data \(it had count=None, data=None\)"):
        train_gan(create_gan("vanilla", image_size=8, epochs=2, batch_size=50), _data(), tmp_path / "r",
                  seed=0, resume=True, options={"data": "faces", "count": 70})
    train_gan(create_gan("vanilla", image_size=8, epochs=2, batch_size=50), _data(), tmp_path / "r",
              seed=0, resume=True)  # extending works (below); from 2 epochs back to 1 does not
    with pytest.raises(RunFolderError, match="extended, not shortened"):
        train_gan(create_gan("vanilla", image_size=8, epochs=1, batch_size=50), _data(), tmp_path / "r",
                  seed=0, resume=True)


def test_a_resumed_run_writes_nothing_through_a_symbolic_link(tmp_path):
    train_gan(create_gan("vanilla", image_size=8, epochs=2, batch_size=50), _data(), tmp_path / "r", seed=0,
              stop_after=3)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for p in (tmp_path / "r" / "samples").iterdir():
        p.rename(elsewhere / p.name)
    (tmp_path / "r" / "samples").rmdir()
    (tmp_path / "r" / "samples").symlink_to(elsewhere)
    before = sorted(p.name for p in elsewhere.iterdir())
    with pytest.raises(RunFolderError, match="samples: a symbolic link in the run folder"):
        train_gan(create_gan("vanilla", image_size=8, epochs=2, batch_size=50), _data(), tmp_path / "r", seed=0,
                  resume=True)
    assert sorted(p.name for p in elsewhere.iterdir()) == before


def test_metrics_rows_a_kill_left_behind_are_dropped_on_resume(tmp_path):
    """A kill after a metrics row but before the state it belongs to, and a row cut short by a kill: the resumed
    run's metrics are those of an uninterrupted run."""
    train_gan(create_gan("vanilla", image_size=8, epochs=2, batch_size=50), _data(), tmp_path / "full", seed=0)
    run = tmp_path / "r"
    train_gan(create_gan("vanilla", image_size=8, epochs=2, batch_size=50), _data(), run, seed=0, stop_after=1)
    (run / "metrics.jsonl").write_text('{"step": 2, "loss_d": 0.5}\n{"step": 4, "lo')  # no state was saved
    train_gan(create_gan("vanilla", image_size=8, epochs=2, batch_size=50), _data(), run, seed=0, resume=True)
    assert (run / "metrics.jsonl").read_text() == (tmp_path / "full" / "metrics.jsonl").read_text()


def test_a_finished_run_extended_trains_exactly_the_added_epochs(tmp_path):
    """A 1-epoch run resumed with 2 epochs trains one more epoch: the same networks as a 2-epoch run."""
    train_gan(create_gan("vanilla", image_size=8, epochs=1, batch_size=50, seed=1), _data(), tmp_path / "r", seed=0)
    extended = create_gan("vanilla", image_size=8, epochs=2, batch_size=50, seed=2)
    train_gan(extended, _data(), tmp_path / "r", seed=0, resume=True)
    full = create_gan("vanilla", image_size=8, epochs=2, batch_size=50, seed=1)
    train_gan(full, _data(), tmp_path / "full", seed=0)
    def steps_of(run):
        return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]

    steps = steps_of(tmp_path / "r")
    assert steps == steps_of(tmp_path / "full")
    assert len(steps) == 2 and steps[1] == 2 * steps[0]
    for k, v in full.nets.state_dict().items():
        assert torch.equal(v, extended.nets.state_dict()[k]), k
    options = json.loads((tmp_path / "r" / "options.json").read_text())
    assert options["config"]["epochs"] == 2 and options["extended_from"] == [{"total_steps": steps[0], "epochs": 1}]


@pytest.mark.parametrize("half", [False, True])
def test_checkpoint_round_trip(tmp_path, half):
    gan = create_gan("vanilla", image_size=8, seed=3)
    gan.nets.eval()
    digest = gan.save(tmp_path / "ck", half=half)
    loaded, meta = load_gan(tmp_path / "ck")
    assert meta["sha256"] == digest and meta["family"] == "vanilla"
    assert loaded.config == gan.config
    z = torch.randn(4, 100)
    tol = 2e-2 if half else 0.0
    assert (loaded.generate(z) - gan.generate(z)).abs().max() <= tol


def test_tampered_checkpoint_is_refused(tmp_path):
    from fakescope.core.checkpoint import CheckpointError

    create_gan("vanilla", image_size=8).save(tmp_path / "ck")
    weights = tmp_path / "ck" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        load_gan(tmp_path / "ck")


def test_malformed_weights_with_a_matching_hash_are_refused_clearly(tmp_path):
    from fakescope.core.checkpoint import CheckpointError, read_meta
    from fakescope.core.imageio import sha256_bytes

    create_gan("vanilla", image_size=8).save(tmp_path / "ck")
    garbage = b"not a safetensors file"
    (tmp_path / "ck" / "model.safetensors").write_bytes(garbage)
    meta = read_meta(tmp_path / "ck")
    meta["sha256"] = sha256_bytes(garbage)
    (tmp_path / "ck" / "config.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "path"}))
    with pytest.raises(CheckpointError, match="is not a readable safetensors file"):
        load_gan(tmp_path / "ck")


def test_progress_is_told_each_step_in_the_one_progress_signature(tmp_path):
    """``fakescope.core.progress.Progress``: the CLI passes its progress bar's update as it is."""
    calls = []

    def progress(advance: int = 0, *, completed: int | None = None, total: int | None = None,
                 description: str | None = None) -> None:
        calls.append((advance, completed, total, description))

    train_gan(create_gan("vanilla", image_size=8, epochs=2, batch_size=50), _data(), tmp_path / "r", seed=0,
              progress=progress)
    assert [c[1:3] for c in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(c[0] == 0 and c[3].startswith("vanilla ") and "loss_d=" in c[3] for c in calls)


def test_inception_weights_only_for_families_with_quality_metrics(tmp_path):
    with pytest.raises(ValueError, match="does not apply to vanilla"):
        train_gan(create_gan("vanilla", image_size=8, epochs=1, batch_size=50), _data(), tmp_path / "r",
                  inception_weights=tmp_path / "pt_inception.pth")


def test_gradient_averaging_reaches_optimizers_made_during_a_step(monkeypatch):
    """Under torchrun every optimizer step averages gradients over ranks first — also one that a family creates
    inside its step (ProGAN's new optimizers at each fade-in), which a per-optimizer hook made earlier missed."""
    from types import SimpleNamespace

    from fakescope.generators import training

    from fakescope.core import distributed

    seen = []
    monkeypatch.setattr(distributed, "average_gradients", lambda params, weight: seen.append((len(params), weight)))
    trainer = SimpleNamespace(_weight=3.0)
    handle = training._average_before_steps(trainer)
    try:
        net = torch.nn.Linear(2, 1)
        opt = torch.optim.Adam(net.parameters())  # made after the hook, as inside a step
        net(torch.ones(1, 2)).sum().backward()
        opt.step()
    finally:
        handle.remove()
    assert seen == [(2, 3.0)]
    opt.step()  # removed: training is over
    assert len(seen) == 1
