"""What ``fakescope score`` is given: files, folders (walked by :func:`fakescope.core.walk.walk`), shell
patterns; each becomes an :class:`Input` that is an image, a video, or something already known to be unreadable."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fakescope.core.formats import content_kind, head_of
from fakescope.core.imageio import IMAGE_SUFFIXES
from fakescope.core.walk import Found, expand_pattern, walk

from .video import VIDEO_SUFFIXES


@dataclass(frozen=True)
class Input:
    """One thing to score: a path, what it is taken to be, and an error already known (e.g. a folder loop)."""

    path: str
    kind: str  # image | video | folder
    error: str | None = None
    via_link: bool = False  # found in a folder walk through a symbolic link


def kind_of(path: str) -> str:
    """``video`` or ``image``: by the first bytes (a video container's or an image format's signature:
    :func:`fakescope.core.formats.content_kind`), else by the suffix, else ``image`` (a PNG named ``.mp4`` is an
    image; an MP4 named ``.png`` a video).

    Only a regular file is opened to look at its first bytes: anything else (a FIFO would block forever, a device
    never end) goes by its suffix, and the reader then refuses it with the reason.
    """
    suffix = Path(path).suffix.lower()
    by_suffix = "video" if suffix in VIDEO_SUFFIXES else "image"
    head = head_of(path)  # None: not a regular file, or unreadable (the reader will say why)
    return (content_kind(head) if head is not None else None) or by_suffix


def collect_inputs(paths: Iterable[str | os.PathLike | Input], empty: list[str] | None = None, *,
                   follow_links: bool = True, exclude: Iterable[str | os.PathLike] = ()) -> list[Input]:
    """Files as given; folders walked recursively; shell patterns (``*``, ``?``, ``[...]``, ``**``) expanded.

    Folder walks keep images and videos (by suffix) by the rules of :mod:`fakescope.core.walk` (sorted, hidden
    names skipped, links to folders followed, loops and unlistable folders reported as ``folder`` inputs with an
    error). A path that does not exist stays, to be reported as missing. A folder given (or matched) that holds
    no image or video is appended to ``empty`` when a list is given. ``follow_links=False``: folder walks leave
    out symbolic links (paths given by name are kept as given). Folder walks never enter the folders of
    ``exclude`` (the command's own output folders).
    """
    out: list[Input] = []
    exclude = list(exclude)

    def walked(folder: str) -> list[Input]:
        found = _walked(folder, follow_links, exclude)
        if not found and empty is not None:
            empty.append(folder)
        return found
    for p in paths:
        if isinstance(p, Input):
            out.append(p)
            continue
        p = os.fspath(p)
        if os.path.isdir(p):
            out += walked(p)
        elif os.path.lexists(p) or not glob.has_magic(p):
            out.append(Input(p, kind_of(p)))
        else:
            matches = _glob(p, follow_links, exclude)
            if not matches:
                out.append(Input(p, "image", "no file matches this pattern"))
            for m in matches:
                if m.error is not None:
                    out.append(Input(m.path, "folder" if m.folder else "image", m.error, m.via_link))
                else:
                    out += walked(m.path) if os.path.isdir(m.path) else [Input(m.path, kind_of(m.path),
                                                                                via_link=m.via_link)]
    return out


def _walked(folder: str, follow_links: bool = True, exclude: Iterable[str | os.PathLike] = ()) -> list[Input]:
    found = []
    for f in walk(folder, IMAGE_SUFFIXES | VIDEO_SUFFIXES, follow_links=follow_links, exclude=exclude,
                  content=("image", "video")):
        kind = "folder" if f.folder else kind_of(f.path)
        found.append(Input(f.path, kind, f.error, f.via_link))
    return found


def _glob(pattern: str, follow_links: bool = True, exclude: Iterable[str | os.PathLike] = ()) -> list[Found]:
    """Sorted matches of a pattern, each file once (:func:`fakescope.core.walk.expand_pattern`: ``**`` walks each
    folder once, so a link loop is reported instead of repeating every file under ever longer paths); a file
    reached by two paths keeps the shortest."""
    matches = sorted(expand_pattern(pattern, follow_links=follow_links, exclude=exclude),
                     key=lambda m: (m.path.count(os.sep), m.path))
    seen: set[str] = set()
    keep = []
    for m in matches:
        real = os.path.realpath(m.path)
        if m.error is not None or real not in seen:
            seen.add(real)
            keep.append(m)
    return sorted(keep, key=lambda m: m.path)
