"""Corpus recipes: a small TOML file that rebuilds the same labeled corpus anywhere.

A recipe names real sources and generator checkpoints (each pinned by the sha256 of its weights), how many
images each gives per split, the image size and channel count every image is stored at, the seed, and any
perturbation applied to real and fake images alike. ``datasets/README.md`` documents the schema; in short::

    name = "digits-vanilla"            # default: the file name without .toml
    setup = "make upscalers"           # optional: what makes checkpoints that are not bundled (named when missing)
    seed = 0                           # every image's seed derives from it and the image's index
    size = 32                          # stored image side (default: the first generator's)
    channels = 1                       # 1 gray or 3 RGB (default: the first generator's)
    format = "png"                     # "png", or "jpeg" with quality = 1..100 (a perturbation on both classes)
    counts = { train = 1000, val = 200, test = 200 }     # default per-entry counts

    [[real]]
    source = "digits"                  # digits, faces, photos, debian-photos, ..., folder:PATH or enlarged:SPEC

    [[fake]]
    generator = "vanilla-digits"       # a bundled checkpoint name or a checkpoint folder
    sha256 = "1d1caa33..."             # the checkpoint's weights hash: a different checkpoint is refused

    [[perturbations]]                  # applied in order to every image, real and fake
    kind = "blur"                      # blur (sigma), noise (sigma), jpeg (quality)
    sigma = 0.5

Relative paths (checkpoint folders, ``folder:PATH`` sources) are read from the recipe file's folder.
Validation is strict: unknown keys, bad values, missing checkpoints and hash mismatches are one-line errors
that name the recipe and the key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from fakescope.core import optional
from fakescope.core.checkpoint import CheckpointError, read_meta, resolve_checkpoint
from fakescope.core.corpus import SPLITS
from fakescope.core.perturb import PERTURBATIONS, Perturbation, perturbation_problem

from .sources import create_source

RECIPE_SUFFIX = ".toml"
FORMATS = ("png", "jpeg")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_TOP_KEYS = ("name", "description", "setup", "seed", "size", "channels", "format", "quality", "counts", "real", "fake",
             "perturbations")
_REAL_KEYS = ("name", "source", "counts")
_FAKE_KEYS = ("name", "generator", "sha256", "counts", "direction", "input", "input_split", "input_size")


class RecipeError(ValueError):
    """A recipe that cannot be read or does not validate; the message names the recipe and the key."""


@dataclass(frozen=True)
class RealEntry:
    """Real images from one source."""

    name: str  # file-name prefix and manifest ``origin``; default: the source name
    source: str  # a registered source, folder:PATH or enlarged:SPEC (folder paths absolute once resolved)
    counts: dict[str, int]  # images per split


@dataclass(frozen=True)
class FakeEntry:
    """Fakes from one generator checkpoint."""

    name: str  # file-name prefix and manifest ``origin``; default: the checkpoint name
    generator: str  # as written in the recipe: a bundled name or a checkpoint folder
    sha256: str | None  # pinned weights hash (None: not pinned)
    counts: dict[str, int]  # images per split
    direction: str | None = None  # image-to-image families: which way to translate
    input: str | None = None  # image-to-image families: the real source whose images are translated
    input_split: str | None = None  # image-to-image families: the input's split (None: the corpus split)
    input_size: int | None = None  # image-to-image families: the side inputs are drawn at (None: the generator's
    #                                training size for translation, the corpus size for re-synthesis)
    checkpoint: str = ""  # the resolved checkpoint folder (filled in by load/parse)


@dataclass(frozen=True)
class Recipe:
    name: str
    seed: int = 0
    size: int | None = None  # None: the first generator's image size
    channels: int | None = None  # None: the first generator's channel count
    format: str = "png"
    quality: int | None = None  # JPEG quality when format = "jpeg"
    real: tuple[RealEntry, ...] = ()
    fake: tuple[FakeEntry, ...] = ()
    perturbations: tuple[Perturbation, ...] = ()
    description: str = ""
    path: str | None = field(default=None, compare=False)  # the file it was read from

    @property
    def entries(self) -> tuple[RealEntry | FakeEntry, ...]:
        return (*self.real, *self.fake)

    @property
    def source_specs(self) -> list[str]:
        """Every real source the recipe draws from: its reals' and its image-to-image entries' inputs, in order
        (repeats kept)."""
        return [e.source for e in self.real] + [e.input for e in self.fake if e.input is not None]

    def count(self, label: int, split: str) -> int:
        return sum(e.counts.get(split, 0) for e in (self.fake if label else self.real))


def recipe_to_dict(recipe: Recipe) -> dict:
    """The recipe as written data with every default filled in (what ``corpus.json`` records)."""
    return {
        "name": recipe.name,
        "description": recipe.description,
        "seed": recipe.seed,
        "size": recipe.size,
        "channels": recipe.channels,
        "format": recipe.format,
        "quality": recipe.quality,
        "real": [{"name": e.name, "source": e.source, "counts": dict(e.counts)} for e in recipe.real],
        "fake": [
            {"name": e.name, "generator": e.generator, "sha256": e.sha256, "counts": dict(e.counts),
             "direction": e.direction, "input": e.input, "input_split": e.input_split,
             **({"input_size": e.input_size} if e.input_size else {})}
            for e in recipe.fake
        ],
        "perturbations": [
            {"kind": p.kind, PERTURBATIONS[p.kind][0]: p.value} for p in recipe.perturbations
        ],
    }


# --- finding and reading recipes ---------------------------------------------------------------------------------

def recipe_dirs() -> list[Path]:
    """Where recipe names are looked up: ``./datasets`` and the ``datasets`` folder of a source checkout."""
    dirs = [Path.cwd() / "datasets", Path(__file__).resolve().parent.parent / "datasets"]
    seen, out = set(), []
    for d in dirs:
        if d.is_dir() and d.resolve() not in seen:
            seen.add(d.resolve())
            out.append(d)
    return out


def list_recipes() -> dict[str, Path]:
    """Recipe name → file, for every recipe in :func:`recipe_dirs` (the first folder wins on a clash)."""
    found: dict[str, Path] = {}
    for d in recipe_dirs():
        for p in sorted(d.glob(f"*{RECIPE_SUFFIX}")):
            found.setdefault(p.stem, p)
    return found


def find_recipe(name_or_path: str | os.PathLike) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    known = list_recipes()
    if str(name_or_path) in known:
        return known[str(name_or_path)]
    names = ", ".join(known) or "none"
    raise RecipeError(f"no recipe {str(name_or_path)!r}: not a file nor a known recipe name ({names})")


def recipe_from_record(data: dict[str, Any], *, origin: str | None = None) -> Recipe:
    """The recipe a ``corpus.json`` records (:func:`recipe_to_dict`'s data, its unset fields as nulls), parsed
    again; relative checkpoint paths are taken from the current folder."""
    def drop_nulls(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: drop_nulls(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [drop_nulls(v) for v in value]
        return value

    return parse_recipe(drop_nulls(data), name=str(data.get("name", "recipe")), origin=origin)


def load_recipe(name_or_path: str | os.PathLike, *, check: bool = True) -> Recipe:
    """Read and validate a recipe file (or a recipe name from ``datasets/``).

    ``check`` also opens every checkpoint's ``config.json`` and compares its sha256 with the pinned one.
    """
    path = find_recipe(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: not valid TOML ({exc})") from None
    return parse_recipe(data, name=path.stem, base=path.parent, origin=str(path), check=check)


def parse_recipe(
    data: dict[str, Any],
    *,
    name: str = "recipe",
    base: str | os.PathLike | None = None,
    origin: str | None = None,
    check: bool = True,
) -> Recipe:
    """Validate recipe data (as read from TOML); relative paths are taken from ``base`` (default: cwd).

    ``check`` also opens each generator checkpoint's ``config.json`` (:func:`check_generators`); a corpus build
    does that itself, once, so it can be left to the build.
    """
    where = origin or name
    base = Path(base) if base is not None else Path.cwd()

    def err(msg: str) -> RecipeError:
        return RecipeError(f"{where}: {msg}")

    _keys(data, _TOP_KEYS, "", err)
    top = _parse_top(data, name, err)
    default_counts = _counts(data["counts"], "counts", err) if "counts" in data else None
    real = [_parse_real(item, f"real[{i}]", base, default_counts, err)
            for i, item in enumerate(_tables(data, "real", err))]
    setup = _get(data, "setup", str, "", "", err)
    fake = [_parse_fake(item, f"fake[{i}]", base, default_counts, err, setup)
            for i, item in enumerate(_tables(data, "fake", err))]
    _check_entries(real, fake, err)
    perturbations = [_parse_perturbation(item, f"perturbations[{i}]", err)
                     for i, item in enumerate(_tables(data, "perturbations", err))]
    recipe = Recipe(**top, real=tuple(real), fake=tuple(fake), perturbations=tuple(perturbations),
                    description=_get(data, "description", str, "", "", err), path=origin)
    if check:
        check_generators(recipe, where=where)
    return recipe


def check_generators(recipe: Recipe, *, where: str | None = None, kinds: bool = True) -> None:
    """Open every ``[[fake]]`` checkpoint's ``config.json``: see :func:`check_generator`."""
    for i, entry in enumerate(recipe.fake):
        check_generator(recipe, i, read_meta(entry.checkpoint), where=where, kinds=kinds)


def check_generator(recipe: Recipe, index: int, meta: dict, *, where: str | None = None, kinds: bool = True) -> None:
    """``recipe.fake[index]``'s checkpoint (its ``config.json``, ``meta``) must be a GAN of a registered family whose
    kind accepts the entry, with the pinned sha256 when the recipe pins one. ``kinds=False`` leaves out whether the
    family's kind accepts the entry, the one check that loads the family (and torch): what listing recipes does."""
    from .families import MODULES

    entry, at = recipe.fake[index], f"fake[{index}]"

    def err(msg: str) -> RecipeError:
        return RecipeError(f"{where or recipe.path or recipe.name}: {msg}")

    if meta.get("kind") != "gan":
        raise err(f"{at}.generator: {entry.checkpoint} is a {meta.get('kind')!r} checkpoint, not a GAN")
    if entry.sha256 is not None and meta.get("sha256") != entry.sha256:
        raise err(f"{at}: checkpoint {entry.generator!r} has sha256 {meta.get('sha256')}, but the recipe pins "
                  f"{entry.sha256}; use the pinned checkpoint or update the recipe")
    family = meta.get("family")
    if family not in MODULES:  # not a bundled family: one registered at run time, or none
        from .gan import list_gans

        if family not in list_gans():
            raise err(f"{at}.generator: unknown GAN family {family!r}; known: {', '.join(list_gans())}")
    if not kinds:
        return
    from .gan import GANS

    problem = GANS.get(family).entry_problem(entry)
    if problem:
        raise err(f"{at}{problem}")


def _parse_top(data: dict, name: str, err) -> dict:
    """The top-level scalars: name, seed, size, channels, format, quality."""
    name = _get(data, "name", str, name, "", err)
    if not _NAME.match(name):
        raise err(f"name {name!r}: use letters, digits, '.', '_' and '-'")
    seed = _get(data, "seed", int, 0, "", err)
    if seed < 0:
        raise err("seed must be >= 0")
    size = _get(data, "size", int, None, "", err)
    if size is not None and not 4 <= size <= 4096:
        raise err(f"size {size}: expected 4 .. 4096 pixels")
    channels = _get(data, "channels", int, None, "", err)
    if channels not in (None, 1, 3):
        raise err(f"channels {channels}: expected 1 or 3")
    fmt = _get(data, "format", str, "png", "", err)
    if fmt not in FORMATS:
        raise err(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    quality = _get(data, "quality", int, None, "", err)
    if fmt == "jpeg" and quality is None:
        raise err("format = \"jpeg\" needs quality = 1..100 (JPEG is applied to real and fake alike)")
    if fmt == "png" and quality is not None:
        raise err("quality only applies to format = \"jpeg\"")
    if quality is not None and not 1 <= quality <= 100:
        raise err(f"quality {quality}: expected 1 .. 100")
    return {"name": name, "seed": seed, "size": size, "channels": channels, "format": fmt, "quality": quality}


def _parse_real(item: dict, at: str, base: Path, default_counts: dict | None, err) -> RealEntry:
    _keys(item, _REAL_KEYS, at, err)
    source = _get(item, "source", str, None, at, err)
    if source is None:
        raise err(f"{at}: missing key 'source'")
    source = _resolve_source(source, base)
    try:
        src = create_source(source)
    except (ValueError, KeyError) as exc:
        raise err(f"{at}.source: {exc}") from None
    counts = _entry_counts(item, default_counts, at, err)
    _check_available(src, source, counts, None, at, err)
    return RealEntry(name=_get(item, "name", str, _source_name(source), at, err), source=source, counts=counts)


def _check_available(src, source: str, counts: dict, fixed_split: str | None, at: str, err) -> None:
    """Refuse, before anything is built, more images of a split than ``source`` holds (crops sources: unlimited);
    ``fixed_split``: every split's images come from that one (an image-to-image entry's ``input_split``)."""
    for split, n in counts.items():
        drawn = fixed_split or split
        available = src.available(drawn) if n else None
        if available is not None and n > available:
            raise err(f"{at}: source {source!r} has {available} images in split {drawn!r}; asked for {n}")


def _parse_fake(item: dict, at: str, base: Path, default_counts: dict | None, err, setup: str = "") -> FakeEntry:
    """One ``[[fake]]`` table; whether its checkpoint's kind takes ``direction``/``input`` is checked with it."""
    _keys(item, _FAKE_KEYS, at, err)
    generator = _get(item, "generator", str, None, at, err)
    if generator is None:
        raise err(f"{at}: missing key 'generator'")
    pinned = _get(item, "sha256", str, None, at, err)
    if pinned is not None and not re.fullmatch(r"[0-9a-f]{64}", pinned):
        raise err(f"{at}.sha256: expected 64 lowercase hex digits")
    folder = _resolve_checkpoint(generator, base, at, err, setup)
    direction = _get(item, "direction", str, None, at, err)
    input_source = _get(item, "input", str, None, at, err)
    input_split = _get(item, "input_split", str, None, at, err)
    if input_split is not None and input_split not in SPLITS:
        raise err(f"{at}.input_split {input_split!r}: expected one of {', '.join(SPLITS)}")
    input_size = _get(item, "input_size", int, None, at, err)
    if input_size is not None and not 8 <= input_size <= 4096:
        raise err(f"{at}.input_size {input_size}: expected 8..4096 pixels")
    if input_size is not None and input_source is None:
        raise err(f"{at}: input_size applies to image-to-image families (with input = \"SOURCE\")")
    counts = _entry_counts(item, default_counts, at, err)
    if input_source is not None:
        input_source = _resolve_source(input_source, base)
        try:
            src = create_source(input_source)
        except (ValueError, KeyError) as exc:
            raise err(f"{at}.input: {exc}") from None
        _check_available(src, input_source, counts, input_split, f"{at}.input", err)
    default_name = folder.parent.name if folder.name == "checkpoint" else folder.name
    return FakeEntry(
        name=_get(item, "name", str, default_name, at, err), generator=generator, sha256=pinned,
        counts=counts, direction=direction, input=input_source,
        input_split=input_split, input_size=input_size, checkpoint=str(folder),
    )


def _check_entries(real: list[RealEntry], fake: list[FakeEntry], err) -> None:
    if not real and not fake:
        raise err("no [[real]] or [[fake]] entries")
    if not any(n for e in (*real, *fake) for n in e.counts.values()):
        raise err("every count is 0: the recipe would build an empty corpus")
    sources = [e.source for e in real]
    if len(set(sources)) != len(sources):
        raise err("two [[real]] entries draw from one source (they would hold the same images); merge them")
    names = [e.name for e in (*real, *fake)]
    for n in names:
        if not _NAME.match(n):
            raise err(f"entry name {n!r}: use letters, digits, '.', '_' and '-' (set name = ...)")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise err(f"entry names must differ; repeated: {', '.join(dupes)} (set name = ... on one of them)")


def _parse_perturbation(item: dict, at: str, err) -> Perturbation:
    kind = _get(item, "kind", str, None, at, err)
    if kind not in PERTURBATIONS:
        raise err(f"{at}.{perturbation_problem(kind, None)}")
    (param,) = PERTURBATIONS[kind]
    _keys(item, ("kind", param), at, err)
    if param not in item:
        raise err(f"{at}: {kind} needs {param}")
    value = _get(item, param, (int, float), None, at, err)
    if problem := perturbation_problem(kind, value):
        raise err(f"{at}.{problem}")
    return Perturbation(kind, value)


# --- helpers -----------------------------------------------------------------------------------------------------

def _keys(table: dict, known: tuple[str, ...], at: str, err) -> None:
    unknown = [k for k in table if k not in known]
    if unknown:
        prefix = f"{at}." if at else ""
        raise err(f"unknown key {prefix}{unknown[0]!r}; known: {', '.join(known)}")


def _get(table: dict, key: str, kind, default, at: str, err):
    if key not in table:
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        prefix = f"{at}." if at else ""
        raise err(f"{prefix}{key} = {value!r}: expected {names}")
    return value


def _tables(data: dict, key: str, err) -> list[dict]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(t, dict) for t in items):
        raise err(f"{key}: expected [[{key}]] tables")
    return items


def _counts(value, at: str, err) -> dict[str, int]:
    if not isinstance(value, dict):
        raise err(f"{at}: expected a table like {{ train = 100, val = 20, test = 20 }}")
    _keys(value, SPLITS, at, err)
    counts = {}
    for split in SPLITS:
        n = _get(value, split, int, 0, at, err)
        if n < 0:
            raise err(f"{at}.{split} = {n}: expected a count >= 0")
        counts[split] = n
    return counts


def _entry_counts(item: dict, default: dict | None, at: str, err) -> dict[str, int]:
    if "counts" in item:
        return _counts(item["counts"], f"{at}.counts", err)
    if default is None:
        raise err(f"{at}: no counts (give counts here or a top-level counts table)")
    return dict(default)


def _source_name(source: str) -> str:
    if source.startswith("enlarged:"):
        return f"{_source_name(source.split(':', 1)[1])}-enlarged"
    return Path(source.split(":", 1)[1]).name if source.startswith("folder:") else source


def _resolve_source(source: str, base: Path) -> str:
    if source.startswith("enlarged:"):
        return f"enlarged:{_resolve_source(source.split(':', 1)[1], base)}"
    if source.startswith("folder:"):
        return f"folder:{base / source.split(':', 1)[1]}"
    return source


def _resolve_checkpoint(generator: str, base: Path, at: str, err, setup: str = "") -> Path:
    local = base / generator
    made_by = optional.installed_by(setup)
    if made_by in optional.hidden() and (local / "config.json").is_file():  # a folder `setup` made, while hidden:
        generator = str(optional.located(made_by, local.absolute()))  # looked for under an empty root
        local = Path(generator)
    try:
        return resolve_checkpoint(local if (local / "config.json").is_file() else generator, __package__)
    except CheckpointError as exc:
        hint = f"; the recipe's checkpoints are made by `{setup}`" if setup else ""
        raise err(f"{at}.generator: {exc}{hint}") from None
