"""``npr``: neighbouring pixel relationships, the trace that up-sampling leaves, fed to a small CNN.

Tan et al., "Rethinking the Up-Sampling Operations in CNN-based Generative Network for Generalizable Deepfake
Detection" (CVPR 2024). Generators up-sample, which ties each pixel to its neighbours inside every
``factor``×``factor`` block. The residual ``x − up(down(x))`` with nearest-neighbour resampling isolates those
local relations; a shallow ResNet (stem without stride, max-pool, the first two residual stages, global
pooling, one logit) classifies it. As in the paper's code the residual is scaled by 2/3 before the stem.

Two layouts (``layout``, the variant: ``npr`` is fakescope's, ``npr:official`` the paper's):

- ``fakescope`` (the default layout; bundled as ``npr-bundled``, as ``npr-photos`` (the same network thresholded on
  native-resolution photographs too), as ``npr-upscaled``, trained on photographs against Real-ESRGAN's
  super-resolution GANs too, as ``npr-published``, the default detector, trained on photographs against
  RealSR, waifu2x and Real-CUGAN instead, and as ``npr-enlarged``, the same with enlarged photographs as reals):
  basic blocks, a 3×3 stem without stride, inputs in [-1, 1]; small enough to
  train on a CPU.
- ``official``: the authors' released network and checkpoint layout (github.com/chuangchuangtan/NPR-DeepfakeDetection,
  ``networks/resnet.py``): a ResNet-50 cut after ``layer2``: ``conv1`` (3×3, stride 2, 64 channels), ``bn1``,
  max-pool, ``layer1`` (3 bottlenecks, 256 channels) and ``layer2`` (4 bottlenecks, 512 channels), average
  pooling and ``fc1`` (512 → 1). The residual is taken on ImageNet-normalised RGB, as their code does. Their
  ``.pth`` (a plain state dict) loads with ``--detector npr:official=NPR.pth`` through
  ``torch.load(weights_only=True)``; it is uncalibrated and decides at 0.5, as its authors do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from fakescope.core.config import check_ranges

from ..base import DETECTORS
from ..neural import NeuralConfig, NeuralDetector


@dataclass(frozen=True)
class NPRConfig(NeuralConfig):  # NeuralConfig's training fields; crop a multiple of factor
    width: int = 64  # channels of the stem and first stage; the second stage has twice as many (fakescope layout)
    factor: int = 2  # down/up-sampling factor of the residual
    layout: str = "fakescope"  # fakescope | official (the authors' truncated ResNet-50 and checkpoint keys)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.factor < 2 or self.crop % self.factor:
            raise ValueError(f"npr needs factor >= 2 dividing crop (got factor={self.factor}, crop={self.crop})")
        if self.layout not in LAYOUTS:
            raise ValueError(f"npr layout {self.layout!r}: expected one of {', '.join(LAYOUTS)}")
        check_ranges("npr", width=(self.width, 1, 1024), factor=(self.factor, 2, self.crop // 2))


LAYOUTS = ("fakescope", "official")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BasicBlock(nn.Module):
    """torchvision's ResNet basic block, parameter for parameter (same names: its checkpoints load); written here
    so that scoring never imports torchvision's model zoo. ``[N, c_in, H, W]`` → ``[N, planes, H/stride, W/stride]``."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """torchvision's ResNet bottleneck (v1.5: the stride on the 3×3 convolution), parameter for parameter.
    ``[N, c_in, H, W]`` → ``[N, 4 planes, H/stride, W/stride]``."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


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


class OfficialNPRNet(nn.Module):
    """The authors' network, parameter for parameter (their state dict loads as it is): ``[N, 3, H, W]`` in
    [-1, 1] → ``[N]`` logits."""

    def __init__(self, cfg: NPRConfig) -> None:
        super().__init__()
        self.factor = cfg.factor
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._layer(64, 64, 3, stride=1)  # → 256 channels
        self.layer2 = self._layer(256, 128, 4, stride=2)  # → 512 channels
        self.fc1 = nn.Linear(512, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @staticmethod
    def _layer(c_in: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
        out = planes * Bottleneck.expansion
        down = nn.Sequential(nn.Conv2d(c_in, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
        rest = (Bottleneck(out, planes) for _ in range(1, blocks))
        return nn.Sequential(Bottleneck(c_in, planes, stride, down), *rest)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, 3, H, W] → [N]
        x = ((x + 1.0) * 0.5 - self.mean) / self.std  # ImageNet normalisation of [0, 1] RGB
        r = npr_residual(x, self.factor) * (2.0 / 3.0)  # [N, 3, H, W]
        h = self.maxpool(self.relu(self.bn1(self.conv1(r))))  # [N, 64, H/4, W/4]
        h = self.layer2(self.layer1(h))  # [N, 512, H/8, W/8]
        return self.fc1(h.mean(dim=(2, 3))).squeeze(1)


@DETECTORS.register
class NPRDetector(NeuralDetector):
    family = "npr"
    Config = NPRConfig
    variant_field = "layout"
    default_variant = "fakescope"  # plain ``npr``, the name every existing checkpoint has; ``npr:official``

    def build_net(self) -> nn.Module:
        return OfficialNPRNet(self.config) if self.config.layout == "official" else NPRNet(self.config)

    def preprocessing(self) -> str:
        if self.config.layout == "official":
            return (f"RGB in [0, 1], ImageNet mean/std, NPR residual; {self.config.crop} px tiles at native "
                    "resolution, mean of tile probabilities")
        return super().preprocessing()
