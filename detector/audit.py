"""Auditing evidence beside the score: tile heatmaps and the self-contained audit report of ``fakescope score``.

Records scored with ``detail=True`` (:func:`fakescope.detector.scoring.iter_scores`) carry their tile grid and a
preview of the scored pixels. From them:

- :func:`heatmap_overlay` draws each tile's score over the preview (red: the detector sees synthesis there,
  blue: it does not), so a partly manipulated image shows where; :class:`HeatmapWriter` writes one PNG per image
  into a folder as records arrive.
- :class:`AuditReport` collects records (keeping only small embedded PNGs, never the pixels) and writes one
  ``index.html`` with :mod:`fakescope.core.report`: the command and detector at the top, then a row per input
  ordered by score (thumbnail, score and label, heatmap, why it is flagged, provenance findings, errors), then per
  video its score timeline and the frames it used.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from fakescope.core.report import Html, Page, image_data_uri, img_tag, new_figure, shown_location
from fakescope.core.safety import safe_name

from .records import STRENGTHS, ScoreRecord, TileGrid

__all__ = ["AuditReport", "HeatmapWriter", "detector_meta", "heatmap_overlay", "is_heatmap_folder", "is_report_folder"]

HEATMAP_NAME = re.compile(r"^\d{4,}-[A-Za-z0-9._-]{1,120}\.png$")
REPORT_FILES = ("index.html",)


def score_map(grid: TileGrid, height: int, width: int) -> np.ndarray:
    """``[height, width]`` float map of tile scores at another resolution (overlapping tiles averaged; NaN where no
    tile lies, e.g. between the evenly spaced tiles kept of a very large image)."""
    sy, sx = height / grid.height, width / grid.width
    total = np.zeros((height, width))
    count = np.zeros((height, width))
    for (y, x), s in zip(grid.origins, grid.scores, strict=True):
        y0, x0 = int(y * sy), int(x * sx)
        y1 = max(y0 + 1, min(height, round((y + grid.crop) * sy)))
        x1 = max(x0 + 1, min(width, round((x + grid.crop) * sx)))
        total[y0:y1, x0:x1] += s
        count[y0:y1, x0:x1] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def heatmap_overlay(preview: np.ndarray, grid: TileGrid, *, alpha: float = 0.45) -> np.ndarray:
    """The preview (uint8 RGB) with each tile tinted by its score: blue 0 → red 1 (a ``coolwarm``-like ramp).
    Where no scored tile lies (a large image is scored on an evenly spaced sample of its tiles), the nearest scored
    tile's colour, at half the strength: the map covers the image and still shows what was measured."""
    from scipy.ndimage import distance_transform_edt

    h, w = preview.shape[:2]
    scores = score_map(grid, h, w)
    known = ~np.isnan(scores)
    if known.any() and not known.all():
        nearest = distance_transform_edt(~known, return_distances=False, return_indices=True)  # [2, h, w]
        scores = scores[nearest[0], nearest[1]]
    s = np.nan_to_num(scores)[..., None]  # [h, w, 1]
    blue, white, red = np.array([59, 76, 192.0]), np.array([221, 221, 221.0]), np.array([180, 4, 38.0])
    color = np.where(s < 0.5, blue + (white - blue) * (s * 2), white + (red - white) * ((s - 0.5) * 2))
    strength = np.where(known, alpha, alpha / 2)[..., None] if known.any() else np.zeros((h, w, 1))
    out = (1 - strength) * preview.astype(np.float64) + strength * color
    return out.round().clip(0, 255).astype(np.uint8)


def is_heatmap_folder(path: Path) -> bool:
    """Whether ``path`` holds only heatmaps written by :class:`HeatmapWriter` (a previous result)."""
    from fakescope.core.safety import only_names

    return only_names(path, lambda name: bool(HEATMAP_NAME.match(name)))


def is_report_folder(path: Path) -> bool:
    """Whether ``path`` holds only a previous audit report."""
    from fakescope.core.safety import only_names

    return only_names(path, lambda name: name in REPORT_FILES)


