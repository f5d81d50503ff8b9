"""How much one command may write: one rule for every command that generates images (``corpus build``,
``gan sample``), checked before the first file is written.

- More than :data:`MAX_IMAGES` images are refused unless confirmed (``--allow-large``), never more than
  :data:`HARD_LIMIT` (a plan of them would not fit in memory).
- The estimated size on disk (:func:`image_bytes` per image, rounded up to the file system's blocks) must fit in
  the free space of the file system the output goes to.

The refusal says how many images, of what size, and about how many bytes. Nothing here imports anything else of
fakescope but :mod:`fakescope.core.safety`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .safety import SafetyError

#: A command that would write more images than this is refused unless confirmed (``--allow-large``).
MAX_IMAGES = 1_000_000
#: Never more images than this in one command, confirmed or not.
HARD_LIMIT = 1_000_000_000
#: Bytes of a manifest row (JSON) per image, about.
ROW_BYTES = 300


class TooLargeError(SafetyError):
    """A command that would write more images than allowed, or more bytes than the disk holds; one line with the
    count and the estimated size."""


def image_bytes(height: int, width: int, channels: int, format: str = "png") -> int:
    """About how many bytes one stored image takes: PNG about half its raw size (photographs and GAN output
    compress poorly), JPEG a fifth, plus the file's headers."""
    return int(height * width * channels * (0.2 if format == "jpeg" else 0.5)) + 100


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} PB"


def _existing(path: Path) -> Path:
    """``path`` or the nearest folder above it that exists (where it would be created)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def free_space(path: str | os.PathLike) -> tuple[int, int] | None:
    """(free bytes, block size) of the file system ``path`` (or the folder it would be made in) is on; None when
    the system does not say."""
    where = _existing(Path(path))
    try:
        st = os.statvfs(where)
    except (OSError, AttributeError):  # no statvfs (Windows): disk_usage alone
        try:
            return shutil.disk_usage(where).free, 4096
        except OSError:
            return None
    return st.f_bavail * st.f_frsize, max(st.f_bsize, 512)


def check_image_budget(count: int, *, what: str, image: tuple[int, int, int] | None = None, format: str = "png",
                       out: str | os.PathLike | None = None, allow_large: bool = False, limit: int = MAX_IMAGES,
                       confirm: str = "pass --allow-large to write them anyway") -> int | None:
    """Refuse, with :class:`TooLargeError`, writing ``count`` images of ``image`` (height, width, channels; None:
    not known yet) for ``what`` (a name the message starts with): more than ``limit`` without ``allow_large``,
    more than :data:`HARD_LIMIT` in any case, or (with ``out``) more bytes than the file system of ``out`` has
    free. Returns the estimated bytes (None when the image size is not known)."""
    if image is not None:
        per_image = image_bytes(*image, format)
        estimate = count * (per_image + ROW_BYTES)
        said = f"{count:,} images of {image[1]}x{image[0]}x{image[2]} (about {human_bytes(estimate)} on disk)"
    else:
        estimate = None
        said = f"{count:,} images (at least {human_bytes(count * 200)} on disk)"
    if count > HARD_LIMIT:
        raise TooLargeError(f"{what}: {said} is more than any command writes (at most {HARD_LIMIT:,} images)")
    if count > limit and not allow_large:
        raise TooLargeError(f"{what}: {said} is more than the limit of {limit:,} images; {confirm}")
    if out is not None and image is not None:
        space = free_space(out)
        if space is not None:
            free, block = space
            on_disk = count * (-(-per_image // block) * block) + count * ROW_BYTES  # whole blocks per file
            if on_disk > free:
                raise TooLargeError(f"{what}: {count:,} images of {image[1]}x{image[0]}x{image[2]} need about "
                                    f"{human_bytes(on_disk)} on disk; {_existing(Path(out))} has "
                                    f"{human_bytes(free)} free")
    return estimate
