"""Issue 31, item 4: `corpus verify` passed a corpus whose labels were swapped in manifest.jsonl (no hash or count
changes), while bench's AP fell from 0.947 to 0.511. A row must agree with where its file is and with its origin,
and corpus.json carries the manifest's sha256, so that any edit is seen."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from sec_helpers import invoke

from fakescope.core.corpus import verify_corpus


def rows_of(corpus: Path) -> list[dict]:
    return [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]


def write_rows(corpus: Path, rows: list[dict]) -> None:
    (corpus / "manifest.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def swap_labels(rows: list[dict], n: int) -> list[str]:
    reals = [r for r in rows if r["label"] == 0][:n]
    fakes = [r for r in rows if r["label"] == 1][:n]
    for r in reals:
        r["label"] = 1
    for r in fakes:
        r["label"] = 0
    return sorted(r["path"] for r in reals + fakes)


def forget_manifest_hash(corpus: Path) -> None:
    """corpus.json as an older fakescope wrote it (no manifest_sha256)."""
    record = json.loads((corpus / "corpus.json").read_text())
    del record["manifest_sha256"]
    (corpus / "corpus.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def test_swapped_labels_are_found(small_corpus):
    rows = rows_of(small_corpus)
    swapped = swap_labels(rows, 3)
    write_rows(small_corpus, rows)
    report = verify_corpus(small_corpus)
    assert not report["ok"]
    assert sorted(line.split(":")[0] for line in report["mislabelled"]) == swapped
    assert report["manifest"]  # and the manifest is not the one corpus.json records
    result = invoke("corpus", "verify", small_corpus)
    assert result.exit_code == 1 and "6 mislabelled, 0 refused: FAILED" in result.output


def test_labels_swapped_with_their_folders_disagree_with_their_origins(small_corpus):
    """Files moved to the other class's folder with their rows: each row agrees with its folder, not with its
    origin (a real source is no generator). Checked even in a corpus without the manifest hash."""
    forget_manifest_hash(small_corpus)
    rows = rows_of(small_corpus)
    swapped = swap_labels(rows, 2)
    for r in rows:
        if r["path"] in swapped:
            new = r["path"].replace("0_real", "1_fake") if "0_real" in r["path"] else r["path"].replace("1_fake",
                                                                                                      "0_real")
            (small_corpus / new).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(small_corpus / r["path"], small_corpus / new)
            r["path"] = new
    write_rows(small_corpus, rows)
    report = verify_corpus(small_corpus)
    assert not report["ok"] and len(report["mislabelled"]) == 4
    assert all("origin" in line for line in report["mislabelled"])


def test_any_edit_of_the_manifest_is_seen_and_old_corpora_verify_with_a_note(small_corpus):
    assert verify_corpus(small_corpus)["ok"]
    rows = rows_of(small_corpus)
    rows[0]["seed"] = rows[0].get("seed", 0) + 1  # no hash, count or label changes
    write_rows(small_corpus, rows)
    assert verify_corpus(small_corpus)["manifest"] and not verify_corpus(small_corpus)["ok"]
    forget_manifest_hash(small_corpus)  # an older corpus: verifiable, with a note saying what is not checked
    report = verify_corpus(small_corpus)
    assert report["ok"] and len(report["notes"]) == 1 and "manifest_sha256" in report["notes"][0]
    result = invoke("corpus", "verify", small_corpus)
    assert result.exit_code == 0 and "note:" in result.output


def test_imported_corpora_carry_the_hash_and_their_origins(tmp_path):
    for folder, seed in (("real", 0), ("fake", 1)):
        (tmp_path / folder).mkdir()
        for i in range(3):
            pixels = np.random.default_rng(seed * 10 + i).integers(0, 255, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / folder / f"{i}.png")
    out = tmp_path / "c"
    result = invoke("corpus", "import", "--real", tmp_path / "real", "--fake", f"g={tmp_path / 'fake'}", "--out", out)
    assert result.exit_code == 0, result.output
    assert "manifest_sha256" in json.loads((out / "corpus.json").read_text())
    assert verify_corpus(out)["ok"]
    rows = rows_of(out)
    swap_labels(rows, 1)
    write_rows(out, rows)
    assert len(verify_corpus(out)["mislabelled"]) == 2
