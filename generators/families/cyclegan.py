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

import itertools
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from fakescope.core.seeding import torch_generator

from ..gan import GANS
from ..kinds.image import DIRECTIONS, ImageToImage
from ..training import Trainer

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


class ImagePool:
    """The history buffer of Shrivastava et al. (2017): discriminators see past fakes as well as new ones.

    Until ``size`` images are stored every new image is stored and returned. Once full, each new image is,
    with probability 0.5, swapped with a random stored one (the stored one is returned), else returned as is.
    Draws come from the ``generator`` passed in, so a resumed run replays them exactly.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:  # [N, C, H, W]
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=generator).item() < 0.5:
                i = int(torch.randint(self.size, (), generator=generator))
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out)

    def state(self) -> torch.Tensor | None:
        return torch.cat(self.images).cpu() if self.images else None

    def load(self, stored: torch.Tensor | None, device: torch.device) -> None:
        self.images = [] if stored is None else [x.unsqueeze(0).to(device) for x in stored]


def lr_factor(step: int, total: int, decay_start: float = 0.5) -> float:
    """Learning-rate multiplier at ``step`` of ``total``: 1 until ``decay_start·total``, then linear to 0."""
    start = int(total * decay_start)
    if step < start:
        return 1.0
    return max(0.0, (total - step) / max(1, total - start))


class CycleGANTrainer(Trainer):
    """Alternating updates as in the reference: both generators on one Adam, then both discriminators."""

    gan: CycleGAN
    grid_count = 8  # images per domain in the per-checkpoint grid

    def __init__(self, gan: CycleGAN, data: dict[str, torch.Tensor], *, device: torch.device, seed: int) -> None:
        if not isinstance(data, dict) or set(data) != {"a", "b"}:
            raise ValueError("cyclegan trains on two domains: pass data={'a': images_a, 'b': images_b}")
        for key, images in data.items():
            if images.ndim != 4 or images.shape[0] == 0:
                raise ValueError(f"domain {key}: expected images [N, C, H, W] with N > 0, got {tuple(images.shape)}")
        side = min(min(images.shape[-2:]) for images in data.values())
        if side < gan.config.image_size:
            raise ValueError(f"cyclegan crops {gan.config.image_size} px training images; got {side} px images")
        super().__init__(gan, data, device=device, seed=seed)
        cfg = gan.config
        nets = gan.nets
        self.opt_g = torch.optim.Adam(
            itertools.chain(nets["G_ab"].parameters(), nets["G_ba"].parameters()), lr=cfg.lr, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(
            itertools.chain(nets["D_a"].parameters(), nets["D_b"].parameters()), lr=cfg.lr, betas=cfg.betas)
        self.pool_a, self.pool_b = ImagePool(cfg.pool_size), ImagePool(cfg.pool_size)
        self.amp = cfg.amp and device.type == "cuda"

    @property
    def steps_per_epoch(self) -> int:
        return max(1, -(-max(len(self.data["a"]), len(self.data["b"])) // self.gan.config.batch_size))

    @property
    def checkpoint_every(self) -> int:
        return min(self.steps_per_epoch, 1000)

    @property
    def total_steps(self) -> int:
        return self.gan.config.epochs * self.steps_per_epoch

    def batch_size(self, step: int) -> int:
        return self.gan.config.batch_size

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def describe(self, step: int) -> str:
        return f"epoch {step // self.steps_per_epoch + 1}/{self.gan.config.epochs}"

    def domain_batch(self, step: int, domain: str) -> torch.Tensor:
        """Images of ``domain`` for ``step`` ``[B, C, image_size, image_size]``: drawn with replacement, a random
        window of each, flipped left-right with probability 0.5 (``flip``), channels randomly permuted
        (``channel_shuffle``); seeded by ``(seed, domain, step)``."""
        cfg = self.gan.config
        data = self.data[domain]
        g = torch_generator(self.seed, domain, step)
        idx = torch.randint(len(data), (self.batch_size(step),), generator=g)
        batch = data[idx]  # [B, C, H', W'] at load_size
        h, w = batch.shape[-2:]
        if (h, w) != (cfg.image_size, cfg.image_size):  # a random image_size window of each image
            ys = torch.randint(h - cfg.image_size + 1, (len(idx),), generator=g)
            xs = torch.randint(w - cfg.image_size + 1, (len(idx),), generator=g)
            batch = torch.stack([x[:, y : y + cfg.image_size, x0 : x0 + cfg.image_size]
                                 for x, y, x0 in zip(batch, ys.tolist(), xs.tolist(), strict=True)])
        if cfg.flip:
            flips = torch.rand(len(idx), generator=g) < 0.5
            batch = torch.where(flips[:, None, None, None], batch.flip(-1), batch)
        if cfg.channel_shuffle:
            batch = torch.stack([x[torch.randperm(x.shape[0], generator=g)] for x in batch])
        return batch.to(self.device, non_blocking=True).float()

    def set_lr(self, step: int) -> float:
        cfg = self.gan.config
        lr = cfg.lr * lr_factor(step, self.total_steps, cfg.decay_start)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        return lr

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()

    def step(self, step: int) -> dict[str, float]:
        cfg = self.gan.config
        G_ab, G_ba, D_a, D_b = (self.gan.nets[k] for k in ("G_ab", "G_ba", "D_a", "D_b"))
        lr = self.set_lr(step)
        real_a, real_b = self.domain_batch(step, "a"), self.domain_batch(step, "b")  # [B, C, H, W] each
        lam, lam_idt = cfg.lambda_cycle, cfg.lambda_cycle * cfg.lambda_identity

        # generators: fool both discriminators, reconstruct both ways, leave in-domain images alone
        for D in (D_a, D_b):
            D.requires_grad_(False)
        with self._autocast():
            fake_b, fake_a = G_ab(real_a), G_ba(real_b)
            rec_a, rec_b = G_ba(fake_b), G_ab(fake_a)
            loss_gan = _lsgan(D_b(fake_b), True) + _lsgan(D_a(fake_a), True)
            loss_cycle = lam * (F.l1_loss(rec_a.float(), real_a) + F.l1_loss(rec_b.float(), real_b))
            loss_idt = torch.zeros((), device=self.device)
            if lam_idt > 0:
                loss_idt = lam_idt * (F.l1_loss(G_ab(real_b).float(), real_b) + F.l1_loss(G_ba(real_a).float(), real_a))
            loss_g = loss_gan + loss_cycle + loss_idt
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        # discriminators: real vs pooled fakes, each loss halved as in the reference
        for D in (D_a, D_b):
            D.requires_grad_(True)
        pool_gen = torch_generator(self.seed, "pool", step)
        pooled_b = self.pool_b.query(fake_b.detach().float(), pool_gen)
        pooled_a = self.pool_a.query(fake_a.detach().float(), pool_gen)
        with self._autocast():
            loss_d_b = 0.5 * (_lsgan(D_b(real_b), True) + _lsgan(D_b(pooled_b), False))
            loss_d_a = 0.5 * (_lsgan(D_a(real_a), True) + _lsgan(D_a(pooled_a), False))
            loss_d = loss_d_a + loss_d_b
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        return {"loss_g": loss_gan.item(), "loss_cycle": loss_cycle.item(), "loss_idt": loss_idt.item(),
                "loss_d": loss_d.item(), "lr": lr}

    def grid_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed images of each domain for the grids and the reconstruction metric: ``[8, C, H, W]`` each."""
        picks = []
        for domain in ("a", "b"):
            data = self.data[domain]
            idx = torch.randperm(len(data), generator=torch_generator(self.seed, "grid", domain))[: self.grid_count]
            picks.append(data[idx].to(self.device).float())
        return picks[0], picks[1]

    def sample_grid(self) -> torch.Tensor:
        """Rows: A, A→B, A→B→A, then B, B→A, B→A→B (eight images per row)."""
        a, b = self.grid_images()
        ab, ba = self.gan.translate(a, "a2b"), self.gan.translate(b, "b2a")
        rows = [a, ab, self.gan.translate(ab, "b2a"), b, ba, self.gan.translate(ba, "a2b")]
        return torch.cat([_pad_row(r, self.grid_count) for r in rows])

    def metrics(self, step: int) -> dict[str, Any]:
        """Mean absolute cycle-reconstruction error (images in [-1, 1]) on the grid images."""
        a, b = self.grid_images()
        rec_a = self.gan.translate(self.gan.translate(a, "a2b"), "b2a")
        rec_b = self.gan.translate(self.gan.translate(b, "b2a"), "a2b")
        return {"cycle_l1_a": round(float((rec_a - a).abs().mean()), 6),
                "cycle_l1_b": round(float((rec_b - b).abs().mean()), 6)}

    def extra_state(self) -> dict[str, Any]:
        return {"pool_a": self.pool_a.state(), "pool_b": self.pool_b.state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.pool_a.load(state.get("pool_a"), self.device)
        self.pool_b.load(state.get("pool_b"), self.device)


def _lsgan(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: mean squared distance of the patch scores to 1 (real) or 0 (fake)."""
    scores = scores.float()
    return F.mse_loss(scores, torch.full_like(scores, 1.0 if real else 0.0))


def _pad_row(images: torch.Tensor, n: int) -> torch.Tensor:
    """A grid row of exactly ``n`` images (blank images fill a short domain)."""
    if len(images) >= n:
        return images[:n]
    return torch.cat([images, images.new_full((n - len(images), *images.shape[1:]), -1.0)])


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
        out = G(padded)[..., :h, :w]
        G.train(was_training)
        return out
