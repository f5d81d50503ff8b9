"""Many processes, one result: who this process is under torchrun, the process group, and the few collectives
the commands use.

``torchrun`` (PyTorch's elastic launcher, one or many nodes) starts one process per rank and sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` (and ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``) in each one's
environment. fakescope writes no launcher of its own: a command started without those variables is one process,
exactly as before, and every function here is then a no-op (a world of one).

The process group uses gloo on the CPU and NCCL on CUDA; Python objects (manifest rows, score records, errors)
always travel over a gloo group, so the same code runs on both. Only rank 0 writes shared outputs
(:attr:`Ranks.is_main`); work is split by :func:`shard_bounds` (contiguous, near-equal, in order), so joining
the ranks' results in rank order gives the single-process order.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

T = TypeVar("T")

#: How long a rank waits for the others at a collective before giving up (a build's ranks can finish far apart).
TIMEOUT = timedelta(hours=6)
SHUTDOWN_WAIT = timedelta(seconds=60)  # how long a finished rank waits for the others before it leaves

_objects_group: Any = None  # the gloo group for Python objects (the default group itself when that is gloo)


@dataclass(frozen=True)
class Ranks:
    """This process's place among ``size`` processes (``rank`` 0 .. size-1; ``local_rank`` on its node)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes shared outputs (checkpoints, grids, metrics, merged files)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """More than one process."""
        return self.size > 1


