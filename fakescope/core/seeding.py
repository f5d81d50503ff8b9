"""Seed derivation: one independent seed per (run seed, purpose, index), so any single item is reproducible."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch loads with the first generator: listing, hashing and usage errors never need it
    import torch


def derive_seed(seed: int, *parts: int | str) -> int:
    """A 63-bit seed from ``seed`` and any number of labels/indices (stable across runs and platforms)."""
    text = ":".join(str(p) for p in (seed, *parts)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


def torch_generator(seed: int, *parts: int | str) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`derive_seed`."""
    import torch

    return torch.Generator().manual_seed(derive_seed(seed, *parts))


def numpy_rng(seed: int, *parts: int | str) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, *parts))
