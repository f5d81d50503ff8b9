"""ProGAN's training (Karras et al., ICLR 2018): WGAN-GP with the drift term, the growth schedule of fade-in and
stabilising phases, Adam reset at each resolution, and the averaged generator. The model is in
:mod:`.progan`; this is what :meth:`ProGAN.make_trainer` returns.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F

from fakescope.core.seeding import torch_generator

from ..training import Trainer

if TYPE_CHECKING:
    from .progan import ProGAN, ProGANConfig


# --- loss terms and weight averaging -----------------------------------------------------------------------


def lerp(start: torch.Tensor, end: torch.Tensor, weight: float | torch.Tensor) -> torch.Tensor:
    """``torch.lerp`` in the wider of the two dtypes: under CUDA autocast, nearest up-sampling runs in float32
    while convolutions give bfloat16, and ``torch.lerp`` refuses mixed dtypes."""
    dtype = torch.promote_types(start.dtype, end.dtype)
    return torch.lerp(start.to(dtype), end.to(dtype), weight)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     mix: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: mean over samples of ``(‖∇critic(x̂)‖₂ − 1)²`` at ``x̂ = lerp(real, fake, mix)``.

    ``mix [N, 1, 1, 1]`` is drawn per sample from U(0, 1); the norm runs over all non-batch dimensions.
    The result keeps its graph so that it can be backpropagated into the critic's weights.
    """
    x = lerp(real, fake, mix).detach().requires_grad_(True)
    scores = critic(x)
    (grad,) = torch.autograd.grad(scores.float().sum(), x, create_graph=True)
    norms = grad.float().flatten(1).norm(dim=1)  # [N]
    return (norms - 1.0).pow(2).mean()


