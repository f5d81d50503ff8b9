"""Guards against hostile or accidental inputs, shared by every layer that reads or writes files.

- :func:`member_path`: a path named inside a data file (a manifest row) resolves inside its folder or is refused:
  relative, no ``..``, not absolute, no symbolic link leading out.
- :func:`check_regular_file`: before any open, a file must be a regular file (never a FIFO, device or socket,
  which would block or never end) and not larger than a bound (before it is hashed or read).
- :func:`check_writable_folder`: an output folder (or the nearest folder that exists above it) can be written,
  checked before any work.
- :func:`check_output_folder`: an output folder is new or empty, or, with ``overwrite``, holds a previous result
  of the same kind; never an unrelated folder.
- :func:`check_outputs_apart`: no output (file or folder) is, holds or overwrites what the command reads, and no
  two outputs are one; checked once the inputs are known, before anything is written.
- :func:`config_digest`: the sha256 of a JSON record's canonical form, covering a checkpoint's settings.

Nothing here imports anything else of fakescope.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath


def shown_path(path: str | os.PathLike) -> str:
    """A path as text any output can hold, unambiguously: bytes of a file name that are not UTF-8 (which Python
    carries as lone surrogates, unencodable) become backslash escapes (``bad\\xffname.jpg``), and a backslash in
    a name is written twice (``a\\\\xffb.jpg`` is the file literally named so), where it is not the separator."""
    raw = os.fsencode(path)
    if os.sep != "\\":
        raw = raw.replace(b"\\", b"\\\\")
    return raw.decode("utf-8", "backslashreplace")


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """An exception as the one line an error message quotes: its text's first line (at most ``limit``
    characters), or its type's name when it has no text."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if limit is None else line[:limit]


class SafetyError(ValueError):
    """Refused for safety: not a usage error, but data that must not be read or a place that must not be written
    (the command line exits with status 1)."""


class NothingFoundError(ValueError):
    """The inputs held nothing a command could use (a corpus import whose fake folder left no image): not a usage
    error but the data's, one line saying what is missing (the command line exits with status 1), never a
    success with an empty result."""


class UnsafePathError(SafetyError):
    """A path named in a data file that would lead outside its folder; the message says why."""


class UnsafeFileError(SafetyError):
    """A file that must not be opened or read (missing, not a regular file, too large); one-line reason."""


class OutputFolderError(SafetyError):
    """An output folder that cannot or must not be written; one-line reason naming the folder."""


class OutputClashError(SafetyError):
    """An output that would write over what the command reads (or over another output); one line naming both."""


def member_path(root: str | os.PathLike, rel: object) -> Path:
    """``root / rel`` when ``rel`` is a plain relative path that stays inside ``root``, else :class:`UnsafePathError`.

    ``rel`` must be a non-empty string in POSIX form with no ``.``/``..`` part, no backslash, no NUL, not
    absolute; and the path, with every symbolic link resolved, must still be inside ``root`` (resolved), so a
    linked folder or file that leads elsewhere is refused as well.
    """
    if not isinstance(rel, str) or not rel:
        raise UnsafePathError(f"path {rel!r} is not a non-empty string")
    if "\x00" in rel or "\\" in rel:
        raise UnsafePathError(f"path {rel!r} holds a NUL or backslash")
    if rel.startswith("/") or PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).is_absolute() \
            or PureWindowsPath(rel).drive:
        raise UnsafePathError(f"path {rel!r} is absolute")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UnsafePathError(f"path {rel!r} is not a plain relative path (empty, '.' or '..' part)")
    root = Path(root)
    path = root.joinpath(*parts)
    try:
        base = root.resolve()
        real = path.resolve()
    except (OSError, RuntimeError) as exc:  # a link loop
        raise UnsafePathError(f"path {rel!r} cannot be resolved ({exc})") from None
    if real != base and base not in real.parents:
        raise UnsafePathError(f"path {rel!r} leads outside {root} (to {real}) through a symbolic link")
    return path


