"""The report of an experiment: figures (matplotlib, without pyplot) and one self-contained HTML page.

:func:`report_html` returns the page as text (figures embedded as PNG in ``data:`` URLs, no
network needed to open it); the ``report`` command writes it with ``cells.csv``, ``events.csv``
and ``run.json``. Per-condition summary first (dot plots, tests, type fractions, kinetics), then
one section per cell (projection with the mask outline and the events coloured by type, Ripley's
L with its CSR envelope, the hotspot map).
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd

#: Colours of the event types in every figure.
ORIGIN_COLOURS = {"docked": "tab:orange", "arrived": "tab:cyan"}
RELEASE_MARKERS = {"spreading": "o", "in_place": "s", "unknown": "x"}
#: Metrics shown as dot plots (column, label).
DOT_METRICS = [("events_per_um2_per_min", "events / µm² / min"), ("docked_fraction", "docked fraction"),
               ("spreading_fraction", "spreading fraction"), ("clustering_statistic", "clustering (L excess, SD)")]
KINETIC_COLUMNS = [("peak_dff", "ΔF/F0 at the peak"), ("decay_tau_s", "decay τ (s)"), ("duration_s", "duration (s)")]


def figure_png(figure, dpi=80) -> str:
    """A matplotlib figure as a PNG ``data:`` URL (to embed in a page)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _conditions(cells):
    return [c for c in pd.unique(cells["condition"])]


def dot_plots_figure(cells: pd.DataFrame, summary: pd.DataFrame):
    """Each cell a dot (movies of one cell averaged), per condition the median and its 95 % interval."""
    from matplotlib.figure import Figure

    conditions = _conditions(cells)
    figure = Figure(figsize=(3.2 * len(DOT_METRICS), 3.4), layout="constrained")
    axes = figure.subplots(1, len(DOT_METRICS))
    rng = np.random.default_rng(0)
    for axis, (metric, label) in zip(axes, DOT_METRICS):
        per_cell = cells.groupby(["condition", "cell"], sort=False, as_index=False)[metric].mean()
        for k, condition in enumerate(conditions):
            values = per_cell.loc[per_cell["condition"] == condition, metric].to_numpy(float)
            axis.scatter(k + rng.uniform(-0.15, 0.15, len(values)), values, s=18, alpha=0.7, color=f"C{k}")
            row = summary[(summary["condition"] == condition) & (summary["metric"] == metric)]
            if len(row) and np.isfinite(row["median"].iloc[0]):
                median, low, high = row[["median", "ci_low", "ci_high"]].iloc[0]
                axis.hlines(median, k - 0.3, k + 0.3, color="black", lw=2)
                if np.isfinite(low):
                    axis.vlines(k + 0.32, low, high, color="black", lw=1)
        axis.set_xticks(range(len(conditions)), [c or "(all)" for c in conditions], rotation=20)
        axis.set_title(label, fontsize=10)
        axis.set_xlim(-0.6, len(conditions) - 0.4)
    return figure


def type_fractions_figure(events: pd.DataFrame):
    """Per condition, the fractions of docked / arrived and spreading / in place events (events inside the masks)."""
    from matplotlib.figure import Figure

    conditions = list(pd.unique(events["condition"]))
    figure = Figure(figsize=(7, 3), layout="constrained")
    axes = figure.subplots(1, 2)
    for axis, (column, values, colours) in zip(axes, (
            ("origin", ("docked", "arrived"), ("tab:orange", "tab:cyan")),
            ("release", ("spreading", "in_place", "unknown"), ("tab:purple", "tab:olive", "lightgrey")))):
        bottom = np.zeros(len(conditions))
        for value, colour in zip(values, colours):
            fractions = np.array([(events.loc[events["condition"] == c, column] == value).mean()
                                  if (events["condition"] == c).any() else 0.0 for c in conditions])
            axis.bar(range(len(conditions)), fractions, bottom=bottom, color=colour, label=value)
            bottom += fractions
        axis.set_xticks(range(len(conditions)), [c or "(all)" for c in conditions], rotation=20)
        axis.set_ylim(0, 1)
        axis.set_title(column, fontsize=10)
        axis.legend(fontsize=8, loc="lower right")
    return figure


