
import numpy as np
import pytest
import torch
from fakescope.generators import sources
from fakescope.generators.sources import SOURCES, create_source

from fakescope.core import optional
from fakescope.core.imageio import write_png


@pytest.mark.parametrize("name", SOURCES.names())
@pytest.mark.parametrize("channels", [1, 3])
def test_source_shape_range_and_determinism(name, channels, request):
    if name == "debian-photos" and not optional.present(name):  # without `make data`: a stand-in tree
        request.getfixturevalue("debian_photos_standin")
    src = create_source(name)
    a = src.draw(6, size=20, channels=channels, split="train", seed=3)
    b = src.draw(6, size=20, channels=channels, split="train", seed=3)
    c = src.draw(6, size=20, channels=channels, split="train", seed=4)
    assert a.images.shape == (6, channels, 20, 20)
    assert a.images.dtype == torch.float32
    assert a.images.min() >= -1 and a.images.max() <= 1
    assert a.images.std() > 0.05  # real content, not a constant
    assert torch.equal(a.images, b.images) and a.meta == b.meta
    assert not torch.equal(a.images, c.images)
    assert all(m["source"] == name for m in a.meta)
    if not src.crops:
        assert all("resized" in m for m in a.meta)  # no bundled source is natively 20 px


@pytest.mark.parametrize("name", SOURCES.names())
def test_splits_are_disjoint_and_fixed(name):
    src = create_source(name)
    parts = [set(src.indices(s)) for s in ("train", "val", "test")]
    assert all(parts)
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert set().union(*parts) == set(src.indices("all"))
    assert src.indices("test") == create_source(name).indices("test")


def test_draws_stay_inside_their_split():
    src = create_source("photos")
    test_items = {src.item_ids()[i] for i in src.indices("test")}
    drawn = src.draw(30, size=16, channels=3, split="test", seed=0)
    assert {m["item"] for m in drawn.meta} <= test_items


def test_start_offset_draws_the_same_images():
    src = create_source("digits")
    whole = src.draw(10, size=8, channels=1, split="val", seed=5)
    tail = src.draw(4, size=8, channels=1, split="val", seed=5, start=6)
    assert torch.equal(whole.images[6:], tail.images)


def test_asking_for_more_than_a_split_holds_is_an_error():
    src = create_source("faces")
    with pytest.raises(ValueError, match="has 15 images in split 'test'"):
        src.draw(16, size=8, channels=1, split="test")


def test_conversion_is_reported_in_metadata():
    meta = create_source("faces").draw(1, size=25, channels=3, split="train").meta[0]
    assert meta["converted"] == "1ch->3ch" and "resized" not in meta and meta["original_size"] == [25, 25]


