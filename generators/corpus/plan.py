"""What a corpus build writes: the recipe's images cut into blocks, and the slice of them a shard takes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from fakescope.core.budget import MAX_IMAGES, TooLargeError, check_image_budget
from fakescope.core.corpus import SPLITS, CorpusError, UnsafeCorpusError

from ..recipes import Recipe, parse_recipe
from ..sampling import CPU_CHUNK

#: Images per unit of work. Shards split a corpus on these blocks; a multiple of CPU_CHUNK so that a shard
#: never regenerates images that belong to another.
BLOCK = CPU_CHUNK


@dataclass(frozen=True)
class CorpusSpec:
    """The simplest recipe: one real source against one generator checkpoint, ``counts[split]`` per class."""

    real: str  # a real source spec: digits, faces, photos, folder:PATH
    generator: str  # a bundled GAN checkpoint name or a checkpoint folder
    counts: dict[str, int] = field(default_factory=lambda: {"train": 500, "val": 100, "test": 100})
    size: int | None = None  # image side; None: the generator's
    channels: int | None = None  # 1 or 3; None: the generator's
    seed: int = 0

    def recipe(self) -> Recipe:
        """The recipe (its checkpoint is checked by the build that uses it)."""
        data: dict = {"name": "corpus", "seed": self.seed, "counts": dict(self.counts),
                      "real": [{"source": self.real}], "fake": [{"generator": self.generator}]}
        data.update({k: v for k, v in (("size", self.size), ("channels", self.channels)) if v is not None})
        return parse_recipe(data, name="corpus", check=False)


@dataclass(frozen=True)
class Shard:
    """Slice ``index`` of ``count`` (0-based), written ``i/n`` on the command line."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise CorpusError(f"shard {self.index}/{self.count}: expected i/n with 0 <= i < n")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"i/n"`` → ``Shard(i, n)``; anything else is refused with the text as given."""
        i, sep, n = text.partition("/")
        try:
            if not sep:
                raise ValueError(text)
            return cls(int(i), int(n))
        except ValueError:  # not two integers, or out of range (CorpusError is a ValueError)
            raise CorpusError(f"shard {text}: expected i/n with 0 <= i < n, e.g. 0/4") from None

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class Unit:
    """Images ``start .. stop-1`` of entry ``entry`` (index into ``recipe.entries``) in ``split``."""

    split: str
    entry: int
    start: int
    stop: int


def plan_units(recipe: Recipe) -> list[Unit]:
    """Every block of work, in manifest order: split, then real entries, then fake entries, then index."""
    units = []
    for split in SPLITS:
        for e, entry in enumerate(recipe.entries):
            n = entry.counts.get(split, 0)
            units += [Unit(split, e, s, min(s + BLOCK, n)) for s in range(0, n, BLOCK)]
    return units


def shard_units(units: list[Unit], shard: Shard | None) -> list[Unit]:
    """Shard ``i/n`` takes the ``i``-th of ``n`` contiguous, near-equal runs of blocks."""
    if shard is None:
        return units
    n = len(units)
    return units[shard.index * n // shard.count : (shard.index + 1) * n // shard.count]


def planned_count(recipe: Recipe, shard: Shard | None = None) -> int:
    """How many images a build of ``recipe`` (or one of its shards) writes."""
    return sum(u.stop - u.start for u in shard_units(plan_units(recipe), shard))


def check_corpus_size(recipe: Recipe, size: int | None, channels: int | None, shard: Shard | None = None, *,
                      limit: int = MAX_IMAGES, allow_large: bool = False, out: str | os.PathLike | None = None,
                      done: int = 0) -> None:
    """Refuse a build of more than ``limit`` images (with its estimated disk size) unless ``allow_large``; more
    than :data:`~fakescope.core.budget.HARD_LIMIT` images are refused in any case; with ``out``, the images still
    to write (all but ``done``) must fit in its file system's free space
    (:func:`fakescope.core.budget.check_image_budget`, the rule ``gan sample`` follows too). ``size``/``channels``
    None: not known yet."""
    n = sum(sum(e.counts.values()) for e in recipe.entries)
    if shard is not None:
        n = -(-n // shard.count)
    image = (size, size, channels) if size and channels else None
    try:
        check_image_budget(n, what=recipe.name, image=image, format=recipe.format, limit=limit,
                           allow_large=allow_large, confirm="pass --allow-large to build it anyway")
        if out is not None and image is not None:
            check_image_budget(max(0, n - done), what=recipe.name, image=image, format=recipe.format, out=out,
                               allow_large=True)
    except TooLargeError as exc:
        raise UnsafeCorpusError(str(exc)) from None
