"""``fakescope bench``: the report in each format; bad corpora and detectors are reported, the rest benchmarked."""

import csv
import io
import json
import shutil

import pytest
from fakescope.detector.bench import generator_name
from fakescope.detector.data import load_split
from typer.testing import CliRunner

from fakescope.cli import app

runner = CliRunner()


def test_json_report(bench_corpora, bench_detector_dir):
    result = runner.invoke(app, ["bench", "--corpus", str(bench_corpora[0]), "--corpus", str(bench_corpora[1]),
                                 "--detector", str(bench_detector_dir), "--perturb", "none", "--perturb", "blur:1",
                                 "--format", "json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["perturbations"] == ["none", "blur:1"] and report["errors"] == []
    assert report["corpora"] == [str(c) for c in bench_corpora] and report["command"].startswith("fakescope bench")
    assert len(report["results"]) == 2 * 3 and all(0 <= r["ap"] <= 1 + 1e-9 for r in report["results"])


def test_table_report_names_every_generator(bench_corpora, bench_detector_dir, tmp_path):
    out = tmp_path / "report.txt"
    result = runner.invoke(app, ["bench", "--corpus", str(bench_corpora[1]), "--detector", str(bench_detector_dir),
                                 "--perturb", "jpeg:60", "--output", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "jpeg:60" in text and "vanilla-digits" in text and "AP" in text
    # the clean images are always measured, first: what "clean" means in a report is never a perturbed pass
    passes = [line.split()[1] for line in text.splitlines() if line.startswith(str(bench_detector_dir))]
    assert passes == ["none", "jpeg:60"]


def test_bad_corpus_and_detector_are_reported_and_the_rest_benchmarked(tmp_path, bench_corpora, bench_detector_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    out = tmp_path / "report.csv"
    result = runner.invoke(app, ["bench", "--corpus", str(broken), "--corpus", str(bench_corpora[0]), "--detector",
                                 "no-such-detector", "--detector", str(bench_detector_dir), "--perturb", "none",
                                 "--format", "csv", "--output", str(out), "--device", "cpu"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert "no-such-detector" in errors[0] and f"corpus {broken}: " in errors[1] and "no manifest.jsonl" in errors[1]
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    fake = next(r for r in load_split([bench_corpora[0]], "test").rows if r["label"] == 1)
    assert [r["generator"] for r in rows] == ["all", generator_name(fake)]
    assert all(r["detector"] == str(bench_detector_dir) for r in rows)


@pytest.mark.parametrize("args, message", [
    (["--perturb", "jpeg:0"], "perturbation 'jpeg:0': quality 0"),
    (["--split", "holdout"], "--split 'holdout'"),
])
def test_usage_errors(args, message, bench_corpora):
    result = runner.invoke(app, ["bench", "--corpus", str(bench_corpora[0]), *args])
    assert result.exit_code == 2 and message in result.stderr


def test_nothing_readable(tmp_path, bench_detector_dir):
    result = runner.invoke(app, ["bench", "--corpus", str(tmp_path / "missing"), "--detector", str(bench_detector_dir)])
    assert result.exit_code == 1 and "nothing to benchmark" in result.stderr


def _strict_json(text: str):
    def no_nan(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=no_nan)


def test_a_split_with_one_class_warns_and_writes_valid_json(tmp_path, bench_corpora, bench_detector_dir):
    corpus = tmp_path / "fakes-only"
    shutil.copytree(bench_corpora[1], corpus)
    manifest = corpus / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows if r["label"] == 1))
    result = runner.invoke(app, ["bench", "--corpus", str(corpus), "--detector", str(bench_detector_dir),
                                 "--perturb", "none", "--format", "json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "warning: the test split holds no real images" in result.stderr
    report = _strict_json(result.stdout)
    assert report["results"] and all(r["ap"] is None for r in report["results"])


def test_an_unreadable_image_is_reported_and_left_out(tmp_path, bench_corpora, bench_detector_dir):
    corpus = tmp_path / "damaged"
    shutil.copytree(bench_corpora[1], corpus)
    test_rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
    test_rows = [r for r in test_rows if r["split"] == "test"]
    damaged = corpus / test_rows[0]["path"]
    damaged.write_bytes(damaged.read_bytes()[:20])  # truncated
    result = runner.invoke(app, ["bench", "--corpus", str(corpus), "--detector", str(bench_detector_dir),
                                 "--perturb", "none", "--format", "json", "--device", "cpu"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(damaged) in errors[0] and "left out" in errors[0]
    report = _strict_json(result.stdout)
    overall = report["results"][0]
    assert overall["generator"] == "all" and overall["fakes"] + overall["reals"] == len(test_rows) - 1
    assert report["errors"] == [errors[0].removeprefix("error: ")]


def test_output_naming_a_folder_is_refused_before_any_work(tmp_path, bench_corpora):
    result = runner.invoke(app, ["bench", "--corpus", str(bench_corpora[0]), "--output", str(tmp_path)])
    assert result.exit_code == 2 and "is a folder" in result.stderr


def test_short_options_are_those_of_score(bench_corpora, bench_detector_dir):
    result = runner.invoke(app, ["bench", "--corpus", str(bench_corpora[0]), "-d", str(bench_detector_dir),
                                 "--perturb", "none", "-f", "json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["detectors"] == [str(bench_detector_dir)]


def test_duplicate_images_in_plain_folders_are_a_note_not_an_error(bench_detector_dir, tmp_path):
    import numpy as np

    from fakescope.core.imageio import write_png

    rng = np.random.default_rng(0)
    for kind in ("real", "fake"):
        (tmp_path / kind).mkdir()
        for i in range(6):
            write_png(tmp_path / kind / f"{i}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    shutil.copy(tmp_path / "real" / "0.png", tmp_path / "real" / "copy.png")  # scraped sets hold duplicates
    result = CliRunner().invoke(app, ["bench", "--real", str(tmp_path / "real"), "--fake", f"g={tmp_path / 'fake'}",
                                      "--detector", str(bench_detector_dir), "--perturb", "none", "--device", "cpu",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert not record["errors"] and any("same content" in n for n in record["notes"])


def test_two_weights_files_of_one_name_are_both_benchmarked(tmp_path, bench_corpora):
    """``FAMILY=FILE`` is reported as ``FAMILY@NAME``; a second file of that name (another folder) keeps the spec
    as given instead of replacing the first one's results."""
    import torch
    from fakescope.detector.base import create_detector

    specs = []
    for i, folder in enumerate(("a", "b")):
        torch.manual_seed(i)
        (tmp_path / folder).mkdir()
        torch.save(create_detector("discriminator").build_net().state_dict(),  # the settings FILE is read with
                   tmp_path / folder / "d.pth")
        specs += ["--detector", f"discriminator={tmp_path / folder / 'd.pth'}"]
    result = runner.invoke(app, ["bench", "--corpus", str(bench_corpora[1]), *specs, "--perturb", "none",
                                 "--format", "json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    names = {r["detector"] for r in json.loads(result.stdout)["results"]}
    assert names == {"discriminator@d.pth", f"discriminator={tmp_path / 'b' / 'd.pth'}"}
