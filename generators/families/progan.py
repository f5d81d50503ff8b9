"""Progressive GAN: Karras, Aila, Laine and Lehtinen, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation", ICLR 2018 (reference code: github.com/tkarras/progressive_growing_of_gans).

The paper's method, kept here:

- Growth from 4×4, doubling up to ``image_size``. Each new resolution first fades in (alpha rising linearly
  from 0 to 1 over ``images_per_phase`` real images), then stabilises for as many images. While it fades in,
  the generator's output is ``lerp(upsample(toRGB_low(x)), toRGB_new(block(x)), alpha)``, the discriminator's
  input path is blended the same way, and the real images shown to the discriminator are blended between
  their current and their half resolution (so real and fake look alike at every alpha).
- Equalized learning rate: weights drawn from N(0, 1) and scaled at run time by the He constant
  ``gain / sqrt(fan_in)``, on every convolution and linear layer.
- Pixelwise feature normalization after every generator convolution (and on the latent).
- Minibatch standard deviation (group size 4) as an extra feature map before the discriminator's last block.
- WGAN-GP loss, λ = 10, with the drift term 0.001·D(real)²; one discriminator step per generator step.
- Adam(lr 1e-3, betas (0, 0.99), eps 1e-8); the optimizer state is reset when a new resolution starts.
- An exponential moving average of the generator weights (beta 0.999) is the network that samples.
- Channels per stage ``min(fmap_base / 2**stage, fmap_max)``, stage 1 being 4×4.

Nearest-neighbour upsampling and 2×2 average pooling, as in the paper. Horizontal-flip augmentation of the
reals (``mirror``) is the reference code's ``mirror_augment``. The generator carries its growth state (current
resolution and alpha) as buffers, so a checkpoint saved mid-training samples at the resolution it reached
(upsampled to ``image_size``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from fakescope.core import distributed

from ..gan import GANS
from ..kinds.noise import NoiseToImage
from .progan_training import ProGANTrainer, lerp


@dataclass(frozen=True)
class ProGANConfig:
    image_size: int = 32  # final resolution, a power of two ≥ 4; growth starts at 4×4
    channels: int = 1  # 1 gray, 3 RGB
    latent_dim: int = 128  # size of the Gaussian latent (paper: 512)
    fmap_base: int = 256  # channels at stage s (4×4 is stage 1): min(fmap_base / 2**s, fmap_max) (paper: 8192)
    fmap_max: int = 64  # (paper: 512)
    images_per_phase: int = 20_000  # real images shown per fade-in and per stabilising phase (paper: 800k)
    batch_sizes: tuple[int, ...] = (16,)  # minibatch at 4×4, 8×8, 16×16, ...; the last value repeats
    lr: float = 1e-3  # Adam learning rate, both networks
    betas: tuple[float, float] = (0.0, 0.99)  # Adam betas
    adam_eps: float = 1e-8  # Adam epsilon
    gp_lambda: float = 10.0  # WGAN-GP weight λ (target gradient norm 1)
    drift: float = 0.001  # ε_drift: weight of D(real)² that keeps the critic's output near zero
    ema_beta: float = 0.999  # generator weight averaging per step (the sampling network)
    mbstd_group: int = 4  # minibatch standard deviation group size (0 disables the layer)
    mirror: bool = True  # flip each real image horizontally with probability 1/2
    amp: bool = False  # bfloat16 autocast on CUDA (mixed precision); ignored on the CPU
    checkpoint_images: int = 4_000  # also checkpoint every this many images inside a phase (phase ends always)
    metric_images: int = 1_000  # generated images for the quality metrics at each phase end (0: none)

    def __post_init__(self) -> None:
        if self.image_size < 4 or self.image_size & (self.image_size - 1):
            raise ValueError(f"progan image_size must be a power of two ≥ 4, got {self.image_size}")
        if self.channels not in (1, 3):
            raise ValueError(f"progan channels must be 1 or 3, got {self.channels}")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError(f"progan batch_sizes must be positive, got {self.batch_sizes}")
        if self.images_per_phase < 1:
            raise ValueError(f"progan images_per_phase must be positive, got {self.images_per_phase}")

    @property
    def levels(self) -> int:
        """Number of resolutions: 4, 8, ..., image_size."""
        return int(math.log2(self.image_size)) - 1

    def nf(self, stage: int) -> int:
        """Channels at ``stage`` (stage 1 = 4×4, stage s = 2**(s+1) px; stage 0 is the latent/dense width)."""
        return min(self.fmap_base // 2**stage, self.fmap_max)

    def batch_size(self, level: int) -> int:
        return self.batch_sizes[min(level, len(self.batch_sizes) - 1)]


#: Named config overrides (``--preset``).
PRESETS: dict[str, dict[str, Any]] = {
    # the bundled progan-faces model: 32×32 gray, 140k images, ~20 minutes of one CPU thread (35 min wall clock
    # on a busy machine); one 32 px step of fmap_base 1024 / fmap_max 128 networks costs ~4× more here. The
    # paper's EMA beta 0.999 averages over ~1,000 steps, 2% of its 50k-step phases; these phases have 1,250
    # steps, so the averaging window is shortened to ~100 steps.
    "cpu": {"image_size": 32, "channels": 1, "latent_dim": 128, "fmap_base": 256, "fmap_max": 64,
            "images_per_phase": 20_000, "batch_sizes": (16,), "ema_beta": 0.99, "amp": False,
            "checkpoint_images": 4_000, "metric_images": 1_000},
    # the paper's networks at 128 px (use --set image_size=256 for the next step), per-resolution batches
    "gpu": {"image_size": 128, "channels": 3, "latent_dim": 512, "fmap_base": 8192, "fmap_max": 512,
            "images_per_phase": 800_000, "batch_sizes": (128, 128, 128, 64, 32, 16, 8, 4), "amp": True,
            "checkpoint_images": 100_000, "metric_images": 10_000},
}


# --- layers ----------------------------------------------------------------------------------------------


class EqualizedConv2d(nn.Module):
    """A convolution whose weights are N(0, 1) and scaled at run time by ``gain / sqrt(fan_in)``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.scale = gain / math.sqrt(in_ch * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, in, H, W] → [N, out, H, W]
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """A linear layer with the same run-time He scaling."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, in] → [N, out]
        return F.linear(x, self.weight * self.scale, self.bias)


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit average square: ``x / sqrt(mean_c(x²) + 1e-8)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, ...]
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStdDev(nn.Module):
    """Append one feature map: the standard deviation of each feature over a group of samples, averaged.

    The batch is split into groups of ``group_size`` (sample ``i`` in group ``i mod M``, as in the reference
    code); the largest group size ≤ ``group_size`` that divides the batch is used. Training under torchrun, the
    batch is the global one (every rank's slice, gathered differentiably): the groups and the statistic are those
    one process would form, and each rank keeps its slice of the map.
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] → [N, C + 1, H, W]
        if self.training and distributed.current().active:
            full, start, stop = distributed.gather_batch(x)  # [N_global, C, H, W]
            return torch.cat([x, self.stddev_map(full)[start:stop]], dim=1)
        return torch.cat([x, self.stddev_map(x)], dim=1)

    def stddev_map(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] → [N, 1, H, W]
        n, c, h, w = x.shape
        g = next(k for k in range(min(self.group_size, n), 0, -1) if n % k == 0)
        y = x.float().reshape(g, -1, c, h, w)  # [G, M, C, H, W]
        y = (y - y.mean(dim=0)).pow(2).mean(dim=0).add(1e-8).sqrt()  # [M, C, H, W] stddev over the group
        y = y.mean(dim=(1, 2, 3)).to(x.dtype)  # [M]
        return y.repeat(g).reshape(n, 1, 1, 1).expand(n, 1, h, w)  # [N, 1, H, W]


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


