"""Issue 31, item 9: cells that a spreadsheet would run as formulas (CSV injection) are written neutralised, as
OWASP recommends, by the one CSV writer every command uses."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sec_helpers import invoke

from fakescope.core.csvfile import FORMULA_STARTS, csv_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_text_cells_starting_a_formula_get_a_quote_and_numbers_stay_numbers(start):
    rows = list(csv.reader(io.StringIO(csv_text(["a", "b", "c"], [[f"{start}cmd|' /C calc'!A0", "-0.25", 3],
                                                                     {"a": "@SUM(1)", "c": None}]))))
    assert rows[1] == [f"'{start}cmd|' /C calc'!A0", "-0.25", "3"]
    assert rows[2] == ["'@SUM(1)", "", ""]


def test_score_csv_neutralises_file_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = ['=HYPERLINK("x","y").png', "+1+1.png", "-2.png", "@A1.png"]
    for name in names:
        Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(name)
    result = invoke("score", "-f", "csv", "--device", "cpu", "--no-provenance", "--", *names)
    assert result.exit_code == 0, result.output
    paths = [row["path"] for row in csv.DictReader(io.StringIO(result.stdout))]
    assert paths == [f"'{name}" for name in names]


def test_csv_is_written_in_one_place():
    """Every CSV of the tool goes through fakescope.core.csvfile (a new writer elsewhere would skip the guard)."""
    writers = [p.relative_to(ROOT) for folder in ("fakescope", "detector", "generators")
               for p in (ROOT / folder).rglob("*.py")
               if re.search(r"\bcsv\.(writer|DictWriter)\(", p.read_text()) and p.name != "csvfile.py"]
    assert writers == []
