"""The re-synthesis family: every up-sampler keeps any input size, learns to reconstruct, leaves its trace, and
round-trips through a checkpoint; the bundled bank loads and is pinned by the realworld recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
import torch
from fakescope.generators.families.resynth import UPSAMPLERS, Autoencoder, ResynthConfig
from fakescope.generators.gan import create_gan, load_gan

from fakescope.core.checkpoint import list_bundled, read_meta, resolve_checkpoint

DATASETS = Path(__file__).resolve().parents[2] / "datasets"


@pytest.mark.parametrize("upsample", UPSAMPLERS)
@pytest.mark.parametrize("stages", [1, 3])
@pytest.mark.parametrize("hw", [(16, 16), (37, 22)])
def test_resynthesis_keeps_any_input_size(upsample, stages, hw):
    gan = create_gan("resynth", upsample=upsample, stages=stages, width=4)
    x = torch.rand(2, 3, *hw) * 2 - 1
    y = gan.resynthesize(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert y.abs().max() <= 1.0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="stages must be 1..4"):
        create_gan("resynth", stages=5)
    with pytest.raises(ValueError, match="unknown upsample 'lanczos'"):
        create_gan("resynth", upsample="lanczos")
    with pytest.raises(ValueError, match="multiple of 8"):
        create_gan("resynth", stages=3, image_size=20)


def test_the_decoder_differs_by_upsampler_only():
    shapes = {}
    for upsample in ("deconv4", "deconv4-blur"):  # the blur adds no parameters
        net = Autoencoder(ResynthConfig(upsample=upsample, width=4))
        shapes[upsample] = [tuple(p.shape) for p in net.parameters()]
    assert shapes["deconv4"] == shapes["deconv4-blur"]
    assert [tuple(p.shape) for p in Autoencoder(ResynthConfig(upsample="pixelshuffle", width=4)).parameters()] != \
        shapes["deconv4"]


def test_training_reduces_the_reconstruction_error():
    torch.manual_seed(0)
    coarse = torch.rand(32, 3, 4, 4) * 2 - 1
    smooth = torch.nn.functional.interpolate(coarse, size=24, mode="bilinear")  # [32, 3, 24, 24]
    gan = create_gan("resynth", image_size=16, width=8, stages=1, batch_size=8, coarse=False, seed=0)
    trainer = gan.make_trainer(smooth, device=torch.device("cpu"), seed=0)
    first = sum(trainer.step(i)["l1"] for i in range(3)) / 3
    for i in range(3, 100):
        trainer.step(i)
    last = sum(trainer.step(i)["l1"] for i in range(100, 103)) / 3
    assert last < 0.5 * first


def test_adversarial_loss_adds_a_critic_and_its_loss():
    gan = create_gan("resynth", image_size=16, width=4, stages=1, batch_size=4, lambda_adv=0.1)
    assert set(gan.nets) == {"G", "D"}
    trainer = gan.make_trainer(torch.rand(8, 3, 16, 16) * 2 - 1, device=torch.device("cpu"), seed=0)
    assert set(trainer.step(0)) == {"l1", "d"} and set(trainer.optimizers()) == {"G", "D"}


def test_checkpoint_round_trip_keeps_the_output(tmp_path):
    gan = create_gan("resynth", upsample="nearest", stages=2, width=4, seed=3)
    gan.save(tmp_path / "ck", meta={"training": {"data": "x"}})
    loaded, meta = load_gan(tmp_path / "ck")
    x = torch.rand(1, 3, 20, 28) * 2 - 1
    assert meta["family"] == "resynth" and loaded.kind == "resynth"
    assert torch.equal(loaded.resynthesize(x), gan.resynthesize(x))


BANK = [name for name in list_bundled("fakescope.generators") if name.startswith("resynth-")]


def test_the_bundled_bank_has_eight_upsampler_variants_under_10_mb():
    assert len(BANK) >= 8
    configs = {(read_meta(resolve_checkpoint(n, "fakescope.generators"))["config"]["upsample"],
                read_meta(resolve_checkpoint(n, "fakescope.generators"))["config"]["stages"]) for n in BANK}
    assert {u for u, _ in configs} == set(UPSAMPLERS)
    size = sum(f.stat().st_size for n in BANK for f in resolve_checkpoint(n, "fakescope.generators").iterdir())
    assert size < 10 * 2**20


@pytest.mark.parametrize("name", BANK)
def test_bundled_resynth_models_reconstruct_and_are_pinned_by_the_realworld_recipe(name):
    gan, meta = load_gan(name)
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 66, 66) * 2 - 1, 3, 1)  # [1, 3, 64, 64], smooth
    y = gan.resynthesize(x)
    assert (y - x).abs().mean() < 0.15  # a reconstruction, not noise
    assert not torch.equal(y, x)
    recipe = tomllib.loads((DATASETS / "realworld.toml").read_text())
    pins = {e["generator"]: e.get("sha256") for e in recipe["fake"]}
    assert pins[name] == meta["sha256"]
