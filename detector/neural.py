"""What every neural detector family shares: the forensic training recipe and prediction by native-resolution tiles.

Training (Wang et al., CVPR 2020): each step draws a batch, augments every image by the same law whatever its
label (Gaussian blur σ ~ U(0, 3) and JPEG quality ~ U(30, 100), each with its configured probability, then a
flip), takes a random ``crop``×``crop`` window and minimises BCE with Adam (at a constant learning rate, or with
``lr_schedule="cosine"`` one that decays from ``lr`` to 0 along a half cosine over all ``epochs``). After each
epoch the validation AP is measured (after BatchNorm statistics are recomputed over un-augmented training crops);
training stops after ``patience`` epochs without a better one and keeps the best epoch's weights.
Every random draw comes from ``seed``, so training is deterministic on the CPU.

Under torchrun (a process group is running) the network is wrapped in DistributedDataParallel: every rank draws
the same seeded global batch and augments it identically, trains on its contiguous slice, and the loss is scaled
so that the averaged gradient is that of the mean over the global batch; BatchNorm layers use the statistics of
the global batch (:func:`fakescope.core.distributed.sync_batchnorm`). Training is then the single-process
training up to floating-point reduction order. Validation, PreciseBN and early stopping run on every rank
alike (the weights are the same on every rank).

Prediction: an image is never downscaled or zero-padded; it is covered by ``crop``-sized tiles at its native
resolution and its score is the mean of the tile probabilities (:meth:`Detector.raw_scores`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from fakescope.core import distributed
from fakescope.core.checkpoint import MAX_WEIGHTS_BYTES, load_tensor_file
from fakescope.core.config import check_ranges
from fakescope.core.progress import Progress
from fakescope.core.safety import UnsafeFileError, check_regular_file, first_line
from fakescope.core.seeding import numpy_rng

from .base import Detector
from .data import (
    MAX_CROP,
    MIN_CROP,
    Augment,
    ImageSet,
    center_crop,
    paired_crops,
    paired_reals,
    random_crop,
    sample_crops,
)


def fixed_chunks(items: Sequence, size: int) -> Iterator[tuple[list, int]]:
    """``items`` in chunks of exactly ``size`` (the last padded with copies of its last item), each with how many
    of it are real items. Kernels may pick their algorithm by batch size; a network that always sees ``size``
    inputs gives each input the same output whatever it was scored with (tested bit for bit)."""
    for start in range(0, len(items), size):
        part = list(items[start : start + size])
        yield part + [part[-1]] * (size - len(part)), len(part)


def to_batch(images: Sequence[np.ndarray]) -> torch.Tensor:
    """RGB ``uint8 [H, W, 3]`` arrays of one size → float ``[N, 3, H, W]`` in [-1, 1]."""
    arr = np.stack(images).astype(np.float32)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).div_(127.5).sub_(1.0)


def read_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from a local file, without executing code.

    ``.safetensors`` through safetensors; anything else through ``torch.load(weights_only=True)``. A dict that
    wraps the state dict under ``model`` (CNNDetection's checkpoints), ``state_dict`` or ``net`` is unwrapped and
    a ``module.`` prefix (DataParallel) is dropped.
    """
    path = Path(path)
    try:  # stat only: a device, FIFO or folder is refused without being opened (never a read of /dev/zero)
        check_regular_file(path, MAX_WEIGHTS_BYTES)
    except UnsafeFileError as exc:
        reason = "no such weights file" if str(exc) == "no such file" else f"{exc}, not a weights file"
        raise ValueError(f"{path}: {reason}") from None
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = load_tensor_file(path)
    except Exception as exc:  # noqa: BLE001 — unreadable, pickled code, truncated: one line, naming the file
        raise ValueError(f"{path}: not a readable weights file ({first_line(exc)})") from None
    for key in ("model", "state_dict", "net"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


#: ``--init`` keywords naming installed weights rather than a file.
PRETRAINED_NAMES = ("imagenet",)


def checkpoint_folder(path: str | os.PathLike) -> Path | None:
    """The detector checkpoint ``--init`` names, if it names one; None for a weights file.

    Names resolve as everywhere else (:func:`fakescope.core.checkpoint.resolve_checkpoint`): a bare name that is
    a bundled checkpoint (``npr-bundled``) is that one — an error when a checkpoint folder of that name is here
    too; a path (``./x``, ``runs/x``, a ``Path``) or another bare name that is a folder is that folder."""
    from fakescope.core.checkpoint import CONFIG_FILE, bundled_root, looks_like_path, resolve_checkpoint

    text = os.fspath(path)
    bare = isinstance(path, str) and not looks_like_path(text)
    if bare and (bundled_root(__package__) / text / CONFIG_FILE).is_file():
        return resolve_checkpoint(text, __package__)
    given = Path(text).expanduser()
    return given if given.is_dir() else None


LR_SCHEDULES = ("constant", "cosine")
#: Pixels per forward pass when scoring, at most 64 tiles a pass (see :func:`score_chunk`).
SCORE_PIXELS = 512 * 512


def score_chunk(crop: int) -> int:
    """Tiles per forward pass for tiles of side ``crop``: fixed for a detector, so that a tile's score never
    depends on its batch neighbours, and small for large tiles, so that a lone image does not pay for 63 padding
    tiles of 224 px (a power of two from 1 to 64: 64 at 32 px, 16 at 128 px, 4 at 224 px)."""
    return min(64, 2 ** int(math.log2(max(1, SCORE_PIXELS // (crop * crop)))))


@dataclass(frozen=True)
class NeuralConfig:
    """The training fields every neural family's config shares (a family's config subclasses it and adds its
    own fields; it may give these other defaults)."""

    crop: int = 32  # training crop and scoring tile side, in pixels
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-4  # Adam
    lr_schedule: str = "constant"  # constant | cosine (from lr to 0 over all epochs' steps)
    patience: int = 3  # epochs without a better validation AP before stopping
    augment: Augment = field(default_factory=Augment)
    pairs: bool = False  # train on (real image, its reconstruction) pairs under identical augmentation

    def __post_init__(self) -> None:  # a family's config that has its own calls this too
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule {self.lr_schedule!r}: expected one of {', '.join(LR_SCHEDULES)}")
        check_ranges("detector", crop=(self.crop, MIN_CROP, MAX_CROP), epochs=(self.epochs, 0, None),
                     batch_size=(self.batch_size, 1, None), lr=(self.lr, 0, None), patience=(self.patience, 0, None))


def learning_rate(cfg: NeuralConfig, step: int, total: int) -> float:
    """The learning rate of training step ``step`` (0-based) of ``total`` (the config checked the schedule)."""
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))
    return cfg.lr


class NeuralDetector(Detector):
    """A detector whose ``Config`` is a :class:`NeuralConfig`."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.net = self.build_net()
        self.init_path: str | None = None

    @abstractmethod
    def build_net(self) -> nn.Module:
        """A module mapping ``[N, 3, crop, crop]`` in [-1, 1] to ``[N]`` logits."""

    def init_module(self) -> nn.Module:
        """The module an ``--init`` weights file is loaded into (a wrapped backbone, say)."""
        return self.net

    def tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.net.state_dict())

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(tensors)
        self.net.eval()

    def init_from(self, path: str | os.PathLike) -> None:
        """Load a local weights file into :meth:`init_module` now (to fail early) and again when ``fit`` starts."""
        self._load_init(path)
        self.init_path = str(path)

    def pretrained_state(self, name: str) -> dict[str, torch.Tensor]:
        """Named, installed initial weights for :meth:`init_module` (``--init imagenet``); none by default."""
        raise ValueError(f"{self.name} has no {name!r} weights; give --init PATH to a weights file")

    def _load_init(self, path: str | os.PathLike) -> None:
        if str(path) in PRETRAINED_NAMES:  # a keyword; a file of that name is given as ./imagenet
            # every tensor but the head: pretrained_state checks the coverage and each shape; the head stays new
            state = self.pretrained_state(str(path))
            unexpected = self.init_module().load_state_dict(state, strict=False).unexpected_keys
            if unexpected:
                raise ValueError(f"{path} weights do not fit {self.name}: {unexpected[:3]}")
            return
        folder = checkpoint_folder(path)
        if folder is not None:  # a detector trained here: its whole network (recalibrate it with --epochs 0)
            self._load_checkpoint(folder)
            return
        state = read_weights_file(path)
        try:
            self.init_module().load_state_dict(state)
        except RuntimeError as exc:
            missing = [m for m in str(exc).splitlines() if m.strip()][1:2] or [str(exc)]
            raise ValueError(f"{path}: weights do not fit {self.name} ({missing[0].strip()[:300]})") from None

    def _load_checkpoint(self, folder: Path) -> None:
        """The network of a fakescope checkpoint of this family; settings that shape the network must match."""
        from .base import load_detector

        source = load_detector(folder, family=self.name)
        ours, theirs = dataclasses.asdict(self.config), dataclasses.asdict(source.config)
        training = set(dataclasses.asdict(NeuralConfig())) - {"crop"}  # how it was trained, not what it is
        differ = [f"{k}={theirs[k]!r} (here {ours[k]!r})" for k in ours
                  if k not in training and ours[k] != theirs.get(k)]
        if differ:  # also settings that change the network without changing its weights (a tile size, a factor)
            raise ValueError(f"{folder}: its {self.name} network differs from this one; give its settings with "
                             f"--set: {', '.join(differ)}")
        self.net.load_state_dict(source.net.state_dict())

    def complexity(self) -> dict[str, int]:
        from torch.utils.flop_counter import FlopCounterMode

        params = sum(p.numel() for p in self.net.parameters())
        crop = self.config.crop
        net = copy.deepcopy(self.net).cpu().eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(torch.zeros(1, 3, crop, crop))
        return {"parameters": params, "macs_per_crop": counter.get_total_flops() // 2, "crop": crop}

    # training -------------------------------------------------------------------------------------------------
    resumable = True  # fit(state=PATH) keeps a training state after each epoch and continues from one

    def fit(self, train: ImageSet, val: ImageSet, *, device: torch.device, seed: int,
            progress: Progress | None = None, state: str | os.PathLike | None = None) -> dict:
        """Train for ``config.epochs`` epochs with early stopping on ``val``'s AP. With ``state``, the training
        state (weights, optimizer, best weights so far, history, torch's random state) is written there after
        every epoch (atomically, by rank 0), and a state already there is continued from: a killed run resumes
        at its last finished epoch and ends exactly as an uninterrupted one, with any number of processes."""
        cfg = self.config
        with torch.random.fork_rng(devices=[]):  # every torch draw (init, dropout) comes from ``seed``
            torch.manual_seed(seed)
            return self._fit(train, val, cfg, device=torch.device(device), seed=seed, progress=progress,
                             state_path=None if state is None else Path(state))

    def _state_key(self, train: ImageSet, val: ImageSet, seed: int) -> str:
        """What a saved state must match to be continued: everything but the number of epochs (with a cosine
        schedule, the steps left then follow the schedule of the new number)."""
        from fakescope.core.safety import config_digest

        config = {k: v for k, v in dataclasses.asdict(self.config).items() if k != "epochs"}
        if config["lr_schedule"] == "constant":  # as before the setting existed: older states still resume
            del config["lr_schedule"]
        init = str(self.init_path)
        folder = None if self.init_path is None or self.init_path in PRETRAINED_NAMES else checkpoint_folder(
            self.init_path)
        if folder is not None:  # a checkpoint named by a name or a path: what it holds, not only where it is
            from fakescope.core.checkpoint import WEIGHTS_FILE
            from fakescope.core.imageio import sha256_file

            init += ":" + sha256_file(folder / WEIGHTS_FILE)
        return config_digest({"family": self.family, "config": config, "seed": seed, "init": init,
                              "train": _content_digest(train), "val": _content_digest(val)})

    def _load_state(self, path: Path, key: str, opt: torch.optim.Optimizer) -> dict | None:
        from fakescope.core.checkpoint import read_training_state

        if not (path.exists() or path.is_symlink()):
            return None
        state = read_training_state(path, required=("key", "epoch", "net", "opt", "torch_rng"))
        if state.get("key") != key:
            raise ValueError(f"{path}: a training state of another configuration, seed or data (only --epochs "
                             "may change on --resume); start over without --resume")
        self.net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda_rng"])
        return state

    def _save_state(self, path: Path, payload: dict) -> None:
        from fakescope.core.checkpoint import save_training_state

        if distributed.current().rank == 0:
            save_training_state(path, payload)
        distributed.barrier()

    def _fit(self, train: ImageSet, val: ImageSet, cfg, *, device: torch.device, seed: int,
             progress: Progress | None, state_path: Path | None = None) -> dict:
        ranks = distributed.current()
        self.net = self.build_net()
        if self.init_path is not None:
            self._load_init(self.init_path)
        self.net.to(device)
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
        key = self._state_key(train, val, seed) if state_path is not None else ""
        resumed = self._load_state(state_path, key, opt) if state_path is not None else None
        batches = TrainingBatches(train, cfg, seed)
        if ranks.active and batches.images_per_step < ranks.size:
            raise ValueError(f"a global batch of {batches.images_per_step} images cannot be shared by {ranks.size} "
                             "processes")
        model = self._parallel(device) if ranks.active else self.net
        steps_per_epoch = batches.steps_per_epoch
        total = cfg.epochs * steps_per_epoch
        best_ap, best_state, best_epoch, history = -1.0, None, 0, []
        step, first, stopped = 0, 0, False
        if resumed is not None:
            best_ap, best_epoch, history = resumed["best_ap"], resumed["best_epoch"], list(resumed["history"])
            best_state, step, first = resumed["best"] or None, resumed["step"], resumed["epoch"]
            stopped = resumed["stopped"]  # early stopping ended it: more epochs add nothing
        for epoch in range(first, 0 if stopped else cfg.epochs):
            model.train()
            for b in range(steps_per_epoch):
                crops, labels = batches.global_batch(epoch, b)  # the global batch, on every rank
                lo, hi = distributed.shard_bounds(len(crops), ranks.rank, ranks.size)  # this rank's slice
                x = to_batch(crops[lo:hi]).to(device)  # [b, 3, crop, crop]
                y = labels[lo:hi].to(device)  # [b]
                loss = F.binary_cross_entropy_with_logits(model(x), y)
                # DDP averages gradients over ranks: weighting by this rank's share makes it the global mean's
                scaled = loss * ((hi - lo) * ranks.size / len(crops)) if ranks.active else loss
                opt.zero_grad(set_to_none=True)
                scaled.backward()
                for group in opt.param_groups:  # from the step count alone: a resumed run follows the same schedule
                    group["lr"] = learning_rate(cfg, step, total)
                opt.step()
                step += 1
                if progress is not None:
                    progress(completed=step, total=total,
                             description=f"{self.name} epoch {epoch + 1} loss={loss.item():.3f}")
            if ranks.active:  # the last batch's loss over the whole global batch, as one process reports it
                loss = distributed.all_reduce_sum(loss.detach() * (hi - lo)) / len(crops)
            self._precise_bn(train, device=device, seed=seed)
            from .metrics import summarize  # here: scoring never loads scikit-learn

            ap = summarize(val.labels, self.raw_scores(val.images, device=device))["ap"]
            history.append({"epoch": epoch + 1, "loss": round(loss.item(), 5), "val_ap": round(ap, 5)})
            if ap > best_ap:
                best_ap, best_epoch = ap, epoch + 1
                best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
            else:
                stopped = epoch + 1 - best_epoch >= cfg.patience  # only an epoch that did not improve stops
            if state_path is not None:
                self._save_state(state_path, {
                    "key": key, "epoch": epoch + 1, "step": step, "stopped": stopped, "history": history,
                    "best_ap": best_ap, "best_epoch": best_epoch, "best": best_state or {},
                    "net": self.net.state_dict(), "opt": opt.state_dict(), "torch_rng": torch.get_rng_state(),
                    **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})})
            if stopped:
                break
        if ranks.active:
            distributed.unsync_batchnorm(self.net)
        if best_state is not None:
            self.net.load_state_dict(best_state)
        self.net.eval()
        return {"history": history, "best_epoch": best_epoch, "steps": step,
                **({"processes": ranks.size} if ranks.active else {})}

    def _parallel(self, device: torch.device) -> nn.Module:
        """``self.net`` with global-batch BatchNorm, wrapped in DistributedDataParallel (same parameters)."""
        from torch.nn.parallel import DistributedDataParallel

        distributed.sync_batchnorm(self.net)
        return DistributedDataParallel(self.net, device_ids=[device.index] if device.type == "cuda" else None,
                                       broadcast_buffers=False)

    @torch.no_grad()
    def _precise_bn(self, train: ImageSet, *, device: torch.device, seed: int, max_images: int = 4096,
                    batch_size: int = 256) -> None:
        """Replace BatchNorm's running averages by exact statistics over un-augmented training crops.

        PreciseBN (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021): the exponential moving averages
        kept during training follow the last few (augmented) batches and can sit far from the population
        statistics, which makes evaluation-mode scores collapse. Recomputed before every validation, so early
        stopping sees the model as it will score. Training itself only uses batch statistics: it is unaffected.
        """
        norms = [m for m in self.net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        rng = numpy_rng(seed, "precise-bn")
        pick = rng.permutation(len(train))[:max_images]
        crops = [random_crop(train.images[i], self.config.crop, rng) for i in pick]  # no augmentation
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over every batch below
        self.net.train()
        for s in range(0, len(crops), batch_size):
            self.net(to_batch(crops[s : s + batch_size]).to(device))  # [B, 3, crop, crop]
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        self.net.eval()

    # prediction ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def tile_scores(self, tiles: Sequence[np.ndarray], *, device: torch.device | str = "cpu") -> np.ndarray:
        """The network's probability for each ``crop``-sized tile, :func:`score_chunk` tiles per pass
        (:func:`fixed_chunks`: a tile's score does not depend on the tiles scored with it)."""
        self.net.to(device).eval()
        probs = []
        for part, n in fixed_chunks(tiles, score_chunk(self.config.crop)):
            x = to_batch(part).to(device)  # [chunk, 3, crop, crop]
            probs.append(torch.sigmoid(self.net(x).float()).cpu().numpy()[:n].astype(np.float64))
        return np.concatenate(probs) if probs else np.zeros(0)


class TrainingBatches:
    """The seeded global batches of one training: images (a random order per epoch, ``batch_size`` per step), or,
    with ``config.pairs``, (real image, its reconstruction) pairs — ``batch_size // 2`` pairs per step, both
    members of a pair cropped and augmented by the same draws (:func:`~fakescope.detector.data.paired_crops`)."""

    def __init__(self, train: ImageSet, cfg, seed: int) -> None:
        self.train, self.cfg, self.seed = train, cfg, seed
        if cfg.pairs:
            self.fakes, self.reals = paired_reals(train)
            if not self.fakes:
                raise ValueError("pairs=true: no fake in the training corpora names the real image it was made "
                                 "from (re-synthesis and image-to-image fakes do)")
            self.items, self.per_step = len(self.fakes), max(1, min(cfg.batch_size, 2 * len(self.fakes)) // 2)
            self.images_per_step = 2 * self.per_step
        else:
            self.fakes = self.reals = None
            self.items = len(train)
            self.per_step = self.images_per_step = min(cfg.batch_size, len(train))
        self.steps_per_epoch = max(1, self.items // self.per_step)
        self._labels = torch.as_tensor(train.labels, dtype=torch.float32)
        self._order: tuple[int, np.ndarray] | None = None  # (epoch, its permutation), drawn once per epoch

    def global_batch(self, epoch: int, b: int) -> tuple[list[np.ndarray], torch.Tensor]:
        """Step ``b`` of ``epoch``: the crops ``[crop, crop, 3]`` and their labels ``[B]`` (0 real, 1 fake)."""
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, numpy_rng(self.seed, "order", epoch).permutation(self.items))
        idx = self._order[1][b * self.per_step : (b + 1) * self.per_step]
        rng = numpy_rng(self.seed, "augment", epoch, b)
        if self.fakes is None:
            return sample_crops(self.train.images, idx, self.cfg.augment, self.cfg.crop, rng), self._labels[idx]
        crops = []
        for k, pair_seed in zip(idx, rng.integers(0, 2**63, size=len(idx)), strict=True):
            crops.extend(paired_crops(self.reals[k], self.train.images[self.fakes[k]], self.cfg.augment,
                                      self.cfg.crop, int(pair_seed)))
        return crops, torch.tensor([0.0, 1.0] * len(idx))


def _content_digest(images: ImageSet) -> str:
    """What identifies a training or validation set: its images' sha256 from the manifest rows and their labels
    (or, for a set made in memory, the pixels themselves)."""
    import hashlib

    digest = hashlib.sha256(np.asarray(images.labels, dtype=np.int64).tobytes())
    if images.rows and all(isinstance(r.get("sha256"), str) for r in images.rows):
        for row in images.rows:
            digest.update(row["sha256"].encode())
    else:
        for image in images.images:
            digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


__all__ = ["NeuralConfig", "NeuralDetector", "center_crop", "read_weights_file", "to_batch"]