class HeatmapWriter:
    """Writes ``NNNN-<name>.png`` (input number, file name) per image record with a tile grid into ``folder`` and
    sets ``record.heatmap`` to the file written."""

    def __init__(self, folder: str | os.PathLike, *, start: int = 0) -> None:
        self.folder = Path(folder)
        self.count = 0
        self._n = start  # inputs before the first one this writer sees (another process's, under torchrun)

    def add(self, rec: ScoreRecord) -> None:
        from fakescope.core.imageio import write_png

        self._n += 1
        if rec.tiles is None or rec.preview is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self._n:04d}-{safe_name(Path(rec.path).stem, fallback='image', max_length=80)}.png"
        write_png(path, heatmap_overlay(rec.preview, rec.tiles))
        rec.heatmap = str(path)
        self.count += 1


def _findings_html(rec: ScoreRecord) -> Html:
    if rec.provenance is None:
        return Html('<span class="note">not read</span>' if rec.kind == "image" else "")
    if not rec.provenance:
        return Html('<span class="note">none</span>')
    items = []
    for f in sorted(rec.provenance, key=lambda f: STRENGTHS.index(f.strength)):
        items.append(f'<li><b class="s-{f.strength}">{html.escape(f.strength)}</b> {html.escape(f.found)}</li>')
    return Html(f'<ul class="findings">{"".join(items)}</ul>')


_AUDIT_STYLE = (
    "<style>ul.findings{margin:0;padding-left:16px} b.s-strong{color:#b00} b.s-moderate{color:#c60}"
    " b.s-weak{color:#997a00} b.s-info{color:#555} b.s-error{color:#777;font-style:italic}"
    " .frames{display:flex;flex-wrap:wrap;gap:6px} .frames figure{margin:0;font-size:11px}</style>"
)


