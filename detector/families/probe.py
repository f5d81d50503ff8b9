"""``probe:<arch>``: a frozen ImageNet backbone read as a texture descriptor, with a linear classifier on top.

Ojha, Li and Lee, "Towards Universal Fake Image Detectors that Generalize Across Generative Models" (CVPR 2023)
found that a linear classifier on *frozen* pretrained features generalised to unseen generators where a fully
fine-tuned network learnt the training generator's artifacts and little else. Their features are CLIP's, which
no package ships offline; this family uses the ImageNet CNNs that do (:mod:`fakescope.detector.pretrained`) and
reads them as texture statistics rather than as semantics: each tile goes through the backbone up to the last
of its ``stages`` (timm's feature stages; the later blocks and the head are pruned away), and every stage's
feature map is summarised by the mean and the standard deviation of each channel over the tile (the statistics
style-transfer work uses to describe a texture). Those vectors are standardised and classified linearly
(:mod:`fakescope.detector.linear`, as ``spectrum``).

Training needs the backbone's weights (``--init imagenet``, or ``--init PATH`` to a state dict of the whole timm
model); the frozen backbone is stored in the checkpoint, so scoring needs nothing installed.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import timm
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from fakescope.core.config import check_ranges
from fakescope.core.safety import first_line

from ..base import DETECTORS
from ..data import MAX_CROP, MIN_CROP, Augment
from ..linear import LinearDetector, check_head_settings
from ..neural import PRETRAINED_NAMES, fixed_chunks, read_weights_file, to_batch

BACKBONE = "backbone."  # the prefix of the frozen backbone's tensors in the checkpoint


@dataclass(frozen=True)
class ProbeConfig:
    arch: str = "mobilenetv2_100"  # a timm CNN with features_only support
    stages: tuple[int, ...] = (0, 1, 2, 3, 4)  # feature stages summarised (timm's out_indices; 0 = stride 2)
    classifier: str = "logistic"  # logistic | svm (linear)
    C: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)  # inverse regularisation strengths; best validation AP wins
    crop: int = 128  # featurised window and scoring tile side, in pixels
    crops_per_image: int = 2  # augmented random crops drawn from each training image
    batch_size: int = 64  # tiles per forward pass
    augment: Augment = field(default_factory=Augment)

    def __post_init__(self) -> None:
        if not timm.is_model(self.arch):
            raise ValueError(f"unknown timm architecture {self.arch!r}; see timm.list_models()")
        check_head_settings("probe", self.classifier, self.C)
        if not self.stages or list(self.stages) != sorted(set(self.stages)):
            raise ValueError(f"probe stages must be increasing stage indices, got {self.stages}")
        check_ranges("probe", crop=(self.crop, MIN_CROP, MAX_CROP), crops_per_image=(self.crops_per_image, 1, None),
                     batch_size=(self.batch_size, 1, None))


@DETECTORS.register
class ProbeDetector(LinearDetector):
    family = "probe"
    Config = ProbeConfig
    variant_field = "arch"

    def __init__(self, config: ProbeConfig) -> None:
        try:  # a model without feature stages, a stage it lacks, a crop it cannot take: one clear error
            self.backbone = timm.create_model(config.arch, pretrained=False)
            # the blocks past the last summarised stage, and the head, are dropped: they would cost time for nothing
            self.backbone.prune_intermediate_layers(indices=list(config.stages), prune_head=True)
            self.backbone.eval().requires_grad_(False)
            self.channels = [self.backbone.feature_info[i]["num_chs"] for i in config.stages]
            self.config = config
            self._stage_maps(torch.zeros(1, 3, config.crop, config.crop))
        except (AssertionError, AttributeError, IndexError, NotImplementedError, RuntimeError, TypeError) as exc:
            raise ValueError(f"probe:{config.arch} with stages {list(config.stages)} at crop {config.crop}: "
                             f"{type(exc).__name__}: {first_line(exc)}"
                             ) from None
        self.initialised = False  # random weights describe nothing: training refuses them
        super().__init__(config)

    @torch.no_grad()
    def _stage_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Normalised ``[B, 3, S, S]`` → the summarised stages' feature maps ``[B, C_k, S/r_k, S/r_k]``."""
        return self.backbone.forward_intermediates(x, indices=list(self.config.stages), intermediates_only=True,
                                                   stop_early=True)

    def halves(self, key: str) -> bool:
        """The backbone in fp16; the scaler and the linear weights stay float64 (a few thousand numbers)."""
        return key.startswith(BACKBONE)

    def n_features(self) -> int:
        return 2 * sum(self.channels)

    def preprocessing(self) -> str:
        return (f"RGB in [0, 1] normalised by ImageNet's mean/std; {self.config.crop} px tiles at native resolution; "
                f"per-channel mean and std of {self.config.arch} stages {list(self.config.stages)}; mean of tile "
                "probabilities")

    @torch.no_grad()
    def featurize(self, windows: Sequence[np.ndarray], device: torch.device | str = "cpu") -> np.ndarray:
        """RGB windows ``[S, S, 3]`` → ``[N, 2·Σ channels]``: each stage's channel means, then its channel stds."""
        self.backbone.to(device)
        mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_DEFAULT_STD, device=device).view(1, 3, 1, 1)
        out = []
        for part, n in fixed_chunks(windows, self.config.batch_size):
            x = (to_batch(part).to(device) + 1.0) * 0.5  # [B, 3, S, S]
            parts = []
            for fmap in self._stage_maps((x - mean) / std):  # [B, C_k, S/r_k, S/r_k] per stage
                flat = fmap.flatten(2)
                parts += [flat.mean(2), flat.std(2, correction=0)]  # [B, C_k] each
            out.append(torch.cat(parts, 1).double().cpu().numpy()[:n])
        return np.concatenate(out) if out else np.zeros((0, self.n_features()))

    # the frozen backbone ------------------------------------------------------------------------------------------
    def init_from(self, path: str | os.PathLike) -> None:
        """The backbone's weights: ``imagenet`` (installed offline) or a state dict of the whole timm model."""
        if str(path) in PRETRAINED_NAMES:
            from ..pretrained import imagenet_state

            full = timm.create_model(self.config.arch, pretrained=False)
            full.load_state_dict(imagenet_state(self.config.arch, full), strict=False)  # all but the 1000-class head
            state = full.state_dict()
        else:
            state = read_weights_file(path)
        own = self.backbone.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise ValueError(f"{path}: weights do not fit {self.name} (missing {missing[0]})")
        try:
            self.backbone.load_state_dict({k: state[k] for k in own})
        except RuntimeError as exc:  # a shape that differs
            detail = [m.strip() for m in str(exc).splitlines() if m.strip()][1:2] or [str(exc)]
            raise ValueError(f"{path}: weights do not fit {self.name} ({detail[0][:300]})") from None
        self.initialised = True

    def fit(self, train, val, *, device, seed, progress=None) -> dict:
        if not self.initialised:
            raise ValueError(f"{self.name} reads a pretrained backbone: train it with --init imagenet "
                             "(or --init PATH to the timm model's weights)")
        return super().fit(train, val, device=device, seed=seed, progress=progress)

    def tensors(self) -> dict[str, torch.Tensor]:
        backbone = {BACKBONE + k: v for k, v in self.backbone.state_dict().items()
                    if not k.endswith("num_batches_tracked")}
        return {**backbone, **super().tensors()}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        own = self.backbone.state_dict()
        state = {k[len(BACKBONE):]: v for k, v in tensors.items() if k.startswith(BACKBONE)}
        missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
        if missing:
            raise KeyError(f"missing {BACKBONE}{missing[0]}")
        try:
            self.backbone.load_state_dict({k: state[k].to(own[k].dtype) if k in state else own[k] for k in own})
        except RuntimeError as exc:  # name the first tensor whose shape differs
            bad = next((k for k in own if k in state and state[k].shape != own[k].shape), None)
            if bad is None:
                raise ValueError(f"backbone does not load into {self.name}: {first_line(exc)}") from None
            raise ValueError(f"{BACKBONE}{bad}: shape {tuple(state[bad].shape)}, {self.name} has "
                             f"{tuple(own[bad].shape)}") from None
        self.backbone.eval()
        self.initialised = True
        super().load_tensors({k: v for k, v in tensors.items() if not k.startswith(BACKBONE)})

    def complexity(self) -> dict[str, int]:
        from torch.utils.flop_counter import FlopCounterMode

        crop = self.config.crop
        backbone = copy.deepcopy(self.backbone).cpu()  # the detector's own stays on its scoring device
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            backbone.forward_intermediates(torch.zeros(1, 3, crop, crop), indices=list(self.config.stages),
                                           intermediates_only=True, stop_early=True)
        params = sum(p.numel() for p in self.backbone.parameters()) + 3 * self.n_features() + 1
        return {"parameters": params, "macs_per_crop": counter.get_total_flops() // 2, "crop": crop}
