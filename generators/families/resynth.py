"""Re-synthesis: Zhang, Karaman and Chang, "Detecting and Simulating Artifacts in GAN Fake Images", WIFS 2019
(reference code: github.com/ColumbiaDVMM/AutoGAN).

A fake need not come from a whole GAN. An encoder–decoder trained to reproduce real photographs, whose decoder
up-samples the way generators do, leaves the generator's up-sampling fingerprint (checkerboard and spectral
peaks) on an image whose *content* is exactly the real photograph's. Pairs of a real image and its
re-synthesis therefore teach a detector the trace and nothing about content. One decoder alone transfers
poorly to other generators (Rajan et al. 2025, aligned datasets), so the bundled bank varies the up-sampler:

- ``deconv3``: transposed conv, kernel 3, stride 2 (uneven overlap: strong checkerboard)
- ``deconv4``: transposed conv, kernel 4, stride 2 (DCGAN, pix2pix, StarGAN, CycleGAN)
- ``deconv4-blur``: transposed conv kernel 4 followed by a fixed [1, 2, 1] blur (StyleGAN2-style)
- ``nearest``: nearest-neighbour ×2 then 3×3 conv (MUNIT, SPADE, the Stable Diffusion / LDM decoders)
- ``bilinear``: bilinear ×2 then 3×3 conv
- ``pixelshuffle``: 3×3 conv to 4× channels then sub-pixel shuffle (ESRGAN-style super-resolution)

with 1 to 4 stages. The networks are fully convolutional with no skip connections: the decoder re-draws every
detail through its up-sampler. Only the coarse colour passes around it (the image averaged over
``2**stages``-pixel cells and bilinearly enlarged, a smooth image with no up-sampling grid of its own): on two CPU
cores this reaches in minutes a reconstruction (L1 ≈ 0.02) that the plain autoencoder does not reach in an
hour, so the fakes differ from their sources in the trace, not in colour or blur. They train with L1 and
optionally a PatchGAN hinge loss, and re-synthesise any image at its own size (reflect-padded to a multiple
of ``2**stages`` and cropped back).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from fakescope.core.seeding import torch_generator

from ..gan import GANS
from ..kinds.resynth import SameSizeImage, run_padded
from ..training import EpochTrainer

UPSAMPLERS = ("deconv3", "deconv4", "deconv4-blur", "nearest", "bilinear", "pixelshuffle")


@dataclass(frozen=True)
class ResynthConfig:
    image_size: int = 64  # side of the square training windows; re-synthesis works at any size
    channels: int = 3  # 1 gray, 3 RGB
    width: int = 16  # channels at full resolution; doubled at each down-sampling stage (at most 4 × width)
    stages: int = 2  # down/up-sampling stages (1..4): the decoder up-samples ×2 this many times
    upsample: str = "deconv4"  # one of UPSAMPLERS: how the decoder up-samples
    lambda_adv: float = 0.0  # weight of the PatchGAN hinge loss against L1 (0: L1 only, no discriminator)
    lr: float = 1e-3  # Adam learning rate (generator and discriminator)
    batch_size: int = 16  # windows per step
    epochs: int = 12  # passes over the drawn training windows
    flip: bool = True  # random horizontal flips of training windows
    coarse: bool = True  # add a fixed coarse path (area mean over 2**stages px, bilinear back up): colours come
    #                      right at once and the decoder learns the detail, where the up-sampling trace lives


class Blur(nn.Module):
    """A fixed, depthwise [1, 2, 1] ⊗ [1, 2, 1] / 16 low-pass filter (StyleGAN2's up-sampling blur)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (k[:, None] * k[None, :] / 16).expand(channels, 1, 3, 3).clone())
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] → same
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.kernel, groups=self.channels)


def upsample_block(cin: int, cout: int, mode: str) -> nn.Sequential:
    """×2 up-sampling ``[N, cin, h, w]`` → ``[N, cout, 2h, 2w]`` by ``mode``, then LeakyReLU."""
    if mode == "deconv3":
        layers: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)]
    elif mode == "deconv4":
        layers = [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)]
    elif mode == "deconv4-blur":
        layers = [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), Blur(cout)]
    elif mode in ("nearest", "bilinear"):
        layers = [nn.Upsample(scale_factor=2, mode=mode), nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect")]
    elif mode == "pixelshuffle":
        layers = [nn.Conv2d(cin, 4 * cout, 3, padding=1, padding_mode="reflect"), nn.PixelShuffle(2)]
    else:
        raise ValueError(f"unknown upsample {mode!r}; expected one of {', '.join(UPSAMPLERS)}")
    return nn.Sequential(*layers, nn.LeakyReLU(0.2))


class Autoencoder(nn.Module):
    """Encoder (stride-2 convs) and decoder (``upsample`` blocks), no skip connections."""

    def __init__(self, cfg: ResynthConfig) -> None:
        super().__init__()
        widths = [min(cfg.width * 2**i, 4 * cfg.width) for i in range(cfg.stages + 1)]
        enc: list[nn.Module] = [nn.Conv2d(cfg.channels, widths[0], 3, padding=1, padding_mode="reflect"),
                                nn.LeakyReLU(0.2)]
        for i in range(cfg.stages):
            enc += [nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1, padding_mode="reflect"),
                    nn.LeakyReLU(0.2),
                    nn.Conv2d(widths[i + 1], widths[i + 1], 3, padding=1, padding_mode="reflect"),
                    nn.LeakyReLU(0.2)]
        dec: list[nn.Module] = []
        for i in reversed(range(cfg.stages)):
            dec += [upsample_block(widths[i + 1], widths[i], cfg.upsample),
                    nn.Conv2d(widths[i], widths[i], 3, padding=1, padding_mode="reflect"), nn.LeakyReLU(0.2)]
        dec += [nn.Conv2d(widths[0], cfg.channels, 3, padding=1, padding_mode="reflect"), nn.Tanh()]
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        self.coarse = 2**cfg.stages if cfg.coarse else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W], sides multiples of 2**stages → same
        out = self.decoder(self.encoder(x))
        if self.coarse:  # [N, C, H / 2**stages, W / 2**stages] → bilinear back to [N, C, H, W]
            low = F.interpolate(F.avg_pool2d(x, self.coarse), scale_factor=self.coarse, mode="bilinear",
                                align_corners=False)
            out = (out + low).clamp(-1.0, 1.0)
        return out


