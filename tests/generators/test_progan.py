"""ProGAN: each technique of the paper where a test can fail, and a tiny 4 → 8 px run end to end."""

import json
import math

import numpy as np
import pytest
import torch
from fakescope.generators.corpus import CorpusSpec, build_corpus
from fakescope.generators.families.progan import (
    PRESETS,
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
    ProGANConfig,
)
from fakescope.generators.families.progan_training import drift_penalty, ema_update, gradient_penalty, schedule
from fakescope.generators.gan import create_gan, load_gan
from fakescope.generators.sampling import sample_to_folder
from fakescope.generators.sources import create_source
from fakescope.generators.training import train_gan
from torch import nn
from torch.nn import functional as F
from typer.testing import CliRunner

from fakescope.core.corpus import verify_corpus

pytestmark = pytest.mark.filterwarnings("ignore::fakescope.generators.metrics.UnstableEstimateWarning")

CPU = torch.device("cpu")
TINY = {"image_size": 8, "latent_dim": 16, "fmap_base": 64, "fmap_max": 16, "images_per_phase": 32,
        "batch_sizes": (8,), "checkpoint_images": 16, "metric_images": 0}


def _faces(size: int = 8) -> torch.Tensor:
    return create_source("faces").draw(None, size=size, channels=1, split="train", seed=0).images


def test_growth_fades_in_between_the_old_and_the_new_output():
    gan = create_gan("progan", seed=1, **{**TINY, "image_size": 16})
    G, D = gan.nets["G"], gan.nets["D"]
    z = torch.randn(4, 16)
    with torch.no_grad():
        low = G(z, 1, 1.0)  # [4, 1, 8, 8]
        up = F.interpolate(low, scale_factor=2, mode="nearest")
        assert torch.equal(G(z, 2, 0.0), up)
        conv0, conv1 = G.blocks[1]
        x = F.interpolate(G.features(z, 1), scale_factor=2, mode="nearest")
        new = G.to_rgb[2](G.norm(F.leaky_relu(conv1(G.norm(F.leaky_relu(conv0(x), 0.2))), 0.2)))
        assert torch.allclose(G(z, 2, 1.0), new, atol=1e-6)
        half = G(z, 2, 0.5)
        assert torch.allclose(half, (up + new) / 2, atol=1e-6) and not torch.allclose(half, up)

        img = torch.randn(4, 1, 16, 16)
        assert torch.equal(D(img, 2, 0.0), D(F.avg_pool2d(img, 2), 1, 1.0))  # the old path only
        assert not torch.allclose(D(img, 2, 1.0), D(img, 2, 0.0))


@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
@pytest.mark.parametrize("fan_in", [16, 256])
def test_equalized_lr_scales_weights_at_run_time(gain, fan_in):
    torch.manual_seed(0)
    conv = EqualizedConv2d(fan_in, 64, 3, gain=gain)
    linear = EqualizedLinear(fan_in * 9, 512, gain=gain)
    assert abs(conv.weight.std().item() - 1.0) < 0.05  # stored N(0, 1): every weight learns at one rate
    x = torch.randn(64, fan_in, 12, 12)
    out = conv(x)[:, :, 1:-1, 1:-1]  # away from the zero padding
    assert abs(out.var().item() / gain**2 - 1.0) < 0.15  # He scale: output variance gain² for any fan-in
    assert abs(linear(torch.randn(256, fan_in * 9)).var().item() / gain**2 - 1.0) < 0.15


