"""Issue 31, item 8: a command whose result would be empty fails clearly instead of succeeding: an import that
leaves no fake (or no real) image, a recipe whose counts are all 0."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sec_helpers import invoke, one_error_line


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    return folder


def test_an_import_that_leaves_no_fake_image_fails_and_writes_nothing(tmp_path, photos):
    out = tmp_path / "c"
    result = invoke("corpus", "import", "--real", photos, "--fake", f"pg={photos}", "--out", out)  # all duplicates
    line = one_error_line(result)
    assert result.exit_code == 1 and "no fake image to import from pg=" in line and "3 duplicates" in line, line
    assert not out.exists()
    (tmp_path / "empty").mkdir()
    result = invoke("corpus", "import", "--real", tmp_path / "empty", "--fake", f"pg={photos}", "--out", out)
    assert result.exit_code == 1 and "no real image to import" in one_error_line(result)
    assert not out.exists()


def test_a_recipe_whose_counts_are_all_zero_is_refused(tmp_path):
    out = tmp_path / "c"
    result = invoke("corpus", "build", "--train", 0, "--val", 0, "--test", 0, "--out", out)
    assert result.exit_code == 2 and "every count is 0" in one_error_line(result)
    assert not out.exists()
    recipe = tmp_path / "zero.toml"
    recipe.write_text('counts = { train = 0, val = 0, test = 0 }\n[[real]]\nsource = "digits"\n')
    result = invoke("corpus", "build", recipe, "--out", out)
    assert result.exit_code == 2 and "every count is 0" in one_error_line(result)
    assert not out.exists()
