"""The GAN family interface and registry.

A family file (``generators/families/<name>.py``) reads top-down: a docstring citing the paper, a frozen
config dataclass, the modules, then a subclass of its kind's interface registered with ``@GANS.register``.
What a new family must provide:

- ``name``: the registered name (``@GANS.register`` reads it);
- ``Config``: a frozen dataclass; every field has a default and a comment.
- ``build_nets()``: every network, named (``G``, ``D``, ``G_ab``, ...), in an ``nn.ModuleDict``.
- ``exported``: the names of the networks a sampling checkpoint keeps (the rest is training-only).
- ``make_trainer(data, device=, seed=)``: a :class:`fakescope.generators.training.Trainer` over real images.
- what its kind asks for (:mod:`fakescope.generators.kinds`): noise → image families (``NoiseToImage``)
  ``latent(generator)`` and ``generate(z)``; image → image families (``ImageToImage``)
  ``translate(images, direction)``.

A kind interface implements the hooks below (``kind``, :meth:`GANFamily.entry_problem`,
:meth:`GANFamily.corpus_fakes`, and :meth:`GANFamily.training_data` when its training data is not one real
source), so corpus building, recipes and the CLI never ask which kind a family is.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from fakescope.core.checkpoint import (
    MAX_WEIGHTS_BYTES,
    CheckpointError,
    config_from_dict,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from fakescope.core.config import with_overrides
from fakescope.core.registry import Registry

from . import families

if TYPE_CHECKING:
    from .corpus.batches import FakeRequest
    from .recipes import FakeEntry
    from .training import Trainer

CHECKPOINT_KIND = "gan"


class GANFamily(ABC):
    """One GAN family with a fixed config: its networks, sampling, and how to train it."""

    name: ClassVar[str]
    Config: ClassVar[type]
    kind: ClassVar[str]  # set by the kind interface; recorded in corpus.json ("noise", "translate", "resynth")
    exported: ClassVar[tuple[str, ...]] = ("G",)
    #: Whether training reports image-quality metrics (FD/KID on random conv features, SWD; the standard FID
    #: when given the Inception weights: ``train_gan(inception_weights=...)``).
    quality_metrics: ClassVar[bool] = False
    #: Named sets of config overrides (``--preset NAME``), e.g. ``{"cpu": {...}, "gpu": {...}}``.
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    #: Config fields that only lengthen the training schedule: a run may be resumed with a larger value of these
    #: (``gan train --resume --epochs N``: a finished run extended); every other field must match.
    schedule_fields: ClassVar[tuple[str, ...]] = ("epochs",)

    def __init__(self, config: Any, *, seed: int = 0) -> None:
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.nets = self.build_nets()

    @abstractmethod
    def build_nets(self) -> nn.ModuleDict: ...

    @abstractmethod
    def make_trainer(self, data: torch.Tensor, *, device: torch.device, seed: int) -> Trainer: ...

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of generated images."""
        return (self.config.channels, self.config.image_size, self.config.image_size)

    # what each kind implements ------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def entry_problem(cls, entry: FakeEntry) -> str | None:
        """Why a recipe's ``[[fake]]`` entry cannot use this family (its kind's keys: ``direction``, ``input``,
        ``input_split``), worded to follow the entry's location (``": ..."`` or ``".key ..."``); None if it can."""

    @abstractmethod
    def corpus_fakes(self, request: FakeRequest) -> Iterator[tuple[int, torch.Tensor, list[dict]]]:
        """The fakes of ``request`` (one entry, one split, indices ``start .. stop-1``) in index order:
        ``(first index, images [B, C, H, W] in [-1, 1], one dict per image of what its manifest row adds)``.
        On the CPU an image's bytes must not depend on the batch it is generated in."""

    def training_data(self, *, data: str, domain_a: str | None, domain_b: str | None, count: int | None,
                      seed: int) -> tuple[Any, dict]:
        """What :meth:`make_trainer` trains on, drawn from real sources, and how it was drawn (for the run record).

        By default ``count`` images of the train split of one real source ``data`` at the generator's size.
        """
        from .sources import create_source, split_schemes

        if domain_a is not None or domain_b is not None:
            raise ValueError(f"--domain-a/--domain-b apply to image-to-image families only; {self.name} trains "
                             "on --data")
        c, s, _ = self.image_shape
        real = create_source(data).draw(count, size=s, channels=c, split="train", seed=seed)
        schemes = split_schemes([data])  # a folder's split is recorded: a resume across a change is refused
        return real.images, {"data": data, "count": len(real), **({"splits": schemes} if schemes else {})}

    def to(self, device: torch.device | str) -> GANFamily:
        self.nets.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.nets.parameters()).device

    # checkpoints -----------------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike, *, meta: dict | None = None, half: bool = False) -> str:
        """Write the exported networks as a checkpoint folder; returns the weights' sha256."""
        tensors = {
            f"{net}.{k}": v for net in self.exported for k, v in self.nets[net].state_dict().items()
        }
        c, h, w = self.image_shape
        info = {
            "kind": CHECKPOINT_KIND,
            "family": self.name,
            "config": self.config,
            "image": {"channels": c, "height": h, "width": w, "range": [-1.0, 1.0]},
            **(meta or {}),
        }
        return save_checkpoint(folder, tensors, info, half=half)


