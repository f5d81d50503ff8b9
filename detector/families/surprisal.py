"""``surprisal``: how surprising an image is to a model of real photographs — trained on real images only.

After Cozzolino, Poggi, Nießner and Verdoliva, "Zero-Shot Detection of AI-Generated Images" (ZED, ECCV 2024):
a lossless coder's pixel model, learnt from real images alone, predicts each pixel's distribution from its
context. On a real image the actual coding cost (the negative log-likelihood, NLL) is close to what the model
itself expects (the entropy H of its predictions); a synthetic image, whose fine detail a generator made, is
coded at a cost that departs from that expectation. No fake image is needed to learn the model, so nothing
ties the detector to the generators at hand.

The pixel model here is a small multi-resolution predictor (ZED's coder, SReC, works the same way with more
context): the image at level ``l`` (``2^l``-average-pooled, rounded to integers) is predicted from its own
2× average-pooled version by a few convolutions at the low resolution, whose ``4·3·2`` outputs per low-resolution
pixel are pixel-shuffled into a discretised logistic per full-resolution pixel and channel (mean: the
low-resolution value plus a learnt offset; log scale). The same network serves every level. Per tile and level
the features are the mean NLL and the mean H in bits per sub-pixel and their gap ``D = NLL − H``.

Two heads read them (``head``):

- ``below`` (one-class, ZED's statistic): the score rises as ``D`` at level 0 falls below its value on real
  training windows, ``sigmoid(−(D₀ − mean) / std)`` with the mean and std of un-augmented windows of a fifth
  of the real training images, held out from the pixel model (on the images it learnt from, its coding cost is
  biased low) — an image coded more cheaply than the model of real images expects.
- ``both`` (one-class, two-sided): the score rises with ``|D₀ − mean| / std`` — an image coded either more
  cheaply or more dearly than real ones: generators that smooth fine detail away are too predictable, those
  that leave up-sampling artifacts too surprising.
- ``linear``: the three features of each level standardised and classified by logistic regression on real *and*
  fake training windows (:mod:`fakescope.detector.linear`), for comparison with the one-class heads.

With a one-class head, fakes in the corpora serve only calibration and the threshold (on the validation split,
as for every family); training never reads a fake image.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
from scipy.special import expit
from torch import nn
from torch.nn import functional as F

from fakescope.core.config import check_ranges
from fakescope.core.seeding import numpy_rng

from ..base import DETECTORS
from ..data import MAX_CROP, Augment, random_crop, sample_crops
from ..linear import LinearDetector, LinearHead, check_head_settings
from ..neural import fixed_chunks, score_chunk

HEADS = ("below", "both", "linear")
PREDICTOR = "predictor."  # the prefix of the pixel model's tensors in the checkpoint
LOG_SCALE = (-2.5, 6.0)  # the predicted log scales are clamped here (scales of 0.08 to 400 grey levels: at 0.08 a
#                         pixel is certain to 0.007 bit, and the entropy table is exact to 2e-3 bit)
_FEATURES = ("nll", "h", "d")  # per level, in this order


@dataclass(frozen=True)
class SurprisalConfig:
    head: str = "below"  # one-class: below (D at level 0 under real images') | both (away from them either way);
    #                      linear: logistic regression on every feature, real and fake windows
    levels: tuple[int, ...] = (0,)  # resolution levels measured (0: full resolution; l: 2^l-pooled)
    width: int = 24  # channels of the pixel model's convolutions
    depth: int = 3  # its 3×3 convolutions (at the low resolution)
    crop: int = 64  # training window and scoring tile side, in pixels
    steps: int = 1500  # Adam steps of the pixel model, on real windows only
    batch_size: int = 32
    lr: float = 1e-3
    crops_per_image: int = 2  # augmented random crops per training image for the head
    classifier: str = "logistic"  # the linear head's classifier: logistic | svm
    C: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)  # the linear head's inverse regularisation strengths
    augment: Augment = field(default_factory=Augment)

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"unknown surprisal head {self.head!r}; known: {', '.join(HEADS)}")
        check_head_settings("surprisal", self.classifier, self.C)
        if not self.levels or list(self.levels) != sorted(set(self.levels)) or self.levels[0] != 0:
            raise ValueError(f"surprisal levels must be increasing and start at 0, got {self.levels}")
        if self.crop < 2 or self.crops_per_image < 1:
            raise ValueError("surprisal needs crop >= 2 and crops_per_image >= 1")
        check_ranges("surprisal", crop=(self.crop, 2, MAX_CROP), lr=(self.lr, 0, None))
        if self.crop % 2 ** (self.levels[-1] + 1):
            raise ValueError(f"crop {self.crop} is not divisible by 2^{self.levels[-1] + 1} (level {self.levels[-1]} "
                             "is predicted from the next coarser one)")
        if self.width < 1 or self.depth < 1 or self.steps < 0 or self.batch_size < 1:
            raise ValueError("surprisal width, depth and batch_size must be positive and steps not negative")


class PixelModel(nn.Module):
    """Low-resolution image ``[B, 3, h, w]`` (grey levels 0–255) → per full-resolution pixel and channel the mean
    and log scale of a discretised logistic, ``([B, 3, 2h, 2w], [B, 3, 2h, 2w])``."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for _ in range(depth):
            layers += [nn.Conv2d(channels, width, 3, padding=1, padding_mode="replicate"), nn.LeakyReLU(0.1)]
            channels = width
        layers.append(nn.Conv2d(channels, 4 * 3 * 2, 3, padding=1, padding_mode="replicate"))
        self.body = nn.Sequential(*layers)

    def forward(self, low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = F.pixel_shuffle(self.body(low / 127.5 - 1.0), 2)  # [B, 6, 2h, 2w]
        offset, log_scale = out[:, :3], out[:, 3:]
        mean = F.interpolate(low, scale_factor=2, mode="nearest") + 16.0 * offset
        return mean, log_scale.clamp(*LOG_SCALE)


def log2_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """``log2 P(x)`` of integer grey levels ``x`` under discretised logistics (bins of width 1 on the integers;
    the tails are not folded into 0 and 255, so the entropy table below applies everywhere).

    ``P = σ(b) − σ(a)`` for the bin's edges ``a < b`` in scale units, computed as
    ``log(1 − e^{a−b}) + log σ(b) + log σ(−a)``: exact without a branch, also where the bin's mass underflows."""
    inv = torch.exp(-log_scale)
    mid, half = (x - mean) * inv, 0.5 * inv  # the bin's centre and half its width, in scale units
    log_p = torch.log(-torch.expm1(-inv)) - F.softplus(-(mid + half)) - F.softplus(mid - half)
    return log_p / math.log(2.0)


@lru_cache(maxsize=1)
def entropy_table(points: int = 426, offsets: int = 65) -> tuple[float, float, np.ndarray]:
    """``(lo, step, H)``: the entropy in bits of a discretised logistic, ``H[i, j]`` for log scale
    ``lo + i·step`` (over ``LOG_SCALE``) and mean ``j / (2·(offsets − 1))`` of a bin away from the bin's centre
    (0 to ½: the entropy is symmetric about the centre). Past a scale of 20 grey levels the continuous entropy
    ``log2(s) + 2/ln 2`` is exact to 1e-4 bit whatever the offset and is used."""
    lo, hi = LOG_SCALE
    grid = np.linspace(lo, hi, points)
    values = np.repeat((grid / math.log(2.0) + 2.0 / math.log(2.0))[:, None], offsets, axis=1)  # [G, O]
    small = np.flatnonzero(np.exp(grid) <= 20.0)
    scale = np.exp(grid[small])[:, None, None]  # [g, 1, 1]
    shift = np.linspace(0.0, 0.5, offsets)[None, :, None]  # [1, O, 1]
    centred = np.arange(-320, 321, dtype=np.float64)[None, None, :] - shift  # [1, O, K]: 16 scales of 20 each way
    p = np.clip(expit((centred + 0.5) / scale) - expit((centred - 0.5) / scale), 1e-300, None)  # [g, O, K]
    values[small] = -(p * np.log2(p)).sum(axis=2)
    return lo, (hi - lo) / (points - 1), values


def entropy_bits(mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """The entropy in bits of the discretised logistic of each mean and log scale (bilinear in the table)."""
    lo, step, _ = entropy_table()
    table = _table_on(log_scale.dtype, log_scale.device)  # [G, O]
    rows, cols = table.shape
    pos = ((log_scale - lo) / step).clamp(0, rows - 1)
    i = pos.floor().clamp(max=rows - 2)
    off = (mean - torch.round(mean)).abs() * (2 * (cols - 1))  # 0 .. cols-1
    j = off.floor().clamp(max=cols - 2)
    fi, fj = pos - i, off - j
    flat = table.flatten()
    k = i.long() * cols + j.long()
    top = torch.lerp(flat[k], flat[k + 1], fj)
    bottom = torch.lerp(flat[k + cols], flat[k + cols + 1], fj)
    return torch.lerp(top, bottom, fi)


@lru_cache(maxsize=8)
def _table_on(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(entropy_table()[2], dtype=dtype, device=device)


def pyramid_level(x: torch.Tensor, level: int) -> torch.Tensor:
    """``[B, 3, S, S]`` grey levels → the image at ``level``: ``2^level``-average-pooled and rounded."""
    return x if level == 0 else torch.round(F.avg_pool2d(x, 2**level))


@DETECTORS.register
class SurprisalDetector(LinearDetector):
    family = "surprisal"
    Config = SurprisalConfig

    def __init__(self, config: SurprisalConfig) -> None:
        with torch.random.fork_rng(devices=[]):  # building a detector leaves torch's global random state alone
            self.predictor = PixelModel(config.width, config.depth).eval()
        super().__init__(config)

    # the pixel model ---------------------------------------------------------------------------------------------
    def _costs(self, x: torch.Tensor, entropy: bool = True) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Grey levels ``[B, 3, S, S]`` → per level ``[B, 3, S_l, S_l]`` log2-likelihoods and (with ``entropy``)
        entropies."""
        log_p, h = [], []
        for level in self.config.levels:
            target = pyramid_level(x, level)
            mean, log_scale = self.predictor(F.avg_pool2d(target, 2))
            log_p.append(log2_likelihood(target, mean, log_scale))
            if entropy:
                h.append(entropy_bits(mean, log_scale))
        return log_p, h

    def _train_predictor(self, train, reals: np.ndarray, device: torch.device, seed: int, report) -> list[float]:
        """Adam on the NLL (bits per sub-pixel, summed over levels) of augmented windows of the real images
        ``train.images[reals]``."""
        cfg = self.config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.predictor = PixelModel(cfg.width, cfg.depth).to(device)
        opt = torch.optim.Adam(self.predictor.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(cfg.steps, 1))
        losses = []
        self.predictor.train()
        for step in range(cfg.steps):
            rng = numpy_rng(seed, "surprisal-steps", step)
            idx = reals[rng.integers(0, len(reals), size=cfg.batch_size)]
            x = _grey_levels(sample_crops(train.images, idx, cfg.augment, cfg.crop, rng), device)
            log_p, _ = self._costs(x, entropy=False)
            loss = -sum(lp.mean() for lp in log_p)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            report(step + 1, float(np.mean(losses[-50:])))
        self.predictor.eval()
        return losses

    # features and head --------------------------------------------------------------------------------------------
    def n_features(self) -> int:
        return len(_FEATURES) * len(self.config.levels)

    def feature_names(self) -> list[str]:
        return [f"{name}{level}" for level in self.config.levels for name in _FEATURES]

    def feature_name(self) -> str:
        return f"NLL, H and D at levels {list(self.config.levels)}"

    @torch.no_grad()
    def featurize(self, windows: Sequence[np.ndarray], device: torch.device | str = "cpu") -> np.ndarray:
        """RGB windows ``[S, S, 3]`` → ``[N, 3·levels]``: per level the mean NLL, the mean H (bits per sub-pixel)
        and ``D = NLL − H``."""
        self.predictor.to(device).eval()
        out = []
        for part, n in fixed_chunks(windows, score_chunk(self.config.crop)):
            x = _grey_levels(part, device)
            parts = []
            for log_p, h in zip(*self._costs(x), strict=True):
                nll, ent = -log_p.flatten(1).mean(1), h.flatten(1).mean(1)  # [B] each
                parts += [nll, ent, nll - ent]
            out.append(torch.stack(parts, 1).double().cpu().numpy()[:n])
        return np.concatenate(out) if out else np.zeros((0, self.n_features()))

    def fit(self, train, val, *, device, seed, progress=None) -> dict:
        cfg = self.config

        def report(done: int, loss: float) -> None:
            if progress is not None:
                progress(completed=done, total=cfg.steps, description=f"surprisal pixel model NLL={loss:.3f} bits")

        reals = np.flatnonzero(np.asarray(train.labels) == 0)
        if len(reals) == 0:
            raise ValueError("surprisal learns a model of real images: the training split holds none")
        held = np.zeros(0, dtype=int)
        if cfg.head != "linear" and len(reals) > 1:  # the one-class statistics come from real images it never saw
            held = np.sort(numpy_rng(seed, "surprisal-held").permutation(reals)[:max(1, len(reals) // 5)])
        losses = self._train_predictor(train, np.setdiff1d(reals, held), torch.device(device), seed, report)
        if not len(held):  # a single real image: its statistics are all there is
            held = reals
        record = {"pixel_model": {"steps": cfg.steps, "final_nll_bits": round(float(np.mean(losses[-50:])), 4)
                                  if losses else None}}
        if cfg.head == "linear":
            return {**record, **super().fit(train, val, device=device, seed=seed, progress=progress)}
        # one class: the statistics of held-out real training images' windows as they are (no augmentation)
        feats = []
        for k in range(cfg.crops_per_image):
            rng = numpy_rng(seed, "surprisal-crops", k)
            feats.append(self.featurize([random_crop(train.images[i], cfg.crop, rng) for i in held], device))
        feats = np.concatenate(feats)  # [R*K, F]
        mean, scale = feats.mean(0), feats.std(0)
        scale[scale == 0] = 1.0
        coef = np.zeros(self.n_features())
        d0 = _FEATURES.index("d")
        coef[d0] = -1.0 if cfg.head == "below" else 1.0
        self.head = LinearHead(mean, scale, coef, 0.0 if cfg.head == "below" else -2.0)
        return {**record, "real_windows": len(feats),
                "real_d0": {"mean": round(float(mean[d0]), 5), "std": round(float(scale[d0]), 5)}}

    def tile_scores(self, tiles: Sequence[np.ndarray], *, device: torch.device | str = "cpu") -> np.ndarray:
        """The head on each tile's features; ``both`` reads the standardised features' distance from 0."""
        if not len(tiles):
            return np.zeros(0)
        x = self.featurize(tiles, device)
        if self.config.head != "both":
            return self.head.probs(x)
        return expit(self.head.logits(np.abs((x - self.head.mean) / self.head.scale)))

    def halves(self, key: str) -> bool:
        """The pixel model in fp16; the scaler and the head stay float64 (a few numbers)."""
        return key.startswith(PREDICTOR)

    def preprocessing(self) -> str:
        return (f"RGB grey levels; {self.config.crop} px tiles at native resolution; NLL and entropy of a pixel model "
                f"of real images at levels {list(self.config.levels)}; {self.config.head} head; mean of tile scores")

    def tensors(self) -> dict[str, torch.Tensor]:
        return {**{PREDICTOR + k: v for k, v in self.predictor.state_dict().items()}, **super().tensors()}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        own = self.predictor.state_dict()
        state = {k[len(PREDICTOR):]: v for k, v in tensors.items() if k.startswith(PREDICTOR)}
        missing = [k for k in own if k not in state]
        if missing:
            raise KeyError(f"missing {PREDICTOR}{missing[0]}")
        bad = next((k for k in own if state[k].shape != own[k].shape), None)
        if bad is not None:
            raise ValueError(f"{PREDICTOR}{bad}: shape {tuple(state[bad].shape)}, {self.name} has "
                             f"{tuple(own[bad].shape)}")
        bad = next((k for k in own if not torch.isfinite(state[k]).all()), None)
        if bad is not None:
            raise ValueError(f"{PREDICTOR}{bad} holds NaN or infinite values")
        self.predictor.load_state_dict({k: state[k].float() for k in own})
        self.predictor.eval()
        super().load_tensors({k: v for k, v in tensors.items() if not k.startswith(PREDICTOR)})

    def complexity(self) -> dict[str, int]:
        from torch.utils.flop_counter import FlopCounterMode

        crop = self.config.crop
        model = copy.deepcopy(self.predictor).cpu()  # the detector's own stays on its scoring device
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            for level in self.config.levels:
                side = crop // 2 ** (level + 1)
                model(torch.zeros(1, 3, side, side))
        params = sum(p.numel() for p in self.predictor.parameters()) + 3 * self.n_features() + 1
        return {"parameters": params, "macs_per_crop": counter.get_total_flops() // 2, "crop": crop}


def _grey_levels(windows: Sequence[np.ndarray], device) -> torch.Tensor:
    """RGB ``uint8 [S, S, 3]`` windows → float ``[N, 3, S, S]`` grey levels 0–255 on ``device``."""
    return torch.from_numpy(np.stack(windows).astype(np.float32)).permute(0, 3, 1, 2).to(device)
