"""The one folder walker: which files below a folder are inputs, by one rule set for every command.

Used by ``fakescope score`` (images and videos), ``fakescope gan translate``, ``corpus import``, ``bench
--real/--fake`` and ``folder:PATH`` real sources. Rules: depth first, entries in name order; hidden names (a leading
``.``) skipped; symbolic links (to folders and files) followed, each input found through one marked ``via_link``,
or all left out with ``follow_links=False`` (``score --no-follow-links``: a link to ``/usr/share`` does not pull in
system files); a file is kept when its suffix (any case) is wanted, or, for the kinds given as ``content``
(``image``, ``video``), when its first bytes say it is one (a PNG named ``IMG_0001``: a file is an image or a
video by its first bytes wherever it is found); a looping link among the files is reported.

Every folder is walked once: folders are remembered by (device, inode), so a link that leads back to a folder being
walked (a loop) or to one already walked (two links to one folder, a chain of them) is reported once per folder and
not entered again; a folder that cannot be listed is reported rather than walked. A walk is bounded: folders more
than :data:`MAX_DEPTH` below the walked one are reported and not entered, and a walk that meets more than
:data:`MAX_ENTRIES` entries stops with a message saying so (a link to ``/`` would otherwise list the whole
machine). ``exclude`` names folders a walk never enters (a command's own output folders, so that it never reads
what it writes).

:func:`holdings` is the other rule set, for checking what a folder holds (``corpus verify``): every entry that
is not a real folder, hidden names included, symbolic links listed and never followed (a link cannot lead the
check elsewhere).
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .formats import content_kind, head_of
from .imageio import os_reason

#: Folders more than this many levels below the walked folder are reported and not entered.
MAX_DEPTH = 64
#: A walk that meets more entries than this (files and folders, hidden ones included) stops and says so.
MAX_ENTRIES = 1_000_000


@dataclass(frozen=True)
class Found:
    """A file below the walked folder, or a problem met on the way (``error`` set)."""

    path: str  # the folder joined with the names walked (links are not resolved)
    error: str | None = None  # a one-line reason: a link loop, a folder that cannot be listed, a limit reached
    folder: bool = False  # the error is about a folder
    via_link: bool = False  # reached through a symbolic link (the file, or a folder on the way, is a link)


def walk(folder: str | os.PathLike, suffixes: Collection[str] | None, *, follow_links: bool = True,
         exclude: Iterable[str | os.PathLike] = (), max_depth: int = MAX_DEPTH,
         max_entries: int = MAX_ENTRIES, content: Collection[str] = ()) -> Iterator[Found]:
    """Files below ``folder`` whose lower-case suffix is in ``suffixes`` (None: every file), or whose first bytes
    are of a kind in ``content`` (``image``, ``video``: :func:`fakescope.core.formats.content_kind`; only regular
    files are opened), and the problems met, in walk order; ``follow_links=False`` leaves out every symbolic link
    below ``folder`` (to a file or a folder); the folders of ``exclude`` (existing or not) are never entered."""
    state = _Walk({s.lower() for s in suffixes} if suffixes is not None else None, follow_links,
                  [os.fspath(p) for p in exclude], max_depth, max_entries, frozenset(content))
    root = os.fspath(folder)
    try:
        yield from state.folder(root, {}, 0, False)
    except _Stop as stop:
        yield Found(root, str(stop), folder=True)


def expand_pattern(pattern: str, *, follow_links: bool = True,
                   exclude: Iterable[str | os.PathLike] = ()) -> list[Found]:
    """The paths a shell pattern (``*``, ``?``, ``[...]``, ``**``) matches, sorted, and the problems met.

    Without ``**``: Python's glob (files and folders; as deep as the pattern). With ``**``: the files below the
    pattern's fixed part that match it, found by :func:`walk` (each folder once, bounded, hidden names skipped,
    ``exclude`` never entered), so a tree of symbolic links that loops is listed once instead of without end.
    """
    if "**" not in pattern:
        return [Found(m) for m in sorted(glob.glob(pattern))]
    parts = pattern.split(os.sep)
    fixed = 0
    while fixed < len(parts) and not glob.has_magic(parts[fixed]):
        fixed += 1
    base = os.sep.join(parts[:fixed]) or (os.sep if pattern.startswith(os.sep) else "")
    rest = [p for p in parts[fixed:] if p]
    found = []
    for f in walk(base or os.curdir, None, follow_links=follow_links, exclude=exclude):
        path = f.path if base else os.path.relpath(f.path, os.curdir)
        names = Path(os.path.relpath(f.path, base or os.curdir)).parts
        if f.error is not None and f.folder and f.path == (base or os.curdir):
            found.append(Found(path, f.error, f.folder, f.via_link))  # about the whole walk
        elif f.error is not None and (_leads_to(names, rest) if f.folder else _matches(names, rest)):
            found.append(Found(path, f.error, f.folder, f.via_link))
        elif f.error is None and _matches(names, rest):
            found.append(Found(path, via_link=f.via_link))
    return sorted(found, key=lambda f: f.path)


def _matches(names: tuple[str, ...], parts: list[str]) -> bool:
    """Whether path components ``names`` match pattern components ``parts`` (``**``: any number of them)."""
    if not parts:
        return not names
    if parts[0] == "**":
        return any(_matches(names[i:], parts[1:]) for i in range(len(names) + 1))
    return bool(names) and fnmatch.fnmatchcase(names[0], parts[0]) and _matches(names[1:], parts[1:])


def _leads_to(names: tuple[str, ...], parts: list[str]) -> bool:
    """Whether a folder with path components ``names`` may hold matches of pattern components ``parts``."""
    if not names:
        return True
    if not parts:
        return False
    if parts[0] == "**":
        return True
    return fnmatch.fnmatchcase(names[0], parts[0]) and _leads_to(names[1:], parts[1:])


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


class _Stop(Exception):
    """The walk met more entries than it may: the message says so."""


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


@dataclass
class _Walk:
    suffixes: set[str] | None
    follow_links: bool
    exclude: list[str]
    max_depth: int
    max_entries: int
    content: frozenset[str] = frozenset()  # kinds kept by their first bytes whatever their suffix
    walked: dict[tuple[int, int], str] = field(default_factory=dict)  # every folder entered: where it was
    reported: set[tuple[int, int]] = field(default_factory=set)  # folders reported as reached again
    entries: int = 0

    def excluded(self, key: tuple[int, int]) -> bool:
        # stat each time: an output folder may be made while the walk runs
        return any(_identity(p) == key for p in self.exclude)

    def folder(self, folder: str, ancestors: dict[tuple[int, int], str], depth: int,
               via_link: bool) -> Iterator[Found]:
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if self.exclude and self.excluded(key):
                return
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Found(folder, os_reason(exc), folder=True)
            return
        self.entries += len(entries)
        if self.entries > self.max_entries:
            raise _Stop(f"walk stopped: more than {self.max_entries:,} files and folders below it (the limit of "
                        "one walk; a symbolic link to a large tree?): walk a smaller folder")
        self.walked[key] = folder
        ancestors = {**ancestors, key: folder}
        for entry in entries:
            if entry.name.startswith("."):
                continue
            link = entry.is_symlink()
            if link and not self.follow_links:
                continue
            try:
                is_dir = entry.is_dir()  # follows symbolic links
            except OSError:
                is_dir = False
            if is_dir:
                yield from self.subfolder(entry.path, ancestors, depth + 1, via_link or link)
            elif self.suffixes is None or Path(entry.name).suffix.lower() in self.suffixes:
                yield Found(entry.path, via_link=via_link or link)
            elif self.content and _kind_by_content(entry.path) in self.content:
                yield Found(entry.path, via_link=via_link or link)
            elif link and _loops(entry.path):
                yield Found(entry.path, "symbolic link loop")

    def subfolder(self, path: str, ancestors: dict[tuple[int, int], str], depth: int,
                  via_link: bool) -> Iterator[Found]:
        try:
            sub = os.stat(path)
        except OSError as exc:
            yield Found(path, os_reason(exc), folder=True)
            return
        key = (sub.st_dev, sub.st_ino)
        if self.exclude and self.excluded(key):
            return
        before = ancestors.get(key) or self.walked.get(key)
        if before is not None:
            if key not in self.reported:  # each folder reported once, however many links lead to it
                self.reported.add(key)
                why = "symbolic link loop: leads back to" if key in ancestors else \
                    "folder reached again through a symbolic link, walked once as"
                yield Found(path, f"{why} {before}", folder=True)
        elif depth > self.max_depth:
            yield Found(path, f"more than {self.max_depth} folders deep: not walked", folder=True)
        else:
            yield from self.folder(path, ancestors, depth, via_link)


def _kind_by_content(path: str) -> str | None:
    head = head_of(path)  # None for anything but a readable regular file: a FIFO is never opened
    return content_kind(head) if head is not None else None


def _loops(path: str) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False