# --- networks ----------------------------------------------------------------------------------------------


class Generator(nn.Module):
    """latent ``[N, latent_dim]`` → image ``[N, C, 4·2^level, 4·2^level]`` (linear output, no tanh)."""

    def __init__(self, cfg: ProGANConfig) -> None:
        super().__init__()
        self.latent_dim, nf = cfg.latent_dim, cfg.nf
        self.norm = PixelNorm()
        # 4×4: dense latent → nf(1)·16 (gain √2/4 as in the reference code), then a 3×3 conv
        self.dense = EqualizedLinear(cfg.latent_dim, nf(1) * 16, gain=math.sqrt(2) / 4)
        self.conv4 = EqualizedConv2d(nf(1), nf(1), 3)
        # 8×8 and up: nearest ×2, then two 3×3 convs (stage s → s+1)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(nf(s), nf(s + 1), 3), EqualizedConv2d(nf(s + 1), nf(s + 1), 3)])
            for s in range(1, cfg.levels)
        )
        self.to_rgb = nn.ModuleList(EqualizedConv2d(nf(s + 1), cfg.channels, 1, gain=1.0) for s in range(cfg.levels))
        # growth state, saved with the weights: the resolution level and fade-in alpha this network samples at
        self.register_buffer("level", torch.tensor(cfg.levels - 1))
        self.register_buffer("alpha", torch.tensor(1.0))

    def features(self, z: torch.Tensor, level: int) -> torch.Tensor:
        """Feature maps at ``level`` (0: 4×4) before toRGB: ``[N, nf, 4·2^level, 4·2^level]``."""
        x = self.dense(self.norm(z)).view(z.shape[0], -1, 4, 4)
        x = self.norm(_act(x))
        x = self.norm(_act(self.conv4(x)))
        for conv0, conv1 in self.blocks[:level]:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.norm(_act(conv0(x)))
            x = self.norm(_act(conv1(x)))
        return x

    def forward(self, z: torch.Tensor, level: int | None = None, alpha: float | None = None) -> torch.Tensor:
        level = int(self.level) if level is None else level
        alpha = float(self.alpha) if alpha is None else alpha
        if level == 0 or alpha >= 1.0:
            return self.to_rgb[level](self.features(z, level))
        x = self.features(z, level - 1)  # [N, nf, r/2, r/2]
        old = F.interpolate(self.to_rgb[level - 1](x), scale_factor=2, mode="nearest")  # [N, C, r, r]
        conv0, conv1 = self.blocks[level - 1]
        y = self.norm(_act(conv0(F.interpolate(x, scale_factor=2, mode="nearest"))))
        new = self.to_rgb[level](self.norm(_act(conv1(y))))  # [N, C, r, r]
        return lerp(old, new, alpha)


