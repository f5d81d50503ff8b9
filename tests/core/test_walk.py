"""The one folder walker, and the three places that use it agreeing on one rule set."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from fakescope.detector.inputs import collect_inputs
from fakescope.generators.sources import FolderSource
from fakescope.generators.translate import expand_inputs

from fakescope.core.imageio import IMAGE_SUFFIXES
from fakescope.core.walk import walk


def tree(root: Path) -> Path:
    image = np.full((8, 8, 3), 128, np.uint8)
    for name in ["b.png", "A.JPG", "sub/c.png", ".hidden/d.png", "sub/.e.png", "notes.txt"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / name), image) if name.lower().endswith(("png", "jpg")) else (root / name).write_text("")
    os.symlink("..", root / "sub" / "loop")
    os.symlink("self", root / "self")  # a link to itself
    return root


def test_walk_order_hidden_names_suffixes_and_loops(tmp_path):
    root = tree(tmp_path / "t")
    found = [(os.path.relpath(f.path, root), f.error, f.folder) for f in walk(root, {".png", ".jpg"})]
    assert found == [
        ("A.JPG", None, False),
        ("b.png", None, False),
        ("self", "symbolic link loop", False),
        ("sub/c.png", None, False),
        ("sub/loop", f"symbolic link loop: leads back to {root}", True),
    ]


def test_score_translate_and_folder_sources_walk_alike(tmp_path):
    root = tree(tmp_path / "t")
    images = [f.path for f in walk(root, IMAGE_SUFFIXES) if f.error is None]
    assert [i.path for i in collect_inputs([root]) if i.error is None] == images
    assert [str(p) for p, _, error in expand_inputs([root]) if error is None] == images
    assert [str(root / i) for i in FolderSource(root).item_ids()] == images
