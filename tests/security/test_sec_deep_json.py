"""Issue 31, item 13: JSON nested deeper than any file of the tool (a checkpoint's config.json, a manifest row) is
one error line, never a RecursionError traceback."""

from __future__ import annotations

import json
import shutil

import pytest
from sec_helpers import invoke, one_error_line

from fakescope.core import safety
from fakescope.core.checkpoint import bundled_root

DEEP = "[" * 100_000 + "]" * 100_000  # past Python's recursion limit


@pytest.mark.parametrize("depth", [101, 100_000])
def test_deep_json_is_a_value_error(depth):
    with pytest.raises(ValueError, match="nested more than 100 levels"):
        safety.loads_json('{"a": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}")
    assert safety.loads_json("[" * 100 + "]" * 100)  # as deep as allowed: read


def test_a_deeply_nested_checkpoint_config_is_one_error_line(tmp_path):
    ckpt = tmp_path / "gan"
    shutil.copytree(bundled_root("fakescope.generators") / "vanilla-digits", ckpt)
    (ckpt / "config.json").write_text('{"kind": "gan", "config": ' + DEEP + "}")
    result = invoke("gan", "sample", ckpt, "--count", "1", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "nested more than" in one_error_line(result)


def test_a_deeply_nested_manifest_row_is_one_error_line(small_corpus):
    manifest = small_corpus / "manifest.jsonl"
    manifest.write_text(manifest.read_text() + DEEP + "\n")
    result = invoke("corpus", "stats", small_corpus)
    assert result.exit_code == 1 and "nested more than" in one_error_line(result)
    assert json.loads(manifest.read_text().splitlines()[0])  # the other rows are untouched
