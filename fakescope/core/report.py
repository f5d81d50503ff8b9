"""Self-contained HTML reports: one page, every plot and thumbnail embedded, no network, no script from elsewhere.

The one renderer shared by ``fakescope score --report`` (an audit of inputs) and ``fakescope bench --report``
(detectors × generators × perturbations). A page is built top-down from a title, the facts that made it
(command, detector, version, date), and sections of text, figures, images and tables; ``Page.write`` puts
``index.html`` into a folder atomically. Plots come from matplotlib's object API (``new_figure``), never
pyplot's global state, and are embedded as PNG data URIs. Tables can be sorted by a click on a header with a
few lines of inline JavaScript; the page reads the same without it.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fakescope.core.imageio import encode_png, write_bytes_atomic

if TYPE_CHECKING:  # matplotlib is imported only when a plot is made
    from matplotlib.figure import Figure

__all__ = ["Html", "Page", "figure_data_uri", "image_data_uri", "img_tag", "new_figure", "shown_location",
           "thumbnail"]


def _install_roots() -> list[Path]:
    """The folders fakescope's packages are installed in (found without importing them)."""
    import importlib.util

    roots = []
    for name in ("fakescope.detector", "fakescope.generators", "fakescope"):
        spec = importlib.util.find_spec(name)
        roots += [Path(p).resolve() for p in (spec.submodule_search_locations or [])] if spec else []
    return roots


def shown_location(path: str | os.PathLike) -> str:
    """A file or folder as a report shows it, so that a report can be shared: a checkpoint bundled with fakescope
    by its name (``npr-published (bundled)``) and any other installed file by its place in its package, never the
    install's absolute path; a path below the folder the command ran in, relative to it; anything else as given."""
    text = os.fspath(path)
    if not text:
        return text
    full = Path(os.path.abspath(text))
    for root in _install_roots():
        try:
            rel = full.resolve().relative_to(root)
        except (ValueError, OSError):
            continue
        if len(rel.parts) == 2 and rel.parts[0] == "weights":
            return f"{rel.parts[1]} (bundled)"
        return f"{root.name}/{rel.as_posix()} (installed)"
    try:
        return full.relative_to(Path.cwd()).as_posix() or "."
    except ValueError:
        return text


@dataclass(frozen=True)
class Html:
    """Markup that is already safe (built here from escaped parts); every other cell value is escaped."""

    markup: str

    def __str__(self) -> str:
        return self.markup


def _cell(value: object) -> str:
    if isinstance(value, Html):
        return value.markup
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.3f}"
    return html.escape("" if value is None else str(value))


def _sort_key(value: object) -> str:
    """What a sortable column orders by: numbers numerically, the rest as text."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float) and not (isinstance(value, float) and np.isnan(value)):
        return repr(float(value))
    return ""


def new_figure(width: float = 6.4, height: float = 4.0) -> Figure:
    """A matplotlib figure that needs no display and touches no global state (safe in threads and tests)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_data_uri(fig: Figure) -> str:
    """The figure as an embedded PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumbnail(image: np.ndarray, max_side: int = 160) -> np.ndarray:
    """A uint8 [H, W, C] image shrunk (never enlarged) so that its longer side is at most ``max_side``."""
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return image


def image_data_uri(image: np.ndarray, max_side: int | None = 160) -> str:
    """A uint8 image ([H, W] or [H, W, C], RGB) as an embedded PNG, shrunk to ``max_side`` when given."""
    if max_side is not None:
        image = thumbnail(image, max_side)
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")


def img_tag(src: str, alt: str, *, width: int | None = None, crisp: bool = False) -> Html:
    """An ``<img>``; ``crisp``: enlarged without smoothing (small images shown at a readable size keep their
    pixels)."""
    size = f' width="{width}"' if width else ""
    style = ' class="crisp"' if crisp else ""
    return Html(f'<img src="{html.escape(src, quote=True)}" alt="{html.escape(alt, quote=True)}"{size}{style} '
                'loading="lazy">')


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;
 padding:0 16px;color:#1d1d1f;background:#fff}
h1{font-size:22px;margin:0 0 8px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 12px;color:#444}
dl.meta dt{font-weight:600} dl.meta dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f6;position:sticky;top:0} th.sortable{cursor:pointer} th.sortable:after{content:" \\2195";color:#999}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fake td{background:#fff4f2} tr.error td{background:#fffbe6}
figure{margin:8px 0 18px} figcaption{color:#555;font-size:12px}
.figs{display:flex;flex-wrap:wrap;gap:12px} .figs figure{margin:0}
.note{color:#555} code{font-family:ui-monospace,monospace;font-size:12px}
img{max-width:100%} img.crisp{image-rendering:pixelated}
table.nowrap td{white-space:nowrap} .scroll{overflow-x:auto}
"""

_SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){th.classList.add('sortable');th.addEventListener('click',function(){
  var b=t.tBodies[0],rows=Array.from(b.rows),asc=th.dataset.dir!=='asc';th.dataset.dir=asc?'asc':'desc';
  rows.sort(function(x,y){var p=x.cells[i],q=y.cells[i],
   u=p.dataset.v!==undefined&&p.dataset.v!==''?parseFloat(p.dataset.v):p.textContent,
   v=q.dataset.v!==undefined&&q.dataset.v!==''?parseFloat(q.dataset.v):q.textContent;
   return (u<v?-1:u>v?1:0)*(asc?1:-1);});rows.forEach(function(r){b.appendChild(r);});});});});
"""


class Page:
    """One report page, built in reading order and written as a single self-contained ``index.html``."""

    def __init__(self, title: str, *, meta: dict[str, str] | None = None) -> None:
        self.title = title
        self._parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]
        if meta:
            items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in meta.items())
            self._parts.append(f'<dl class="meta">{items}</dl>')

    def heading(self, text: str, level: int = 2) -> None:
        self._parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str | Html, *, note: bool = False) -> None:
        cls = ' class="note"' if note else ""
        self._parts.append(f"<p{cls}>{_cell(text)}</p>")

    def figure(self, fig: Figure, caption: str = "", *, alt: str | None = None) -> None:
        """Embed a matplotlib figure (as PNG) with a caption."""
        self.figures([(fig, caption)], alt=alt)

    def figures(self, figs: Iterable[tuple[Figure, str]], *, alt: str | None = None) -> None:
        """Several figures side by side, each with its caption."""
        items = []
        for fig, caption in figs:
            tag = img_tag(figure_data_uri(fig), alt or caption or self.title)
            items.append(f"<figure>{tag}<figcaption>{html.escape(caption)}</figcaption></figure>")
        self._parts.append(f'<div class="figs">{"".join(items)}</div>')

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[object]], *, sortable: bool = True,
              row_classes: Sequence[str] | None = None, nowrap: bool = False) -> None:
        """A table; numbers are right-aligned and sort numerically, ``Html`` cells are kept as markup. ``nowrap``:
        cells never wrap (short values; the table scrolls sideways when wider than the page)."""
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = []
        for i, row in enumerate(rows):
            cells = []
            for value in row:
                key = _sort_key(value)
                if key:
                    cells.append(f'<td class="num" data-v="{key}">{_cell(value)}</td>')
                else:
                    cells.append(f"<td>{_cell(value)}</td>")
            cls = f' class="{html.escape(row_classes[i], quote=True)}"' if row_classes and row_classes[i] else ""
            body.append(f"<tr{cls}>{''.join(cells)}</tr>")
        classes = " ".join(c for c, on in (("sortable", sortable), ("nowrap", nowrap)) if on)
        cls = f' class="{classes}"' if classes else ""
        table = f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        self._parts.append(f'<div class="scroll">{table}</div>' if nowrap else table)

    def html(self, markup: Html) -> None:
        self._parts.append(markup.markup)

    def render(self) -> str:
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            # Nothing on the page may reach the network: data URIs and inline style/script only.
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(self._parts)
            + f"\n<script>{_SORT_SCRIPT}</script></body></html>\n"
        )

    def write(self, folder: str | os.PathLike, name: str = "index.html") -> Path:
        """Write the page into ``folder`` (created when missing) atomically; returns its path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        write_bytes_atomic(path, self.render().encode("utf-8"))
        return path
