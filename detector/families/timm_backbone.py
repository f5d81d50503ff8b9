"""``timm:<arch>``: any timm backbone with a one-logit head, trained with the forensic recipe.

Wang et al., "CNN-generated images are surprisingly easy to spot... for now" (CVPR 2020) showed that a plain
ImageNet classifier (ResNet-50) trained on one GAN with blur and JPEG augmentation generalises to others.
This family builds ``timm.create_model(arch, pretrained=False, num_classes=1)`` — nothing is ever downloaded —
optionally initialised from a local weights file (``--init PATH``: safetensors, or ``.pth``/``.pt`` read with
``torch.load(weights_only=True)``) or, for ``mobilenetv2_100`` and ``efficientnet_lite0``, from ImageNet
weights installed offline (``--init imagenet``, :mod:`fakescope.detector.pretrained`). A CNNDetection checkpoint
(a dict whose ``model`` key holds a torchvision ResNet-50 state dict with a one-output ``fc``) loads into
``timm:resnet50`` as is: timm's ResNet uses torchvision's parameter names. Inputs are normalised with
``mean``/``std`` (ImageNet's by default, as CNNDetection does).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import timm
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import nn

from fakescope.core.config import check_ranges

from ..base import DETECTORS
from ..neural import NeuralConfig, NeuralDetector


@dataclass(frozen=True)
class TimmConfig(NeuralConfig):  # NeuralConfig's training fields, and:
    arch: str = "resnet18"  # any name in timm.list_models()
    mean: tuple[float, float, float] = IMAGENET_DEFAULT_MEAN  # per-channel normalisation of [0, 1] inputs
    std: tuple[float, float, float] = IMAGENET_DEFAULT_STD
    drop_rate: float = 0.0  # dropout before the head
    lr: float = 1e-4  # (NeuralConfig: 2e-4) pretrained backbones take a smaller step

    def __post_init__(self) -> None:
        super().__post_init__()
        if not timm.is_model(self.arch):
            close = difflib.get_close_matches(self.arch, timm.list_models(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models()"
            raise ValueError(f"unknown timm architecture {self.arch!r}{hint}")
        check_ranges("timm", drop_rate=(self.drop_rate, 0, 0.99))


class TimmNet(nn.Module):
    """``[N, 3, H, W]`` in [-1, 1] → ImageNet-style normalisation → backbone → ``[N]`` logits."""

    def __init__(self, cfg: TimmConfig) -> None:
        super().__init__()
        kwargs = {"pretrained": False, "num_classes": 1, "drop_rate": cfg.drop_rate}
        try:  # transformers need their input size; convolutional nets do not take the argument
            self.body = timm.create_model(cfg.arch, img_size=cfg.crop, **kwargs)
        except TypeError:
            self.body = timm.create_model(cfg.arch, **kwargs)
        # not persistent: they come from the config, and the state dict holds only the backbone's own names
        self.register_buffer("mean", torch.tensor(cfg.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, 3, H, W] → [N]
        x = ((x + 1.0) * 0.5 - self.mean) / self.std
        return self.body(x).squeeze(1)


@DETECTORS.register
class TimmDetector(NeuralDetector):
    family = "timm"
    Config = TimmConfig
    variant_field = "arch"

    def build_net(self) -> nn.Module:
        return TimmNet(self.config)

    def init_module(self) -> nn.Module:
        return self.net.body

    def preprocessing(self) -> str:
        return (f"RGB in [0, 1], normalised by mean {tuple(round(m, 3) for m in self.config.mean)} / std "
                f"{tuple(round(s, 3) for s in self.config.std)}; {self.config.crop} px tiles at native resolution, "
                "mean of tile probabilities")

    def pretrained_state(self, name: str) -> dict[str, torch.Tensor]:
        """``imagenet``: ImageNet weights installed offline (:mod:`detector.pretrained`), head left out."""
        from ..pretrained import imagenet_state

        return imagenet_state(self.config.arch, self.net.body)