class PatchCritic(nn.Module):
    """A small PatchGAN (three stride-2 convs) scoring each window of an image."""

    def __init__(self, cfg: ResynthConfig) -> None:
        super().__init__()
        w = cfg.width
        self.net = nn.Sequential(
            nn.Conv2d(cfg.channels, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * w, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] → [N, 1, H/8, W/8]
        return self.net(x)


class ResynthTrainer(EpochTrainer):
    """L1 reconstruction of random windows (plus a hinge PatchGAN loss when ``lambda_adv > 0``)."""

    gan: Resynth

    def __init__(self, gan: Resynth, data: torch.Tensor, *, device: torch.device, seed: int) -> None:
        if data.ndim != 4 or data.shape[0] == 0:
            raise ValueError(f"resynth trains on images [N, C, H, W] with N > 0, got {tuple(data.shape)}")
        if min(data.shape[-2:]) < gan.config.image_size:
            raise ValueError(f"resynth crops {gan.config.image_size} px windows; got {min(data.shape[-2:])} px images")
        super().__init__(gan, data, device=device, seed=seed)
        cfg = gan.config
        self.opt_g = torch.optim.Adam(gan.nets["G"].parameters(), lr=cfg.lr, betas=(0.5, 0.999))
        self.opt_d = (torch.optim.Adam(gan.nets["D"].parameters(), lr=cfg.lr, betas=(0.5, 0.999))
                      if cfg.lambda_adv > 0 else None)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g} | ({"D": self.opt_d} if self.opt_d else {})

    def window_batch(self, step: int) -> torch.Tensor:
        """``[B, C, image_size, image_size]``: images drawn with replacement, a random window of each, flipped
        left-right with probability 0.5 (``flip``); seeded by ``(seed, step)``."""
        cfg = self.gan.config
        g = torch_generator(self.seed, "batch", step)
        idx = torch.randint(len(self.data), (cfg.batch_size,), generator=g)
        images = self.data[idx]  # [B, C, H, W]
        h, w = images.shape[-2:]
        ys = torch.randint(h - cfg.image_size + 1, (len(idx),), generator=g).tolist()
        xs = torch.randint(w - cfg.image_size + 1, (len(idx),), generator=g).tolist()
        batch = torch.stack([im[:, y : y + cfg.image_size, x : x + cfg.image_size]
                             for im, y, x in zip(images, ys, xs, strict=True)])
        if cfg.flip:
            flips = torch.rand(len(idx), generator=g) < 0.5
            batch = torch.where(flips[:, None, None, None], batch.flip(-1), batch)
        return batch.to(self.device).float()

    def step(self, step: int) -> dict[str, float]:
        cfg, nets = self.gan.config, self.gan.nets
        real = self.window_batch(step)
        fake = nets["G"](real)
        l1 = F.l1_loss(fake, real)
        losses = {"l1": l1.item()}
        loss_g = l1
        if self.opt_d is not None:
            loss_g = loss_g - cfg.lambda_adv * nets["D"](fake).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        if self.opt_d is not None:
            d_loss = F.relu(1 - nets["D"](real)).mean() + F.relu(1 + nets["D"](fake.detach())).mean()
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            losses["d"] = d_loss.item()
        return losses

    def sample_grid(self) -> torch.Tensor:
        """Eight fixed training windows above their re-synthesis."""
        real = torch.cat([self.window_batch(-1 - i) for i in range(-(-8 // self.gan.config.batch_size))])[:8]
        return torch.cat([real, self.gan.resynthesize(real)])


@GANS.register
class Resynth(SameSizeImage):
    name = "resynth"
    Config = ResynthConfig
    exported = ("G",)

    def build_nets(self) -> nn.ModuleDict:
        cfg = self.config
        if not 1 <= cfg.stages <= 4:
            raise ValueError(f"resynth stages must be 1..4; got {cfg.stages}")
        if cfg.upsample not in UPSAMPLERS:
            raise ValueError(f"unknown upsample {cfg.upsample!r}; expected one of {', '.join(UPSAMPLERS)}")
        if cfg.image_size < 16 or cfg.image_size % 2**cfg.stages:
            raise ValueError(f"resynth image_size must be at least 16 and a multiple of {2**cfg.stages}; "
                             f"got {cfg.image_size}")
        nets = {"G": Autoencoder(cfg)}
        if cfg.lambda_adv > 0:
            nets["D"] = PatchCritic(cfg)
        return nn.ModuleDict(nets)

    def make_trainer(self, data: torch.Tensor, *, device: torch.device, seed: int) -> ResynthTrainer:
        return ResynthTrainer(self, data, device=device, seed=seed)

    @torch.no_grad()
    def resynthesize(self, images: torch.Tensor) -> torch.Tensor:
        """``images [N, C, H, W]`` in [-1, 1], any H and W → their re-synthesis ``[N, C, H, W]`` (eval, no grad).

        Sides that are not a multiple of ``2**stages`` are reflect-padded up to one (bottom and right) and cropped
        back; sides that are pass as they are.
        """
        return run_padded(self.nets["G"], images, multiple=2**self.config.stages, channels=self.config.channels)
