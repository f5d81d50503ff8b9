"""The one folder walker: which files below a folder are inputs, by one rule set for every command.

Used by ``fakescope score`` (images and videos), ``fakescope gan translate`` and ``folder:PATH`` real sources.
Rules: depth first, entries in name order; hidden names (a leading ``.``) skipped; symbolic links (to folders
and files) followed, each input found through one marked ``via_link``, or all left out with ``follow_links=False``
(``score --no-follow-links``: a link to ``/usr/share`` does not pull in system files); a link that leads back to a
folder being walked (a loop) and a folder that cannot be listed are reported rather than walked; a file is kept
when its suffix (any case) is wanted, and a looping link among the files is reported.

:func:`holdings` is the other rule set, for checking what a folder holds (``corpus verify``): every entry that
is not a real folder, hidden names included, symbolic links listed and never followed (a link cannot lead the
check elsewhere).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from .imageio import os_reason


@dataclass(frozen=True)
class Found:
    """A file below the walked folder, or a problem met on the way (``error`` set)."""

    path: str  # the folder joined with the names walked (links are not resolved)
    error: str | None = None  # a one-line reason: a link loop, a folder that cannot be listed
    folder: bool = False  # the error is about a folder
    via_link: bool = False  # reached through a symbolic link (the file, or a folder on the way, is a link)


def walk(folder: str | os.PathLike, suffixes: Collection[str], *, follow_links: bool = True) -> Iterator[Found]:
    """Files below ``folder`` whose lower-case suffix is in ``suffixes``, and the problems met, in walk order;
    ``follow_links=False`` leaves out every symbolic link below ``folder`` (to a file or a folder)."""
    yield from _walk(os.fspath(folder), {}, {s.lower() for s in suffixes}, follow_links, False)


def holdings(folder: str | os.PathLike) -> Iterator[str]:
    """Every entry below ``folder`` that is not a real folder, as a path relative to it (POSIX form), in name
    order: regular files, symbolic links (to anything, never followed) and other entries (FIFOs, devices)."""
    root = os.fspath(folder)
    for parent, dirs, files in os.walk(root):  # followlinks=False: a link to a folder is listed, not entered
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(parent, name)
            if name in dirs and not os.path.islink(path):
                continue
            yield Path(os.path.relpath(path, root)).as_posix()


def _walk(folder: str, ancestors: dict[tuple[int, int], str], suffixes: set[str], follow_links: bool,
          via_link: bool) -> Iterator[Found]:
    try:
        st = os.stat(folder)
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield Found(folder, os_reason(exc), folder=True)
        return
    ancestors = {**ancestors, (st.st_dev, st.st_ino): folder}
    for entry in entries:
        if entry.name.startswith("."):
            continue
        link = entry.is_symlink()
        if link and not follow_links:
            continue
        try:
            is_dir = entry.is_dir()  # follows symbolic links
        except OSError:
            is_dir = False
        if is_dir:
            try:
                sub = os.stat(entry.path)
            except OSError as exc:
                yield Found(entry.path, os_reason(exc), folder=True)
                continue
            back = ancestors.get((sub.st_dev, sub.st_ino))
            if back is not None:
                yield Found(entry.path, f"symbolic link loop: leads back to {back}", folder=True)
            else:
                yield from _walk(entry.path, ancestors, suffixes, follow_links, via_link or link)
        elif Path(entry.name).suffix.lower() in suffixes:
            yield Found(entry.path, via_link=via_link or link)
        elif link and _loops(entry.path):
            yield Found(entry.path, "symbolic link loop")


def _loops(path: str) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False
