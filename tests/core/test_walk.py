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


def link_chain(root: Path, levels: int) -> Path:
    """``levels`` folders, each with two links (``x``, ``y``) to the next; one image in the last: followed
    naively, the image is reached ``2 ** (levels - 1)`` times."""
    for i in range(levels):
        (root / f"d{i}").mkdir(parents=True)
    cv2.imwrite(str(root / f"d{levels - 1}" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    for i in range(levels - 1):
        os.symlink(f"../d{i + 1}", root / f"d{i}" / "x")
        os.symlink(f"../d{i + 1}", root / f"d{i}" / "y")
    return root / "d0"


def test_every_folder_is_walked_once_and_a_folder_reached_again_is_reported_once(tmp_path):
    """Issue 31, item 2: 25 folders with two links each to the next never finished; at 10 levels the image was
    scored 1,024 times."""
    start = link_chain(tmp_path, 12)
    found = list(walk(start, IMAGE_SUFFIXES))
    assert [f.path for f in found if f.error is None] == [str(start / Path(*["x"] * 11) / "a.png")]
    again = [f for f in found if f.error is not None]
    assert len(again) == 11 and all(f.folder and "walked once as" in f.error for f in again)
    assert len({f.error for f in again}) == 11  # each folder once
    # score's folder walks and its ** patterns alike
    inputs = collect_inputs([start])
    assert sum(i.error is None for i in inputs) == 1
    pattern = collect_inputs([f"{tmp_path}/**/*.png"])
    assert [i.path for i in pattern if i.error is None] == [str(start / Path(*["x"] * 11) / "a.png")]


def test_walks_are_bounded_in_depth_and_entries_with_a_message(tmp_path):
    deep = tmp_path / "deep"
    (deep / "a" / "b" / "c" / "d").mkdir(parents=True)
    cv2.imwrite(str(deep / "a" / "b" / "c" / "d" / "x.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(deep / "a" / "y.png"), np.zeros((8, 8, 3), np.uint8))
    found = list(walk(deep, IMAGE_SUFFIXES, max_depth=3))
    assert [(f.path, f.error) for f in found] == [
        (str(deep / "a" / "b" / "c" / "d"), "more than 3 folders deep: not walked"), (str(deep / "a" / "y.png"), None)]
    wide = tmp_path / "wide"
    wide.mkdir()
    for i in range(10):
        cv2.imwrite(str(wide / f"{i}.png"), np.zeros((8, 8, 3), np.uint8))
    found = list(walk(wide, IMAGE_SUFFIXES, max_entries=5))
    assert len(found) == 1 and found[0].folder and found[0].path == str(wide)
    assert "walk stopped: more than 5 files and folders" in found[0].error
    assert len(list(walk(wide, IMAGE_SUFFIXES, max_entries=10))) == 10


def test_excluded_folders_are_never_entered(tmp_path):
    root = tree(tmp_path / "t")
    out = root / "sub"
    assert all("sub" not in Path(f.path).relative_to(root).parts for f in walk(root, {".png"}, exclude=[out]))
    assert list(walk(out, {".png"}, exclude=[out])) == []


def test_files_without_an_image_suffix_are_kept_by_their_first_bytes(tmp_path):
    """Issue 31, item 12: a PNG named IMG_0001 in a folder was skipped silently (a single file was scored)."""
    from fakescope.core.corpus import read_manifest
    from fakescope.core.corpus_import import import_corpus, parse_folder

    root = tmp_path / "t"
    root.mkdir()
    def png(value: int) -> bytes:
        return cv2.imencode(".png", np.full((8, 8, 3), value, np.uint8))[1].tobytes()

    (root / "IMG_0001").write_bytes(png(90))  # a PNG without a suffix
    (root / "photo.dat").write_bytes(png(91))  # a PNG under another suffix
    (root / "clip").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(64))  # an MP4's first bytes
    (root / "notes").write_text("not an image")
    os.mkfifo(root / "pipe")  # never opened: the walk must not block
    found = [os.path.basename(f.path) for f in walk(root, IMAGE_SUFFIXES, content=("image",))]
    assert found == ["IMG_0001", "photo.dat"]
    inputs = {os.path.basename(i.path): i.kind for i in collect_inputs([root])}
    assert inputs == {"IMG_0001": "image", "clip": "video", "photo.dat": "image"}
    assert [os.path.basename(str(p)) for p, _, error in expand_inputs([root]) if error is None] == found
    assert sorted(os.path.basename(str(p)) for p in FolderSource(root)._paths) == found
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a.png").write_bytes(png(92))
    record = import_corpus([parse_folder(str(root), 0), parse_folder(f"g={tmp_path / 'f'}", 1)], tmp_path / "c",
                           on_error=lambda m: None)
    assert record["formats"] == {"real": {"png": 2}, "fake": {"png": 1}}
    assert all(r["path"].endswith(".png") for r in read_manifest(tmp_path / "c"))