def test_every_conv_and_linear_uses_equalized_lr():
    gan = create_gan("progan", **TINY)
    for net in gan.nets.values():
        assert not [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert [m for m in net.modules() if isinstance(m, (EqualizedConv2d, EqualizedLinear))]


def test_pixel_norm_gives_unit_mean_square_per_pixel():
    y = PixelNorm()(torch.randn(3, 8, 5, 5) * 7)
    assert torch.allclose(y.pow(2).mean(dim=1), torch.ones(3, 5, 5), atol=1e-4)


def test_minibatch_stddev_appends_one_channel_with_the_group_statistic():
    x = torch.randn(8, 3, 4, 4)
    y = MinibatchStdDev(4)(x)
    assert y.shape == (8, 4, 4, 4) and torch.equal(y[:, :3], x)
    a = x.numpy()
    for i in range(8):  # sample i is in group i mod 2 (4 samples each)
        group = a[i % 2 :: 2]
        expected = np.sqrt(group.var(axis=0) + 1e-8).mean()
        assert np.allclose(y[i, 3].numpy(), expected, atol=1e-5)
    assert not torch.allclose(y[0, 3], y[1, 3])
    assert MinibatchStdDev(4)(torch.randn(6, 2, 4, 4)).shape == (6, 3, 4, 4)  # group size falls back to 3


def test_gradient_penalty_on_functions_with_known_gradients():
    real, fake = torch.randn(5, 2, 3, 3), torch.randn(5, 2, 3, 3)
    mix = torch.rand(5, 1, 1, 1)
    w = torch.randn(2, 3, 3)
    # linear critic: the gradient is w for every sample, norm over all non-batch dimensions
    gp = gradient_penalty(lambda x: (x * w).sum(dim=(1, 2, 3)), real, fake, mix)
    assert torch.allclose(gp, (w.norm() - 1) ** 2)
    # quadratic critic ½‖x‖²: the gradient is x̂ itself, the per-sample interpolate
    gp = gradient_penalty(lambda x: 0.5 * x.pow(2).sum(dim=(1, 2, 3)), real, fake, mix)
    x_hat = real + mix * (fake - real)
    assert torch.allclose(gp, (x_hat.flatten(1).norm(dim=1) - 1).pow(2).mean(), atol=1e-6)
    # it backpropagates into the critic's weights
    scale = torch.tensor(2.0, requires_grad=True)
    gradient_penalty(lambda x: scale * (x * w).sum(dim=(1, 2, 3)), real, fake, mix).backward()
    assert torch.allclose(scale.grad, 2 * (2 * w.norm() - 1) * w.norm())


def test_drift_term_and_its_weight():
    assert drift_penalty(torch.tensor([1.0, -2.0, 3.0])).item() == pytest.approx(14 / 3)
    assert ProGANConfig().drift == 0.001 and ProGANConfig().gp_lambda == 10.0


def test_ema_update():
    torch.manual_seed(0)
    model, ema = nn.Linear(3, 2), nn.Linear(3, 2)
    model.register_buffer("alpha", torch.tensor(0.25))
    ema.register_buffer("alpha", torch.tensor(1.0))
    before = ema.weight.detach().clone()
    ema_update(ema, model, 0.9)
    assert torch.allclose(ema.weight, 0.9 * before + 0.1 * model.weight)
    assert ema.alpha.item() == 0.25  # buffers (the growth state) are copied, not averaged


def test_paper_settings_and_presets():
    cfg = ProGANConfig()
    assert (cfg.lr, cfg.betas, cfg.adam_eps, cfg.ema_beta, cfg.mbstd_group) == (1e-3, (0.0, 0.99), 1e-8, 0.999, 4)
    gpu = ProGANConfig(**PRESETS["gpu"])
    assert [gpu.nf(s) for s in range(7)] == [512, 512, 512, 512, 512, 256, 128]  # min(8192 / 2^s, 512)
    assert gpu.latent_dim == 512 and gpu.image_size >= 128 and gpu.amp
    assert [gpu.batch_size(lv) for lv in range(6)] == [128, 128, 128, 64, 32, 16]
    cpu = create_gan("progan", preset="cpu")
    assert cpu.config.image_size == 32 and cpu.config.channels == 1
    with pytest.raises(ValueError, match="unknown preset 'tpu'.*known: cpu, gpu"):
        create_gan("progan", preset="tpu")
    with pytest.raises(ValueError, match="power of two"):
        create_gan("progan", image_size=24)


def test_schedule_grows_from_4px_with_fade_in_and_stabilising_phases():
    phases = schedule(ProGANConfig(image_size=16, images_per_phase=100, batch_sizes=(32, 16)))
    assert [(p.resolution, p.fade) for p in phases] == [(4, False), (8, True), (8, False), (16, True), (16, False)]
    assert [p.steps for p in phases] == [4, 7, 7, 7, 7]  # ceil(100 / batch)
    assert all(a.end == b.start for a, b in zip(phases, phases[1:], strict=False))


def test_trainer_blends_reals_and_resets_adam_at_a_new_resolution():
    gan = create_gan("progan", **TINY, mirror=False)
    trainer = gan.make_trainer(_faces(), device=CPU, seed=0)
    fade = trainer.phases[1]
    assert trainer.describe(fade.start + 2) == "8px fade-in α=0.50"
    real = trainer.real_batch(fade.start)  # alpha 0: the 4×4 reals, shown at 8×8
    assert real.shape == (8, 1, 8, 8)
    assert torch.allclose(real, F.interpolate(F.avg_pool2d(real, 2), scale_factor=2, mode="nearest"), atol=1e-6)
    for step in range(fade.start):
        trainer.step(step)
    opt = trainer.opt_g
    assert opt.param_groups[0]["lr"] == 1e-3 and opt.param_groups[0]["betas"] == (0.0, 0.99)
    assert max(int(s["step"]) for s in opt.state.values()) == fade.start
    trainer.step(fade.start)
    assert trainer.opt_g is not opt and max(int(s["step"]) for s in trainer.opt_g.state.values()) == 1


def test_killed_mid_fade_in_and_resumed_equals_the_uninterrupted_run(tmp_path):
    data = _faces()[:16]
    full = create_gan("progan", seed=1, **{**TINY, "metric_images": 32})
    train_gan(full, data, tmp_path / "full", seed=5)
    rows = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["resolution"], r["phase"]) for r in rows] == [
        (2, 4, "stabilise"), (4, 4, "stabilise"), (6, 8, "fade-in"), (8, 8, "fade-in"),
        (10, 8, "stabilise"), (12, 8, "stabilise")]
    assert [("FD-random-conv" in r) for r in rows] == [False, True, False, True, False, True]  # at phase ends

    part = create_gan("progan", seed=1, **{**TINY, "metric_images": 32})
    train_gan(part, data, tmp_path / "part", seed=5, stop_after=7)  # killed at step 7, state saved at step 6
    state = torch.load(tmp_path / "part" / "train_state.pt", weights_only=True)
    assert state["step"] == 6 and 0 < state["nets"]["G.alpha"].item() < 1  # in the middle of the fade-in
    resumed = create_gan("progan", seed=99, **{**TINY, "metric_images": 32})
    ckpt = train_gan(resumed, data, tmp_path / "part", seed=5, resume=True)
    for k, v in full.nets.state_dict().items():
        assert torch.equal(v, resumed.nets.state_dict()[k]), k
    assert (tmp_path / "part" / "metrics.jsonl").read_text() == (tmp_path / "full" / "metrics.jsonl").read_text()

    # the exported network is the averaged generator, at full resolution; sampling is deterministic
    gan, meta = load_gan(ckpt)
    assert set(json.loads((ckpt / "config.json").read_text())["config"]) >= {"fmap_base", "images_per_phase"}
    assert torch.equal(gan.nets["G_ema"].dense.weight, full.nets["G_ema"].dense.weight)
    assert not torch.equal(gan.nets["G_ema"].dense.weight, full.nets["G"].dense.weight)
    a = sample_to_folder(gan, tmp_path / "a", count=70, seed=3, batch_size=256)
    b = sample_to_folder(gan, tmp_path / "b", count=10, seed=3, start=60, batch_size=7)
    assert [r["sha256"] for r in a[60:]] == [r["sha256"] for r in b]
    images = gan.generate(torch.randn(4, 16))
    assert images.shape == (4, 1, 8, 8) and images.abs().max() <= 1


