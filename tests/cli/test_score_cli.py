"""`fakescope score` end to end: formats, exit statuses, stdin, video options, plots and usage errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata
from typer.testing import CliRunner

from fakescope.cli import app

runner = CliRunner()


def invoke(*args, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)


def write_video(path: Path, count: int = 10, size=(96, 64)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, size)
    for i in range(count):
        writer.write(np.full((size[1], size[0], 3), 30 + 10 * i, np.uint8))
    writer.release()
    return path


@pytest.fixture
def media(tmp_path) -> Path:
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    astro = skdata.astronaut()
    Image.fromarray(cv2.resize(astro[:128, :128], (40, 40))).save(root / "a.png")
    Image.fromarray(cv2.resize(astro[200:328, 200:328], (40, 40))).save(root / "sub" / "b.jpg")
    write_video(root / "sub" / "clip.avi")
    return root


def test_json_records_and_exit_0(media):
    result = invoke("score", media, "--format", "json", "--frames", "4", "--device", "cpu")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [Path(r["path"]).name for r in records] == ["a.png", "b.jpg", "clip.avi"]
    assert all(set(r) >= {"path", "kind", "score", "label", "error"} for r in records)
    assert [r["kind"] for r in records] == ["image", "image", "video"]
    video = records[2]
    assert len(video["frames"]) == 4 and video["aggregate"] == "mean"
    assert set(video["frames"][0]) == {"index", "time", "score", "label", "face", "status"}


def test_output_dash_is_standard_output(media, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("score", media / "a.png", "--output", "-", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["path"].endswith("a.png")
    assert not (tmp_path / "-").exists()


def test_bad_input_gives_exit_1_and_the_rest_are_scored(media):
    (media / "broken.jpg").write_text("not a jpeg")
    result = invoke("score", media, "--format", "csv")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["broken.jpg"]["error"] == "not a recognised image format" and by_name["broken.jpg"]["score"] == ""
    assert float(by_name["a.png"]["score"]) >= 0 and by_name["clip.avi"]["frames_scored"] == "10"
    assert "1 of 4 input(s)" in result.stderr


def test_paths_from_stdin_and_globs(media):
    listing = f"{media / 'a.png'}\n\n{media / 'sub' / 'clip.avi'}\n"
    result = invoke("score", "-", str(media / "**" / "*.jpg"), "--format", "json", "--every", "5", input=listing)
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [Path(r["path"]).name for r in records] == ["b.jpg", "a.png", "clip.avi"]
    assert [f["index"] for f in records[2]["frames"]] == [0, 5]


def test_table_output_plot_and_options(media, tmp_path):
    plot = tmp_path / "timeline.png"
    out = tmp_path / "scores.txt"
    result = invoke("score", media, "--aggregate", "topk", "--top-k", "2", "--threshold", "0.5", "--plot", plot,
                    "--output", out, "--batch-size", "3")
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "clip.avi" in text and "topk of 10/10 frames" in text
    assert cv2.imread(str(plot)) is not None


def test_table_escapes_markup_in_paths(tmp_path):
    odd = tmp_path / "[red]x[" / "[bold]name].png"
    odd.parent.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(odd)
    out = tmp_path / "table.txt"
    result = invoke("score", odd, "--output", out)
    assert result.exit_code == 0, result.output
    assert str(odd) in out.read_text()  # shown as written, not read as rich markup


def test_file_names_that_are_not_utf8_are_written_escaped_in_every_format(tmp_path):
    import os

    folder = tmp_path / "mix"
    folder.mkdir()
    bad = os.fsdecode(os.fsencode(folder) + b"/bad\xff\xfename.png")  # a name from another encoding
    Image.fromarray(skdata.astronaut()[:64, :64]).save(bad)
    Image.fromarray(skdata.astronaut()[:64, :64]).save(folder / "bad\\xff\\xfename.png")  # literally so named
    shown = f"{folder}/bad\\xff\\xfename.png"
    literal = f"{folder}/bad\\\\xff\\\\xfename.png"  # its backslashes written twice: never the same text
    for name in ("o.json", "o.csv", "o.txt"):
        result = invoke("score", folder, "--output", tmp_path / name)
        assert result.exit_code == 0, result.output
    assert sorted(r["path"] for r in json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))) == [literal,
                                                                                                       shown]
    assert sorted(r["path"] for r in csv.DictReader(io.StringIO((tmp_path / "o.csv").read_text(encoding="utf-8")))
                  ) == [literal, shown]
    assert shown in (tmp_path / "o.txt").read_text(encoding="utf-8")
    assert literal in (tmp_path / "o.txt").read_text(encoding="utf-8")
    result = invoke("score", folder, "--report", tmp_path / "report")
    assert result.exit_code == 0 and shown in (tmp_path / "report" / "index.html").read_text(encoding="utf-8")


def test_faces_option(tmp_path):
    frame = np.full((240, 320, 3), 90, np.uint8)
    frame[40:200, 80:240] = cv2.resize(skdata.astronaut()[20:260, 150:390], (160, 160))
    Image.fromarray(frame).save(tmp_path / "face.png")
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "blank.png")
    result = invoke("score", tmp_path / "face.png", tmp_path / "blank.png", "--faces", "--format", "csv")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows[0]["face"].split()) == 4 and rows[0]["error"] == ""
    assert rows[1]["error"] == "no face found"


@pytest.mark.parametrize(("args", "message"), [
    (["--frames", "4", "--every", "2"], "not both"),
    (["--aggregate", "median"], "median"),
    (["--frames", "0"], "--frames"),
    (["--threshold", "1.5"], "between 0 and 1"),
    (["--plot", "out.gif"], "--plot"),
    (["--output", "no/such/folder/x.json"], "does not exist"),
    (["--output", "."], "is a folder"),
    (["--output", "newdir/"], "newdir/ ends with '/': it names a folder"),  # not a file called newdir
    (["--plot", "plots/"], "plots/ ends with '/'"),
    (["--detector", "no-such-detector"], "--detector: no checkpoint 'no-such-detector'"),
    (["--detector", "./no/such/folder"], "no such folder"),
    (["--device", "tpu"], "--device 'tpu': unknown device"),
    (["--top-k", "3"], "--top-k applies to --aggregate topk"),
])
def test_usage_errors_exit_2(media, args, message):
    result = invoke("score", media, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_nothing_to_score_is_exit_1(tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke("score", tmp_path / "empty")
    assert result.exit_code == 1 and "no images or videos found" in result.output


def test_links_are_followed_and_counted_or_left_out(tmp_path):
    outside, scored = tmp_path / "outside", tmp_path / "scored"
    outside.mkdir()
    scored.mkdir()
    for folder, name in ((outside, "system.png"), (scored, "own.png")):
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / name)
    (scored / "share").symlink_to(outside, target_is_directory=True)
    (scored / "linked.png").symlink_to(outside / "system.png")
    followed = runner.invoke(app, ["score", str(scored), "-f", "json", "--device", "cpu"])
    assert followed.exit_code == 0, followed.output
    assert len(json.loads(followed.stdout)) == 3
    assert "2 of 3 input(s) came through symbolic links" in followed.stderr
    kept = runner.invoke(app, ["score", str(scored), "-f", "json", "--device", "cpu", "--no-follow-links"])
    assert kept.exit_code == 0 and [r["path"] for r in json.loads(kept.stdout)] == [str(scored / "own.png")]
    assert "symbolic links" not in kept.stderr


def test_table_in_a_pipe_never_cuts_a_path_and_keeps_one_row_per_input(tmp_path):
    folder = tmp_path / ("a-rather-long-folder-name-that-a-narrow-terminal-would-cut-" * 2)
    folder.mkdir()
    astro = skdata.astronaut()
    names = ["plain.png", "two\nlines.png"]
    for name in names:
        Image.fromarray(cv2.resize(astro[:128, :128], (40, 40))).save(folder / name)
    result = invoke("score", folder, "--device", "cpu")  # CliRunner: not a terminal, like a pipe
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["path", "kind", "score", "label", "note"]
    assert len(lines) == 3 and str(folder / "plain.png") in lines[1] + lines[2]
    assert str(folder / "two\\nlines.png") in result.stdout  # the newline escaped: one input, one row
    assert "…" not in result.stdout


def test_vote_keeps_score_a_probability_and_shows_the_share_apart(tmp_path):
    clip = write_video(tmp_path / "clip.avi", count=6)
    result = invoke("score", clip, "--aggregate", "vote", "--every", "1", "--device", "cpu", "-f", "json")
    rec = json.loads(result.stdout)[0]
    frames = [f["score"] for f in rec["frames"]]
    assert rec["score"] == pytest.approx(sum(frames) / len(frames))
    share = sum(f >= rec["threshold"] for f in frames) / len(frames)
    assert rec["vote_share"] == pytest.approx(share)
    rows = list(csv.DictReader(io.StringIO(invoke("score", clip, "--aggregate", "vote", "--every", "1",
                                                  "--device", "cpu", "-f", "csv").stdout)))
    assert float(rows[0]["vote_share"]) == pytest.approx(share) and float(rows[0]["score"]) == pytest.approx(
        rec["score"], abs=1e-6)
    table = invoke("score", clip, "--aggregate", "vote", "--every", "1", "--device", "cpu").stdout
    assert "fake frames" in table.splitlines()[0] and f"{share:.0%}" in table


def test_output_format_follows_the_files_suffix_unless_given(media, tmp_path):
    for name, parse in (("s.json", json.loads), ("s.csv", lambda t: list(csv.DictReader(io.StringIO(t))))):
        result = invoke("score", media / "a.png", "--output", tmp_path / name)
        assert result.exit_code == 0, result.output
        rows = parse((tmp_path / name).read_text())
        assert len(rows) == 1 and Path(rows[0]["path"]).name == "a.png"
    result = invoke("score", media / "a.png", "--format", "table", "--output", tmp_path / "t.json")
    assert result.exit_code == 0 and "a.png" in (tmp_path / "t.json").read_text()
    with pytest.raises(json.JSONDecodeError):  # a table, as asked, whatever the name says
        json.loads((tmp_path / "t.json").read_text())