def kinetics_figure(events: pd.DataFrame):
    """Histograms of the event kinetics by condition (densities, so that conditions compare)."""
    from matplotlib.figure import Figure

    columns = [(c, label) for c, label in KINETIC_COLUMNS if c in events.columns]
    if not columns:
        columns = [(c, label.replace("(s)", "(frames)")) for c, label in
                   (("decay_tau", "decay τ (s)"), ("duration", "duration (s)")) if c in events.columns]
    figure = Figure(figsize=(3.4 * max(len(columns), 1), 3), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, max(len(columns), 1)))
    for axis, (column, label) in zip(axes, columns):
        values = pd.to_numeric(events[column], errors="coerce")
        finite = values[np.isfinite(values)]
        if not len(finite):
            continue
        # the 1st to 95th percentiles: failed decay fits end at their bound and would squash the rest
        low, high = np.nanquantile(finite, [0.01, 0.95])
        bins = np.linspace(low, high, 25) if high > low else 10
        for k, condition in enumerate(pd.unique(events["condition"])):
            chosen = values[(events["condition"] == condition) & np.isfinite(values)]
            axis.hist(chosen, bins=bins, density=True, histtype="step", lw=1.5, color=f"C{k}",
                      label=condition or "(all)")
        axis.set_title(label, fontsize=10)
        axis.legend(fontsize=8)
    return figure


