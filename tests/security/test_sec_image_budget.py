"""Issue 31, item 6: `gan sample --count 1000000000` started writing at once (26,624 files in 30 s) while
`corpus build` refused more than 1,000,000 images without --allow-large. One rule for both
(:func:`fakescope.core.budget.check_image_budget`), and the images must fit in the free space of the disk,
checked before the first is written."""

from __future__ import annotations

import pytest
from sec_helpers import invoke, one_error_line

import fakescope.core.budget as budget
from fakescope.core.budget import MAX_IMAGES, TooLargeError, check_image_budget


@pytest.fixture
def small_disk(monkeypatch):
    """A file system with 64 KB free in 4 KiB blocks."""
    monkeypatch.setattr(budget, "free_space", lambda path: (64_000, 4096))


def test_one_rule_counts_and_disk_space(tmp_path, small_disk):
    from fakescope.generators.corpus import MAX_IMAGES as corpus_limit

    assert corpus_limit == MAX_IMAGES  # corpus build and gan sample: the same limit
    check_image_budget(MAX_IMAGES, what="x", image=(8, 8, 1))
    with pytest.raises(TooLargeError, match=r"1,000,001 images .* --allow-large"):
        check_image_budget(MAX_IMAGES + 1, what="x", image=(8, 8, 1))
    check_image_budget(MAX_IMAGES + 1, what="x", image=(8, 8, 1), allow_large=True)
    with pytest.raises(TooLargeError, match="more than any command writes"):
        check_image_budget(budget.HARD_LIMIT + 1, what="x", allow_large=True)
    check_image_budget(10, what="x", image=(8, 8, 1), out=tmp_path)  # 10 blocks of 4 KiB fit in 64 KB
    with pytest.raises(TooLargeError, match=r"need about .* on disk; .* has 64.0 KB free"):
        check_image_budget(20, what="x", image=(8, 8, 1), out=tmp_path / "new" / "folder")


def test_gan_sample_refuses_a_huge_count_before_writing(tmp_path, monkeypatch):
    import fakescope.generators.sampling

    def no_work(*args, **kwargs):
        raise AssertionError("sampling started")

    monkeypatch.setattr(fakescope.generators.sampling, "sample_to_folder", no_work)
    out = tmp_path / "s"
    result = invoke("gan", "sample", "vanilla-digits", "--count", 1_000_000_000, "--out", out, "--device", "cpu")
    assert result.exit_code == 1
    assert "--allow-large" in one_error_line(result) and not out.exists()


def test_gan_sample_and_corpus_build_refuse_what_the_disk_cannot_hold(tmp_path, tiny_recipe, small_disk):
    out = tmp_path / "s"
    result = invoke("gan", "sample", "vanilla-digits", "--count", 40, "--out", out, "--device", "cpu")
    assert result.exit_code == 1, result.output
    assert "free" in one_error_line(result) and not list(out.glob("*.png"))
    out = tmp_path / "c"
    result = invoke("corpus", "build", tiny_recipe, "--out", out, "--device", "cpu")  # 24 images of 8x8
    assert result.exit_code == 1, result.output
    assert "free" in one_error_line(result) and not out.exists()
