"""The benchmark report (``fakescope bench --report DIR``): one self-contained page and the raw numbers.

``index.html`` is rendered by the shared renderer (:mod:`fakescope.core.report`) and shows, in reading order:
what was run and what to watch for (formats that differ between classes), a summary per detector (quality,
calibration and cost side by side), per-generator AP bars with bootstrap intervals, degradation curves over the
robustness grid, ROC and precision–recall curves, reliability diagrams, cost against AP, the worst-scored
images as thumbnails, and every row. ``results.json`` holds the whole report, ``results.csv`` one row per
perturbation × detector × generator, ``scores.csv`` every image's score.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from fakescope.core.csvfile import csv_text
from fakescope.core.imageio import write_bytes_atomic
from fakescope.core.report import Html, Page, image_data_uri, img_tag, new_figure

from .bench import ALL, BenchResult
from .data import ImageSet

CSV_COLUMNS = ("detector", "perturbation", "family", "generator", "fakes", "reals", "ap", "ap_low", "ap_high",
               "roc_auc", "accuracy", "real_accuracy", "fake_accuracy", "tpr_at_1fpr", "tpr_at_5fpr", "eer", "ece",
               "threshold")
SUMMARY = ("ap", "roc_auc", "accuracy", "real_accuracy", "fake_accuracy", "tpr_at_1fpr", "tpr_at_5fpr", "eer", "ece")
WORST = 8  # thumbnails per detector and class
THUMB = 96  # px: thumbnails' longer side (smaller images are enlarged to it on the page)


def _colors(names: list[str]) -> dict[str, tuple]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def _clean(result: BenchResult) -> str:
    return "none" if "none" in result.perturbations else result.perturbations[0]


def ap_bars(result: BenchResult, detectors: list[str]):
    """Per generator, one bar per detector: AP on the clean images, with its bootstrap interval when it has one."""
    clean = _clean(result)
    rows = [r for r in result.rows if r["perturbation"] == clean]
    gens = [g for g in dict.fromkeys(r["generator"] for r in rows)]
    fig = new_figure(max(6.4, 0.9 * len(gens) * max(1, len(detectors)) ** 0.5 + 2), 3.8)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(detectors))
    colors = _colors(detectors)
    for k, det in enumerate(detectors):
        by_gen = {r["generator"]: r for r in rows if r["detector"] == det}
        x = np.arange(len(gens)) + (k - (len(detectors) - 1) / 2) * width
        ap = [by_gen.get(g, {}).get("ap") for g in gens]
        heights = [np.nan if v is None else v for v in ap]
        low = [by_gen.get(g, {}).get("ap_low") for g in gens]
        high = [by_gen.get(g, {}).get("ap_high") for g in gens]
        below = [0.0 if lo is None or np.isnan(h) else max(0.0, h - lo) for h, lo in zip(heights, low, strict=True)]
        above = [0.0 if hi is None or np.isnan(h) else max(0.0, hi - h) for h, hi in zip(heights, high, strict=True)]
        err = np.array([below, above])
        ax.bar(x, heights, width, yerr=err, capsize=2, label=det, color=colors[det], error_kw={"lw": 0.8})
    chance = chance_ap(rows)
    for i, g in enumerate(gens):  # a random ranking's AP: that generator's share of the images it is ranked among
        if chance.get(g) is not None:
            ax.hlines(chance[g], i - 0.45, i + 0.45, color="#444", lw=1.0, ls=":", zorder=3,
                      label="chance (share of fakes)" if i == 0 else None)
    ax.set_xticks(np.arange(len(gens)), gens, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("AP (clean)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    return fig


def chance_ap(rows: list[dict]) -> dict[str, float | None]:
    """Per generator, the AP of a detector that ranks at random: the share of fakes among the images its AP ranks
    (that generator's fakes and every real image), from the rows' ``fakes`` and ``reals`` counts."""
    out: dict[str, float | None] = {}
    for r in rows:
        n = (r.get("fakes") or 0) + (r.get("reals") or 0)
        out.setdefault(r["generator"], r["fakes"] / n if n else None)
    return out


#: The strength at which a perturbation leaves an image as it is: the clean AP is drawn there as the curve's start.
_IDENTITY = {"resize": 1.0, "resample": 1.0, "blur": 0.0, "crop": 1.0, "noise": 0.0}
_AXIS = {"jpeg": ("JPEG quality", True), "resize": ("down-scale factor (kept small)", True),
         "resample": ("down-scale factor (and back up)", True), "blur": ("blur σ (px)", False),
         "crop": ("share of each side kept", True), "noise": ("noise σ (8-bit levels)", False)}


def degradation_curves(result: BenchResult, detectors: list[str]):
    """AP over all generators against each single-step perturbation's strength, one panel per kind; the clean AP
    as a dashed line. None when the grid has no single-step perturbation."""
    rows = [r for r in result.rows if r["generator"] == ALL]
    families = [f for f in dict.fromkeys(r["family"] for r in rows) if f in _AXIS]
    if not families:
        return None
    cols = min(3, len(families))
    nrows = -(-len(families) // cols)
    fig = new_figure(4.0 * cols, 3.0 * nrows)
    colors = _colors(detectors)
    clean = {r["detector"]: r["ap"] for r in rows if r["perturbation"] == "none"}
    for i, fam in enumerate(families):
        ax = fig.add_subplot(nrows, cols, i + 1)
        label, reverse = _AXIS[fam]
        for det in detectors:
            pts = sorted((float(r["perturbation"].split(":")[1]), r["ap"]) for r in rows
                         if r["family"] == fam and r["detector"] == det and r["ap"] is not None)
            if pts and fam in _IDENTITY and clean.get(det) is not None:  # start from the clean images
                pts = sorted([(_IDENTITY[fam], clean[det]), *pts])
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", ms=3, color=colors[det], label=det)
            if clean.get(det) is not None:
                ax.axhline(clean[det], color=colors[det], ls="--", lw=0.8)
        if reverse:
            ax.invert_xaxis()
        ax.set_xlabel(label, fontsize=8)
        ax.set_ylabel("AP (all generators)", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=6)
    return fig


def chain_bars(result: BenchResult, detectors: list[str]):
    """AP under each chain of perturbations (``jpeg:75+resize:0.5``), beside the clean AP. None without chains."""
    rows = [r for r in result.rows if r["generator"] == ALL]
    chains = [p for p in result.perturbations if "+" in p]
    if not chains:
        return None
    names = ["none", *chains] if "none" in result.perturbations else chains
    fig = new_figure(max(5.0, 1.2 * len(names) + 2), 3.2)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(detectors))
    colors = _colors(detectors)
    for k, det in enumerate(detectors):
        ap = {r["perturbation"]: r["ap"] for r in rows if r["detector"] == det}
        x = np.arange(len(names)) + (k - (len(detectors) - 1) / 2) * width
        ax.bar(x, [np.nan if ap.get(n) is None else ap[n] for n in names], width, color=colors[det], label=det)
    ax.set_xticks(np.arange(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("AP (all generators)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    return fig


def roc_pr_curves(result: BenchResult, detectors: list[str]):
    """ROC and precision–recall curves on the clean images, every generator together. None with one class."""
    labels = result.labels
    if len(np.unique(labels)) < 2:
        return None
    fig = new_figure(9.0, 3.6)
    roc_ax, pr_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    colors = _colors(detectors)
    clean = _clean(result)
    for det in detectors:
        s = result.scores[(det, clean)]
        fpr, tpr, _ = roc_curve(labels, s)
        roc_ax.plot(fpr, tpr, color=colors[det], label=det, lw=1.2)
        precision, recall, _ = precision_recall_curve(labels, s)
        pr_ax.plot(recall, precision, color=colors[det], label=det, lw=1.2)
    roc_ax.plot([0, 1], [0, 1], color="#aaa", ls=":", lw=0.8)
    roc_ax.set(xlabel="false-positive rate (reals flagged)", ylabel="true-positive rate (fakes caught)", title="ROC")
    pr_ax.axhline(labels.mean(), color="#aaa", ls=":", lw=0.8)
    pr_ax.set(xlabel="recall", ylabel="precision", title="precision–recall", ylim=(0, 1.02))
    roc_ax.legend(fontsize=7, loc="lower right")
    return fig


def reliability_diagrams(result: BenchResult, detectors: list[str], bins: int = 10):
    """Per detector, the share of fakes against the mean predicted probability in equal-width bins (clean)."""
    labels = result.labels
    if len(np.unique(labels)) < 2:
        return None
    cols = min(4, len(detectors))
    nrows = -(-len(detectors) // cols)
    fig = new_figure(3.0 * cols, 3.0 * nrows)
    colors = _colors(detectors)
    clean = _clean(result)
    ece = {r["detector"]: r["ece"] for r in result.rows if r["perturbation"] == clean and r["generator"] == ALL}
    for i, det in enumerate(detectors):
        ax = fig.add_subplot(nrows, cols, i + 1)
        s = np.clip(result.scores[(det, clean)], 0, 1)
        frac, mean = calibration_curve(labels, s, n_bins=bins, strategy="uniform")
        ax.plot([0, 1], [0, 1], color="#aaa", ls=":", lw=0.8)
        ax.plot(mean, frac, marker="o", ms=3, color=colors[det])
        hist = np.histogram(s, bins=bins, range=(0, 1))[0]
        ax.bar((np.arange(bins) + 0.5) / bins, hist / max(1, hist.max()) * 0.25, 1 / bins, color="#ccc", zorder=0)
        value = ece.get(det)
        ax.set_title(f"{det}\nECE {value:.3f}" if value is not None else det, fontsize=8)
        ax.set(xlim=(0, 1), ylim=(0, 1))
        ax.set_xlabel("predicted probability of fake", fontsize=7)
        ax.set_ylabel("share of fakes", fontsize=7)
        ax.tick_params(labelsize=7)
    return fig


def cost_scatter(result: BenchResult, detectors: list[str]):
    """Multiply-accumulates per image (log scale) against clean AP; each point labelled with its images/s."""
    clean = _clean(result)
    ap = {r["detector"]: r["ap"] for r in result.rows if r["perturbation"] == clean and r["generator"] == ALL}
    fig = new_figure(5.2, 3.6)
    ax = fig.add_subplot()
    colors = _colors(detectors)
    for det in detectors:
        c = result.cost.get(det, {})
        if c.get("macs_per_image") and ap.get(det) is not None:
            ax.scatter(c["macs_per_image"], ap[det], color=colors[det], s=40, label=det)
            speed = c.get("images_per_s")
            ax.annotate(f"{speed:,.0f} img/s" if speed else "", (c["macs_per_image"], ap[det]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.margins(x=0.25)  # room for the labels of the points at either end
    ax.set_ylim(0, 1.08)
    ax.set(xlabel="multiply-accumulates per image", ylabel="AP (clean, all generators)")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def worst_images(result: BenchResult, data: ImageSet, det: str, count: int = WORST) -> Html:
    """The fakes scored lowest and the reals scored highest by ``det`` on the clean images, as thumbnails."""
    s = result.scores[(det, _clean(result))]
    parts = []
    for label, title, order in ((1, "fakes scored most real", np.argsort(s, kind="stable")),
                                (0, "reals scored most fake", np.argsort(-s, kind="stable"))):
        idx = [int(i) for i in order if result.labels[i] == label][:count]
        cells = []
        for i in idx:
            key = result.keys[i]
            origin = result.generators[i] or "real"
            image = data.images[i]
            small = max(image.shape[:2]) < THUMB  # shown enlarged, pixels kept
            tag = img_tag(image_data_uri(image, THUMB), f"{origin} {key}", width=THUMB if small else None,
                          crisp=small)
            caption = f"{s[i]:.3f} · {origin}"
            cells.append(f'<figure>{tag}<figcaption title="{_esc(key)}">{_esc(caption)}<br>'
                         f"<code>{_esc(Path(key).name)}</code></figcaption></figure>")
        parts.append(f"<h3>{_esc(det)}: {title}</h3><div class=\"figs\">{''.join(cells) or '<p>none</p>'}</div>")
    return Html("".join(parts))


def _esc(text: str) -> str:
    import html

    return html.escape(str(text), quote=True)


def rows_csv(rows: list[dict]) -> str:
    return csv_text(CSV_COLUMNS, rows)


def scores_csv(result: BenchResult) -> str:
    names = [f"{d}|{p}" for d, p in result.scores]
    return csv_text(["image", "label", "generator", *names],
                    ([key, int(result.labels[i]), result.generators[i],
                      *(f"{result.scores[k][i]:.6f}" for k in result.scores)] for i, key in enumerate(result.keys)))


def write_bench_report(folder: str | os.PathLike, result: BenchResult, data: ImageSet, report: dict, *,
                       notes: list[str] | None = None, meta: dict[str, str] | None = None) -> Path:
    """Write ``index.html``, ``results.json`` (``report``, as given), ``results.csv`` and ``scores.csv`` into
    ``folder``; returns the page's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    detectors = list(report["detectors"])
    page = Page("fakescope bench: detectors × generators × perturbations", meta=meta)
    for note in notes or []:
        page.paragraph(note, note=True)
    clean = _clean(result)

    page.heading("Summary (clean images, every generator)")
    head = ["detector", "AP", "ROC-AUC", "accuracy", "real acc.", "fake acc.", "TPR@1%FPR", "TPR@5%FPR", "EER",
            "ECE", "threshold", "parameters", "MMAC/image", "images/s"]
    summary = []
    for det in detectors:
        r = next((r for r in result.rows if r["detector"] == det and r["perturbation"] == clean
                  and r["generator"] == ALL), None)
        c = result.cost.get(det, {})
        if r is None:
            continue
        macs = c.get("macs_per_image")
        summary.append([det, *(r[k] if r[k] is not None else float("nan") for k in SUMMARY), r["threshold"],
                        c.get("parameters"), None if macs is None else round(macs / 1e6, 1),
                        None if c.get("images_per_s") is None else round(c["images_per_s"], 1)])
    page.table(head, summary, nowrap=True)
    page.table(["detector", "preprocessing (what it expects, applied by bench)"],
               [[det, result.cost.get(det, {}).get("preprocessing", "")] for det in detectors], sortable=False)
    page.paragraph("AP and ROC-AUC rank each generator's fakes against every real image; accuracies are read at "
                   "each detector's own threshold; TPR at a fixed share of reals flagged; ECE over 15 equal-width "
                   "bins. MACs are per image at this benchmark's image sizes; images/s were measured on the clean "
                   "pass on this machine.", note=True)

    page.heading("AP per generator")
    page.figure(ap_bars(result, detectors), "AP on the clean images per generator; whiskers: stratified bootstrap "
                                            "95% interval for generators with few images; dotted: chance, the "
                                            "generator's share of fakes among the images it is ranked with "
                                            "(its fakes and every real image)")
    page.heading("Robustness")
    curves, chains = degradation_curves(result, detectors), chain_bars(result, detectors)
    if curves is not None:
        page.figure(curves, "AP (every generator) against the strength of each perturbation; dashed: clean AP")
    if chains is not None:
        page.figure(chains, "AP under chains of perturbations (applied left to right)")
    if curves is None and chains is None:
        page.paragraph("Only clean images were scored: give --grid or --perturb for degradation curves.", note=True)
    fig = roc_pr_curves(result, detectors)
    if fig is not None:
        page.heading("ROC and precision–recall")
        page.figure(fig, "clean images, every generator together")
        page.heading("Calibration")
        page.figure(reliability_diagrams(result, detectors), "reliability diagrams (clean images): points on the "
                    "diagonal are calibrated; grey: how many images fall in each bin")
    page.heading("Cost")
    page.figure(cost_scatter(result, detectors), "cost against quality")
    page.heading("Worst-scored images")
    for det in detectors:
        page.html(worst_images(result, data, det))
    page.heading("Every result")
    headers = {"detector": "detector", "perturbation": "perturbation", "generator": "generator", "fakes": "fakes",
               "reals": "reals", "ap": "AP", "ap_low": "AP 95% low", "ap_high": "AP 95% high", "roc_auc": "ROC-AUC",
               "real_accuracy": "real acc.", "fake_accuracy": "fake acc.", "tpr_at_1fpr": "TPR@1%FPR",
               "tpr_at_5fpr": "TPR@5%FPR", "eer": "EER", "ece": "ECE"}
    page.table(list(headers.values()), [[r.get(k) for k in headers] for r in result.rows], nowrap=True)

    write_bytes_atomic(folder / "results.json", (json.dumps(report, indent=2, allow_nan=False) + "\n").encode())
    write_bytes_atomic(folder / "results.csv", rows_csv(result.rows).encode())
    write_bytes_atomic(folder / "scores.csv", scores_csv(result).encode())
    return page.write(folder)