def cell_figure(analysis, title: str = ""):
    """One cell: projection with the mask outline and the events by type; Ripley's L; the hotspot map."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 3.6), layout="constrained")
    axes = figure.subplots(1, 3)
    events = analysis.events
    axes[0].imshow(analysis.projection, cmap="gray")
    axes[0].contour(analysis.mask, levels=[0.5], colors="yellow", linewidths=1)
    for origin, colour in ORIGIN_COLOURS.items():
        for release, marker in RELEASE_MARKERS.items():
            chosen = events[(events["origin"] == origin) & (events["release"] == release)]
            if len(chosen):
                axes[0].scatter(chosen["x"], chosen["y"], s=14, facecolors="none" if marker != "x" else colour,
                                edgecolors=colour, marker=marker, lw=1, label=f"{origin}, {release}")
    outside = events[~events["analysed"]]
    if len(outside):
        axes[0].scatter(outside["x"], outside["y"], s=10, color="red", marker="+", label="outside (not counted)")
    axes[0].legend(fontsize=6, loc="upper right")
    axes[0].set_title("mean projection, mask, events by type", fontsize=9)
    axes[0].set_axis_off()
    test = analysis.clustering
    pixel = analysis.stats.get("pixel_size_um")
    scale, unit = (pixel, "µm") if pixel and np.isfinite(pixel) else (1.0, "px")
    radii = test.radii * scale
    axes[1].fill_between(radii, (test.l_low - test.radii) * scale, (test.l_high - test.radii) * scale,
                         color="lightgrey", label="CSR envelope (95 %)")
    axes[1].plot(radii, (test.l_mean - test.radii) * scale, color="grey", lw=1, label="CSR mean")
    axes[1].plot(radii, (test.l_observed - test.radii) * scale, color="tab:red", lw=2, label="events")
    axes[1].set_xlabel(f"r ({unit})")
    axes[1].set_ylabel(f"L(r) - r ({unit})")
    p = test.p_value
    axes[1].set_title(f"Ripley's L, clustering p = {p:.3g}" if np.isfinite(p) else "Ripley's L (too few events)",
                      fontsize=9)
    axes[1].legend(fontsize=7)
    image = axes[2].imshow(analysis.density, cmap="magma")
    figure.colorbar(image, ax=axes[2], shrink=0.8,
                    label="events / µm² / min" if unit == "µm" else "events / px² / frame")
    axes[2].set_title("hotspot map (kernel density in the mask)", fontsize=9)
    axes[2].set_axis_off()
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def _table(frame: pd.DataFrame, columns=None) -> str:
    frame = frame if columns is None else frame[[c for c in columns if c in frame.columns]]
    return frame.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="—", border=0, classes="t")


_CSS = """body{font-family:sans-serif;max-width:1250px;margin:1em auto;color:#222}h1{font-size:1.6em}
h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}table.t{border-collapse:collapse;font-size:.85em}
table.t td,table.t th{padding:.2em .6em;border-bottom:1px solid #eee;text-align:right}
.note{color:#555;font-size:.9em}img{max-width:100%}.key{display:flex;gap:2em;flex-wrap:wrap}
.key div{background:#f4f4f4;padding:.6em 1em;border-radius:6px}.key b{font-size:1.4em;display:block}"""


def report_html(experiment, summary: pd.DataFrame, tests: pd.DataFrame, *, title: str = "Exocytosis report",
                provenance: dict | None = None, cell_figures: bool = True) -> str:
    """The whole report as one self-contained HTML page.

    Parameters
    ----------
    experiment : ExperimentAnalysis
        From :func:`~exodeepfinder.analysis.experiment.analyse_experiment`.
    summary, tests : DataFrame
        From :func:`~exodeepfinder.analysis.conditions.summarise_conditions` and
        :func:`~exodeepfinder.analysis.conditions.compare_conditions`.
    title : str
    provenance : dict, optional
        Shown at the end (version, date, parameters).
    cell_figures : bool
        One figure per cell (the longest part to draw).
    """
    cells, events = experiment.cells, experiment.events
    counted = events[events["analysed"]] if len(events) else events
    conditions = _conditions(cells)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    units = [u for u in experiment.units if u[0] is None or u[1] is None]
    parts.append("<div class='key'>")
    for condition in conditions:
        chosen = cells[cells["condition"] == condition]
        rate = summary[(summary["condition"] == condition) & (summary["metric"] == "events_per_um2_per_min")]
        median = rate["median"].iloc[0] if len(rate) else np.nan
        parts.append(f"<div>{html.escape(condition or 'all cells')}<b>{median:.3g}</b>events / µm² / min "
                     f"(median of {chosen['cell'].nunique()} cells, {int(chosen['n_events'].sum())} events)</div>")
    parts.append("</div>")
    parts.append("<p class='note'>Cells are the units: each dot is a cell; bars are the median and its 95 % "
                 "bootstrap interval. Rates count the events inside each cell's mask (less a band along the frame "
                 "edges) per µm² of that area per minute of movie. Event types: <i>docked</i> = a vesicle was "
                 "visible at the site before the fusion, <i>arrived</i> = none; <i>spreading</i> = the "
                 "fluorescence widened after the peak (full fusion), <i>in place</i> = it decayed without "
                 "widening. Clustering: Ripley's L against 199 patterns of complete spatial randomness in the "
                 "same mask (p &lt; 0.05: events cluster, e.g. in hotspots).</p>")
    if units:
        parts.append("<p class='note'><b>Units missing</b> for some movies: their areas and rates are not in µm² "
                     "and minutes (give --pixel_size and --frame_interval).</p>")
    parts.append("<h2>Conditions</h2>")
    parts.append(f"<img src='{figure_png(dot_plots_figure(cells, summary))}'>")
    parts.append("<h3>Tests between conditions (cells as units)</h3>")
    if len(tests):
        parts.append(_table(tests))
    else:
        parts.append("<p class='note'>One condition: no test.</p>")
    parts.append("<h3>Summary by condition</h3>" + _table(summary))
    if len(counted):
        parts.append("<h3>Event types</h3>" + f"<img src='{figure_png(type_fractions_figure(counted))}'>")
        parts.append("<h3>Kinetics</h3>" + f"<img src='{figure_png(kinetics_figure(counted))}'>")
    parts.append("<h2>Cells</h2>")
    columns = ["condition", "cell", "n_events", "n_outside", "area_um2", "duration_min", "events_per_um2_per_min",
               "docked_fraction", "spreading_fraction", "clustering_p", "spacetime_p", "nn_median_um",
               "peak_dff_median", "decay_tau_s_median", "mask_source"]
    parts.append(_table(cells, columns))
    if cell_figures:
        figures = experiment.figures or [None] * len(experiment.analyses)
        for analysis, png in zip(experiment.analyses, figures):
            stats = analysis.stats
            name = f"{stats['condition']} / {stats['cell']}" if stats["condition"] else stats["cell"]
            parts.append(f"<h3>{html.escape(name)}</h3><p class='note'>{html.escape(stats['movie'])}: "
                         f"{stats['n_events']} events in the mask ({stats['n_outside']} outside, not counted)</p>")
            parts.append(f"<img src='{png or figure_png(cell_figure(analysis), dpi=60)}'>")
    if provenance:
        parts.append("<h2>Provenance</h2><pre class='note'>" + html.escape(
            "\n".join(f"{k}: {v}" for k, v in provenance.items() if k != "parameters")) + "\n\nparameters: "
            + html.escape(", ".join(f"{k}={v}" for k, v in provenance.get("parameters", {}).items())) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
