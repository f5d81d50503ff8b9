"""One writer per output folder: a lock file inside the folder, held while a command writes there.

Every command that writes a folder (``corpus build``/``import``/``merge``, ``train``, ``gan train``, ``adapt``)
holds :func:`folder_lock` on it; a second command on the same folder is refused at once, naming the process that
writes it, instead of mixing two writers' files. The lock is ``FOLDER/.fakescope-lock``: an exclusive
``flock`` on that file, which the system releases when its process ends however it ends, and in it the owner's
pid, host, command and start time, for the message. A lock file whose owner is gone (a killed build) is stale:
the next command takes it over (:attr:`FolderLock.previous` says whose it was). Where ``flock`` is not available
the recorded pid decides: a live process on this host holds the folder.

Holding the lock is re-entrant within a process (a build that merges into its own folder). Folder checks that
look for an empty folder leave the lock file out (:func:`is_lock_file`). Nothing here imports anything else of
fakescope but :mod:`fakescope.core.safety`.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .safety import LOCK_NAME, OutputFolderError, SafetyError

try:
    import fcntl
except ImportError:  # not POSIX: the recorded pid decides
    fcntl = None

_held: dict[str, list] = {}  # resolved folder → [file descriptor, depth] of the locks this process holds


class FolderLockedError(SafetyError):
    """The folder is being written by another process; one line naming it."""


@dataclass(frozen=True)
class FolderLock:
    """A held lock: its file, and the record of a stale lock taken over (None when there was none)."""

    path: Path
    previous: dict | None = None


def is_lock_file(name: str) -> bool:
    """Whether a folder entry is a writer's lock (not content)."""
    return name == LOCK_NAME


def _owner_record() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)[:500],
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}


def _read(fd: int) -> dict | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return False
    return True


def _holder(folder: Path, owner: dict | None) -> str:
    if not owner:
        return (f"{folder} is being written by another fakescope process; wait for it to finish, or choose "
                "another folder")
    where = "" if owner.get("host") == socket.gethostname() else f" on {owner.get('host')}"
    command = f", `{owner['command']}`" if owner.get("command") else ""
    since = f", since {owner['started']}" if owner.get("started") else ""
    return (f"{folder} is being written by another fakescope process (pid {owner.get('pid')}{where}{command}"
            f"{since}); wait for it to finish, or choose another folder")


def _acquire(folder: Path) -> tuple[int, dict | None]:
    path = folder / LOCK_NAME
    for _ in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            owner = _read(fd)
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    locked = True
                except BlockingIOError:
                    raise FolderLockedError(_holder(folder, owner)) from None
                except OSError as exc:
                    if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                        raise
                    locked = False  # a file system without flock: the pid decides
            else:
                locked = False
            if not locked and owner and owner.get("host") == socket.gethostname() \
                    and owner.get("pid") != os.getpid() and _alive(owner.get("pid")):
                raise FolderLockedError(_holder(folder, owner))
            # the file locked must still be the one at the path: its holder may have removed it on release
            st = os.fstat(fd)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
            if now is None or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(_owner_record()) + "\n").encode(), 0)
            return fd, owner
        except BaseException:
            try:
                os.close(fd)
            except OSError:
                pass
            raise
    raise FolderLockedError(_holder(folder, None))


@contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[FolderLock]:
    """Hold the write lock of ``folder`` (created when missing, with its parents) for the ``with`` block.

    Raises :class:`FolderLockedError` when another live process holds it, naming that process; a stale lock (its
    process gone) is taken over and reported in the yielded :class:`FolderLock`. On leaving, the lock file is
    removed, and the folder too when this lock made it and nothing was written there.
    """
    folder = Path(folder)
    key = os.path.realpath(folder)
    if key in _held:  # re-entrant: this process already writes here
        _held[key][1] += 1
        try:
            yield FolderLock(folder / LOCK_NAME)
        finally:
            _held[key][1] -= 1
        return
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"{folder}: exists and is not a folder")
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd, previous = _acquire(folder)
    except BaseException:
        if made:
            _remove_if_empty(folder)
        raise
    _held[key] = [fd, 1]
    try:
        yield FolderLock(folder / LOCK_NAME, previous)
    finally:
        del _held[key]
        try:
            os.unlink(folder / LOCK_NAME)
        except OSError:
            pass
        os.close(fd)  # releases the flock
        if made:
            _remove_if_empty(folder)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty (the command wrote its output), or gone
        pass
