"""Recipes: the shipped ones validate against the bundled checkpoints; bad recipes fail with one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomllib
from fakescope.generators.gan import GANS, create_gan
from fakescope.generators.recipes import RecipeError, list_recipes, load_recipe, parse_recipe, recipe_to_dict

from fakescope.core import optional
from fakescope.core.checkpoint import read_meta

SHIPPED = list_recipes()
REALS_ONLY = {"photos-enlarged"}  # real images a detector must not flag, trained beside other corpora's fakes


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("r") / "gen"
    create_gan("vanilla", image_size=8, latent_dim=8, g_hidden=(16,), d_hidden=(16,)).save(folder)
    return folder


def test_the_shipped_recipes_are_found():
    assert {"digits-vanilla", "faces-progan", "photos-cyclegan", "mixed"} <= set(SHIPPED)
    assert all(p.parent.name == "datasets" for p in SHIPPED.values())


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_recipe_validates_and_pins_its_checkpoints(name):
    setup = tomllib.loads(SHIPPED[name].read_text()).get("setup")
    try:
        recipe = load_recipe(name)
    except RecipeError as exc:  # checkpoints that are not bundled: the error names what makes them
        if setup and "the recipe's checkpoints are made by" in str(exc) and setup in str(exc):
            pytest.skip(f"needs {setup} ({name}: its checkpoints are not made here)")
        raise
    assert recipe.name == name and recipe.description
    assert recipe.real and (bool(recipe.fake) is (name not in REALS_ONLY))
    for entry in recipe.fake:
        assert entry.sha256 is not None, f"{name}: {entry.name} is not pinned"
        assert read_meta(entry.checkpoint)["sha256"] == entry.sha256
    for split in ("train", "val", "test"):  # every split holds both classes (reals only: its reals)
        assert recipe.count(0, split) > 0 and (recipe.count(1, split) > 0 or name in REALS_ONLY), split
    assert recipe.size and recipe.channels in (1, 3)


def base(ckpt: Path) -> dict:
    return {"seed": 1, "size": 8, "channels": 1, "counts": {"train": 4, "val": 1, "test": 1},
            "real": [{"source": "digits"}], "fake": [{"generator": str(ckpt)}]}


def pinned(ckpt: Path) -> str:
    return json.loads((ckpt / "config.json").read_text())["sha256"]


def test_a_valid_recipe_fills_in_defaults(ckpt):
    recipe = parse_recipe({**base(ckpt), "fake": [{"generator": str(ckpt), "sha256": pinned(ckpt)}]}, name="x")
    assert recipe.name == "x" and recipe.format == "png" and recipe.perturbations == ()
    assert recipe.fake[0].name == "gen" and recipe.real[0].name == "digits"
    assert recipe.count(0, "train") == 4 and recipe.count(1, "test") == 1
    data = recipe_to_dict(recipe)
    assert data["fake"][0]["sha256"] == pinned(ckpt) and data["real"][0]["counts"] == {"train": 4, "val": 1,
                                                                                       "test": 1}


def test_the_checkpoints_a_hidden_resources_command_made_are_not_found(ckpt, tmp_path, monkeypatch):
    """A recipe whose setup is `make upscalers` reads the folders that command made only where it is not hidden
    (FAKESCOPE_HIDE_OPTIONAL): as on a machine where it never ran. Bundled names are found all the same."""
    made = tmp_path / "runs" / "gen"
    made.parent.mkdir()
    made.symlink_to(ckpt, target_is_directory=True)
    data = {**base(ckpt), "setup": "make upscalers", "fake": [{"generator": "runs/gen", "sha256": pinned(ckpt)},
                                                               {"generator": "vanilla-digits"}]}
    monkeypatch.setenv(optional.HIDE_ENV, "imagenet")  # another resource hidden: found
    assert parse_recipe(data, name="x", base=tmp_path).fake[0].sha256 == pinned(ckpt)
    monkeypatch.setenv(optional.HIDE_ENV, "upscalers")
    with pytest.raises(RecipeError, match=rf"fake\[0\].generator: no checkpoint '{optional.HIDDEN_ROOT}/.*/runs/gen': "
                                          r"no such folder; the recipe's checkpoints are made by `make upscalers`"):
        parse_recipe(data, name="x", base=tmp_path)
    del data["fake"][0]
    assert parse_recipe(data, name="x", base=tmp_path).fake[0].generator == "vanilla-digits"


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(colour=3), "unknown key 'colour'; known: name, description, setup, seed"),
    (lambda d: d["fake"][0].update(sha="abc"), "unknown key fake[0].'sha'"),
    (lambda d: d["real"][0].update(counts={"train": 1, "tset": 1}), "unknown key real[0].counts.'tset'"),
    (lambda d: d["fake"][0].update(generator="no-such-gan"), "fake[0].generator: no checkpoint 'no-such-gan'"),
    (lambda d: d["fake"][0].update(sha256="0" * 64), "but the recipe pins 0000"),
    (lambda d: d["fake"][0].update(sha256="xyz"), "fake[0].sha256: expected 64 lowercase hex digits"),
    (lambda d: d.update(channels=2), "channels 2: expected 1 or 3"),
    (lambda d: d.update(size="big"), "size = 'big': expected int"),
    (lambda d: d.update(seed=True), "seed = True: expected int"),
    (lambda d: d.update(format="webp"), "format 'webp': expected one of png, jpeg"),
    (lambda d: d.update(format="jpeg"), "needs quality"),
    (lambda d: d.update(quality=90), "quality only applies"),
    (lambda d: d.update(counts={"train": -1}), "counts.train = -1"),
    (lambda d: d["real"][0].update(source="nowhere"), "real[0].source: unknown real source 'nowhere'"),
    (lambda d: d["real"].append({"source": "faces", "counts": {"val": 20}}),
     "source 'faces' has 15 images in split 'val'; asked for 20"),
    (lambda d: d["real"].append({"source": "digits", "name": "again"}), "two [[real]] entries draw from one source"),
    (lambda d: d["fake"].append({"generator": d["fake"][0]["generator"]}), "repeated: gen"),
    (lambda d: d["fake"][0].update(name="a/b"), "entry name 'a/b'"),
    (lambda d: d["fake"][0].update(direction="a2b"), "only apply to image-to-image families"),
    (lambda d: d.update(perturbations=[{"kind": "swirl"}]), "perturbations[0].kind 'swirl'"),
    (lambda d: d.update(perturbations=[{"kind": "blur", "quality": 3}]), "unknown key perturbations[0].'quality'"),
    (lambda d: d.update(perturbations=[{"kind": "jpeg", "quality": 0}]), "expected an integer 1 .. 100"),
    (lambda d: d.update(real=[], fake=[]), "no [[real]] or [[fake]] entries"),
    (lambda d: d.pop("counts"), "real[0]: no counts"),
])
def test_bad_recipes_fail_with_one_clear_line(ckpt, change, message):
    data = base(ckpt)
    change(data)
    with pytest.raises(RecipeError) as info:
        parse_recipe(data, origin="my.toml")
    text = str(info.value)
    assert text.startswith("my.toml: ") and "\n" not in text
    assert message in text


def test_recipe_files_resolve_relative_paths_and_report_toml_errors(tmp_path, ckpt):
    (tmp_path / "ck").symlink_to(ckpt, target_is_directory=True)
    (tmp_path / "imgs").mkdir()
    import cv2
    import numpy as np
    for i in range(6):
        cv2.imwrite(str(tmp_path / "imgs" / f"{i}.png"), np.full((10, 10), 20 * i, np.uint8))
    good = tmp_path / "good.toml"
    good.write_text('size = 8\nchannels = 1\ncounts = { train = 1 }\n[[real]]\nsource = "folder:imgs"\n'
                    '[[fake]]\ngenerator = "ck"\n')
    recipe = load_recipe(good)
    assert recipe.name == "good" and recipe.real[0].source == f"folder:{tmp_path / 'imgs'}"
    assert recipe.real[0].name == "imgs" and recipe.fake[0].name == "ck" and recipe.fake[0].generator == "ck"
    bad = tmp_path / "bad.toml"
    bad.write_text("size = = 3\n")
    with pytest.raises(RecipeError, match=r"bad.toml: not valid TOML"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="no recipe 'nope': not a file nor a known recipe name"):
        load_recipe("nope")


def test_translate_families_need_an_input_and_a_direction(tmp_path):
    assert GANS.get("cyclegan").kind == "translate"
    folder = tmp_path / "cyclegan"
    create_gan("cyclegan", image_size=24, ngf=4, ndf=4, n_blocks=1).save(folder)
    data = {"size": 8, "channels": 1, "counts": {"train": 1}, "fake": [{"generator": str(folder)}]}
    with pytest.raises(RecipeError, match="give input"):
        parse_recipe(data)
    data["fake"][0].update(input="digits", direction="sideways")
    with pytest.raises(RecipeError, match="direction 'sideways': expected one of a2b, b2a"):
        parse_recipe(data)
    data["fake"][0].update(direction="a2b")
    assert parse_recipe(data).fake[0].input == "digits"


def test_an_enlarged_source_names_its_origin_and_resolves_folders(tmp_path):
    import numpy as np

    from fakescope.core.imageio import write_png

    write_png(tmp_path / "imgs" / "a.png", np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8))
    data = {"size": 8, "channels": 3, "counts": {"train": 2}, "real": [{"source": "enlarged:photo-patches"}]}
    assert parse_recipe(data, name="e").real[0].name == "photo-patches-enlarged"
    (tmp_path / "mine.toml").write_text('size = 16\nchannels = 3\ncounts = { train = 2 }\n[[real]]\n'
                                        'source = "enlarged:folder:imgs"\n')
    entry = load_recipe(tmp_path / "mine.toml").real[0]
    assert entry.source == f"enlarged:folder:{tmp_path / 'imgs'}" and entry.name == "imgs-enlarged"
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text('size = 8\nchannels = 3\ncounts = { train = 1 }\n[[real]]\nsource = "enlarged:faces"\n')
    with pytest.raises(RecipeError, match=r"real\[0\]\.source: source 'enlarged:faces' needs a source of crops"):
        load_recipe(recipe_file)


def test_an_image_to_image_entry_asking_more_inputs_than_its_source_holds_is_refused_before_building(tmp_path):
    from fakescope.generators.gan import create_gan

    create_gan("resynth", image_size=16, width=4, stages=1, channels=1).save(tmp_path / "rs")
    data = {"size": 16, "channels": 1, "counts": {"train": 10, "val": 0, "test": 20},
            "real": [{"source": "digits"}], "fake": [{"generator": str(tmp_path / "rs"), "input": "faces"}]}
    with pytest.raises(RecipeError, match="fake\\[0\\].input: source 'faces' has 15 images in split 'test'; asked "
                                          "for 20"):
        parse_recipe(data, origin="my.toml")
    data["fake"][0]["input_split"] = "train"  # every split's inputs from the 70 training faces
    assert parse_recipe(data, origin="my.toml").fake[0].input_split == "train"
