"""Issue 31, item 19: a third-party weights file that is a device or FIFO is named for what it is (never opened),
not reported missing."""

from __future__ import annotations

import os

import pytest
from sec_helpers import invoke, one_error_line


@pytest.mark.parametrize(("make", "said"), [
    (lambda tmp: "/dev/zero", "not a regular file (a character device)"),
    (lambda tmp: (os.mkfifo(tmp / "w.pth"), tmp / "w.pth")[1], "not a regular file (a FIFO)"),
    (lambda tmp: tmp / "missing.pth", "no such weights file"),
])
def test_weights_files_that_are_not_regular_files_are_named_for_what_they_are(tmp_path, make, said):
    path = make(tmp_path)
    result = invoke("score", tmp_path / "x.png", "-d", f"timm:resnet18={path}", "--device", "cpu")
    line = one_error_line(result)
    assert result.exit_code == 2 and f"{path}: {said}" in line, line
