"""Image-quality metrics for generators that need no download: compare two image sets ``[N, C, H, W]`` in [-1, 1].

``FD-random-conv`` / ``KID-random-conv``
    The Fréchet distance (Heusel et al., NeurIPS 2017) and the kernel inception distance (Bińkowski et al.,
    ICLR 2018) computed on the features of :class:`RandomConvFeatures`, a small convolutional network whose
    weights are drawn from a fixed seed. It is *not* Inception: its values are comparable with each other
    (same fakescope version, same image size), never with published FID/KID numbers.
``SWDx1e3-<res>`` / ``SWDx1e3-avg``
    The sliced Wasserstein distance between 7×7 patches of a Laplacian pyramid, per level down to 16×16, as in
    the ProGAN paper (Karras et al., ICLR 2018, reference ``metrics/sliced_wasserstein.py``), times 10³.
``FID``
    The standard Fréchet Inception distance, only when the caller passes the standard FID Inception weights
    file (``pt_inception-2015-12-05-6726825d.pth``, TensorFlow's 2015 Inception ported to PyTorch), which is
    checked by its sha256 and never downloaded.

Estimates from few images are biased or noisy: :class:`UnstableEstimateWarning` says so.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from fakescope.core.checkpoint import load_tensor_file
from fakescope.core.safety import first_line

#: sha256 of the standard FID Inception weights (pytorch-fid / torch-fidelity release file).
FID_INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"


class MetricsError(ValueError):
    """Inputs a metric cannot use (wrong shapes, too small images, a wrong weights file)."""


class UnstableEstimateWarning(UserWarning):
    """Too few images for a stable estimate: the value is biased or noisy."""


def _warn_if_few(name: str, n: int, needed: int) -> None:
    if n < needed:
        warnings.warn(f"{name}: {n} images is too few for a stable estimate (use at least {needed})",
                      UnstableEstimateWarning, stacklevel=3)


def _check_images(images: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise MetricsError(f"{what}: expected images [N, 1 or 3, H, W], got {shape}")
    if images.shape[0] < 2:
        raise MetricsError(f"{what}: need at least 2 images, got {images.shape[0]}")
    return images


def _rgb(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


# --- random-conv features ---------------------------------------------------------------------------------


class RandomConvFeatures(nn.Module):
    """A fixed, randomly initialised conv net: images → ``dim`` features (never trained, never downloaded).

    Input is resized to 64×64 (bilinear, antialiased) and gray is replicated to RGB, so any image size and
    either channel count share one feature space. Four 3×3 conv + ReLU layers (stride 1, 2, 2, 2; widths 32,
    64, 128, ``width``) with He-normal weights from ``torch.manual_seed(seed)``, then average pooling onto a
    2×2 grid, which keeps coarse layout (a face upside down is far from a face): ``dim = 4·width`` features.
    """

    name = "random-conv"

    def __init__(self, width: int = 64, seed: int = 0) -> None:
        super().__init__()
        self.dim = 4 * width
        widths, strides = (3, 32, 64, 128, width), (1, 2, 2, 2)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.convs = nn.ModuleList(
                nn.Conv2d(widths[i], widths[i + 1], 3, stride=strides[i], padding=1) for i in range(4)
            )
            for conv in self.convs:
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                nn.init.zeros_(conv.bias)
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] in [-1, 1] → [N, dim]
        x = F.interpolate(_rgb(images.float()), size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
        for conv in self.convs:
            x = F.relu(conv(x))  # last: [N, width, 8, 8]
        return F.adaptive_avg_pool2d(x, 2).flatten(1)  # [N, 4·width]


_EXTRACTORS: dict[tuple[str, str], nn.Module] = {}


def random_conv_features(images: torch.Tensor, *, device: torch.device | str = "cpu",
                         batch_size: int = 256) -> np.ndarray:
    """``[N, C, H, W]`` in [-1, 1] → ``float64 [N, 256]`` features of the fixed random-conv net."""
    device = torch.device(device)
    key = ("random-conv", str(device))
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = RandomConvFeatures().to(device)
    return _features(_EXTRACTORS[key], images, device, batch_size)


@torch.no_grad()
def _features(net: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int) -> np.ndarray:
    parts = [net(chunk.to(device)).double().cpu() for chunk in images.split(batch_size)]
    return torch.cat(parts).numpy()


# --- distances between feature sets -----------------------------------------------------------------------


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``‖μa − μb‖² + tr(Σa + Σb − 2(Σa Σb)^½)`` between Gaussians fitted to features ``[N, D]``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise MetricsError("Fréchet distance: the features are not all finite")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # tr((Σa Σb)^½) = tr((Σa^½ Σb Σa^½)^½), a symmetric PSD matrix: eigenvalues are real and stable
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    inner = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0.0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)


def kernel_distance(a: np.ndarray, b: np.ndarray, *, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> float:
    """Unbiased MMD² with the cubic polynomial kernel ``(x·y / D + 1)³``, averaged over random subsets (KID)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = min(len(a), len(b), subset_size)
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(subsets):
        x = b[rng.choice(len(b), n, replace=False)]
        y = a[rng.choice(len(a), n, replace=False)]
        k_xx_yy = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        k_xy = (x @ y.T / d + 1) ** 3
        total += (k_xx_yy.sum() - np.diag(k_xx_yy).sum()) / (n - 1) - k_xy.sum() * 2 / n
    return float(total / subsets / n)