GANS: Registry[type[GANFamily]] = Registry("GAN family", modules=families.MODULES)


def list_gans() -> list[str]:
    """The GAN family names; nothing is imported."""
    return GANS.names()


def create_gan(name: str, *, seed: int = 0, preset: str | None = None, **overrides: Any) -> GANFamily:
    """A fresh (untrained) GAN of family ``name``: its config from ``preset`` (if given), then ``overrides``."""
    family = GANS.get(name)
    values = {**preset_overrides(name, preset), **overrides} if preset else overrides
    config = with_overrides(family.Config(), values, what=name)
    check_config(config, name)
    return family(config, seed=seed)


#: Config fields that must be at least 1 wherever a family has them (0 would train nothing or build nothing).
POSITIVE_FIELDS = ("epochs", "batch_size", "image_size", "latent_dim", "images_per_phase", "count", "steps")


def check_config(config: Any, name: str = "") -> None:
    """Refuse, before anything is built or written, a config value out of range (the types were checked when
    the config was made: :func:`fakescope.core.config.check_types`).

    Numbers not negative, in tuples too; the sizes and counts of :data:`POSITIVE_FIELDS` at least 1; ``channels``
    1 or 3. A family's own ``__post_init__`` checks what only it knows.
    """
    where = f"{name} " if name else ""
    for f in fields(config):
        value = getattr(config, f.name)
        _check_not_negative(f"{where}{f.name}", value)
        if f.name in POSITIVE_FIELDS and isinstance(value, (int, float)) and value < 1:
            raise ValueError(f"{where}{f.name} must be at least 1, got {value!r}")
        if f.name == "channels" and value not in (1, 3):
            raise ValueError(f"{where}channels must be 1 or 3, got {getattr(config, f.name)!r}")


def _check_not_negative(name: str, value: Any) -> None:
    if isinstance(value, tuple):
        for v in value:
            _check_not_negative(name, v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")


def preset_overrides(name: str, preset: str) -> dict[str, Any]:
    """The config overrides of family ``name``'s preset ``preset``; an unknown preset names the known ones."""
    presets = GANS.get(name).presets
    if preset not in presets:
        known = ", ".join(sorted(presets)) or "none"
        raise ValueError(f"unknown preset {preset!r} for GAN family {name!r}; known: {known}")
    return dict(presets[preset])


def _check_shapes(folder: Path, family: type[GANFamily], config: Any, tensors: dict[str, torch.Tensor]) -> None:
    """Refuse weights whose shapes the config's networks do not have, and networks larger than a weights file may
    be, comparing against networks built on the ``meta`` device (no memory): a config.json edited to huge sizes
    is refused before it allocates anything (the networks that are not exported, e.g. a discriminator, too)."""
    with torch.device("meta"):
        skeleton = family(config)
    size = sum(t.numel() * t.element_size() for t in skeleton.nets.state_dict().values())
    if size > MAX_WEIGHTS_BYTES:
        raise CheckpointError(f"{folder}: the {family.name} config's networks would take {size / 1e9:,.0f} GB "
                              f"(limit {MAX_WEIGHTS_BYTES / 1e9:.0f} GB); refusing to build them")
    for net in family.exported:
        for key, value in skeleton.nets[net].state_dict().items():
            stored = tensors.get(f"{net}.{key}")
            if stored is not None and tuple(stored.shape) != tuple(value.shape):
                raise CheckpointError(f"{folder}: weights do not fit the {family.name} config: {net}.{key} is "
                                      f"{tuple(stored.shape)} in the weights file, {tuple(value.shape)} in the "
                                      "config's network")


def load_gan(name_or_dir: str | os.PathLike, *, device: torch.device | str = "cpu") -> tuple[GANFamily, dict]:
    """A GAN from a bundled name or checkpoint folder, in eval mode on ``device``; returns ``(gan, meta)``."""
    folder = checkpoint_folder(name_or_dir)
    tensors, meta = load_checkpoint(folder, kind=CHECKPOINT_KIND)
    family = GANS.get(meta["family"])
    try:
        config = config_from_dict(family.Config, meta["config"])
        check_config(config, family.name)
    except ValueError as exc:  # CheckpointError included
        raise CheckpointError(f"{folder}: bad {family.name} config ({exc})") from None
    _check_shapes(folder, family, config, tensors)  # before any network is allocated at the config's sizes
    gan = family(config)
    for net in family.exported:
        prefix = f"{net}."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            gan.nets[net].load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"{folder}: weights do not fit the {family.name} config: {exc}") from None
    gan.nets.eval()
    meta["path"] = str(folder)
    return gan.to(device), meta


def checkpoint_folder(name_or_dir: str | os.PathLike) -> Path:
    """A GAN checkpoint folder from a bundled name (``vanilla-digits``) or a path."""
    return resolve_checkpoint(name_or_dir, __package__)