def test_folder_source_reads_images_and_skips_non_images(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(5):
        write_png(tmp_path / "sub" / f"{i}.png", rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "fake.png").write_text("not a png either")
    src = create_source(f"folder:{tmp_path}")
    assert len(src.item_ids()) == 5
    assert src.skipped == [str(tmp_path / "fake.png")]
    batch = src.draw(None, size=16, channels=3, split="all")
    assert batch.images.shape == (5, 3, 16, 16)
    assert batch.meta[0]["crop"] == [0, 5, 30, 30]  # centre square crop, never stretched


def test_a_folder_sources_split_barely_moves_when_files_come_and_go(tmp_path):
    """Two corpora built from a folder before and after a file was added or removed must not swap many images
    between train and test (a permutation of the sorted list moved 9 and 42 of 100)."""
    for i in range(100):
        write_png(tmp_path / f"{i:03d}.png", np.full((8, 8, 3), i, np.uint8))

    def splits() -> dict[str, str]:
        src = create_source(f"folder:{tmp_path}")
        ids = src.item_ids()
        return {ids[i]: split for split in ("train", "val", "test") for i in src.indices(split)}

    before = splits()
    assert [sum(v == s for v in before.values()) for s in ("train", "val", "test")] == [70, 15, 15]
    write_png(tmp_path / "new.png", np.zeros((8, 8, 3), np.uint8))
    added = splits()
    (tmp_path / "000.png").unlink()
    removed = splits()
    assert sum(before[k] != added[k] for k in before) <= 2
    assert sum(added[k] != removed[k] for k in removed) <= 2


def test_unknown_source_and_missing_folder_are_clear_errors(tmp_path):
    known = "known: debian-photos, digits, faces, painting-patches, paintings, photo-patches, photos"
    with pytest.raises(KeyError, match=known):
        create_source("mnist")
    with pytest.raises(ValueError, match="is not a directory"):
        create_source(f"folder:{tmp_path / 'nope'}")


@pytest.mark.parametrize(("patches", "whole"), [("photo-patches", "photos"), ("painting-patches", "paintings")])
def test_patches_are_native_windows_of_the_same_split(patches, whole):
    src, full = create_source(patches), create_source(whole)
    assert src.indices("test") == full.indices("test") and src.item_ids() == full.item_ids()
    drawn = src.draw(5, size=24, channels=3, split="val", seed=1)
    for image, meta in zip(drawn.images, drawn.meta, strict=True):
        y, x, h, w = meta["crop"]
        assert (h, w) == (24, 24) and "resized" not in meta
        item = full.load_item(full.item_ids().index(meta["item"]))
        window = torch.from_numpy(item[y : y + 24, x : x + 24]).permute(2, 0, 1).float() / 127.5 - 1
        assert torch.allclose(image, window, atol=1e-6)


def test_debian_photos_are_split_by_photograph_and_name_make_data_when_missing(monkeypatch, tmp_path):
    source = create_source("debian-photos")
    splits = {s: set(source.indices(s)) for s in ("train", "val", "test")}
    assert sum(map(len, splits.values())) == len(source.item_ids()) >= 60
    assert min(len(splits["val"]), len(splits["test"])) >= 8 and not splits["val"] & splits["test"]
    monkeypatch.setattr(sources, "_DEBIAN_ROOTS", {k: str(tmp_path / k) for k in sources._DEBIAN_ROOTS})
    with pytest.raises(sources.MissingDataError, match=r"run `make data`"):
        create_source("debian-photos").draw(1, size=32, channels=3, split="train")


def test_hidden_debian_photos_are_missing_and_name_make_data(monkeypatch):
    monkeypatch.setenv(optional.HIDE_ENV, "debian-photos")
    assert not optional.present("debian-photos")
    source = create_source("debian-photos")
    assert source.item_ids() and str(optional.HIDDEN_ROOT) in str(optional.located("debian-photos", "/usr/share/x"))
    with pytest.raises(sources.MissingDataError, match=rf"{optional.HIDDEN_ROOT}/usr/share/.* run `make data`"):
        source.draw(1, size=32, channels=3, split="train")


def test_the_standin_tree_is_what_the_source_reads_wherever_it_runs(debian_photos_standin):
    """The fallback of the registry-wide test, exercised also where the packages are installed."""
    from fakescope.core.imageio import read_image

    source = create_source("debian-photos")
    drawn = source.draw(2, size=24, channels=3, split="val", seed=0)
    for image, meta in zip(drawn.images, drawn.meta, strict=True):
        package, rel = meta["item"].split(":", 1)
        photo = read_image(debian_photos_standin / package / rel)
        y, x, h, w = meta["crop"]
        window = torch.from_numpy(photo[y : y + h, x : x + w].copy()).permute(2, 0, 1).float() / 127.5 - 1
        assert torch.equal(image, window)


@pytest.mark.needs("debian-photos")
def test_debian_photos_give_native_windows_from_their_split():
    drawn = create_source("debian-photos").draw(3, size=48, channels=3, split="test", seed=2)
    assert drawn.images.shape == (3, 3, 48, 48)
    assert all("resized" not in m and m["crop"][2:] == [48, 48] for m in drawn.meta)
    test_ids = {create_source("debian-photos").item_ids()[i] for i in create_source("debian-photos").indices("test")}
    assert {m["item"] for m in drawn.meta} <= test_ids


def test_enlarged_sources_are_windows_of_the_same_split_enlarged_classically():
    from fakescope.generators.sources import ENLARGE_RANGE, enlarge

    inner, src = create_source("photo-patches"), create_source("enlarged:photo-patches")
    assert src.name == "enlarged:photo-patches" and src.indices("test") == inner.indices("test")
    a = src.draw(12, size=40, channels=3, split="test", seed=5)
    assert torch.equal(a.images, src.draw(12, size=40, channels=3, split="test", seed=5).images)
    test_items = {inner.item_ids()[i] for i in inner.indices("test")}
    windows = set()
    for image, meta in zip(a.images, a.meta, strict=True):
        e, (y, x, side, _) = meta["enlarged"], meta["crop"]
        assert meta["item"] in test_items and e["to"] == 40
        assert ENLARGE_RANGE[0] - 0.1 <= 40 / e["from"] <= ENLARGE_RANGE[1] + 0.2
        assert side == (40 if e["window"] == "area-shrunk" else e["from"])
        photo = inner.load_item(inner.item_ids().index(meta["item"]))
        again = enlarge(photo[y : y + side, x : x + side], 40, e["from"], e["interpolation"])
        assert torch.equal(image, torch.from_numpy(again).permute(2, 0, 1).float() / 127.5 - 1)
        windows.add((e["window"], e["interpolation"]))
    assert len(windows) >= 4  # both kinds of window, several interpolations


def test_enlarged_images_lose_the_fine_detail_of_native_windows():
    native = create_source("photo-patches").draw(16, size=64, channels=1, split="train", seed=0).images
    enlarged = create_source("enlarged:photo-patches").draw(16, size=64, channels=1, split="train", seed=0).images

    def fine(x):  # mean absolute difference between neighbouring pixels
        return (x[..., 1:] - x[..., :-1]).abs().mean()

    assert fine(enlarged) < 0.6 * fine(native)


def test_enlarged_needs_a_source_of_crops():
    with pytest.raises(ValueError, match=r"'enlarged:faces' needs a source of crops"):
        create_source("enlarged:faces")


def test_enlarged_takes_your_own_folder_and_refuses_what_it_cannot_enlarge(tmp_path):
    from fakescope.generators.sources import enlarge

    rng = np.random.default_rng(0)
    for i in range(3):
        write_png(tmp_path / f"{i}.png", rng.integers(0, 255, (60, 70, 3), dtype=np.uint8))
    drawn = create_source(f"enlarged:folder:{tmp_path}").draw(4, size=32, channels=3, split="all", seed=0)
    assert drawn.images.shape == (4, 3, 32, 32) and all(m["enlarged"]["from"] < 32 for m in drawn.meta)
    with pytest.raises(ValueError, match="a photograph is enlarged once"):
        create_source("enlarged:enlarged:photo-patches")
    with pytest.raises(KeyError, match="source 'enlarged:nope': unknown real source 'nope'"):
        create_source("enlarged:nope")
    square = np.zeros((20, 20, 3), np.uint8)
    assert enlarge(square, 40, 10, "lanczos").shape == (40, 40, 3)
    for args in [(np.zeros((20, 30, 3), np.uint8), 40, 10, "bicubic"), (square, 40, 25, "bicubic"),
                 (square, 8, 10, "bicubic"), (square, 40, 10, "nearest")]:
        with pytest.raises(ValueError, match="enlarge: "):
            enlarge(*args)
