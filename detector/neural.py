"""What every neural detector family shares: the training loop (forensic augmentation, random crops, BCE,
early stopping on validation AP, threshold chosen on validation) and prediction by native-resolution tiles."""

from __future__ import annotations

import copy
from abc import abstractmethod
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from generators.seeding import numpy_rng

from .base import Detector, Progress
from .data import Augment, ImageSet, augment, center_crop, random_crop, tiles
from .metrics import balanced_threshold, summarize


def to_batch(images: Sequence[np.ndarray]) -> torch.Tensor:
    """RGB ``uint8 [H, W, 3]`` arrays of one size → float ``[N, 3, H, W]`` in [-1, 1]."""
    arr = np.stack(images).astype(np.float32)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).div_(127.5).sub_(1.0)


class NeuralDetector(Detector):
    """A detector whose ``Config`` has ``crop``, ``epochs``, ``batch_size``, ``lr``, ``patience``, ``augment``."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.net = self.build_net()

    @abstractmethod
    def build_net(self) -> nn.Module:
        """A module mapping ``[N, 3, crop, crop]`` in [-1, 1] to ``[N]`` logits."""

    def tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.net.state_dict())

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(tensors)
        self.net.eval()

    def complexity(self) -> dict[str, int]:
        from torch.utils.flop_counter import FlopCounterMode

        params = sum(p.numel() for p in self.net.parameters())
        crop = self.config.crop
        net = copy.deepcopy(self.net).cpu().eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(torch.zeros(1, 3, crop, crop))
        return {"parameters": params, "macs_per_crop": counter.get_total_flops() // 2, "crop": crop}

    # training -------------------------------------------------------------------------------------------------
    def fit(self, train: ImageSet, val: ImageSet, *, device: torch.device, seed: int,
            progress: Progress | None = None) -> dict:
        cfg = self.config
        aug: Augment = cfg.augment
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = self.build_net()
        self.net.to(device)
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
        steps_per_epoch = max(1, len(train) // cfg.batch_size)
        total = cfg.epochs * steps_per_epoch
        best_ap, best_state, best_epoch, history = -1.0, None, 0, []
        labels = torch.as_tensor(train.labels, dtype=torch.float32)
        step = 0
        for epoch in range(cfg.epochs):
            order = numpy_rng(seed, "order", epoch).permutation(len(train))
            self.net.train()
            for b in range(steps_per_epoch):
                idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                rng = numpy_rng(seed, "augment", epoch, b)
                crops = [random_crop(augment(train.images[i], aug, rng), cfg.crop, rng) for i in idx]
                x = to_batch(crops).to(device)
                y = labels[idx].to(device)
                loss = F.binary_cross_entropy_with_logits(self.net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                if progress is not None:
                    progress(step, total, {"epoch": epoch + 1, "loss": loss.item()})
            val_scores = self.predict_proba(val.images, device=device)
            ap = summarize(val.labels, val_scores)["ap"]
            history.append({"epoch": epoch + 1, "loss": round(loss.item(), 5), "val_ap": round(ap, 5)})
            if ap > best_ap:
                best_ap, best_epoch = ap, epoch + 1
                best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
            elif epoch + 1 - best_epoch >= cfg.patience:
                break
        self.net.load_state_dict(best_state)
        self.net.eval()
        val_scores = self.predict_proba(val.images, device=device)
        self.threshold = balanced_threshold(val.labels, val_scores)
        return {"history": history, "best_epoch": best_epoch,
                "val": summarize(val.labels, val_scores, self.threshold)}

    # prediction ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_proba(self, images: Sequence[np.ndarray], *, device: torch.device | str = "cpu",
                      batch_size: int = 256) -> np.ndarray:
        """Score each image at native resolution: the mean probability over crop-sized tiles."""
        self.net.to(device).eval()
        crop = self.config.crop
        owner, pieces = [], []
        for i, image in enumerate(images):
            for tile in tiles(image, crop):
                owner.append(i)
                pieces.append(tile)
        probs = np.empty(len(pieces), dtype=np.float64)
        for s in range(0, len(pieces), batch_size):
            x = to_batch(pieces[s : s + batch_size]).to(device)
            probs[s : s + len(x)] = torch.sigmoid(self.net(x).float()).cpu().numpy()
        sums = np.bincount(owner, weights=probs, minlength=len(images))
        counts = np.bincount(owner, minlength=len(images))
        return sums / np.maximum(counts, 1)


__all__ = ["NeuralDetector", "center_crop", "to_batch"]