def test_checkpoint_saved_mid_training_samples_at_its_resolution(tmp_path):
    gan = create_gan("progan", **{**TINY, "image_size": 16})
    train_gan(gan, _faces(16), tmp_path / "r", seed=0, stop_after=4)  # still at 4×4
    loaded, _ = load_gan(tmp_path / "r" / "checkpoint")
    x = loaded.generate(torch.randn(2, 16))
    assert x.shape == (2, 1, 16, 16)
    assert torch.equal(x, x[:, :, ::4, ::4].repeat_interleave(4, 2).repeat_interleave(4, 3))  # 4×4 upsampled


def test_corpus_from_a_progan_checkpoint(tmp_path):
    gan = create_gan("progan", **TINY)
    ckpt = train_gan(gan, _faces(), tmp_path / "r", seed=0, stop_after=2)
    build_corpus(CorpusSpec(real="faces", generator=str(ckpt), counts={"train": 6, "val": 2, "test": 2}, seed=1),
                 tmp_path / "c")
    assert verify_corpus(tmp_path / "c")["ok"]


def test_cli_train_with_preset_and_overrides(tmp_path):
    from fakescope.cli import app

    runner = CliRunner()
    sets = [x for k, v in TINY.items() if k != "image_size" for x in ("--set", f"{k}={json.dumps(v)}")]
    args = ["gan", "train", "progan", "--data", "faces", "--preset", "cpu", "--size", "8", *sets,
            "--device", "cpu", "--out", str(tmp_path / "run")]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "run" / "checkpoint" / "config.json").read_text())
    assert meta["config"]["image_size"] == 8 and meta["config"]["ema_beta"] == PRESETS["cpu"]["ema_beta"]
    assert meta["training"]["preset"] == "cpu" and "--preset cpu" in meta["training"]["command"]
    exported = tmp_path / "bundle"
    result = runner.invoke(app, ["gan", "export", str(tmp_path / "run" / "checkpoint"), "--out", str(exported)])
    assert result.exit_code == 0, result.output
    bundle = json.loads((exported / "config.json").read_text())
    assert bundle["training"]["command"] == meta["training"]["command"]
    assert bundle["training"]["metrics"]["step"] == meta["training"]["step"] == 12  # the final metrics row
    assert bundle["export"] == {"command": f"fakescope gan export {tmp_path / 'run' / 'checkpoint'} --out {exported}",
                                "half": True}
    assert load_gan(exported)[0].generate(torch.randn(2, 16)).shape == (2, 1, 8, 8)

    bad = runner.invoke(app, ["gan", "train", "progan", "--preset", "tpu", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown preset 'tpu'" in bad.output
    bad = runner.invoke(app, ["gan", "train", "progan", "--epochs", "3", "--out", str(tmp_path / "y")])
    assert bad.exit_code == 2 and "--epochs does not apply to progan" in bad.output
    bad = runner.invoke(app, ["gan", "train", "progan", "--size", "24", "--out", str(tmp_path / "z")])
    assert bad.exit_code == 2 and "power of two" in bad.output
    bad = runner.invoke(app, ["gan", "train", "progan", "--inception-weights", str(tmp_path / "none.pth"),
                              "--out", str(tmp_path / "w")])
    assert bad.exit_code == 2 and "no such Inception weights file" in bad.output


def test_lerp_mixes_dtypes_as_cuda_autocast_produces_them():
    """Under CUDA autocast, nearest up-sampling gives float32 and convolutions bfloat16; the fade-in must mix them
    (a GPU run failed with ``expected dtype float for `end` but got dtype BFloat16`` before)."""
    from fakescope.generators.families.progan_training import lerp

    start = torch.zeros(2, 3, dtype=torch.float32)
    end = torch.ones(2, 3, dtype=torch.bfloat16)
    out = lerp(start, end, 0.25)
    assert out.dtype == torch.float32 and torch.allclose(out, torch.full((2, 3), 0.25))