def from_env(environ: Mapping[str, str] | None = None) -> Ranks:
    """The ranks torchrun set in the environment; one process (``Ranks()``) when started without it."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return Ranks()
    try:
        rank, size = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", rank))
        local_size = int(env.get("LOCAL_WORLD_SIZE", size))
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE, LOCAL_RANK must be integers (as torchrun sets them)") from None
    if not (size >= 1 and 0 <= rank < size and 0 <= local < max(local_size, 1)):
        raise ValueError(f"RANK={rank}, WORLD_SIZE={size}, LOCAL_RANK={local}: not a valid torchrun rank")
    return Ranks(rank, size, local, max(local_size, 1))


def current() -> Ranks:
    """The ranks of the running process group (``Ranks()`` when there is none: one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    env = from_env()
    return Ranks(dist.get_rank(), dist.get_world_size(), env.local_rank, env.local_size)


def local_device(device: torch.device) -> torch.device:
    """Under torchrun, a bare ``cuda`` becomes this rank's ``cuda:LOCAL_RANK``; anything else is unchanged."""
    env = from_env()
    if device.type == "cuda" and device.index is None and env.active:
        return torch.device("cuda", env.local_rank % max(1, torch.cuda.device_count()))
    return device


def init(device: torch.device, *, tensors: bool = True) -> Ranks:
    """Join the process group torchrun described (NCCL for a CUDA ``device``, else gloo); idempotent.

    ``tensors=False``: only Python objects will travel (corpus builds, scoring): gloo on any device, so that
    several ranks may share one GPU.

    Returns ``Ranks()`` without starting anything when not launched by torchrun with more than one process.
    """
    global _objects_group
    env = from_env()
    if not env.active:
        return Ranks()
    if dist.is_initialized():
        return current()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if device.type == "cuda" and tensors:
        dist.init_process_group("nccl", timeout=TIMEOUT, device_id=device)
        _objects_group = dist.new_group(backend="gloo", timeout=TIMEOUT)
    else:
        dist.init_process_group("gloo", timeout=TIMEOUT)
        _objects_group = dist.group.WORLD
    return current()


def shutdown() -> None:
    """Leave the process group. Every rank first waits for the others (at most :data:`SHUTDOWN_WAIT`): a rank that
    tore its connections down while another was still finishing (rank 0 writes the outputs last) was seen to abort
    in C++ now and then ("terminate called without an active exception", after every output was written); then
    whatever still refers to the group (autograd graphs of gathered tensors) is freed before it is destroyed."""
    global _objects_group
    if dist.is_available() and dist.is_initialized():
        try:
            dist.monitored_barrier(group=_objects_group, timeout=SHUTDOWN_WAIT)
        except Exception:  # noqa: BLE001 - a rank failed or left: nothing left to wait for
            pass
        gc.collect()
        dist.destroy_process_group()
    _objects_group = None


def barrier() -> None:
    """Wait until every rank is here (no-op for one process)."""
    if current().active:
        dist.barrier(group=_objects_group)


def all_gather(obj: T) -> list[T]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` for one process."""
    if not current().active:
        return [obj]
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj, group=_objects_group)
    return gathered


def broadcast(obj: T) -> T:
    """Rank 0's ``obj`` on every rank."""
    if not current().active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, group=_objects_group)
    return box[0]


def raise_if_any(error: BaseException | None, exc_type: type[Exception] = RuntimeError) -> None:
    """Collective: every rank raises when any rank failed (the first failing rank's message, named), so that no
    rank waits forever at the next collective for one that gave up."""
    errors = all_gather(None if error is None else f"{type(error).__name__}: {error}")
    failed = [(r, e) for r, e in enumerate(errors) if e is not None]
    if error is not None:
        raise error
    if failed:
        rank, message = failed[0]
        raise exc_type(f"rank {rank} failed: {message}")


def shard_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """Items ``start .. stop-1`` of ``n`` that ``rank`` of ``size`` takes: contiguous, near-equal, in order."""
    return rank * n // size, (rank + 1) * n // size


def shard_start(n: int, ranks: Ranks | None = None, *, block: int = 1) -> int:
    """Where this rank's part (:func:`shard`) of ``n`` items starts: the index of its first item among all."""
    ranks = current() if ranks is None else ranks
    return min(n, shard_bounds(-(-n // block), ranks.rank, ranks.size)[0] * block)


def shard(items: Sequence[T], ranks: Ranks | None = None, *, block: int = 1) -> list[T]:
    """This rank's contiguous part of ``items`` (all of them for one process), cut on multiples of ``block`` (so
    that batches of ``block`` items are the batches one process makes)."""
    ranks = current() if ranks is None else ranks
    blocks = -(-len(items) // block)
    start, stop = shard_bounds(blocks, ranks.rank, ranks.size)
    return list(items[start * block : stop * block])


def gather_batch(x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """``(every rank's x concatenated along dim 0 in rank order, start, stop)`` of this rank's rows in it.

    Every rank's ``x`` must have the same shape (the caller cuts equal slices). Differentiable: the gradient that
    reaches this rank's rows is summed over every rank's use of them, so with gradients averaged over ranks it is
    what one process computing on the whole batch gets. One process: ``(x, 0, len(x))``.
    """
    ranks = current()
    if not ranks.active:
        return x, 0, x.shape[0]
    from torch.distributed.nn.functional import all_gather as differentiable_all_gather

    start = ranks.rank * x.shape[0]
    return torch.cat(differentiable_all_gather(x)), start, start + x.shape[0]


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of ``tensor`` over ranks (in place; returned)."""
    if current().active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def average_gradients(params: Sequence[torch.nn.Parameter], weight: float = 1.0) -> None:
    """What DistributedDataParallel does to gradients, for loops that alternate several networks (GANs): after a
    backward pass, each gradient becomes ``sum over ranks(weight * grad) / sum over ranks(weight)``.

    ``weight`` is this rank's share of the global batch (its image count): with per-rank mean losses, the result
    is the gradient of the mean over the whole global batch, as in one process.
    """
    if not current().active:
        return
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.tensor([float(weight)], device=grads[0].device if grads else "cpu")
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads]).mul_(weight)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat.div_(total.to(flat.device))
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """A BatchNorm layer whose training-mode statistics are those of the global batch (every rank's images).

    PyTorch's ``SyncBatchNorm`` does this on CUDA only; this one works on any device (the statistics are summed
    with a differentiable all-reduce) and shares the parameters and buffers of the layer it replaces, so the
    network's state dict keeps its keys and :func:`unsync_batchnorm` gives the original layer type back. In
    evaluation mode, or for one process, it is plain BatchNorm.
    """

    _plain: type[nn.modules.batchnorm._BatchNorm] = nn.BatchNorm2d  # the layer type it replaced

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, ...]
        if not (self.training and current().active):
            return super().forward(x)
        all_reduce = _SumOverRanks.apply
        dims = [0, *range(2, x.dim())]
        c = x.shape[1]
        shape = [1, c] + [1] * (x.dim() - 2)
        count = torch.full((1,), x.numel() / c, dtype=x.dtype, device=x.device)
        sums = all_reduce(torch.cat([x.sum(dims), count]))  # [C + 1], summed over ranks
        n = sums[-1]
        mean = sums[:c] / n
        centred = x - mean.view(shape)
        var = all_reduce(centred.square().sum(dims)) / n  # two passes, as BatchNorm: biased, for normalising
        y = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                total = float(n)
                unbiased = var.detach() * (total / (total - 1)) if total > 1 else var.detach()
                self.running_mean.mul_(1 - factor).add_(mean.detach() * factor)
                self.running_var.mul_(1 - factor).add_(unbiased * factor)
        return y


class _SumOverRanks(torch.autograd.Function):
    """A differentiable sum over ranks: the gradient of a sum shared by every rank is the sum of their gradients."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


def _swap(old: nn.modules.batchnorm._BatchNorm, cls: type) -> nn.modules.batchnorm._BatchNorm:
    """A layer of type ``cls`` sharing ``old``'s parameters and buffers."""
    new = cls(old.num_features, old.eps, old.momentum, old.affine, old.track_running_stats)
    if old.affine:
        new.weight, new.bias = old.weight, old.bias
    new.running_mean, new.running_var = old.running_mean, old.running_var
    new.num_batches_tracked = old.num_batches_tracked
    new.train(old.training)
    return new


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm layer computing global-batch statistics while training (in place;
    returned); the state dict is unchanged. Undo with :func:`unsync_batchnorm`."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        new = _swap(module, GlobalBatchNorm)
        new._plain = type(module)
        return new
    for name, child in list(module.named_children()):
        setattr(module, name, sync_batchnorm(child))
    return module


def unsync_batchnorm(module: nn.Module) -> nn.Module:
    """Put back the layer types :func:`sync_batchnorm` replaced (in place; returned)."""
    if isinstance(module, GlobalBatchNorm):
        return _swap(module, module._plain)
    for name, child in list(module.named_children()):
        setattr(module, name, unsync_batchnorm(child))
    return module
