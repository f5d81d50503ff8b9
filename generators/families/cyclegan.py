"""CycleGAN: Zhu, Park, Isola and Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", ICCV 2017 (reference code: github.com/junyanz/pytorch-CycleGAN-and-pix2pix).

Two generators translate between unpaired image domains A and B (``G_ab: A → B``, ``G_ba: B → A``) and two
discriminators tell real from translated images in each domain (``D_a`` judges A images, ``D_b`` B images).
The reference recipe, kept here:

- ResNet generators: 7×7 reflection-padded conv, two stride-2 downsampling convs, N residual blocks, two ×2
  upsampling stages, 7×7 conv, Tanh. Upsampling by transposed conv (the reference) or, as an option, by
  nearest-neighbour resize then conv (Odena et al., "Deconvolution and Checkerboard Artifacts", 2016), which
  leaves fewer checkerboard artifacts. The choice changes the forensic fingerprint and is saved in the config.
- Instance norm (no affine parameters, no running statistics: each image is normalised by itself).
- 70×70 PatchGAN discriminators (three stride-2 layers), least-squares (LSGAN) loss.
- An image pool of 50 generated images per discriminator, cycle loss λ = 10 both ways, identity loss 0.5·λ.
- Adam(2e-4, betas=(0.5, 0.999)); constant learning rate for the first half, then linear decay to zero.
- Weights initialised from N(0, 0.02), biases zero.

Images have sides that are multiples of 4 inside the networks; :meth:`CycleGAN.translate` reflect-pads any
other size and crops the result back, so translations keep the input's size and are never stretched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from ..gan import GANS
from ..kinds.image import DIRECTIONS, ImageToImage
from .cyclegan_training import CycleGANTrainer

UPSAMPLING = ("deconv", "resize")


@dataclass(frozen=True)
class CycleGANConfig:
    image_size: int = 64  # side of the square training crops; translation works at any size
    load_size: int = 0  # training images are drawn at this side and randomly cropped to image_size at each
    #                     step (reference: 286 → 256); 0: drawn at image_size, no cropping
    channels: int = 3  # 1 gray, 3 RGB (both domains)
    ngf: int = 32  # generator width after the first conv (reference: 64)
    ndf: int = 32  # discriminator width of the first layer (reference: 64)
    n_blocks: int = 6  # residual blocks (reference: 6 at 128 px, 9 at 256 px)
    upsample: str = "deconv"  # "deconv": transposed conv (reference); "resize": nearest ×2 then 3×3 conv
    d_layers: int = 3  # stride-2 layers of the PatchGAN discriminator (3: 70×70 receptive field)
    lambda_cycle: float = 10.0  # weight of the L1 cycle loss, both ways
    lambda_identity: float = 0.5  # identity loss weight as a fraction of lambda_cycle (0 disables it)
    pool_size: int = 50  # generated images kept per discriminator (0: no pool)
    lr: float = 2e-4  # Adam learning rate for all four networks
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas
    batch_size: int = 1  # images per domain per step (reference: 1)
    flip: bool = True  # random horizontal flips of training images (the reference's default augmentation)
    channel_shuffle: bool = False  # randomly permute the RGB channels of training images (more colours for
    #                                domains of a few photographs; tried on photos↔paintings, it washed colours out)
    epochs: int = 200  # passes over the larger domain (reference: 100 constant + 100 decaying)
    decay_start: float = 0.5  # fraction of training after which the learning rate decays linearly to zero
    init_std: float = 0.02  # weights ~ N(0, init_std)
    amp: bool = False  # bfloat16 autocast on CUDA (mixed precision); ignored on the CPU


#: Named config overrides (``--preset``): a CPU-sized model and the reference GPU settings.
PRESETS: dict[str, dict[str, Any]] = {
    # with 2,000 crops per domain (the default for crop sources): 6,000 steps, about 40 minutes on one CPU thread;
    # 64 px windows of 128 px images: the small model sees local texture (where the style is) at a finer scale
    "cpu": {"image_size": 64, "load_size": 128, "ngf": 16, "ndf": 32, "n_blocks": 6, "batch_size": 1, "epochs": 3},
    # the reference settings at 128 px (6 blocks) and 256 px (9 blocks), in mixed precision
    "gpu": {"image_size": 128, "load_size": 143, "ngf": 64, "ndf": 64, "n_blocks": 6, "batch_size": 1,
            "epochs": 200, "amp": True},
    "gpu-256": {"image_size": 256, "load_size": 286, "ngf": 64, "ndf": 64, "n_blocks": 9, "batch_size": 1,
                "epochs": 200, "amp": True},
}


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, dim, h, w] → same
        return x + self.block(x)


def _upsample(cin: int, cout: int, mode: str) -> list[nn.Module]:
    if mode == "deconv":
        return [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)]
    if mode == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
    raise ValueError(f"unknown upsample {mode!r}; expected one of {', '.join(UPSAMPLING)}")


class Generator(nn.Module):
    """ResNet generator: ``[N, C, H, W] → [N, C, H, W]`` for H, W multiples of 4 (at least 8)."""

    def __init__(self, cfg: CycleGANConfig) -> None:
        super().__init__()
        c, w = cfg.channels, cfg.ngf
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(c, w, 7), _norm(w), nn.ReLU(True)]
        for mult in (1, 2):  # [N, w, H, W] → [N, 2w, H/2, W/2] → [N, 4w, H/4, W/4]
            layers += [nn.Conv2d(w * mult, w * mult * 2, 3, stride=2, padding=1), _norm(w * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(w * 4) for _ in range(cfg.n_blocks)]
        for mult in (4, 2):  # [N, 4w, H/4, W/4] → [N, 2w, H/2, W/2] → [N, w, H, W]
            layers += [*_upsample(w * mult, w * mult // 2, cfg.upsample), _norm(w * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, c, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``[N, C, H, W] → [N, 1, h, w]``, one real/fake score per overlapping 70×70 patch."""

    def __init__(self, cfg: CycleGANConfig) -> None:
        super().__init__()
        d = cfg.ndf
        layers: list[nn.Module] = [nn.Conv2d(cfg.channels, d, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = d
        for n in range(1, cfg.d_layers + 1):  # stride 2 for the first d_layers - 1, then stride 1
            nxt = d * min(2**n, 8)
            stride = 2 if n < cfg.d_layers else 1
            layers += [nn.Conv2d(width, nxt, 4, stride=stride, padding=1), _norm(nxt), nn.LeakyReLU(0.2, True)]
            width = nxt
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))  # raw scores; LSGAN needs no sigmoid
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def init_weights(module: nn.Module, std: float) -> None:
    """The reference ``normal`` init: conv weights ~ N(0, std), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def pad_to_multiple(images: torch.Tensor, multiple: int = 4, minimum: int = 8) -> tuple[torch.Tensor, int, int]:
    """Reflect-pad ``[N, C, H, W]`` on the bottom and right to sides that are multiples of ``multiple``.

    Returns ``(padded, H, W)``. Images too small to reflect are padded by edge replication instead.
    """
    h, w = images.shape[-2:]
    ph = max(minimum, -(-h // multiple) * multiple) - h
    pw = max(minimum, -(-w // multiple) * multiple) - w
    if ph == 0 and pw == 0:
        return images, h, w
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(images, (0, pw, 0, ph), mode=mode), h, w


@GANS.register
class CycleGAN(ImageToImage):
    name = "cyclegan"
    Config = CycleGANConfig
    exported = ("G_ab", "G_ba")
    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    def build_nets(self) -> nn.ModuleDict:
        cfg = self.config
        if cfg.upsample not in UPSAMPLING:
            raise ValueError(f"unknown upsample {cfg.upsample!r}; expected one of {', '.join(UPSAMPLING)}")
        smallest = 3 * 2**cfg.d_layers  # the PatchGAN's last layers need at least 2×2 inputs
        if cfg.image_size < smallest or cfg.image_size % 4:
            raise ValueError(f"cyclegan image_size must be a multiple of 4 and at least {smallest} "
                             f"(d_layers={cfg.d_layers}); got {cfg.image_size}")
        nets = nn.ModuleDict({
            "G_ab": Generator(cfg), "G_ba": Generator(cfg),
            "D_a": PatchDiscriminator(cfg), "D_b": PatchDiscriminator(cfg),
        })
        init_weights(nets, cfg.init_std)
        return nets

    def make_trainer(self, data: dict[str, torch.Tensor], *, device: torch.device, seed: int) -> CycleGANTrainer:
        return CycleGANTrainer(self, data, device=device, seed=seed)

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        """``images [N, C, H, W]`` in [-1, 1], any H and W → translated ``[N, C, H, W]`` (eval mode, no grad).

        ``direction`` is ``a2b`` (``G_ab``) or ``b2a`` (``G_ba``). Sides are reflect-padded to multiples of 4
        and the output is cropped back to ``H × W``.
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}; expected one of {', '.join(DIRECTIONS)}")
        if images.ndim != 4 or images.shape[1] != self.config.channels:
            raise ValueError(f"expected images [N, {self.config.channels}, H, W], got {tuple(images.shape)}")
        G = self.nets["G_ab" if direction == "a2b" else "G_ba"]
        was_training = G.training
        G.eval()
        padded, h, w = pad_to_multiple(images.to(self.device, torch.float32))
        try:
            return G(padded)[..., :h, :w]
        finally:
            G.train(was_training)
