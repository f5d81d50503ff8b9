"""CycleGAN's training (Zhu et al., ICCV 2017, as in the reference code): least-squares GAN losses, cycle and
identity losses, an image pool of generated images per discriminator, Adam with a constant then linearly decaying
learning rate. The model is in :mod:`.cyclegan`; this is what :meth:`CycleGAN.make_trainer` returns.
"""

from __future__ import annotations

import itertools
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import torch
from torch.nn import functional as F

from fakescope.core.seeding import torch_generator

from ..training import Trainer

if TYPE_CHECKING:
    from .cyclegan import CycleGAN


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
