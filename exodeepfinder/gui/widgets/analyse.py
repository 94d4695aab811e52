"""Analyse widget: the report of `exodeepfinder report` for the open movie and its events.

The cell mask (automatic, or a mask file) is shown as a labels layer, the events are coloured by
origin (docked orange, arrived cyan) and drawn by release (spreading: disc, in place: square),
the hotspot map is an image layer; the panel shows the rate per µm² per minute, the type
fractions and Ripley's L with its envelope of complete spatial randomness (the spatial panel).
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from .. import layers
from ._common import (LayerChoice, PathField, add_layer, form_layout, is_events_layer, is_movie_layer, layer_path,
                      number_field, run_controls)
from ._plots import FOREGROUND, make_canvas, style_axes

ORIGIN_COLORS = {"docked": "orange", "arrived": "cyan"}
RELEASE_SYMBOLS = {"spreading": "disc", "in_place": "square", "unknown": "cross"}


class AnalyseWidget(QWidget):
    """Per-cell analysis of a movie layer and its events layer (see :func:`exodeepfinder.analysis.analyse_cell`)."""

    def __init__(self, napari_viewer, parent=None):
        from napari.layers import Image, Points

        super().__init__(parent)
        self.viewer = napari_viewer
        self.movie_choice = LayerChoice(napari_viewer, Image, accept=is_movie_layer)
        self.events_choice = LayerChoice(napari_viewer, Points, accept=is_events_layer,
                                         prefer=lambda layer: "event" in layer.name.lower())
        self.pixel_size = number_field(0, 100, decimals=4, suffix=" µm", special="unknown",
                                       tip="pixel size (µm); 'unknown' (0): the movie file's, else results in pixels")
        self.frame_interval = number_field(0, 3600, decimals=4, suffix=" s", special="unknown",
                                           tip="time between frames (s); 'unknown' (0): the movie file's, else frames")
        self.offset = number_field(0, 65535, tip="camera baseline (counts), for events that still need measuring")
        self.n_simulations = number_field(19, 9999, 199, integer=True,
                                          tip="patterns of complete spatial randomness in the clustering test")
        self.mask_file = PathField("open", "Mask (*.tif *.tiff *.png *.npy)", "automatic (or a mask file)")
        self.run_button, self.task = run_controls("Analyse", self.run)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.figure, self.canvas = make_canvas(4, 2.6)
        legend = QLabel("<span style='color:orange'>●</span> docked &nbsp; "
                        "<span style='color:cyan'>●</span> arrived &nbsp; ● spreading &nbsp; ■ in place")
        layout = QVBoxLayout(self)
        layout.addLayout(form_layout(("Movie", self.movie_choice), ("Events", self.events_choice),
                                     ("Cell mask", self.mask_file), ("Pixel size", self.pixel_size),
                                     ("Frame interval", self.frame_interval), ("Camera offset", self.offset),
                                     ("CSR patterns", self.n_simulations)))
        layout.addWidget(self.run_button)
        layout.addWidget(self.task)
        layout.addWidget(self.result)
        layout.addWidget(legend)
        layout.addWidget(self.canvas)
        layout.addStretch(1)
        self.analysis = None
        self.movie_choice.currentIndexChanged.connect(self._units_from_file)
        self._units_from_file()

    def _units_from_file(self, *_) -> None:
        """Fill the units from the movie file's metadata, when it has them."""
        from ...errors import InputError
        from ...io.movie import open_movie

        path = layer_path(self.movie_choice.layer())
        if path is None:
            return
        try:
            with open_movie(path) as movie:
                pixel_size, frame_interval = movie.pixel_size, movie.frame_interval
        except (InputError, OSError):
            return
        if pixel_size is not None:
            self.pixel_size.setValue(float(np.sqrt(pixel_size[0] * pixel_size[1])))
        if frame_interval is not None:
            self.frame_interval.setValue(frame_interval)

    def run(self) -> None:
        """Analyse the chosen movie and events (in a worker thread)."""
        from ...analysis import analyse_cell
        from ...io.masks import read_mask

        movie_layer, events_layer = self.movie_choice.layer(), self.events_choice.layer()
        if movie_layer is None or events_layer is None:
            self.task.set_status("Open a movie and its events first (or detect them)", error=True)
            return
        events = layers.events_from_points(events_layer.data, events_layer.features)
        if len(events) == 0:
            self.task.set_status(f"{events_layer.name}: no events", error=True)
            return
        pixel_size = self.pixel_size.value() or None
        frame_interval = self.frame_interval.value() or None
        missing = [flag for flag, value in (("pixel size", pixel_size), ("frame interval", frame_interval))
                   if value is None]
        mask_path = self.mask_file.path()
        movie = movie_layer.data
        options = dict(pixel_size=pixel_size, frame_interval=frame_interval, offset=self.offset.value(),
                       n_simulations=self.n_simulations.value())

        def task(progress):
            mask = read_mask(mask_path) if mask_path else None
            return analyse_cell(movie, events, mask=mask, progress=progress, **options)

        def show(analysis):
            self._show(analysis, movie_layer, events_layer)
            if missing:
                self.task.set_status(f"Units unknown ({', '.join(missing)}): set them above for µm² and minutes",
                                     error=True)

        self.task.run(task, on_result=show, description=f"Analysing {movie_layer.name}")

    def _show(self, analysis, movie_layer, events_layer) -> None:
        self.analysis = analysis
        name = movie_layer.name
        mask_layer = add_layer(self.viewer, (analysis.mask.astype(np.uint8),
                                             {"name": f"{name} cell mask", "opacity": 0.25}, "labels"))
        mask_layer.contour = 2
        add_layer(self.viewer, (analysis.density, {"name": f"{name} hotspot map", "colormap": "magma",
                                                   "opacity": 0.5, "visible": False}, "image"))
        events = analysis.events
        features = events_layer.features.copy().reset_index(drop=True)
        for column in ("origin", "release", "origin_confidence", "release_confidence", "inside_mask", "analysed"):
            features[column] = events[column].to_numpy()
        events_layer.features = features
        events_layer.border_color = [ORIGIN_COLORS[o] for o in events["origin"]]
        events_layer.symbol = [RELEASE_SYMBOLS[r] for r in events["release"]]
        self.viewer.layers.selection.active = events_layer
        stats = analysis.stats
        rate = stats["events_per_um2_per_min"]
        per_pixel = stats["n_events"] / stats["area_px"] / stats["n_frames"]
        rate_text = (f"<b>{rate:.3g} events / µm² / min</b>" if np.isfinite(rate)
                     else f"<b>{per_pixel:.3g} events / px² / frame</b>")
        area = (f"{stats['area_um2']:.0f} µm²" if np.isfinite(stats["area_um2"]) else f"{stats['area_px']} px")
        p = stats["clustering_p"]
        self.result.setText(
            f"{rate_text}<br>{stats['n_events']} events in {area} ({stats['n_outside']} outside, not counted)<br>"
            f"docked {_percent(stats['docked_fraction'])}, spreading {_percent(stats['spreading_fraction'])}<br>"
            + ((f"clustering p = {p:.3g}" + (" (events cluster: hotspots)" if p < 0.05 else ""))
               if np.isfinite(p) else "clustering: too few events"))
        self._plot(analysis)

    def _plot(self, analysis) -> None:
        self.figure.clear()
        axes = self.figure.add_subplot(1, 1, 1)
        style_axes(axes)
        test = analysis.clustering
        pixel = analysis.stats.get("pixel_size_um")
        scale, unit = (pixel, "µm") if pixel and np.isfinite(pixel) else (1.0, "px")
        radii = test.radii * scale
        axes.fill_between(radii, (test.l_low - test.radii) * scale, (test.l_high - test.radii) * scale,
                          color="#555a63", label="CSR 95 %")
        axes.plot(radii, (test.l_observed - test.radii) * scale, color="orange", lw=2, label="events")
        axes.set_xlabel(f"r ({unit})")
        axes.set_ylabel(f"L(r) - r ({unit})")
        axes.set_title("Ripley's L in the mask")
        axes.legend(fontsize=7, labelcolor=FOREGROUND, facecolor="none", edgecolor="none")
        self.canvas.draw_idle()


def _percent(value) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.0f} %"
