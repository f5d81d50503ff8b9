import torch
from fakescope.generators.gan import create_gan
from fakescope.generators.sources import create_source
from fakescope.generators.training import train_gan
from torch import nn


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def test_generator_follows_the_classic_architecture():
    gan = create_gan("vanilla", image_size=28, channels=1)
    G, D = gan.nets["G"], gan.nets["D"]
    assert [(m.in_features, m.out_features) for m in _linears(G)] == [
        (100, 128), (128, 256), (256, 512), (512, 1024), (1024, 784)]
    norms = [m for m in G.modules() if isinstance(m, nn.BatchNorm1d)]
    assert [m.num_features for m in norms] == [256, 512, 1024]
    assert all(m.eps == 1e-5 for m in norms)  # PyTorch's default, not the 0.8 of a widely copied script
    assert all(m.negative_slope == 0.2 for m in G.modules() if isinstance(m, nn.LeakyReLU))
    assert isinstance(list(G.modules())[-1], nn.Tanh)
    assert [(m.in_features, m.out_features) for m in _linears(D)] == [(784, 512), (512, 256), (256, 1)]


def test_shapes_and_output_range():
    gan = create_gan("vanilla", image_size=16, channels=3)
    z = torch.randn(5, 100)
    x = gan.generate(z)
    assert x.shape == (5, 3, 16, 16)
    assert x.min() >= -1 and x.max() <= 1
    assert gan.nets["D"](x).shape == (5,)


def test_optimizers_use_the_paper_settings():
    gan = create_gan("vanilla", image_size=8)
    trainer = gan.make_trainer(torch.zeros(4, 1, 8, 8), device=torch.device("cpu"), seed=0)
    for opt in trainer.optimizers().values():
        group = opt.param_groups[0]
        assert group["lr"] == 2e-4 and group["betas"] == (0.5, 0.999)


def test_one_training_step_changes_both_networks(tmp_path):
    gan = create_gan("vanilla", image_size=8, batch_size=16)
    before = {k: v.clone() for k, v in gan.nets.state_dict().items()}
    data = create_source("digits").draw(32, size=8, channels=1, split="train").images
    losses = gan.make_trainer(data, device=torch.device("cpu"), seed=0).step(0)
    assert set(losses) == {"loss_d", "loss_g"} and all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    after = gan.nets.state_dict()
    for net in ("G", "D"):
        changed = [k for k in before if k.startswith(net + ".") and not torch.equal(before[k], after[k])]
        assert changed, f"{net} did not change"


def test_training_brings_the_generator_close_to_an_easy_target(tmp_path):
    """A constant target image: after a short run the generator gets close to it."""
    target = torch.full((64, 1, 8, 8), 0.5)
    target[:, :, :4] = -0.5
    gan = create_gan("vanilla", image_size=8, epochs=60, batch_size=64, seed=0)
    train_gan(gan, target, tmp_path / "run", seed=0)
    samples = gan.generate(torch.randn(32, 100))
    assert (samples - target[:32]).abs().mean() < 0.25
