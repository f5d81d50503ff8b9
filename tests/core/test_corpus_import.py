"""``core.corpus_import``: folders made elsewhere become a standard corpus, deterministically and honestly."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fakescope.core.corpus import read_manifest, verify_corpus
from fakescope.core.corpus_import import import_corpus, parse_folder, parse_match_format, parse_splits


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(0)
    real, fake = tmp_path / "photos", tmp_path / "sg3"
    (real / "sub").mkdir(parents=True)
    fake.mkdir()
    for i in range(10):
        cv2.imwrite(str(real / ("sub" if i % 2 else "") / f"{i}.jpg"), rng.integers(0, 256, (24, 20, 3), np.uint8))
        cv2.imwrite(str(fake / f"{i}.png"), rng.integers(0, 256, (16, 16, 3), np.uint8))
    (fake / "copy.png").write_bytes((fake / "3.png").read_bytes())
    (fake / "broken.png").write_bytes(b"\x89PNG not really")
    return [parse_folder(str(real), 0), parse_folder(f"sg3={fake}", 1)]


def test_import_writes_a_verifiable_corpus_and_reports_what_it_left_out(folders, tmp_path):
    errors = []
    record = import_corpus(folders, tmp_path / "c", on_error=errors.append)
    assert len(errors) == 1 and "broken.png" in errors[0] and record["unreadable"] == errors
    assert len(record["duplicates"]) == 1 and "copy.png" in record["duplicates"][0]
    assert record["counts"]["test"] == {"real": 10, "fake": 10}
    assert verify_corpus(tmp_path / "c")["ok"]
    rows = read_manifest(tmp_path / "c")
    assert {r["origin"] for r in rows} == {"photos", "sg3"} and all(r["split"] == "test" for r in rows)
    assert all(r["source_file"] and r["sha256"] == r["source_sha256"] for r in rows)  # stored as found
    assert record["formats_differ"] and record["formats"] == {"real": {"jpeg": 10}, "fake": {"png": 10}}
    assert json.loads((tmp_path / "c" / "corpus.json").read_text())["formats_differ"] is True


def test_splits_are_deterministic_for_a_seed(folders, tmp_path):
    shares = parse_splits("train=0.6,val=0.2,test=0.2")
    runs = [import_corpus(folders, tmp_path / f"c{k}", shares=shares, seed=s, on_error=lambda m: None)
            for k, s in enumerate((1, 1, 2))]
    assert runs[0]["counts"]["train"] == {"real": 6, "fake": 6} and runs[0]["counts"]["val"] == {"real": 2, "fake": 2}
    splits = [{r["source_file"]: r["split"] for r in read_manifest(tmp_path / f"c{k}")} for k in range(3)]
    assert splits[0] == splits[1] and splits[0] != splits[2]


def test_match_format_re_encodes_both_classes_alike(folders, tmp_path):
    record = import_corpus(folders, tmp_path / "c", match_format=parse_match_format("jpeg:90"),
                           on_error=lambda m: None)
    assert record["match_format"] == "jpeg:90" and not record["formats_differ"]
    assert all(r["path"].endswith(".jpg") and r["format"] == "jpeg" for r in read_manifest(tmp_path / "c"))
    assert verify_corpus(tmp_path / "c")["ok"]


@pytest.mark.parametrize("call, message", [
    (lambda: parse_splits("train=0.5,test=0.4"), "add up to 0.9"),
    (lambda: parse_splits("holdout=1"), "not a split"),
    (lambda: parse_match_format("webp"), "expected png or jpeg"),
    (lambda: parse_folder("some/dir", 1), "NAME=DIR"),
])
def test_bad_options_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_stats_of_an_imported_corpus_say_how_it_is_stored_and_sizes_are_width_by_height(folders, tmp_path):
    """Issue 31, item 22: channels and format were None for an imported corpus; sizes were written HxW."""
    from typer.testing import CliRunner

    from fakescope.cli import app
    from fakescope.core.corpus import corpus_stats

    import_corpus(folders, tmp_path / "c", on_error=lambda m: None)
    stats = corpus_stats(tmp_path / "c")
    assert stats["sizes"] == {"20x24": 10, "16x16": 10}  # the reals are 20 px wide, 24 px high
    assert stats["channels"] == "as found" and stats["format"] == "as found"
    assert stats["formats"] == {"real": {"jpeg": 10}, "fake": {"png": 10}}
    line = CliRunner().invoke(app, ["corpus", "stats", str(tmp_path / "c")]).output.splitlines()[-1]
    assert "None" not in line and "20x24 (10)" in line and "real jpeg 10; fake png 10" in line, line