def check_regular_file(path: str | os.PathLike, max_bytes: int | None = None) -> os.stat_result:
    """The file's ``stat`` when it is a regular file of at most ``max_bytes``; else :class:`UnsafeFileError`.

    Uses ``stat`` only (never ``open``), so a FIFO, device or socket is refused without blocking.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UnsafeFileError("broken symbolic link" if path.is_symlink() else "no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError("symbolic link loop") from None
        if isinstance(exc, PermissionError):
            raise UnsafeFileError("permission denied") from None
        raise UnsafeFileError((exc.strerror or type(exc).__name__).lower()) from None
    except ValueError:  # an embedded NUL byte: no file system holds such a name
        raise UnsafeFileError("not a valid file name (it holds a NUL byte)") from None
    if stat.S_ISDIR(st.st_mode):
        raise UnsafeFileError("is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(f"not a regular file ({file_type(st.st_mode)})")
    if max_bytes is not None and st.st_size > max_bytes:
        raise UnsafeFileError(f"file too large: {st.st_size:,} bytes (limit {max_bytes:,})")
    return st


#: JSON nested deeper than this is refused: no file of the tool comes near it, and Python's parser (and every
#: recursive walk after it: hashing, building configs) would otherwise end in a RecursionError traceback.
MAX_JSON_DEPTH = 100


def loads_json(text: str | bytes) -> object:
    """``json.loads`` for data from outside: anything it cannot take is a ``ValueError`` with a one-line reason
    (``json.JSONDecodeError`` is one), including JSON nested more than :data:`MAX_JSON_DEPTH` levels deep."""
    deep = ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        data = json.loads(text)
    except RecursionError:
        raise deep from None
    stack = [(data, 1)]
    while stack:  # iteratively: a walk that recursed would fail the same way
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise deep
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return data


def read_json_object(path: str | os.PathLike, max_bytes: int) -> dict:
    """A small JSON file that must hold an object: checked with :func:`check_regular_file` before it is opened.

    Raises :class:`UnsafeFileError` (not a regular file, too large) or ``ValueError`` (unreadable, not JSON,
    nested too deeply, not an object), each with a one-line reason that does not repeat the path.
    """
    check_regular_file(path, max_bytes)
    try:
        data = loads_json(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"unreadable ({first_line(exc)})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def file_type(mode: int) -> str:
    """A short name for what a ``stat`` mode describes."""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISLNK, "a symbolic link"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "an unknown file type"


def is_regular_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` (links followed) is a regular file; never opens it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


#: The short-lived probe file of :func:`check_writable_folder`. Under torchrun several processes check the same
#: folder at once: one's probe is never taken for content by another.
WRITE_CHECK_PREFIX = ".fakescope-write-check."
#: The lock file of a folder being written (:mod:`fakescope.core.lock`): a writer's, never content.
LOCK_NAME = ".fakescope-lock"


def check_writable_folder(path: str | os.PathLike, option: str = "--out") -> None:
    """Refuse, before any work, an output folder that cannot be written: a file in the way, or no permission on
    the folder or on the nearest folder above it that exists (where it would be created).

    The check writes and removes a small temporary file, so it holds for any user (root included) and on
    read-only file systems.
    """
    path = Path(path)
    target = path
    while not target.exists():
        if target.is_symlink():
            raise OutputFolderError(f"{option} {path}: {target} is a broken symbolic link")
        parent = target.parent
        if parent == target:
            break
        target = parent
    if not target.is_dir():
        where = "" if target == path else f" ({target} is a file)"
        raise OutputFolderError(f"{option} {path}: not a folder{where}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=WRITE_CHECK_PREFIX, dir=target)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc)).lower()
        raise OutputFolderError(f"{option} {path}: cannot write in {target} ({reason})") from None


def _identity(path: str | os.PathLike) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _real(path: str | os.PathLike) -> str:
    """``path`` with its folder's links resolved (not its last part's: a link in a folder is an entry there)."""
    path = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(path)
    return os.path.join(os.path.realpath(parent), name) if name else os.path.realpath(path)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_outputs_apart(outputs: Mapping[str, str | os.PathLike | None],
                        inputs: Iterable[str | os.PathLike] = (), *,
                        folders: Iterable[str | os.PathLike] = ()) -> None:
    """Refuse, before anything is written, outputs that would destroy what the command reads.

    ``outputs`` maps each option to the file or folder it writes (None: not given). ``inputs`` are the files the
    command reads (after walking its folders) and the files and folders named on its command line; ``folders`` are
    folders read as a whole (a corpus, a checkpoint, a real source), which no output may be, hold or lie inside.
    Refused, with :class:`OutputClashError` naming both: an output that is an input (the same path, or the same
    file through a link: same device and inode); an output folder that holds an input (its previous content is
    replaced); an output inside a folder of ``folders``; two outputs that are one, or one inside the other.
    An output folder inside a walked input folder is allowed: the walk must leave it out
    (:func:`fakescope.core.walk.walk`'s ``exclude``).
    """
    given = [(opt, os.fspath(p)) for opt, p in outputs.items() if p is not None and os.fspath(p) != "-"]
    if not given:
        return
    outs = [(opt, p, _real(p), _identity(p), os.path.isdir(p)) for opt, p in given]
    for i, (opt, p, real, key, _) in enumerate(outs):
        for opt2, p2, real2, key2, _ in outs[:i]:
            if real == real2 or (key is not None and key == key2) or _within(real, real2) or _within(real2, real):
                raise OutputClashError(f"{opt} {p} and {opt2} {p2} name the same place; give each its own")
    for folder in folders:
        folder = os.fspath(folder)
        inside = _real(folder)
        for opt, p, real, key, _ in outs:
            if (key is not None and key == _identity(folder)) or _within(real, inside) or _within(inside, real):
                raise OutputClashError(f"{opt} {p}: would write into {folder}, which this command reads; choose "
                                       "another place")
    by_id = {key: (opt, p) for opt, p, _, key, _ in outs if key is not None}
    held = [(opt, p, real) for opt, p, real, _, is_dir in outs if is_dir]
    parents: dict[str, str] = {}
    for item in inputs:
        item = os.fspath(item)
        key = _identity(item)
        if key is not None and key in by_id:
            opt, p = by_id[key]
            what = "folder" if os.path.isdir(item) else "file"
            raise OutputClashError(f"{opt} {p}: is also an input ({item}); writing it would destroy the {what} "
                                   "read; choose another name")
        if held:
            head, name = os.path.split(os.path.abspath(item))
            if head not in parents:
                parents[head] = os.path.realpath(head)
            real = os.path.join(parents[head], name)
            for opt, p, folder in held:
                if _within(real, folder):
                    raise OutputClashError(f"{opt} {p}: holds an input ({item}), which writing there would "
                                           "replace; choose another folder")


def _entries(path: Path) -> list[os.DirEntry]:
    """A folder's entries, less the write probes of processes checking it at the same time and a writer's lock."""
    with os.scandir(path) as it:
        return [e for e in it if not e.name.startswith(WRITE_CHECK_PREFIX) and e.name != LOCK_NAME]


def check_output_folder(path: str | os.PathLike, *, what: str, overwrite: bool = False,
                        is_previous: Callable[[Path], bool] | None = None, option: str = "--out") -> bool:
    """Refuse an output folder that is not new or empty, unless ``overwrite`` and it holds a previous ``what``.

    ``is_previous(path)`` says whether a non-empty folder holds exactly a previous result of this kind (and
    nothing else). Returns whether a previous result is being replaced. Checks writability too.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{option} {path}: exists and is not a folder")
    previous = False
    if path.is_dir() and _entries(path):
        previous = is_previous is not None and is_previous(path)
        if not previous:
            raise OutputFolderError(f"{option} {path}: not empty and not a previous {what}; choose a new or "
                                    "empty folder")
        if not overwrite:
            article = "an" if what[:1] in "aeiou" else "a"
            raise OutputFolderError(f"{option} {path}: already holds {article} {what}; pass --overwrite to replace it")
    check_writable_folder(path, option)
    return previous


def only_names(path: Path, allowed: Callable[[str], bool]) -> bool:
    """Whether every entry of folder ``path`` is a regular file whose name ``allowed`` accepts."""
    try:
        entries = _entries(path)
    except OSError:
        return False
    return all(e.is_file(follow_symlinks=False) and allowed(e.name) for e in entries)


def config_digest(record: dict, exclude: Iterable[str] = ("sha256", "config_sha256", "path")) -> str:
    """sha256 of ``record`` (minus ``exclude``) as canonical JSON: sorted keys, no spaces, ASCII."""
    data = {k: v for k, v in record.items() if k not in set(exclude)}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, *, fallback: str = "images", max_length: int = 120) -> str:
    """A name usable in a file name written by the tool: letters, digits, ``.``, ``_``, ``-`` (any run of other
    characters becomes ``-``; no leading or trailing ``-``/``.``, so never ``..``), at most ``max_length`` long."""
    name = _UNSAFE_NAME_CHARS.sub("-", text).strip("-.")[:max_length].strip("-.")
    return name or fallback
