"""``npr``: neighbouring pixel relationships, the trace that up-sampling leaves, fed to a small CNN.

Tan et al., "Rethinking the Up-Sampling Operations in CNN-based Generative Network for Generalizable Deepfake
Detection" (CVPR 2024). Generators up-sample, which ties each pixel to its neighbours inside every
``factor``×``factor`` block. The residual ``x − up(down(x))`` with nearest-neighbour resampling isolates those
local relations; a shallow ResNet (stem without stride, max-pool, the first two residual stages, global
pooling, one logit) classifies it. As in the paper's code the residual is scaled by 2/3 before the stem.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.resnet import BasicBlock

from ..base import DETECTORS
from ..neural import NeuralConfig, NeuralDetector


@dataclass(frozen=True)
class NPRConfig(NeuralConfig):  # crop, epochs, batch_size, lr, patience, augment; crop a multiple of factor
    width: int = 64  # channels of the stem and first stage; the second stage has twice as many
    factor: int = 2  # down/up-sampling factor of the residual

    def __post_init__(self) -> None:
        if self.factor < 2 or self.crop % self.factor:
            raise ValueError(f"npr needs factor >= 2 dividing crop (got factor={self.factor}, crop={self.crop})")


def npr_residual(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """``[N, C, H, W]`` → ``x − up(down(x))`` with nearest-neighbour resampling, same shape."""
    down = F.interpolate(x, scale_factor=1.0 / factor, mode="nearest")  # [N, C, H/f, W/f]
    return x - F.interpolate(down, size=x.shape[-2:], mode="nearest")


def _stage(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """Two basic residual blocks; the first changes width/resolution through a 1×1 projection."""
    down = None
    if stride != 1 or c_in != c_out:
        down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
    return nn.Sequential(BasicBlock(c_in, c_out, stride=stride, downsample=down), BasicBlock(c_out, c_out))


class NPRNet(nn.Module):
    def __init__(self, cfg: NPRConfig) -> None:
        super().__init__()
        w = cfg.width
        self.factor = cfg.factor
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, stride=2, padding=1))
        self.layer1 = _stage(w, w, 1)
        self.layer2 = _stage(w, 2 * w, 2)
        self.fc = nn.Linear(2 * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, 3, H, W] → [N]
        r = npr_residual(x, self.factor) * (2.0 / 3.0)  # [N, 3, H, W]
        h = self.layer2(self.layer1(self.stem(r)))  # [N, 2w, H/4, W/4]
        return self.fc(h.mean(dim=(2, 3))).squeeze(1)


@DETECTORS.register
class NPRDetector(NeuralDetector):
    family = "npr"
    Config = NPRConfig

    def build_net(self) -> nn.Module:
        return NPRNet(self.config)
