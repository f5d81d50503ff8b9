"""``fakescope corpus import`` and ``fakescope bench --real/--fake --report``: folders → corpus → report."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fakescope.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Real: smooth 48 px gradients as JPEG. Fake: the same kind of images with 2×2 blocks (nearest up-sampling)."""
    root = tmp_path_factory.mktemp("folders")
    rng = np.random.default_rng(0)
    for name in ("real", "gen"):
        (root / name).mkdir()
    for i in range(10):
        base = cv2.GaussianBlur(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8), (0, 0), 2)
        cv2.imwrite(str(root / "real" / f"{i}.jpg"), base)
        small = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "gen" / f"{i}.png"), cv2.resize(small, (48, 48), interpolation=cv2.INTER_NEAREST))
    return root


def test_import_then_bench_with_a_report(folders, tmp_path, bench_detector_dir):
    corpus = tmp_path / "c"
    result = runner.invoke(app, ["corpus", "import", "--real", str(folders / "real"), "--fake",
                                 f"gen={folders / 'gen'}", "--out", str(corpus), "--match-format", "png"])
    assert result.exit_code == 0, result.output
    assert "test 10 real/10 fake" in result.stdout and "stored png" in result.stdout
    report = tmp_path / "report"
    result = runner.invoke(app, ["bench", "--corpus", str(corpus), "--detector", str(bench_detector_dir),
                                 "--grid", "quick", "--report", str(report), "--format", "json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["perturbations"][0] == "none" and "jpeg:75+resize:0.5" in data["perturbations"]
    assert any("re-encoded alike as png" in n for n in data["notes"])
    assert sorted(p.name for p in report.iterdir()) == ["index.html", "results.csv", "results.json", "scores.csv"]
    page = (report / "index.html").read_text()
    assert page.count("data:image/png;base64,") >= 8  # plots and thumbnails, embedded
    for needle in ("AP per generator", "Robustness", "ROC", "Calibration", "Cost", "Worst-scored", "TPR@1%FPR"):
        assert needle in page
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    rows = list(csv.DictReader((report / "results.csv").open()))
    assert len(rows) == 2 * len(data["perturbations"]) and {r["generator"] for r in rows} == {"all", "gen"}
    # a previous report is replaced only with --overwrite
    again = runner.invoke(app, ["bench", "--corpus", str(corpus), "--detector", str(bench_detector_dir),
                                "--perturb", "none", "--report", str(report), "--device", "cpu"])
    assert again.exit_code == 1 and "--overwrite" in again.stderr


def test_plain_folders_warn_about_formats_and_a_bad_folder_is_one_error(folders, tmp_path, bench_detector_dir):
    result = runner.invoke(app, ["bench", "--real", str(folders / "real"), "--fake", f"gen={folders / 'gen'}",
                                 "--fake", f"lost={tmp_path / 'missing'}", "--detector", str(bench_detector_dir),
                                 "--perturb", "none", "--format", "json", "--device", "cpu"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "missing: not a folder" in errors[0]
    data = json.loads(result.stdout)
    assert data["fakes"] == 10 and data["reals"] == 10
    assert any("different formats" in n for n in data["notes"])


def test_import_lists_unreadable_files_and_exits_1(folders, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(folders / "gen", bad)
    (bad / "broken.png").write_bytes(b"not an image")
    result = runner.invoke(app, ["corpus", "import", "--real", str(folders / "real"), "--fake", f"g={bad}",
                                 "--out", str(tmp_path / "c")])
    assert result.exit_code == 1 and "broken.png" in result.stderr
    assert (tmp_path / "c" / "manifest.jsonl").is_file()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium here (Debian package `chromium`)")
def test_the_report_renders_in_a_headless_browser(folders, tmp_path, bench_detector_dir):
    report = tmp_path / "report"
    result = runner.invoke(app, ["bench", "--real", str(folders / "real"), "--fake", f"gen={folders / 'gen'}",
                                 "--detector", str(bench_detector_dir), "--perturb", "none", "--perturb", "jpeg:75,50",
                                 "--report", str(report), "--format", "json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,2400", (report / "index.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (2400, 1200)
    assert (image < 250).any(axis=2).mean() > 0.05  # text and plots drawn, not a blank page


def test_per_generator_chance_is_its_share_of_fakes_not_one_half():
    """A random ranking's AP for one generator is its share of the images it is ranked among; the bar chart
    draws that level per generator."""
    from types import SimpleNamespace

    from fakescope.detector.bench_report import ap_bars, chance_ap
    from matplotlib.collections import LineCollection
    from sklearn.metrics import average_precision_score

    rows = [{"detector": "d", "perturbation": "none", "generator": g, "fakes": f, "reals": 30, "ap": 0.7,
             "ap_low": None, "ap_high": None} for g, f in (("all", 40), ("a", 10), ("b", 30))]
    chance = chance_ap(rows)
    assert chance == {"all": 40 / 70, "a": 0.25, "b": 0.5}
    rng = np.random.default_rng(0)  # what a random ranking scores, on average (a little above it on few images)
    labels = np.r_[np.ones(100), np.zeros(300)]
    assert abs(np.mean([average_precision_score(labels, rng.random(400)) for _ in range(200)]) - 0.25) < 0.03
    fig = ap_bars(SimpleNamespace(rows=rows, perturbations=["none"]), ["d"])
    levels = sorted(float(seg[0][1]) for c in fig.axes[0].collections if isinstance(c, LineCollection)
                    for seg in c.get_segments() if seg[0][0] != seg[1][0])  # horizontal: not the whiskers
    assert levels == sorted(chance.values())


def test_import_of_a_missing_folder_is_a_usage_error_before_anything_is_written(folders, tmp_path):
    result = runner.invoke(app, ["corpus", "import", "--real", str(folders / "real"), "--fake",
                                 f"progan={tmp_path / 'nowhere'}", "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and f"--fake progan={tmp_path / 'nowhere'}" in result.stderr
    assert not (tmp_path / "c").exists()


def test_format_and_size_warnings_reach_every_output(tmp_path, bench_detector_dir):
    """Issue 31, item 10: the storage-format warning was in JSON and HTML only, and reals and fakes of different
    sizes (512 px photographs against 32 px fakes: AP 1.000 by size alone) were not warned about at all."""
    rng = np.random.default_rng(1)
    for name, side, suffix in (("real", 64, ".png"), ("gen", 16, ".jpg")):
        (tmp_path / name).mkdir()
        for i in range(6):
            cv2.imwrite(str(tmp_path / name / f"{i}{suffix}"), rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
    args = ["bench", "--real", str(tmp_path / "real"), "--fake", f"gen={tmp_path / 'gen'}", "--detector",
            str(bench_detector_dir), "--perturb", "none", "--device", "cpu"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "different formats" in table.stdout and "differ in size" in table.stdout and "64x64" in table.stdout
    for fmt in ("csv", "json"):
        result = runner.invoke(app, [*args, "--format", fmt])
        assert "warning: " in result.stderr and "differ in size" in result.stderr and "different formats" in \
            result.stderr, result.stderr
    assert any("differ in size" in n for n in json.loads(result.stdout)["notes"])
    runner.invoke(app, [*args, "--output", str(tmp_path / "t.txt")])
    text = (tmp_path / "t.txt").read_text()
    assert "differ in size" in text and "different formats" in text