class AuditReport:
    """An audit of scored inputs, built record by record (only small embedded PNGs are kept) and written as one
    self-contained ``index.html``."""

    def __init__(self, *, thumb_side: int = 160, max_frames: int = 12) -> None:
        self.thumb_side = thumb_side
        self.max_frames = max_frames
        self._rows: list[dict] = []

    def add(self, rec: ScoreRecord) -> None:
        """Keep what the report shows of ``rec``; its previews are dropped from the record afterwards."""
        row: dict = {"rec": rec, "thumb": None, "heat": None, "frames": []}
        if rec.preview is not None:
            row["thumb"] = image_data_uri(rec.preview, self.thumb_side)
            if rec.tiles is not None:
                row["heat"] = image_data_uri(heatmap_overlay(rec.preview, rec.tiles), self.thumb_side)
        if rec.frame_previews:
            scores = {f.index: f.score for f in rec.frames or []}
            picks = rec.frame_previews
            if len(picks) > self.max_frames:  # evenly spaced, always with the highest-scoring frame
                top = max(range(len(picks)), key=lambda i: scores.get(picks[i][0]) or 0.0)
                keep = set(np.linspace(0, len(picks) - 1, self.max_frames - 1).round().astype(int).tolist()) | {top}
                picks = [p for i, p in enumerate(picks) if i in keep]
            row["frames"] = [(i, scores.get(i), image_data_uri(img, self.thumb_side // 2 + 40)) for i, img in picks]
            row["thumb"] = row["frames"][0][2] if row["frames"] else None
        rec.preview, rec.frame_previews = None, None
        self._rows.append(row)

    def merge(self, parts: list[AuditReport]) -> None:
        """Take the rows of every rank's report (``parts`` in rank order, this one among them)."""
        self._rows = [row for part in parts for row in part._rows]

    def page(self, *, meta: dict[str, str], threshold: float | None = None) -> Page:
        rows = sorted(self._rows, key=lambda r: (r["rec"].score is None, -(r["rec"].score or 0.0)))
        recs = [r["rec"] for r in rows]
        page = Page("fakescope audit report", meta=meta)
        page.html(Html(_AUDIT_STYLE))
        fake = sum(r.label == "fake" for r in recs)
        evidence = sum(any(f.synthetic for f in r.provenance or []) for r in recs)
        errors = sum(r.error is not None for r in recs)
        page.paragraph(f"{len(recs)} input(s): {fake} labelled fake by the detector, {evidence} carrying evidence "
                       f"of synthesis in their metadata or watermark, {errors} with an error. Ordered by score "
                       "(click a header to sort). Evidence never changes the score; it is reported beside it.")
        page.paragraph("Strength of evidence: strong (trusted C2PA signer declaring generative AI, Stable "
                       "Diffusion watermark), moderate (unsigned generator metadata, C2PA signed by an untrusted "
                       "signer), weak (broken C2PA signature, other synthetic source types), info (says nothing "
                       "of synthesis, e.g. a camera's Make). Metadata is easy to strip and to forge.", note=True)
        table_rows, classes = [], []
        for n, row in enumerate(rows, 1):
            rec = row["rec"]
            shown = shown_location(rec.path)  # relative to where the command ran
            thumb = img_tag(row["thumb"], shown) if row["thumb"] else ""
            heat = img_tag(row["heat"], f"heatmap of {shown}") if row["heat"] else ""
            flagged = "; ".join(rec.flagged_by()) or "-"
            notes = "; ".join(x for x in (rec.error, rec.note) if x)
            if rec.has_timeline:
                scored, sampled = rec.frames_summary()
                notes = "; ".join(x for x in (f"{rec.aggregate} of {scored}/{sampled} frames", notes) if x)
            table_rows.append([n, thumb, shown, rec.kind, rec.score, rec.label or "", flagged, heat,
                               _findings_html(rec), notes])
            classes.append("error" if rec.error else ("fake" if rec.label == "fake" or flagged != "-" else ""))
        page.heading("Inputs")
        page.table(["#", "image", "path", "kind", "score", "label", "flagged by",
                    "heatmap (tile score: blue 0, red 1)", "provenance",
                    "errors and notes"], table_rows, row_classes=classes)
        videos = [r for r in rows if r["rec"].has_timeline and r["rec"].frames]
        if videos:
            from .video import draw_timeline

            page.heading("Videos")
            for row in videos:
                rec = row["rec"]
                page.heading(shown_location(rec.path), level=3)
                fig = new_figure(8, 2.4)
                draw_timeline(fig.add_subplot(), rec, threshold)
                page.figure(fig, f"score per sampled frame of {Path(rec.path).name}")
                if row["frames"]:
                    items = "".join(
                        f"<figure>{img_tag(uri, f'frame {i}')}<figcaption>frame {i}: "
                        f"{'-' if s is None else f'{s:.3f}'}</figcaption></figure>" for i, s, uri in row["frames"])
                    page.paragraph("Frames (or faces) scored:", note=True)
                    page.html(Html(f'<div class="frames">{items}</div>'))
        return page

    def write(self, folder: str | os.PathLike, *, meta: dict[str, str], threshold: float | None = None) -> Path:
        return self.page(meta=meta, threshold=threshold).write(folder)


def detector_meta(det, threshold: float, command: str | Iterable[str], operating_point: str | None = None
                  ) -> dict[str, str]:
    """The facts at the top of a report: command (a command line, or its words), detector, threshold (and the
    operating point it is, named or the detector's own), version, date."""
    import datetime
    import shlex

    from fakescope.core.version import fakescope_version

    info = getattr(det, "info", None) or {}
    where = shown_location(info.get("path") or "")  # a bundled detector by its name, never the install's path
    digest = info.get("sha256") or ""
    return {
        "command": command if isinstance(command, str) else shlex.join(list(command)),
        "detector": " ".join(x for x in (det.name, where, digest[:16] and f"sha256 {digest[:16]}") if x),
        "threshold": f"{threshold:.4f}" + _point_note(det, threshold, operating_point),
        "fakescope": fakescope_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def _point_note(det, threshold: float, name: str | None) -> str:
    """`` (operating point balanced: 5% of validation reals flagged)`` when the threshold is a named point."""
    from .operating import OPERATING_POINTS, describe

    points = (getattr(det, "info", None) or {}).get("operating_points") or {}
    if name is None:
        name = next((n for n in OPERATING_POINTS if points.get(n) == threshold), None)
    return f" (operating point {describe(name)})" if name in OPERATING_POINTS and name in points else ""
