"""The resumable training loop shared by every GAN family.

A run folder holds::

    options.json        family, config, data source, seed, device, total steps
    train_state.pt      every network, optimizer and counter (written atomically; ``--resume`` reads it)
    checkpoint/         the sampling checkpoint (exported networks), refreshed with each train_state
    samples/*.png       a grid from fixed latents at every checkpoint
    metrics.jsonl       one JSON line per checkpoint: step, losses, plus family metrics

Batches and noise for step ``i`` are drawn from generators seeded by ``(seed, i)``, so a run that is
killed and resumed reproduces the uninterrupted run exactly on the CPU.

Under torchrun (a process group is running), every rank draws the same global batch and noise and keeps its
contiguous slice (:meth:`Trainer.real_batch`, :meth:`Trainer.noise`); before each optimizer step the gradients
are averaged over ranks, weighted by each rank's images, as DistributedDataParallel does (a GAN step alternates
networks, so the averaging hooks the optimizers rather than wrapping one module); BatchNorm layers use the
global batch's statistics, and so does ProGAN's minibatch standard deviation. Losses are the global batch's.
Only rank 0 writes the run folder; every rank reads ``train_state.pt`` on ``--resume``, whatever the number of
processes that wrote it. Families that draw their own batches (cyclegan) train the whole batch on every rank: the
same result, without the speed-up.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch

from fakescope.core import distributed
from fakescope.core.checkpoint import (
    TrainingStateError,
    config_to_dict,
    read_training_state,
    save_training_state,
    write_json_atomic,
)
from fakescope.core.imageio import atomic_path, save_grid, writing
from fakescope.core.lock import folder_lock
from fakescope.core.progress import Progress
from fakescope.core.safety import LOCK_NAME, SafetyError, first_line, read_json_object
from fakescope.core.seeding import torch_generator

from .gan import GANFamily

STATE_FILE = "train_state.pt"
OPTIONS_FILE = "options.json"


class Trainer(ABC):
    """One family's optimisation: ``step(i)`` runs training step ``i`` and returns its losses."""

    #: The standard FID Inception weights file (checked by hash), for families with ``quality_metrics``.
    inception_weights: str | os.PathLike | None = None
    #: Whether the losses use statistics across the whole batch beyond BatchNorm (ProGAN's minibatch standard
    #: deviation): under torchrun every batch must then divide evenly among the processes to train exactly.
    even_batches: bool = False

    def __init__(self, gan: GANFamily, data: torch.Tensor, *, device: torch.device, seed: int) -> None:
        self.gan, self.data, self.device, self.seed = gan, data, device, seed
        self.ranks = distributed.Ranks()  # set by train_gan under torchrun

    def batch_sizes(self) -> set[int]:
        """Every global batch size of the schedule."""
        return {self.batch_size(step) for step in range(self.total_steps)}

    def part(self, step: int) -> tuple[int, int]:
        """This rank's slice ``lo .. hi-1`` of step ``step``'s global batch (all of it for one process)."""
        return distributed.shard_bounds(self.batch_size(step), self.ranks.rank, self.ranks.size)

    @property
    @abstractmethod
    def total_steps(self) -> int: ...

    @property
    def checkpoint_every(self) -> int:
        """Steps between checkpoints (one epoch by default)."""
        return max(1, -(-len(self.data) // self.batch_size(0)))

    def is_checkpoint(self, done: int) -> bool:
        """Whether to checkpoint after ``done`` steps (every :attr:`checkpoint_every` steps by default)."""
        return done % self.checkpoint_every == 0

    @abstractmethod
    def batch_size(self, step: int) -> int: ...

    @abstractmethod
    def step(self, step: int) -> dict[str, float]: ...

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def real_batch(self, step: int) -> torch.Tensor:
        """The real images for ``step``: drawn with replacement, seeded by ``(seed, step)``."""
        g = torch_generator(self.seed, "batch", step)
        idx = torch.randint(len(self.data), (self.batch_size(step),), generator=g)
        lo, hi = self.part(step)
        return self.data[idx[lo:hi]].to(self.device, non_blocking=True).float()

    def noise(self, step: int, shape: tuple[int, ...], tag: str = "noise") -> torch.Tensor:
        """Seeded normal noise; under torchrun a shape of this rank's batch slice is cut from the global batch's."""
        return self._draw(torch.randn, step, shape, tag)

    def rand(self, step: int, shape: tuple[int, ...], tag: str) -> torch.Tensor:
        """Seeded U(0, 1) draws, cut by rank like :meth:`noise` (mirror flips, gradient-penalty mixing, ...)."""
        return self._draw(torch.rand, step, shape, tag)

    def _draw(self, fn, step: int, shape: tuple[int, ...], tag: str) -> torch.Tensor:
        lo, hi = self.part(step)
        if self.ranks.active and shape and shape[0] == hi - lo:
            full = fn((self.batch_size(step), *shape[1:]), generator=torch_generator(self.seed, tag, step))
            return full[lo:hi].to(self.device)
        return fn(shape, generator=torch_generator(self.seed, tag, step)).to(self.device)

    def describe(self, step: int) -> str:
        """A short phase label for the progress bar."""
        return ""

    def sample_grid(self) -> torch.Tensor:
        """Images ``[N, C, H, W]`` for the per-checkpoint grid (fixed latents)."""
        gan = self.gan
        z = torch.stack([gan.latent(torch_generator(self.seed, "grid", i)) for i in range(64)])
        return gan.generate(z.to(self.device))

    def metrics(self, step: int) -> dict[str, Any]:
        """Extra metrics logged at each checkpoint."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def state_dict(self, step: int) -> dict[str, Any]:
        return {
            "step": step,
            "nets": self.gan.nets.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> int:
        self.gan.nets.load_state_dict(state["nets"])
        for k, o in self.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        self.load_extra_state(state.get("extra", {}))
        return int(state["step"])


class EpochTrainer(Trainer):
    """A trainer whose config has ``epochs`` and ``batch_size``: one epoch is one checkpoint interval."""

    @property
    def total_steps(self) -> int:
        return self.gan.config.epochs * self.checkpoint_every

    def batch_size(self, step: int) -> int:
        return self.gan.config.batch_size

    def describe(self, step: int) -> str:
        return f"epoch {step // self.checkpoint_every + 1}/{self.gan.config.epochs}"


class RunFolderError(ValueError):
    """A run folder that cannot be started or resumed as asked."""


class DamagedRunError(RunFolderError, SafetyError):
    """A run folder to resume whose options.json or train_state.pt is missing, unreadable or truncated."""


def train_gan(
    gan: GANFamily,
    data: torch.Tensor | dict[str, torch.Tensor],
    out: str | os.PathLike,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    resume: bool = False,
    options: dict | None = None,
    progress: Progress | None = None,
    stop_after: int | None = None,
    inception_weights: str | os.PathLike | None = None,
    on_note: Callable[[str], None] | None = None,
) -> Path:
    """Train ``gan`` on real images ``data [N, C, H, W]`` in [-1, 1], writing the run folder ``out``.

    Image-to-image families take one tensor per domain instead: ``data = {"a": [Na, ...], "b": [Nb, ...]}``.

    Returns the sampling checkpoint folder. ``stop_after`` ends the run early after that many steps
    (used to simulate a kill in tests); ``progress`` (:mod:`fakescope.core.progress`) is told each step.
    ``inception_weights``: the standard FID Inception weights file, for families with ``quality_metrics``.
    ``on_note`` is told what the caller should say beside the result: a resumed run that had already trained its
    whole schedule (nothing trained; its checkpoint is returned as it was).
    """
    if inception_weights is not None and not gan.quality_metrics:
        raise ValueError(f"--inception-weights does not apply to {gan.name} (it reports no image-quality metrics)")
    out = Path(out)
    device = torch.device(device)
    gan.to(device)
    trainer = gan.make_trainer(data, device=device, seed=seed)
    ranks = distributed.current()
    if ranks.active:
        if min(trainer.batch_size(0), trainer.batch_size(trainer.total_steps - 1)) < ranks.size:
            raise RunFolderError(f"a global batch of {trainer.batch_size(0)} cannot be shared by {ranks.size} "
                                 "processes; use fewer processes or a larger batch")
        uneven = sorted(b for b in trainer.batch_sizes() if b % ranks.size) if trainer.even_batches else []
        if uneven:
            raise RunFolderError(f"{gan.name} needs every batch size divisible by the {ranks.size} processes "
                                 f"(its statistics span the batch), not {', '.join(map(str, uneven))}: use another "
                                 "number of processes or --set batch_sizes=...")
        trainer.ranks = ranks
        distributed.sync_batchnorm(gan.nets)
    trainer.inception_weights = inception_weights
    if trainer.total_steps < 1:
        raise RunFolderError(f"nothing to train: the config gives {trainer.total_steps} steps")
    with _run_folder_lock(out, ranks):  # rank 0 holds the run folder's lock: one writer per run
        state_path = out / STATE_FILE
        record = {
            "family": gan.name,
            "config": config_to_dict(gan.config),
            "seed": seed,
            "device": str(device),
            "total_steps": trainer.total_steps,
            **(options or {}),
        }
        start = 0
        if state_path.exists() or state_path.is_symlink():
            if not resume:
                raise RunFolderError(f"{out} already holds a training run; pass --resume to continue it")
            _check_own_files(out)
            record = _check_same_run(out, record, gan)
            state = _read_state(state_path, device)
            try:
                start = trainer.load_state_dict(state)
            except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
                raise DamagedRunError(f"{state_path}: does not fit this run ({first_line(exc)}); start a new run "
                                      "in another folder") from None
            if start > trainer.total_steps:
                raise RunFolderError(f"{out} has already trained {start} steps, more than the {trainer.total_steps} "
                                     "of this schedule; a run can be extended, not shortened")
            _drop_metrics_after(out / "metrics.jsonl", start)
            if start == trainer.total_steps and on_note is not None and (out / "checkpoint").is_dir():
                on_note(f"nothing trained: {out} already finished its {start} steps; its checkpoint is unchanged "
                        "(raise --epochs to extend the run)")
        elif resume:
            if not (out / OPTIONS_FILE).exists():
                raise DamagedRunError(f"{out}: no training run to resume (no {OPTIONS_FILE}); start one without "
                                      "--resume")
            _check_own_files(out)
            record = _check_same_run(out, record, gan)  # killed before the first checkpoint: starts again from step 0
            _drop_metrics_after(out / "metrics.jsonl", 0)
        elif out.exists() and any(p.name != LOCK_NAME for p in out.iterdir()):
            raise RunFolderError(f"{out} is not empty; choose a new folder")
        distributed.barrier()  # every rank has checked the folder before rank 0 writes to it
        if ranks.is_main:
            out.mkdir(parents=True, exist_ok=True)
            write_json_atomic(out / OPTIONS_FILE, record)

        end = trainer.total_steps if stop_after is None else min(trainer.total_steps, start + stop_after)
        hook = _average_before_steps(trainer) if ranks.active else None
        try:
            _run_steps(trainer, gan, out, start, end, ranks, progress, options)
        finally:
            if hook is not None:
                hook.remove()
        if ranks.active:
            distributed.unsync_batchnorm(gan.nets)
            distributed.barrier()  # the run folder is complete before any rank returns
        return out / "checkpoint"


def _run_folder_lock(out: Path, ranks) -> ExitStack:
    """The run folder's lock (:func:`fakescope.core.lock.folder_lock`), held by rank 0; every rank fails when it
    cannot be taken (another process writes the run)."""
    lock = ExitStack()
    error: BaseException | None = None
    if ranks.is_main:
        try:
            lock.enter_context(folder_lock(out))
        except (SafetyError, OSError) as exc:
            error = exc
    distributed.raise_if_any(error, RunFolderError)
    return lock


def _run_steps(trainer: Trainer, gan, out: Path, start: int, end: int, ranks, progress, options) -> None:
    """Steps ``start .. end-1``; rank 0 checkpoints when the schedule says so."""
    for step in range(start, end):
        gan.nets.train()
        if ranks.active:
            lo, hi = trainer.part(step)
            trainer._weight = float(hi - lo)  # this rank's images of this step weigh its gradients
        losses = trainer.step(step)
        if ranks.active:
            losses = _global_losses(trainer, step, losses)
        if progress is not None:
            loss_text = " ".join(f"{k}={v:.3f}" for k, v in losses.items())
            progress(completed=step + 1, total=trainer.total_steps,
                     description=f"{gan.name} {trainer.describe(step)} {loss_text}")
        done = step + 1
        if (trainer.is_checkpoint(done) or done == trainer.total_steps) and ranks.is_main:
            _write_checkpoint(trainer, out, done, losses, options or {})


def _average_before_steps(trainer: Trainer):
    """Average gradients over ranks, weighted by each rank's images of the step, before *any* optimizer steps —
    also one a family makes inside its step (ProGAN starts new optimizers at each fade-in, within ``step()``).
    Returns the hook's handle (remove it when training ends)."""

    def average(opt: torch.optim.Optimizer, _args, _kwargs) -> None:
        distributed.average_gradients([p for group in opt.param_groups for p in group["params"]], trainer._weight)

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    return register_optimizer_step_pre_hook(average)


def _global_losses(trainer: Trainer, step: int, losses: dict[str, float]) -> dict[str, float]:
    """The losses of the global batch: each rank's per-image mean, weighted by its images."""
    lo, hi = trainer.part(step)
    keys = sorted(losses)
    values = torch.tensor([float(losses[k]) * (hi - lo) for k in keys] + [float(hi - lo)], dtype=torch.float64)
    if trainer.device.type == "cuda":
        values = values.to(trainer.device)
    total = distributed.all_reduce_sum(values).cpu()
    return {k: float(total[i] / total[-1]) for i, k in enumerate(keys)}


def _step_of(line: str) -> int | None:
    """The step of a metrics row, or None for a row that is not one (cut short by a kill)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    return row.get("step") if isinstance(row, dict) and isinstance(row.get("step"), int) else None


#: What a run folder holds; none may be a symbolic link when it is resumed (writes stay inside the folder).
RUN_FILES = (OPTIONS_FILE, STATE_FILE, "metrics.jsonl", "samples", "checkpoint")


def _check_own_files(out: Path) -> None:
    for name in RUN_FILES:
        if (out / name).is_symlink():
            raise RunFolderError(f"{out / name}: a symbolic link in the run folder; a run writes only inside its "
                                 "folder (start a new run in another folder)")


#: Settings of a run beside its config that a resume must keep (the data it learns from, the seed of every draw).
NOT_IDENTITY = ("family", "config", "device", "total_steps", "command", "preset", "extended_from")


def _check_same_run(out: Path, record: dict, gan: GANFamily) -> dict:
    """The run in ``out`` has a readable options.json of the same family and config, else an error. Only the
    family's ``schedule_fields`` (``epochs``) may differ: the run is extended, and the record returned (to be
    written) lists the schedules it had before under ``extended_from``."""
    path = out / OPTIONS_FILE
    try:
        previous = read_json_object(path, 16 << 20)
    except ValueError as exc:  # UnsafeFileError included
        raise DamagedRunError(f"{path}: {exc}; cannot resume this run") from None
    before, now = previous.get("config"), record["config"]
    if previous.get("family") != gan.name or not isinstance(before, dict):
        raise RunFolderError(f"{out} holds a run of another family; use another --out")
    other = sorted(k for k in set(previous) | set(record) if k not in NOT_IDENTITY and previous.get(k) != record.get(k))
    if other:
        raise RunFolderError(f"{out} holds a run with another {', '.join(other)} (it had "
                             f"{', '.join(f'{k}={previous.get(k)!r}' for k in other)}); resume it with the same "
                             "seed and data, or use another --out")
    differ = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    fixed = [k for k in differ if k not in gan.schedule_fields]
    if fixed:
        raise RunFolderError(f"{out} holds a run with a different config ({', '.join(fixed)}); only "
                             f"{', '.join(gan.schedule_fields)} may change on --resume; use another --out")
    if not differ:
        return {**record, **({"extended_from": previous["extended_from"]} if "extended_from" in previous else {})}
    history = [*previous.get("extended_from", []),
               {"total_steps": previous.get("total_steps"), **{k: before.get(k) for k in differ}}]
    return {**record, "extended_from": history}


def _read_state(path: Path, device: torch.device) -> dict:
    """train_state.pt as tensors and plain data (``weights_only``: never code), or :class:`DamagedRunError`."""
    try:
        return read_training_state(path, map_location=device, required=("step",))
    except TrainingStateError as exc:
        raise DamagedRunError(f"{exc}; cannot resume this run; start a new run in another folder") from None


def _write_checkpoint(trainer: Trainer, out: Path, done: int, losses: dict, options: dict) -> None:
    gan = trainer.gan
    gan.nets.eval()
    with torch.no_grad():
        grid = trainer.sample_grid()
    save_grid(out / "samples" / f"step-{done:07d}.png", grid)
    row = {"step": done, **{k: round(float(v), 6) for k, v in losses.items()}, **trainer.metrics(done)}
    with writing(out / "metrics.jsonl"), open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    gan.save(out / "checkpoint", meta={"training": {"step": done, **options}})
    save_training_state(out / STATE_FILE, trainer.state_dict(done))


def _drop_metrics_after(path: Path, step: int) -> None:
    """Forget metric rows logged after the resumed state was saved (a kill between the two writes), and a last
    row a kill cut short."""
    if not path.exists():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in rows if (_step_of(line) is not None and _step_of(line) <= step)]
    if len(kept) != len(rows):
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept))
