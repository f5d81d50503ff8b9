"""The shared HTML report renderer: self-contained, escaped, written atomically."""

from __future__ import annotations

import re

import numpy as np

from fakescope.core.report import Html, Page, image_data_uri, img_tag, new_figure, thumbnail


def test_page_is_self_contained_and_escapes_text(tmp_path):
    page = Page("Audit <1>", meta={"command": "fakescope score a&b.png"})
    page.heading("Inputs")
    fig = new_figure(3, 2)
    fig.add_subplot().plot([0, 1], [1, 0])
    page.figure(fig, "a line")
    page.table(["path", "score"], [["<script>x</script>.png", 0.25], ["b.png", float("nan")]],
               row_classes=["fake", ""])
    page.html(img_tag(image_data_uri(np.zeros((4, 4, 3), np.uint8)), "black"))
    path = page.write(tmp_path / "report")
    text = path.read_text(encoding="utf-8")
    assert path.name == "index.html"
    assert "<script>x</script>" not in text and "&lt;script&gt;x&lt;/script&gt;.png" in text
    assert "Audit &lt;1&gt;" in text and "a&amp;b.png" in text
    assert 'data-v="0.25"' in text and "0.250" in text  # numbers sort numerically
    assert text.count("data:image/png;base64,") == 2
    # nothing that would reach the network
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    assert not list((tmp_path / "report").glob("*.tmp*"))


def test_html_cells_are_kept_and_thumbnails_never_enlarge():
    page = Page("t")
    page.table(["x"], [[Html("<b>kept</b>")]])
    assert "<b>kept</b>" in page.render()
    assert thumbnail(np.zeros((400, 200, 3), np.uint8), 100).shape == (100, 50, 3)
    assert thumbnail(np.zeros((20, 10, 3), np.uint8), 100).shape == (20, 10, 3)


def test_reports_show_paths_relative_to_where_the_command_ran_never_the_install(tmp_path, monkeypatch):
    """Issue 31: a shared report named the install's absolute paths (the bundled detector's folder) and inputs
    by absolute paths; it shows bundled checkpoints by name and paths below the working folder relative to it."""
    from pathlib import Path

    from PIL import Image
    from typer.testing import CliRunner

    import fakescope
    from fakescope.cli import app
    from fakescope.core.report import shown_location

    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs").mkdir()
    image = tmp_path / "imgs" / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(image)
    assert shown_location(image) == "imgs/a.png" and shown_location("/elsewhere/x.png") == "/elsewhere/x.png"
    result = CliRunner().invoke(app, ["score", str(image), "--report", "rep", "--device", "cpu"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "rep" / "index.html").read_text()
    install = str(Path(fakescope.__file__).resolve().parents[1])
    assert install not in page and "(bundled)" in page
    assert str(tmp_path) not in page.replace(f"fakescope score {image}", "")  # the command is shown as typed
    assert "imgs/a.png" in page