def drift_penalty(real_scores: torch.Tensor) -> torch.Tensor:
    """The drift term before its weight: ``mean(D(real)²)``."""
    return real_scores.float().pow(2).mean()


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """``ema ← beta·ema + (1 − beta)·model`` for parameters; buffers (the growth state) are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


# --- training ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    level: int  # resolution 4·2^level
    fade: bool  # True: the new block fades in (alpha 0 → 1); False: stabilising (alpha 1)
    start: int  # first step
    steps: int
    batch: int

    @property
    def end(self) -> int:
        return self.start + self.steps

    @property
    def resolution(self) -> int:
        return 4 * 2**self.level


def schedule(cfg: ProGANConfig) -> list[Phase]:
    """4×4 stabilise, then for each higher resolution a fade-in and a stabilising phase."""
    phases, start = [], 0
    for level in range(cfg.levels):
        batch = cfg.batch_size(level)
        steps = -(-cfg.images_per_phase // batch)
        for fade in ((False,) if level == 0 else (True, False)):
            phases.append(Phase(level, fade, start, steps, batch))
            start += steps
    return phases


class ProGANTrainer(Trainer):
    gan: ProGAN

    def __init__(self, gan: ProGAN, data: torch.Tensor, *, device: torch.device, seed: int) -> None:
        super().__init__(gan, data, device=device, seed=seed)
        self.even_batches = gan.config.mbstd_group > 0  # the minibatch stddev spans the global batch
        self.phases = schedule(gan.config)
        self._starts = [p.start for p in self.phases]
        self._new_optimizers()

    def _new_optimizers(self) -> None:
        cfg, nets = self.gan.config, self.gan.nets
        kw = {"lr": cfg.lr, "betas": cfg.betas, "eps": cfg.adam_eps}
        self.opt_g = torch.optim.Adam(nets["G"].parameters(), **kw)
        self.opt_d = torch.optim.Adam(nets["D"].parameters(), **kw)

    def phase(self, step: int) -> Phase:
        return self.phases[bisect.bisect_right(self._starts, step) - 1]

    def alpha(self, step: int) -> float:
        ph = self.phase(step)
        return (step - ph.start) / ph.steps if ph.fade else 1.0

    @property
    def total_steps(self) -> int:
        return self.phases[-1].end

    def batch_size(self, step: int) -> int:
        return self.phase(step).batch

    def batch_sizes(self) -> set[int]:
        return {p.batch for p in self.phases}

    def is_checkpoint(self, done: int) -> bool:
        ph = self.phase(done - 1)
        every = max(1, -(-self.gan.config.checkpoint_images // ph.batch))
        return done == ph.end or (done - ph.start) % every == 0

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def describe(self, step: int) -> str:
        ph = self.phase(step)
        kind = "fade-in" if ph.fade else "stabilise"
        return f"{ph.resolution}px {kind} α={self.alpha(step):.2f}"

    def real_batch(self, step: int) -> torch.Tensor:
        """Reals at the current resolution (2×2 average pooling), mirrored, and blended while fading in."""
        x = super().real_batch(step)  # [B, C, S, S]
        if self.gan.config.mirror:
            flip = self.rand(step, (x.shape[0],), "mirror") < 0.5  # this rank's slice of the global draw
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        ph = self.phase(step)
        if x.shape[-1] != ph.resolution:
            x = F.avg_pool2d(x, x.shape[-1] // ph.resolution)  # [B, C, r, r]
        if ph.fade:
            low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
            x = lerp(low, x, self.alpha(step))
        return x

    def _autocast(self):
        if self.gan.config.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def step(self, step: int) -> dict[str, float]:
        cfg, nets = self.gan.config, self.gan.nets
        G, D, G_ema = nets["G"], nets["D"], nets["G_ema"]
        ph, alpha = self.phase(step), self.alpha(step)
        if step == ph.start and ph.fade:
            self._new_optimizers()  # a new resolution starts: forget Adam's moments
        level = ph.level
        real = self.real_batch(step)  # [B, C, r, r]
        b = real.shape[0]

        # discriminator: WGAN-GP + drift
        z = self.noise(step, (b, cfg.latent_dim), "noise_d")
        mix = self.rand(step, (b, 1, 1, 1), "mix")
        with self._autocast():
            with torch.no_grad():
                fake = G(z, level, alpha)
            d_real = D(real, level, alpha).float()
            d_fake = D(fake, level, alpha).float()
            gp = gradient_penalty(lambda x: D(x, level, alpha), real, fake.to(real.dtype), mix)
        drift = drift_penalty(d_real)
        loss_d = d_fake.mean() - d_real.mean() + cfg.gp_lambda * gp + cfg.drift * drift
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # generator: −D(G(z))
        z = self.noise(step, (b, cfg.latent_dim), "noise_g")
        D.requires_grad_(False)
        with self._autocast():
            loss_g = -D(G(z, level, alpha), level, alpha).float().mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        D.requires_grad_(True)

        G.level.fill_(level)
        G.alpha.fill_(alpha)
        ema_update(G_ema, G, cfg.ema_beta)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "gp": gp.item(),
                "wdist": (d_real.mean() - d_fake.mean()).item()}

    def metrics(self, step: int) -> dict[str, Any]:
        ph = self.phase(step - 1)
        G = self.gan.nets["G"]
        row: dict[str, Any] = {
            "resolution": ph.resolution, "phase": "fade-in" if ph.fade else "stabilise",
            "alpha": round(float(G.alpha), 4), "kimg": round(self.images_shown(step) / 1000, 3),
        }
        if step == ph.end and self.gan.config.metric_images > 0:
            row.update(self.quality(self.gan.config.metric_images))
        return row

    def images_shown(self, step: int) -> int:
        """Real images shown to the discriminator in steps ``0 .. step-1``."""
        return sum(min(p.steps, max(0, step - p.start)) * p.batch for p in self.phases)

    @torch.no_grad()
    def quality(self, count: int) -> dict[str, float]:
        """Quality metrics of ``count`` samples of the averaged generator against the (mirrored) reals."""
        from ..metrics import quality_metrics

        reals = self.data.float()
        if self.gan.config.mirror:
            reals = torch.cat([reals, reals.flip(3)])
        z = torch.randn((count, self.gan.config.latent_dim), generator=torch_generator(self.seed, "metrics"))
        fakes = torch.cat([self.gan.generate(c.to(self.device)).cpu() for c in z.split(256)])
        return quality_metrics(reals, fakes, device=self.device, seed=self.seed,
                               inception_weights=self.inception_weights)
