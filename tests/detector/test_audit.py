"""Where in the image and the audit report: tile grids from the scoring pass, heatmap PNGs, the HTML report
(self-contained, ordered by score, opened by headless Chromium when it is installed), the CLI options."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess

import cv2
import numpy as np
import pytest
from evidence import evidence_folder, photo, png_bytes
from fakescope.detector.audit import AuditReport, heatmap_overlay, score_map
from fakescope.detector.base import load_detector
from fakescope.detector.records import TileGrid
from fakescope.detector.scoring import score_paths
from typer.testing import CliRunner

from fakescope.cli import app
from fakescope.core.imageio import read_image

runner = CliRunner()


@pytest.fixture(scope="module")
def det():
    return load_detector()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit") / "media"
    evidence_folder(root)
    writer = cv2.VideoWriter(str(root / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (96, 64))
    for i in range(8):
        writer.write(np.roll(photo(20, (96, 64)), 4 * i, axis=1)[..., ::-1].copy())
    writer.release()
    return root


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_tile_grids_come_from_the_same_pass_and_match_the_score(det):
    images = [photo(1, (100, 70)), photo(2, (20, 20)), photo(3, (700, 650))]
    probs, grids = det.predict_tiles(images)
    np.testing.assert_allclose(probs, det.predict_proba(images))
    crop = det.config.crop
    for image, grid in zip(images, grids, strict=True):
        assert (grid.height, grid.width, grid.crop) == (*image.shape[:2], crop)
        assert len(grid.origins) == len(grid.scores) >= 1
        assert all(0 <= y <= max(0, grid.height - crop) and 0 <= x <= max(0, grid.width - crop)
                   for y, x in grid.origins)
    assert len(grids[2].origins) == 64  # capped, as the scoring tiles are


def test_the_heatmap_shows_where_the_scores_are():
    grid = TileGrid(crop=32, height=64, width=64, origins=[(0, 0), (0, 32), (32, 0), (32, 32)],
                    scores=[0.0, 1.0, 0.0, 0.0])
    m = score_map(grid, 16, 16)
    assert m[:8, 8:].min() == 1.0 and m[8:].max() == 0.0
    over = heatmap_overlay(np.full((16, 16, 3), 128, np.uint8), grid)
    assert over[2, 12, 0] > over[2, 12, 2] and over[12, 2, 2] > over[12, 2, 0]  # red where 1, blue where 0


def test_a_sampled_large_image_gets_a_full_heatmap_paler_where_it_was_not_measured():
    """Past 64 tiles an image is scored on an evenly spaced sample; the map fills the rest from the nearest
    scored tile at half strength, instead of leaving specks on an untinted image."""
    from fakescope.detector.data import tile_origins

    origins = tile_origins(640, 640, 32)  # 400 tiles, 64 scored
    assert len(origins) == 64
    grid = TileGrid(crop=32, height=640, width=640, origins=origins,
                    scores=[1.0 if x >= 320 else 0.0 for _, x in origins])
    gray = np.full((64, 64, 3), 128, np.uint8)
    over = heatmap_overlay(gray, grid).astype(int)
    tinted = np.abs(over - 128).sum(axis=2) > 0
    assert tinted.all()  # every pixel says something
    right, left = over[:, 40:], over[:, :24]
    assert (right[..., 0] > right[..., 2]).all() and (left[..., 2] > left[..., 0]).all()
    measured = ~np.isnan(score_map(grid, 64, 64))
    assert 0 < measured.mean() < 1
    strength = np.abs(over - 128).sum(axis=2)
    assert strength[measured].mean() > 1.5 * strength[~measured].mean()


def test_detail_records_carry_tiles_and_previews_and_plain_ones_do_not(media, det):
    recs = score_paths([media / "plain_png.png", media / "clip.avi"], det, detail=True, frames=4)
    image, video = recs
    assert image.tiles is not None and image.preview is not None and max(image.preview.shape[:2]) <= 384
    assert len(image.to_json()["tiles"]["tiles"]) == len(image.tiles.scores)
    assert video.frame_previews and len(video.frame_previews) == 4 and video.tiles is None
    (plain,) = score_paths([media / "plain_png.png"], det)
    assert plain.tiles is None and "tiles" not in plain.to_json() and plain.score == image.score


def test_the_record_says_how_the_score_comes_from_the_tiles(media, det):
    """Issue 31, item 23: the score is the calibrated mean of the tiles' raw scores, not the mean of their
    calibrated scores; the JSON record carries both and says which is which."""
    (image,) = score_paths([media / "plain_png.png"], det, detail=True)
    tiles = image.to_json()["tiles"]
    raw = [t["raw"] for t in tiles["tiles"]]
    assert tiles["raw_mean"] == pytest.approx(np.mean(raw), abs=1e-6)
    assert image.score == pytest.approx(float(det.calibration(np.array([tiles["raw_mean"]]))[0]), abs=1e-5)
    assert all(t["score"] == pytest.approx(float(det.calibration(np.array([t["raw"]]))[0]), abs=1e-5)
               for t in tiles["tiles"])
    assert "calibration of raw_mean" in tiles["scores"]


def test_score_heatmap_and_report_from_the_cli(media, tmp_path):
    heat, rep = tmp_path / "heat", tmp_path / "rep"
    result = invoke("score", media, "--format", "json", "--heatmap", heat, "--report", rep, "--frames", "4")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    images = [r for r in records if r["kind"] == "image"]
    files = sorted(p.name for p in media.iterdir() if p.suffix != ".avi")  # without invisible-watermark: one fewer
    assert len(images) == len(files) >= 8 and all("tiles" in r and "provenance" in r for r in images)
    for r in images:  # one overlay per image, the size of its preview
        assert read_image(r["heatmap"]).shape[2] == 3
    assert sorted(p.name for p in heat.iterdir()) == sorted(r["heatmap"].rsplit("/", 1)[1] for r in images)
    page = (rep / "index.html").read_text()
    assert re.search(r"(src|href)=\"https?:", page) is None and "Content-Security-Policy" in page
    watermark = ["invisible watermark of Stable Diffusion"] if "watermark_png.png" in files else []
    for words in ("PNG parameters chunk", "XMP digital source type trainedAlgorithmicMedia", *watermark,
                  "C2PA: created by TestDiffusion", "clip.avi", "Frames (or faces) scored", "command", "npr"):
        assert words in page, words
    # the command as typed, whoever started the process (here pytest, whose sys.argv is not fakescope's)
    assert f"fakescope score {media} --format json" in page
    scores = [float(s) for s in re.findall(r'<td class="num" data-v="([0-9.e-]+)">0\.\d+</td>', page)]
    assert len(scores) == len(files) + 1 and scores == sorted(scores, reverse=True)  # ordered by score

    again = invoke("score", media, "--heatmap", heat)  # an existing result is never written over silently
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert invoke("score", media, "--heatmap", heat, "--overwrite").exit_code == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    refused = invoke("score", media, "--report", tmp_path / "other", "--overwrite")
    assert refused.exit_code == 1 and (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_csv_and_table_say_why_an_image_is_flagged(media):
    result = invoke("score", media / "a1111_png.png", media / "plain_jpeg.jpg", "--format", "csv",
                    "--threshold", "1")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0])[:10] == ["path", "kind", "score", "label", "error", "aggregate", "frames_scored",
                                  "frames_sampled", "face", "note"]  # the existing columns, unchanged
    assert rows[0]["flagged_by"] == "PNG parameters chunk" and rows[1]["flagged_by"] == ""
    assert rows[0]["provenance"] == "moderate: PNG parameters chunk"
    table = invoke("score", media / "xmp_jpeg.jpg", "--no-provenance", "--format", "json")
    assert "provenance" not in json.loads(table.stdout)[0]


def test_report_without_heatmaps_for_an_unreadable_input(tmp_path, det):
    bad = tmp_path / "bad.png"
    bad.write_bytes(png_bytes(photo(1))[:60])
    report = AuditReport()
    for rec in score_paths([bad], det, detail=True):
        report.add(rec)
    page = report.page(meta={"command": "test"}).render()
    assert "bad.png" in page and 'class="error"' in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed")
def test_the_report_opens_in_headless_chromium(media, tmp_path):
    rep = tmp_path / "rep"
    assert invoke("score", media, "--report", rep, "--frames", "4").exit_code == 0
    shot = tmp_path / "report.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1400,2000", (rep / "index.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    image = read_image(shot)
    assert image.shape[:2] == (2000, 1400)
    assert (image < 200).any(axis=2).mean() > 0.02  # text, thumbnails and plots, not a blank page


@pytest.mark.parametrize("prog", ["python -m fakescope", "/usr/local/bin/fakescope", "__main__.py"])
def test_the_report_names_the_command_as_typed_however_it_was_started(media, tmp_path, prog):
    rep = tmp_path / "rep"
    result = runner.invoke(app, ["score", str(media / "plain_png.png"), "--report", str(rep)], prog_name=prog)
    assert result.exit_code == 0, result.output
    assert f"<dd>fakescope score {media / 'plain_png.png'} --report {rep}</dd>" in (rep / "index.html").read_text()
