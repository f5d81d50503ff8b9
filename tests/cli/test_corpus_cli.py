"""`fakescope corpus build|verify|stats|merge|recipes` on a tiny recipe (Typer's CliRunner)."""

import json

import cv2
import pytest
from fakescope.generators.gan import create_gan
from typer.testing import CliRunner

from fakescope.cli import app
from fakescope.core.imageio import sha256_file

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture()
def recipe(tmp_path):
    create_gan("vanilla", image_size=8, latent_dim=8, g_hidden=(16,), d_hidden=(16,)).save(tmp_path / "gen")
    sha = json.loads((tmp_path / "gen" / "config.json").read_text())["sha256"]
    path = tmp_path / "tiny.toml"
    path.write_text(f'description = "test"\nseed = 4\nsize = 8\nchannels = 1\n'
                    f'counts = {{ train = 70, val = 3, test = 3 }}\n'
                    f'[[real]]\nsource = "digits"\n[[fake]]\ngenerator = "gen"\nsha256 = "{sha}"\n')
    return path


def test_build_verify_stats_from_a_recipe(tmp_path, recipe):
    c = tmp_path / "c"
    result = invoke("corpus", "build", recipe, "--out", c, "--device", "cpu", "--format", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["name"] == "tiny" and record["counts"]["train"] == {"real": 70, "fake": 70}
    assert record["determinism"]["byte_exact_across_batch_sizes"] is True

    report = invoke("corpus", "verify", c, "--format", "json")
    assert report.exit_code == 0 and json.loads(report.output)["ok"]
    stats = json.loads(invoke("corpus", "stats", c, "--format", "json").output)
    assert stats["origins"]["gen"] == {"label": "fake", "kind": "vanilla", "train": 70, "val": 3, "test": 3,
                                       "total": 76}
    assert stats["sizes"] == {"8x8": 152}
    table = invoke("corpus", "stats", c)
    assert table.exit_code == 0 and "digits" in table.output and "gen" in table.output

    (c / "test" / "0_real" / "extra.png").write_bytes(b"x")
    broken = invoke("corpus", "verify", c)
    assert broken.exit_code == 1 and "extra: test/0_real/extra.png" in broken.output

    again = invoke("corpus", "build", recipe, "--out", c, "--device", "cpu")
    assert again.exit_code == 1 and "not empty" in again.output  # a folder refused: 1, as for every output


def test_shards_merge_into_the_unsharded_corpus(tmp_path, recipe):
    assert invoke("corpus", "build", recipe, "--out", tmp_path / "whole", "--device", "cpu").exit_code == 0
    for i in range(2):
        result = invoke("corpus", "build", recipe, "--out", tmp_path / f"s{i}", "--shard", f"{i}/2",
                        "--batch-size", "5", "--workers", "1", "--device", "cpu")
        assert result.exit_code == 0 and f"shard {i}/2" in result.output
    merged = invoke("corpus", "merge", tmp_path / "s1", tmp_path / "s0", "--out", tmp_path / "m")
    assert merged.exit_code == 0, merged.output
    for name in ("manifest.jsonl", "corpus.json"):
        assert (tmp_path / "m" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert invoke("corpus", "verify", tmp_path / "m").exit_code == 0
    missing = invoke("corpus", "merge", tmp_path / "s0", "--out", tmp_path / "m2")
    assert missing.exit_code == 2 and "missing 1/2" in missing.output


@pytest.mark.parametrize("args, message", [
    (["--shard", "2/2"], "shard 2/2: expected i/n with 0 <= i < n"),
    (["--real", "faces"], "--real: only without a RECIPE"),
])
def test_bad_build_options_are_one_line_errors(tmp_path, recipe, args, message):
    result = invoke("corpus", "build", recipe, "--out", tmp_path / "c", *args)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "c").exists()


def test_bad_recipe_is_a_one_line_error(tmp_path, recipe):
    recipe.write_text(recipe.read_text().replace("seed = 4", "seeed = 4"))
    result = invoke("corpus", "build", recipe, "--out", tmp_path / "c")
    assert result.exit_code == 2 and "unknown key 'seeed'" in result.output
    unknown = invoke("corpus", "build", "no-such-recipe", "--out", tmp_path / "c")
    assert unknown.exit_code == 2 and "digits-vanilla" in unknown.output  # names the known recipes
    assert invoke("corpus", "verify", tmp_path / "nothing").exit_code == 2


def test_recipes_lists_the_shipped_recipes():
    result = invoke("corpus", "recipes", "--format", "json")
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["digits-vanilla"]["error"] is None and rows["digits-vanilla"]["images"] == 2800


def test_every_format_offered_is_honoured(tiny_corpus):
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(invoke("corpus", "stats", tiny_corpus, "-f", "csv").output)))
    assert {"origin", "label", "kind", "train", "val", "test", "total"} <= set(rows[0])
    assert {r["origin"] for r in rows} >= {"all real", "all fake"}
    recipes = list(csv.DictReader(io.StringIO(invoke("corpus", "recipes", "--format", "csv").output)))
    assert "digits-vanilla" in {r["name"] for r in recipes}
    for command in (["verify", tiny_corpus], ["build", "--out", "x"], ["import", "--out", "x"]):
        result = invoke("corpus", *command, "-f", "csv")
        assert result.exit_code == 2 and "--format" in result.output and "'csv' is not one of" in result.output


def test_verify_regenerates_images_from_their_rows(tmp_path, recipe, monkeypatch):
    """A fake replaced together with its row's hash passes the hash check; `--regenerate` finds it. The recipe is
    given as a file (its generator is a relative path), or read from corpus.json when that is enough."""
    c = tmp_path / "c"
    assert invoke("corpus", "build", recipe, "--out", c, "--device", "cpu").exit_code == 0
    result = invoke("corpus", "verify", c, "--regenerate", "6", "--recipe", recipe)
    assert result.exit_code == 0 and "regenerated 6 images from the recipe: 0 differ" in result.output
    from fakescope.generators.corpus.regenerate import sample_rows

    rows = [json.loads(line) for line in (c / "manifest.jsonl").read_text().splitlines()]
    victim = [r for r in sample_rows(rows, 6) if r["label"] == 1][1]  # one of the rows a sample of 6 takes
    path = c / victim["path"]
    cv2.imwrite(str(path), 255 - cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
    (c / "manifest.jsonl").write_text((c / "manifest.jsonl").read_text().replace(victim["sha256"],
                                                                                  sha256_file(path)))
    assert json.loads(invoke("corpus", "verify", c, "--format", "json").output)["manifest"]  # an edited manifest
    record = json.loads((c / "corpus.json").read_text())  # ... unless corpus.json is rewritten as well
    (c / "corpus.json").write_text(json.dumps({**record, "manifest_sha256": sha256_file(c / "manifest.jsonl")}))
    assert json.loads(invoke("corpus", "verify", c, "--format", "json").output)["ok"]  # the hashes agree
    result = invoke("corpus", "verify", c, "--regenerate", "6", "--recipe", recipe, "--format", "json")
    assert result.exit_code == 1 and json.loads(result.output)["regenerated"]["differ"] == [victim["path"]]
    monkeypatch.chdir(tmp_path / "c")  # the recorded recipe's relative generator path is not found from here
    result = invoke("corpus", "verify", ".", "--regenerate", "2")
    assert result.exit_code == 2 and "--recipe FILE" in result.output