class Discriminator(nn.Module):
    """image ``[N, C, 4·2^level, 4·2^level]`` → critic score ``[N]``."""

    def __init__(self, cfg: ProGANConfig) -> None:
        super().__init__()
        nf = cfg.nf
        self.from_rgb = nn.ModuleList(EqualizedConv2d(cfg.channels, nf(s + 1), 1) for s in range(cfg.levels))
        # 8×8 and up (index level-1): 3×3 conv nf(s+1) → nf(s+1), 3×3 conv nf(s+1) → nf(s), 2×2 average pool
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(nf(s + 1), nf(s + 1), 3), EqualizedConv2d(nf(s + 1), nf(s), 3)])
            for s in range(1, cfg.levels)
        )
        # 4×4: minibatch stddev, 3×3 conv, dense nf(1)·16 → nf(0), dense → 1 (gain 1)
        self.mbstd = MinibatchStdDev(cfg.mbstd_group) if cfg.mbstd_group > 0 else None
        extra = 1 if self.mbstd is not None else 0
        self.conv4 = EqualizedConv2d(nf(1) + extra, nf(1), 3)
        self.dense0 = EqualizedLinear(nf(1) * 16, nf(0))
        self.dense1 = EqualizedLinear(nf(0), 1, gain=1.0)

    def _block(self, level: int, x: torch.Tensor) -> torch.Tensor:  # [N, nf(l+2), r, r] → [N, nf(l+1), r/2, r/2]
        conv0, conv1 = self.blocks[level - 1]
        return F.avg_pool2d(_act(conv1(_act(conv0(x)))), 2)

    def forward(self, img: torch.Tensor, level: int, alpha: float = 1.0) -> torch.Tensor:
        x = _act(self.from_rgb[level](img))
        if level > 0:
            x = self._block(level, x)
            if alpha < 1.0:
                old = _act(self.from_rgb[level - 1](F.avg_pool2d(img, 2)))
                x = lerp(old, x, alpha)
            for lv in range(level - 1, 0, -1):
                x = self._block(lv, x)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = _act(self.conv4(x))  # [N, nf(1), 4, 4]
        x = _act(self.dense0(x.flatten(1)))
        return self.dense1(x).squeeze(1)


@GANS.register
class ProGAN(NoiseToImage):
    name = "progan"
    Config = ProGANConfig
    exported = ("G_ema",)
    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS
    quality_metrics = True

    def build_nets(self) -> nn.ModuleDict:
        G = Generator(self.config)
        return nn.ModuleDict({"G": G, "D": Discriminator(self.config), "G_ema": copy.deepcopy(G)})

    def make_trainer(self, data: torch.Tensor, *, device: torch.device, seed: int) -> ProGANTrainer:
        if data.shape[-1] != self.config.image_size or data.shape[-2] != self.config.image_size:
            raise ValueError(f"progan needs real images of {self.config.image_size}×{self.config.image_size}, "
                             f"got {tuple(data.shape[-2:])}")
        return ProGANTrainer(self, data, device=device, seed=seed)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """``z [N, latent]`` → ``[N, C, image_size, image_size]`` in [-1, 1] from the averaged generator."""
        x = self.nets["G_ema"](z)  # at its saved growth state
        if x.shape[-1] != self.config.image_size:
            x = F.interpolate(x, size=self.config.image_size, mode="nearest")
        return x.float().clamp(-1.0, 1.0)
