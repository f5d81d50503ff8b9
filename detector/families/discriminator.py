"""``discriminator``: a GAN-discriminator-style CNN used as a real/fake classifier.

The convolutional discriminator of DCGAN (Radford et al., ICLR 2016) in its fully convolutional PatchGAN form
(Isola et al., CVPR 2017): stride-2 4×4 convolutions with LeakyReLU(0.2) and BatchNorm, ending in a map of
patch logits that is averaged into one logit per image. Trained with BCE on real vs generated images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fakescope.core.config import check_ranges

from ..base import DETECTORS
from ..neural import NeuralConfig, NeuralDetector


@dataclass(frozen=True)
class DiscriminatorConfig(NeuralConfig):  # NeuralConfig's training fields, and:
    width: int = 32  # channels of the first convolution; doubled at each stride-2 layer
    depth: int = 3  # stride-2 layers (receptive field grows with depth)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ranges("discriminator", width=(self.width, 1, 1024), depth=(self.depth, 1, 8))


class PatchDiscriminator(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, c_out = 3, cfg.width
        for i in range(cfg.depth):
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in, c_out = c_out, c_out * 2
        layers.append(nn.Conv2d(c_in, 1, 3, padding=1))  # a logit per patch
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, 3, H, W] → [N]
        return self.net(x).mean(dim=(1, 2, 3))


@DETECTORS.register
class DiscriminatorDetector(NeuralDetector):
    family = "discriminator"
    Config = DiscriminatorConfig

    def build_net(self) -> nn.Module:
        return PatchDiscriminator(self.config)
