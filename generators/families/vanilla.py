"""Vanilla GAN: Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.

The multilayer-perceptron generator and discriminator of the classic reference implementations:
generator ``latent → 128 → 256 → 512 → 1024 → C·H·W`` with LeakyReLU(0.2), BatchNorm1d after every hidden
layer but the first (PyTorch's default eps = 1e-5), and Tanh; discriminator ``C·H·W → 512 → 256 → 1``
with LeakyReLU(0.2). Binary cross-entropy (non-saturating generator loss), Adam(2e-4, betas=(0.5, 0.999)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..gan import GANS
from ..kinds.noise import NoiseToImage
from ..training import EpochTrainer


@dataclass(frozen=True)
class VanillaConfig:
    latent_dim: int = 100  # size of the Gaussian latent vector z
    image_size: int = 32  # generated images are image_size × image_size
    channels: int = 1  # 1 gray, 3 RGB
    g_hidden: tuple[int, ...] = (128, 256, 512, 1024)  # generator hidden widths
    d_hidden: tuple[int, ...] = (512, 256)  # discriminator hidden widths
    lr: float = 2e-4  # Adam learning rate for both networks
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas
    batch_size: int = 64
    epochs: int = 200  # passes over the real images (batches are drawn with replacement)


class Generator(nn.Module):
    def __init__(self, cfg: VanillaConfig) -> None:
        super().__init__()
        self.shape = (cfg.channels, cfg.image_size, cfg.image_size)
        layers: list[nn.Module] = []
        width = cfg.latent_dim
        for i, hidden in enumerate(cfg.g_hidden):
            layers.append(nn.Linear(width, hidden))
            if i > 0:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            width = hidden
        layers += [nn.Linear(width, cfg.channels * cfg.image_size**2), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # [N, latent] → [N, C, H, W]
        return self.net(z).view(z.shape[0], *self.shape)


class Discriminator(nn.Module):
    def __init__(self, cfg: VanillaConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = cfg.channels * cfg.image_size**2
        for hidden in cfg.d_hidden:
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2, inplace=True)]
            width = hidden
        layers.append(nn.Linear(width, 1))  # a logit; the sigmoid lives in the loss
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] → [N]
        return self.net(x.flatten(1)).squeeze(1)


class VanillaTrainer(EpochTrainer):
    gan: VanillaGAN

    def __init__(self, gan: VanillaGAN, data: torch.Tensor, *, device: torch.device, seed: int) -> None:
        super().__init__(gan, data, device=device, seed=seed)
        cfg = gan.config
        self.opt_g = torch.optim.Adam(gan.nets["G"].parameters(), lr=cfg.lr, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(gan.nets["D"].parameters(), lr=cfg.lr, betas=cfg.betas)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def step(self, step: int) -> dict[str, float]:
        G, D = self.gan.nets["G"], self.gan.nets["D"]
        real = self.real_batch(step)  # [B, C, H, W]
        z = self.noise(step, (real.shape[0], self.gan.config.latent_dim))
        fake = G(z)

        d_real, d_fake = D(real), D(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
            F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        d_fake = D(fake)
        loss_g = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}


@GANS.register
class VanillaGAN(NoiseToImage):
    name = "vanilla"
    Config = VanillaConfig

    def build_nets(self) -> nn.ModuleDict:
        return nn.ModuleDict({"G": Generator(self.config), "D": Discriminator(self.config)})

    def make_trainer(self, data: torch.Tensor, *, device: torch.device, seed: int) -> VanillaTrainer:
        return VanillaTrainer(self, data, device=device, seed=seed)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        G = self.nets["G"]
        was_training = G.training
        G.eval()  # running BatchNorm statistics: each image depends on its own latent only
        try:
            return G(z)
        finally:
            G.train(was_training)

