"""Items 1 and 2 of issue 16: manifest rows never lead a merge, verify, bench or train outside their corpus."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sec_helpers import invoke, one_error_line

from fakescope.core.imageio import sha256_file
from fakescope.core.safety import UnsafePathError, member_path


def add_row(corpus: Path, path: str, sha256: str, split: str = "test", label: int = 0) -> None:
    rows = (corpus / "manifest.jsonl").read_text()
    row = {"path": path, "sha256": sha256, "label": label, "split": split, "index": 999, "origin": "digits"}
    (corpus / "manifest.jsonl").write_text(rows + json.dumps(row) + "\n")


def test_merge_never_moves_or_writes_files_outside_the_shard_and_the_output(tmp_path, tiny_recipe):
    """Item 1: a shard row ``../../victim.txt`` (with the victim's sha256) used to be moved out by `--move`."""
    for i in (0, 1):
        assert invoke("corpus", "build", tiny_recipe, "--shard", f"{i}/2", "--out",
                      tmp_path / "shards" / f"s{i}", "--device", "cpu").exit_code == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    add_row(tmp_path / "shards" / "s0", "../../victim.txt", sha256_file(victim))
    out = tmp_path / "a" / "b" / "merged"
    result = invoke("corpus", "merge", tmp_path / "shards" / "s0", tmp_path / "shards" / "s1", "--out", out, "--move")
    assert result.exit_code == 1
    assert "../../victim.txt" in one_error_line(result)
    assert victim.read_text() == "precious"
    assert not (tmp_path / "a" / "victim.txt").exists()
    assert list(tmp_path.rglob("victim.txt")) == [victim]


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_verify_bench_and_train_refuse_rows_outside_the_corpus(tmp_path, small_corpus, where):
    """Item 2: ``../`` and absolute rows with matching hashes passed `corpus verify`; bench and train read them."""
    from fakescope.detector.data import load_split

    from fakescope.core.corpus import CorpusError

    secret = tmp_path / "secret.png"
    shutil.copyfile(next((small_corpus / "test" / "0_real").iterdir()), secret)
    add_row(small_corpus, "../secret.png" if where == "relative" else str(secret), sha256_file(secret))
    result = invoke("corpus", "verify", small_corpus)
    assert result.exit_code == 1 and "secret.png" in one_error_line(result)
    with pytest.raises(CorpusError, match="secret.png"):
        load_split([small_corpus], "test")
    result = invoke("bench", "--corpus", small_corpus, "--detector", "npr-bundled", "--perturb", "none")
    assert result.exit_code == 1 and "secret.png" in result.output
    result = invoke("train", "spectrum", "--corpus", small_corpus, "--out", tmp_path / "det", "--device", "cpu")
    assert result.exit_code == 1 and "secret.png" in one_error_line(result)
    assert not (tmp_path / "det").exists()


def test_a_split_folder_linked_elsewhere_is_refused(tmp_path, small_corpus):
    """Item 2: a split folder replaced by a link to elsewhere passed verify and hid its stray files."""
    elsewhere = tmp_path / "elsewhere"
    shutil.move(small_corpus / "test", elsewhere)
    (elsewhere / "0_real" / "stray.png").write_bytes(b"stray")
    os.symlink(elsewhere, small_corpus / "test")
    result = invoke("corpus", "verify", small_corpus)
    assert result.exit_code == 1
    assert "outside" in one_error_line(result)


def test_verify_refuses_a_huge_sparse_file_without_hashing_it(tmp_path, small_corpus, monkeypatch):
    """Item 2: a row linked to a 50 GB sparse file (2 GiB here) made verify hash for minutes."""
    import fakescope.core.corpus as corpus_module

    hashed = []
    real_hash = corpus_module.sha256_file
    monkeypatch.setattr(corpus_module, "sha256_file", lambda p: hashed.append(Path(p)) or real_hash(p))
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:
        f.truncate(2 << 30)
    target = next((small_corpus / "train" / "0_real").iterdir())
    target.unlink()
    os.symlink(huge, target)  # a link out of the corpus: refused as leading outside
    inside = small_corpus / "train" / "1_fake" / "big.png"
    os.replace(huge, inside)  # and a huge file inside: refused by size, never hashed
    target.unlink()
    os.symlink(inside, target)
    result = invoke("corpus", "verify", small_corpus, "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert any("too large" in r for r in report["refused"])
    assert hashed and all(p.resolve() != inside for p in hashed)  # the other files were hashed, never that one
    table = invoke("corpus", "verify", small_corpus)  # and the table says why it failed
    assert table.exit_code == 1 and "1 refused: FAILED" in table.stdout and "refused: train/0_real/" in table.stdout


def test_a_corpus_record_or_manifest_of_the_wrong_shape_is_one_clear_error(small_corpus):
    (small_corpus / "corpus.json").write_text("[]")
    result = invoke("corpus", "verify", small_corpus)
    assert result.exit_code == 1 and "corpus.json" in one_error_line(result)
    (small_corpus / "corpus.json").unlink()
    manifest = small_corpus / "manifest.jsonl"
    rows = manifest.read_text().splitlines()
    row = json.loads(rows[2])
    del row["split"]
    manifest.write_text("\n".join(rows[:2] + [json.dumps(row)] + rows[3:]) + "\n")
    for command in (("corpus", "verify", small_corpus), ("corpus", "stats", small_corpus)):
        result = invoke(*command)
        assert result.exit_code == 1, result.output
        assert "manifest.jsonl:3: a row needs a split and a label" in one_error_line(result)


# --- the property: any manifest row either resolves inside its corpus or is refused ----------------------------

SEGMENTS = st.sampled_from(["a", "b.png", "..", ".", "", "in", "out", "loop", "~", "C:", "x\\..\\..", "\x00", " "])


@pytest.fixture(scope="module")
def corpus_with_links(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("prop")
    corpus = root / "corpus"
    (corpus / "a" / "sub").mkdir(parents=True)
    (corpus / "a" / "b.png").write_bytes(b"x")
    (root / "outside").mkdir()
    os.symlink(root / "outside", corpus / "out")  # leads out
    os.symlink(corpus / "a", corpus / "in")  # stays in
    os.symlink(corpus / "a" / "loop", corpus / "a" / "loop")  # loops
    os.symlink("../../outside", corpus / "a" / "sub" / "up")  # relative link out
    return corpus


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.one_of(SEGMENTS, st.text(max_size=4)), min_size=0, max_size=5),
       lead=st.sampled_from(["", "/", "//", "./", "../"]))
def test_any_manifest_row_resolves_inside_its_corpus_or_is_refused(corpus_with_links, parts, lead):
    rel = lead + "/".join(parts)
    try:
        path = member_path(corpus_with_links, rel)
    except UnsafePathError:
        return
    real = path.resolve()
    base = corpus_with_links.resolve()
    assert real == base or base in real.parents
    assert path == corpus_with_links / rel


@settings(max_examples=100, deadline=None)
@given(row=st.one_of(st.none(), st.integers(), st.lists(st.text()), st.text(max_size=8)))
def test_any_row_value_is_a_path_inside_or_refused(tmp_path_factory, row):
    root = tmp_path_factory.getbasetemp() / "prop-values"
    root.mkdir(exist_ok=True)
    try:
        path = member_path(root, row)
    except UnsafePathError:
        return
    assert root.resolve() in path.resolve().parents