def fd_random_conv(real: torch.Tensor, fake: torch.Tensor, *, device: torch.device | str = "cpu") -> float:
    """Fréchet distance on random-conv features (``FD-random-conv``; not Inception FID)."""
    fr = random_conv_features(_check_images(real, "real images"), device=device)
    ff = random_conv_features(_check_images(fake, "generated images"), device=device)
    _warn_if_few("FD-random-conv", min(len(fr), len(ff)), 2 * fr.shape[1])
    return frechet_distance(fr, ff)


def kid_random_conv(real: torch.Tensor, fake: torch.Tensor, *, device: torch.device | str = "cpu",
                    seed: int = 0) -> float:
    """Kernel distance on random-conv features (``KID-random-conv``; not Inception KID)."""
    fr = random_conv_features(_check_images(real, "real images"), device=device)
    ff = random_conv_features(_check_images(fake, "generated images"), device=device)
    _warn_if_few("KID-random-conv", min(len(fr), len(ff)), 100)
    return kernel_distance(fr, ff, seed=seed)


# --- sliced Wasserstein distance on Laplacian-pyramid patches ----------------------------------------------

_GAUSS = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
SWD_MIN_RESOLUTION = 16


def _blur(x: torch.Tensor) -> torch.Tensor:
    """5×5 binomial filter (the [1 4 6 4 1]² / 256 of cv2.pyrDown) with mirror padding, per channel."""
    c = x.shape[1]
    k = (_GAUSS[:, None] * _GAUSS[None, :]).to(x)[None, None].expand(c, 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k, groups=c)


def _pyr_down(x: torch.Tensor) -> torch.Tensor:
    return _blur(x)[:, :, ::2, ::2]


