"""The command line end to end on tiny inputs (Typer's CliRunner; one real subprocess for `python -m`)."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fakescope.cli import app
from fakescope.core.checkpoint import list_bundled

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_python_dash_m_works():
    proc = subprocess.run([sys.executable, "-m", "fakescope", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "score" in proc.stdout


def test_gan_list_shows_families_and_bundled_checkpoints():
    result = invoke("gan", "list")
    assert result.exit_code == 0
    assert "vanilla" in result.output and "vanilla-digits" in result.output


def test_gan_train_then_resume_then_sample(tmp_path):
    run = tmp_path / "run"
    common = ["gan", "train", "vanilla", "--data", "digits", "--size", "8", "--set", "batch_size=200",
              "--device", "cpu", "--out", run]
    assert invoke(*common, "--epochs", "1").exit_code == 0
    again = invoke(*common, "--epochs", "1")
    assert again.exit_code == 2 and "--resume" in again.output
    extended = invoke(*common, "--epochs", "2", "--resume")  # a finished run extended: one more epoch
    assert extended.exit_code == 0, extended.output
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and rows[1]["step"] == 2 * rows[0]["step"]
    weights = (run / "checkpoint" / "model.safetensors").read_bytes()
    finished = invoke(*common, "--epochs", "2", "--resume")  # the same schedule again: nothing left to train
    assert finished.exit_code == 0 and f"nothing trained: {run} already finished its {rows[1]['step']} steps" in \
        finished.output, finished.output
    assert (run / "checkpoint" / "model.safetensors").read_bytes() == weights
    assert "nothing trained" not in extended.output
    other = invoke(*common[:-4], "--out", run, "--epochs", "3", "--resume", "--set", "batch_size=100")
    assert other.exit_code == 2 and "batch_size" in other.output
    assert (run / "checkpoint" / "config.json").is_file()
    cfg = json.loads((run / "checkpoint" / "config.json").read_text())
    assert cfg["config"]["image_size"] == 8 and cfg["training"]["command"].startswith("fakescope gan train vanilla")

    out_a, out_b = tmp_path / "a", tmp_path / "b"
    assert invoke("gan", "sample", run / "checkpoint", "--count", "5", "--seed", "3", "--out", out_a).exit_code == 0
    assert invoke("gan", "sample", run / "checkpoint", "--count", "5", "--seed", "3", "--out", out_b).exit_code == 0
    assert sorted(p.name for p in out_a.iterdir()) == [f"00000{i}.png" for i in range(5)] + ["manifest.jsonl"]
    assert all((out_a / n).read_bytes() == (out_b / n).read_bytes() for n in ("000000.png", "000004.png"))


def test_unknown_names_are_usage_errors(tmp_path):
    result = invoke("gan", "train", "nope", "--out", tmp_path / "x")
    assert result.exit_code == 2 and "known: " in result.output and "vanilla" in result.output
    result = invoke("gan", "sample", "no-such-model", "--out", tmp_path / "y")
    assert result.exit_code == 2 and "vanilla-digits" in result.output
    result = invoke("gan", "train", "vanilla", "--set", "bogus=1", "--out", tmp_path / "z")
    assert result.exit_code == 2 and "unknown setting 'bogus'" in result.output


def test_corpus_build_verify_and_tamper(tmp_path, tiny_gan_dir):
    corpus = tmp_path / "corpus"
    result = invoke("corpus", "build", "--real", "digits", "--generator", tiny_gan_dir, "--train", "20",
                    "--val", "8", "--test", "8", "--device", "cpu", "--out", corpus)
    assert result.exit_code == 0, result.output
    report = invoke("corpus", "verify", corpus, "--format", "json")
    assert report.exit_code == 0 and json.loads(report.output)["checked"] == 72
    victim = next((corpus / "test" / "1_fake").iterdir())
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    report = invoke("corpus", "verify", corpus, "--format", "json")
    assert report.exit_code == 1
    assert json.loads(report.output)["changed"] == [str(victim.relative_to(corpus))]


def test_train_detector_and_score_with_it(tmp_path, tiny_corpus):
    ckpt = tmp_path / "det"
    result = invoke("train", "discriminator", "--corpus", tiny_corpus, "--epochs", "2", "--device", "cpu",
                    "--out", ckpt)
    assert result.exit_code == 0, result.output
    assert "test" in result.output and (ckpt / "model.safetensors").is_file()
    meta = json.loads((ckpt / "config.json").read_text())
    assert meta["training"]["corpora"] == [str(tiny_corpus)] and 0 <= meta["threshold"] <= 1

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    images = sorted((tiny_corpus / "test" / "1_fake").iterdir())[:3]
    result = invoke("score", *images, bad, tmp_path / "missing.png", "--detector", ckpt, "--format", "json")
    assert result.exit_code == 1
    records = json.loads(result.stdout)
    assert [r["path"] for r in records] == [str(p) for p in [*images, bad, tmp_path / "missing.png"]]
    assert all(0 <= r["score"] <= 1 and r["error"] is None for r in records[:3])
    assert records[3]["error"].startswith("empty file") and records[4]["error"] == "no such file"


@pytest.mark.parametrize("fmt", ["csv", "table"])
def test_score_formats_and_output_file(tmp_path, tiny_corpus, fmt):
    images = sorted((tiny_corpus / "test" / "0_real").iterdir())[:2]
    out = tmp_path / f"scores.{fmt}"
    result = invoke("score", *images, "--format", fmt, "--output", out)
    assert result.exit_code == 0
    text = out.read_text()
    if fmt == "csv":
        lines = text.splitlines()
        assert lines[0].startswith("path,kind,score,label,error,") and len(lines) == 3
    else:
        assert json.loads(text)[0]["path"] == str(images[0]) if text.startswith("[") else images[0].name in text


def test_demo_runs_and_writes_its_report(tmp_path):
    out = tmp_path / "demo"
    result = invoke("demo", "--count", "16", "--device", "cpu", "--out", out)
    assert result.exit_code == 0, result.output
    assert all(h in result.output for h in ("AP", "ROC-AUC", "real acc.", "fake acc.", "resynth-nearest-s2"))
    report = json.loads((out / "report.json").read_text())
    generators = list_bundled("fakescope.generators")
    enlarged = "real photographs, enlarged"
    assert set(report["table"]) == {"all", "real photographs", enlarged, *generators}
    assert report["table"]["all"]["n"] == 16 + 4 * len(generators)  # the enlarged reals are reported apart
    assert report["table"][enlarged]["n"] == 4 and 0.0 <= report["table"][enlarged]["real_accuracy"] <= 1.0
    assert all(report["table"][g]["n"] == 4 and 0.0 <= report["table"][g]["ap"] <= 1.0 for g in generators)
    records = json.loads((out / "scores.json").read_text())
    assert len(records) == 20 + 4 * len(generators) and {r["truth"] for r in records} == {"real", "fake"}
    assert {r["origin"] for r in records} == {"real photographs", enlarged, *generators}
    assert {r["truth"] for r in records if r["origin"] == enlarged} == {"real"}
    assert (out / "grid.png").stat().st_size > 0


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_comes_from_the_installed_metadata(flag):
    from importlib.metadata import version

    result = invoke(flag)
    assert result.exit_code == 0 and result.output.strip() == f"fakescope {version('fakescope')}"


@pytest.mark.parametrize("args", [["-h"], ["score", "-h"], ["gan", "train", "-h"], ["corpus", "build", "-h"]])
def test_dash_h_is_help_everywhere(args):
    result = invoke(*args)
    assert result.exit_code == 0 and "Usage:" in result.output and "--help" in result.output


def test_help_and_version_never_load_torch():
    code = ("import sys; from typer.testing import CliRunner; from fakescope.cli import app; "
            "r = [CliRunner().invoke(app, a) for a in (['--help'], ['-V'], ['score', '--help'], ['gan', '-h'])]; "
            "print([x.exit_code for x in r], 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[0, 0, 0, 0] False", proc.stdout + proc.stderr


def test_list_commands_and_usage_errors_never_load_torch():
    commands = [["gan", "list"], ["gan", "list", "-f", "json"], ["detectors", "list"],
                ["detectors", "list", "-f", "json"], ["score", "--bogus"],
                ["bench", "--format", "xml"], ["gan", "sample"], ["score", "x.png", "--threshold", "2"],
                ["score", "x.png", "--frames", "3", "--every", "2"], ["corpus", "recipes"],
                ["corpus", "recipes", "-f", "json"], ["bench"], ["bench", "--corpus", "c", "--perturb", "bogus:1"]]
    code = ("import sys; from typer.testing import CliRunner; from fakescope.cli import app; "
            f"r = [CliRunner().invoke(app, a) for a in {commands!r}]; "
            "print([x.exit_code for x in r], 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[0, 0, 0, 0, 2, 2, 2, 2, 2, 0, 0, 2, 2] False", proc.stdout + proc.stderr


@pytest.mark.parametrize("command", [["gan", "list"], ["detectors", "list"]])
def test_list_commands_speak_json(command):
    data = json.loads(invoke(*command, "--format", "json").output)
    assert data["families"] and data["bundled"]
    names = [b["name"] for b in data["bundled"]]
    assert names == sorted(names) and all(name in invoke(*command).output for name in names)


def test_csv_is_not_offered_where_it_would_not_be_honoured():
    result = invoke("detectors", "list", "--format", "csv")
    assert result.exit_code == 2 and "--format" in result.output


@pytest.mark.parametrize(("args", "named"), [
    (["score", "--bogus", "x.png"], "--bogus"),
    (["score", "x.png", "--frames", "0"], "--frames"),
    (["bench", "--format", "xml"], "--format"),
    (["gan", "sample"], "model"),
    (["nope"], "nope"),
    (["corpus", "build", "digits-vanilla", "--shard", "abc", "--out", "never-written"], "--shard abc: expected i/n"),
    (["score", "x.png", "-d", "npr-bundled", "-d", "npr-photos"], "--detector/-d given more than once"),
    (["bench", "--split", "test", "--split=val"], "--split given more than once"),
])
def test_usage_errors_are_one_line_naming_the_option(args, named):
    result = invoke(*args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], result.output


def test_shell_completion_is_offered_without_touching_shell_files(tmp_path):
    import os

    env = {**os.environ, "HOME": str(tmp_path),  # whatever happens, no real shell file is read or written
           "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}  # the shell named, not guessed from the parent
    proc = subprocess.run([sys.executable, "-m", "fakescope", "--show-completion", "bash"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0 and "_FAKESCOPE_COMPLETE=complete_bash" in proc.stdout
    env.update(_FAKESCOPE_COMPLETE="complete_bash", COMP_WORDS="fakescope sc", COMP_CWORD="1")
    proc = subprocess.run([sys.executable, "-m", "fakescope"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0 and proc.stdout.split() == ["score"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("width", [60, 80, 200])
def test_tables_on_a_terminal_never_cut_names(width):
    import io

    from rich.console import Console

    from fakescope.console import Grid, show

    grid = Grid(["detector", "generator", "AP", "note"], keep=("detector", "generator"), right=("AP",))
    grid.add_row("npr-bundled", "cyclegan-photo2painting", "0.953", "some words that may wrap in a narrow column")
    grid.add_row("discriminator-digits", "resynth-pixelshuffle-s1", "1.000", "")
    buf = io.StringIO()
    show(grid, Console(file=buf, force_terminal=True, width=width, color_system=None))
    text = buf.getvalue()
    assert "…" not in text and all(name in text for name in ("npr-bundled", "cyclegan-photo2painting",
                                                               "discriminator-digits", "resynth-pixelshuffle-s1"))
    assert "AP" in text and "0.953" in text


def _commands():
    import typer.main

    def walk(command, path):
        subs = getattr(command, "commands", None)
        if subs is None:
            yield path, command
        for name, sub in (subs or {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(app), []))


@pytest.mark.parametrize(("path", "command"), _commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_every_option_and_argument_says_what_it_is(path, command):
    silent = [p.name for p in command.params if not getattr(p, "hidden", False) and not (getattr(p, "help", "") or "")]
    assert not silent, f"fakescope {' '.join(path)}: no help for {silent}"


def test_help_shows_defaults_and_every_gan_command():
    assert "(default 32)" in " ".join(invoke("score", "--help").output.split())
    gan_help = invoke("gan", "--help").output
    assert all(name in gan_help for name in ("list", "train", "sample", "translate", "export"))
    assert all(name in gan_help.splitlines()[2] for name in ("list", "train", "sample", "translate", "export"))


@pytest.mark.parametrize("args", [["bench", "--real", "r", "--fake", "f=f"],
                                  ["corpus", "import", "--real", "r", "--fake", "f=f", "--out", "o"]])
def test_commands_that_do_not_split_work_refuse_torchrun(args, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "without torchrun" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["p[red]x.gif", "counts = { a = [1, 2], b = [i] }.gif"])
def test_user_text_in_messages_keeps_its_brackets(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    result = invoke("score", "x.png", "--plot", name)  # refused for its suffix, before any work
    assert result.exit_code == 2 and f"--plot {name}: use one of" in result.output, result.output


def test_messages_are_one_unwrapped_line_without_markup(capsys):
    from fakescope.console import error_line, say

    long = "[bold]" + "word " * 40 + "[/]"
    say(long)
    error_line(long)
    captured = capsys.readouterr()
    assert captured.out == long + "\n" and captured.err == f"error: {long}\n"
    import os

    say(os.fsdecode(b"bad\xffname.png"))  # a name that is not UTF-8: written as score writes it, never a crash
    assert capsys.readouterr().out == "bad\\xffname.png\n"


def test_progress_bars_show_rate_and_time_left_on_a_terminal_only(monkeypatch):
    import io

    from rich.console import Console

    from fakescope import console

    for tty in (True, False):
        buf = io.StringIO()
        monkeypatch.setattr(console, "err", Console(file=buf, force_terminal=tty, width=120, color_system=None))
        monkeypatch.setattr(console.sys.stderr, "isatty", lambda tty=tty: tty)
        with console.progress_bar("building [x]", 4, unit="images") as update:
            for _ in range(4):
                update(1)
        text = buf.getvalue()
        if tty:
            assert "building [x]" in text and "4/4" in text and "images/s" in text and "0:00:00" in text
        else:
            assert text == ""


@pytest.mark.parametrize(("path", "command"), _commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_every_command_help_ends_with_examples_that_parse(path, command):
    import shlex

    result = invoke(*path, "--help")
    assert result.exit_code == 0
    tail = result.output.rstrip().split("Examples:")
    assert len(tail) == 2, f"fakescope {' '.join(path)} --help ends without examples"
    lines = [line.strip() for line in tail[1].strip().splitlines()]
    assert 1 <= len(lines) <= 3 and all(line.startswith(f"fakescope {' '.join(path)}") for line in lines), lines
    for line in lines:  # every option an example uses exists, with a value where it takes one
        words = shlex.split(line.partition("  #")[0])
        words = words[:next((i for i, w in enumerate(words) if w in ("&&", "||", "|", ";")), len(words))]
        args = words[1 + len(path):]  # this command's arguments (a second command after && is another's)
        command.make_parser(command.context_class(command, info_name=path[-1])).parse_args(args)  # NoSuchOption...