def _pyr_up(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    return _blur(up) * 4.0


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``levels`` band-pass images, finest first; the last one is the low-pass residual."""
    pyramid = [images.float()]
    for _ in range(1, levels):
        pyramid.append(_pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - _pyr_up(pyramid[-1])
    return pyramid


def _patches(level: torch.Tensor, per_image: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``per_image`` random ``size``×``size`` patches per image, none crossing the border: ``[N·P, C, s, s]``."""
    n, c, h, w = level.shape
    r = size // 2
    ys = torch.randint(r, h - r, (n, per_image), generator=gen)
    xs = torch.randint(r, w - r, (n, per_image), generator=gen)
    offsets = torch.arange(-r, r + 1)
    rows = (ys[..., None] + offsets)[..., :, None].to(level.device)  # [N, P, s, 1]
    cols = (xs[..., None] + offsets)[..., None, :].to(level.device)  # [N, P, 1, s]
    index = torch.arange(n, device=level.device)[:, None, None, None]
    patches = level[index, :, rows, cols]  # [N, P, s, s, C]
    return patches.permute(0, 1, 4, 2, 3).reshape(n * per_image, c, size, size)


def _normalise(desc: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per channel over all patches of a set; then flatten: ``[M, C·s·s]``."""
    desc = desc - desc.mean(dim=(0, 2, 3), keepdim=True)
    desc = desc / desc.std(dim=(0, 2, 3), keepdim=True, unbiased=False).clamp_min(1e-12)
    return desc.flatten(1)


def _sort_rows(x: torch.Tensor) -> torch.Tensor:
    """Sort each row; NumPy's sort is ~20× faster than torch.sort on the CPU here."""
    if x.device.type == "cpu":
        return torch.from_numpy(np.sort(x.numpy(), axis=1))
    return torch.sort(x, dim=1).values


def _sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, repeats: int, directions: int,
                        gen: torch.Generator) -> float:
    results = []
    for _ in range(repeats):
        dirs = torch.randn(a.shape[1], directions, generator=gen, dtype=torch.float64).to(a.device)
        dirs = (dirs / dirs.norm(dim=0, keepdim=True)).to(a.dtype)
        proj_a = _sort_rows(dirs.T @ a.T)  # [directions, M]
        proj_b = _sort_rows(dirs.T @ b.T)
        results.append((proj_a - proj_b).abs().mean().item())
    return float(np.mean(results))


def sliced_wasserstein_distance(real: torch.Tensor, fake: torch.Tensor, *, device: torch.device | str = "cpu",
                                seed: int = 0, patch_size: int = 7, patches_per_image: int = 128,
                                repeats: int = 4, directions: int = 128) -> dict[str, float]:
    """SWD ×10³ per Laplacian-pyramid level (``SWDx1e3-32``, ``SWDx1e3-16``, ...) and their mean (``-avg``).

    Levels run from the image size down to 16×16 (images must be square, at least 16 px). Each set's patch
    descriptors are normalised by that set's own per-channel mean and deviation, as in the reference code;
    the larger set is subsampled to the smaller one's patch count. Both sets draw their patch positions from
    the same seed (common random numbers), so identical sets are at distance 0.
    """
    _check_images(real, "real images")
    _check_images(fake, "generated images")
    if real.shape[1:] != fake.shape[1:]:
        raise MetricsError(f"SWD: image shapes differ: {tuple(real.shape[1:])} vs {tuple(fake.shape[1:])}")
    h, w = real.shape[2:]
    if h != w or h < SWD_MIN_RESOLUTION:
        raise MetricsError(f"SWD needs square images of at least {SWD_MIN_RESOLUTION} px, got {h}×{w}")
    _warn_if_few("SWD", min(len(real), len(fake)), 64)
    resolutions = []
    res = h
    while res >= SWD_MIN_RESOLUTION:
        resolutions.append(res)
        res //= 2
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    pyramids = [laplacian_pyramid(x.to(device), len(resolutions)) for x in (real, fake)]
    out = {}
    for i, res in enumerate(resolutions):
        desc = [_normalise(_patches(p[i], patches_per_image, patch_size, torch.Generator().manual_seed(seed + i)))
                for p in pyramids]
        m = min(len(desc[0]), len(desc[1]))
        desc = [d[torch.randperm(len(d), generator=gen)[:m].to(device)] if len(d) > m else d for d in desc]
        out[f"SWDx1e3-{res}"] = 1e3 * _sliced_wasserstein(desc[0], desc[1], repeats, directions, gen)
    out["SWDx1e3-avg"] = float(np.mean(list(out.values())))
    return out


# --- standard FID (only with the user's Inception weights file) ---------------------------------------------


def check_inception_weights(path: str | os.PathLike, sha256: str = FID_INCEPTION_SHA256) -> Path:
    """The path, if it is the standard FID Inception weights file (by sha256); else :class:`MetricsError`."""
    path = Path(path)
    if not path.is_file():
        raise MetricsError(f"{path}: no such Inception weights file")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise MetricsError(f"{path}: not the standard FID Inception weights ({FID_INCEPTION_FILE}, sha256 "
                           f"{sha256[:12]}...); its sha256 is {digest.hexdigest()[:12]}...")
    return path


def fid_inception_v3() -> nn.Module:
    """The FID variant of Inception-v3 (TensorFlow's 2015 graph), untrained: torchvision's network with the
    blocks patched as pytorch-fid does (average pools that ignore padding; max pool in the last block)."""
    import torchvision
    from torchvision.models import inception as tvi

    class FIDInceptionA(tvi.InceptionA):
        def _forward(self, x):
            out = super()._forward(x)
            out[3] = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
            return out

    class FIDInceptionC(tvi.InceptionC):
        def _forward(self, x):
            out = super()._forward(x)
            out[3] = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
            return out

    class FIDInceptionE1(tvi.InceptionE):
        def _forward(self, x):
            out = super()._forward(x)
            out[3] = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
            return out

    class FIDInceptionE2(tvi.InceptionE):
        def _forward(self, x):
            out = super()._forward(x)
            out[3] = self.branch_pool(F.max_pool2d(x, 3, stride=1, padding=1))
            return out

    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE1(1280)
    net.Mixed_7c = FIDInceptionE2(2048)
    return net


class InceptionPool3(nn.Module):
    """Images in [-1, 1] → the 2048 pool3 features of the FID Inception (pytorch-fid's preprocessing:
    8-bit quantisation, bilinear resize to 299×299, gray replicated to RGB)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] → [N, 2048]
        x = _rgb(images.float()).add(1).mul(127.5).round().clamp(0, 255).div(255)  # as if read from 8-bit files
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
        n = self.net
        for layer in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1, n.Conv2d_3b_1x1,
                      n.Conv2d_4a_3x3, n.maxpool2, n.Mixed_5b, n.Mixed_5c, n.Mixed_5d, n.Mixed_6a, n.Mixed_6b,
                      n.Mixed_6c, n.Mixed_6d, n.Mixed_6e, n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):
            x = layer(x)
        return x.mean(dim=(2, 3))


def load_fid_inception(path: str | os.PathLike, *, device: torch.device | str = "cpu",
                       sha256: str = FID_INCEPTION_SHA256) -> InceptionPool3:
    """The FID Inception from the user's weights file (hash checked; ``weights_only`` loading)."""
    path = check_inception_weights(path, sha256)
    net = fid_inception_v3()
    try:
        state = load_tensor_file(path)
        missing, unexpected = net.load_state_dict(state, strict=False)
    except Exception as exc:  # noqa: BLE001  (weights_only refusals, wrong shapes, not a state dict)
        raise MetricsError(f"{path}: cannot load as FID Inception weights ({first_line(exc)})") from None
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]  # older files lack these counters
    if missing or unexpected:
        raise MetricsError(f"{path}: cannot load as FID Inception weights ({len(missing)} missing and "
                           f"{len(unexpected)} unexpected tensors)")
    return InceptionPool3(net).to(device)


def fid(real: torch.Tensor, fake: torch.Tensor, inception: InceptionPool3, *, batch_size: int = 64) -> float:
    """The standard Fréchet Inception distance (pool3 features)."""
    device = next(inception.parameters()).device
    fr = _features(inception, _check_images(real, "real images"), device, batch_size)
    ff = _features(inception, _check_images(fake, "generated images"), device, batch_size)
    _warn_if_few("FID", min(len(fr), len(ff)), 2048)
    return frechet_distance(fr, ff)


# --- all together ------------------------------------------------------------------------------------------


def quality_metrics(real: torch.Tensor, fake: torch.Tensor, *, device: torch.device | str = "cpu", seed: int = 0,
                    inception_weights: str | os.PathLike | None = None) -> dict[str, float]:
    """Every metric that applies: ``FD-random-conv``, ``KID-random-conv``, ``SWDx1e3-*`` (images ≥ 16 px) and,
    with the standard Inception weights file, ``FID``. Lower is better for all of them."""
    out = {
        "FD-random-conv": round(fd_random_conv(real, fake, device=device), 6),
        "KID-random-conv": round(kid_random_conv(real, fake, device=device, seed=seed), 6),
    }
    if real.shape[-1] >= SWD_MIN_RESOLUTION:
        out.update({k: round(v, 4) for k, v in sliced_wasserstein_distance(real, fake, device=device,
                                                                           seed=seed).items()})
    if inception_weights is not None:
        out["FID"] = round(fid(real, fake, load_fid_inception(inception_weights, device=device)), 4)
    return out
