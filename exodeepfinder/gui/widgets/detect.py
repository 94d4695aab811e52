"""Detect widget: segment a movie layer with the U-Net and cluster its event voxels into events.

Calls :func:`exodeepfinder.detect` in a worker thread and adds three layers named after the
movie: ``<movie> segmentation`` (labels), ``<movie> event probability`` (image, hidden) and
``<movie> events`` (points with score, cluster size and measurements as features). The min size
and min score sliders then choose which of the detected events the points layer shows, without
detecting again.

Memory stays bounded on long movies: a segmentation that does not fit in memory
(:func:`segmentation_fits_in_memory`, ~7 bytes per voxel) is streamed by the library into a
temporary file (written atomically) and shown from it lazily (:class:`ScratchSegmentations`).
"""

from __future__ import annotations

import atexit
import secrets
import tempfile
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QComboBox, QFormLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ...labels import EVENT
from ...model.folder import MODEL_CARD
from ...model.precision import PRECISIONS
from ...model.weights import DEVICES, WEIGHTS_NAMES
from ...pipeline import DEFAULT_MIN_SIZE
from .. import layers
from ._common import (LayerChoice, PathField, add_layer, connect_while_alive, form_layout, is_movie_layer,
                      number_field, run_controls, section_title)

#: Choices of the weights box, and the value passed to load_model for each.
WEIGHTS_CHOICES = {"automatic (official if downloaded, else bundled)": None,
                   **{f"{name}": name for name in WEIGHTS_NAMES}, "file…": "file",
                   "model folder… (from exodeepfinder adapt)": "folder"}
#: Resolution of the min score slider.
SCORE_STEPS = 100
#: Metadata key of a layer shown from a temporary segmentation file (the file's path).
SCRATCH_KEY = "exodeepfinder_scratch_file"


def segmentation_fits_in_memory(shape) -> bool:
    """Whether the labels and class probabilities of a movie of ``shape`` may be held in memory.

    The same budget as the commands' in-memory segmentations (:func:`exodeepfinder.inference.memory.in_memory_limit`).
    """
    from ...inference.memory import SEGMENTATION_BYTES_PER_VOXEL, in_memory_limit

    return int(np.prod(shape)) * SEGMENTATION_BYTES_PER_VOXEL <= in_memory_limit()


class ScratchSegmentations:
    """The temporary segmentation files of detections too long for memory, and when they go.

    They live in a work folder of the system's temporary folder
    (:func:`~exodeepfinder.io.atomic.make_work_folder`: ``exodeepfinder clean --temporary``
    removes it after a crash). Each file stays open while a layer shows it; :meth:`release_unused`
    closes and deletes those no layer shows any more, and the folder goes when napari exits.
    """

    def __init__(self):
        self.folder = None
        self.handles = {}           # path -> open h5py file

    def new_path(self) -> Path:
        """A path for the next segmentation (the library writes it atomically)."""
        from ...io.atomic import make_work_folder

        if self.folder is None:
            self.folder = make_work_folder(tempfile.gettempdir(), "edf_napari_detect")
            atexit.register(self.remove)
        return self.folder / f"segmentation_{secrets.token_hex(4)}.h5"

    def open(self, path: Path):
        """The lazy labels and class probabilities of a segmentation file (kept open until released)."""
        from ...io.segmentation import open_segmentation

        labels, scores = open_segmentation(path)
        self.handles[Path(path)] = labels.file
        return labels, scores

    def release_unused(self, viewer) -> None:
        """Close and delete the files that no layer of ``viewer`` shows."""
        shown = {Path(layer.metadata[SCRATCH_KEY]) for layer in viewer.layers if SCRATCH_KEY in (layer.metadata or {})}
        for path in [path for path in self.handles if path not in shown]:
            self.handles.pop(path).close()
            path.unlink(missing_ok=True)

    def remove(self) -> None:
        """Close every file and remove the work folder."""
        from ...io.atomic import remove_work_folder

        for handle in self.handles.values():
            handle.close()
        self.handles.clear()
        if self.folder is not None:
            remove_work_folder(self.folder)
            self.folder = None


#: The temporary segmentations of every Detect widget of this process.
SCRATCH = ScratchSegmentations()


class DetectWidget(QWidget):
    """Detect the exocytosis events of a movie layer (segmentation, clustering, measurements)."""

    def __init__(self, napari_viewer, parent=None):
        from napari.layers import Image

        super().__init__(parent)
        self.viewer = napari_viewer
        self.movie_choice = LayerChoice(napari_viewer, Image, accept=is_movie_layer)
        self.weights_choice = QComboBox()
        self.weights_choice.addItems(list(WEIGHTS_CHOICES))
        self.weights_choice.setToolTip("U-Net weights: the bundled default model (trained on simulated movies), the "
                                       "official ExoDeepFinder weights (after 'exodeepfinder download-weights'), "
                                       "a weights file (.h5) of your own training, or a model folder made by "
                                       "'exodeepfinder adapt' (it holds model_card.json)")
        self.weights_file = PathField("open", "U-Net weights (*.h5)", "weights file (.h5)")
        self.weights_file.setVisible(False)
        self.model_folder = PathField("folder", "", "model folder (made by exodeepfinder adapt)")
        self.model_folder.setVisible(False)
        self.weights_choice.currentTextChanged.connect(self._show_weights_field)
        self.device_choice = QComboBox()
        self.device_choice.addItems(list(DEVICES))
        self.precision_choice = QComboBox()
        self.precision_choice.addItems(list(PRECISIONS))
        self.precision_choice.setToolTip("auto: int8 on a CPU, else fast; int8: 8-bit integer convolutions (CPU, "
                                         "quantized once per weights); fast: 16-bit arithmetic where the hardware "
                                         "computes it natively; fp32: the reference's float32 numbers")
        self.patch_size = number_field(56, 1024, 160, integer=True, step=4,
                                       tip="patch size of the reference tiling (multiple of 4, at least 56)")
        self.cluster_radius = number_field(0.5, 50, 5, tip="clustering radius (voxels): roughly the radius of one event")
        self.run_button, self.task = run_controls("Detect events", self.run)
        filters = self._make_filters()

        layout = QVBoxLayout(self)
        layout.addLayout(form_layout(("Movie", self.movie_choice), ("Weights", self.weights_choice), self.weights_file,
                                     self.model_folder, ("Device", self.device_choice),
                                     ("Precision", self.precision_choice), ("Patch size", self.patch_size),
                                     ("Cluster radius", self.cluster_radius)))
        layout.addWidget(self.run_button)
        layout.addWidget(self.task)
        layout.addWidget(section_title("Filter the events (no new detection)"))
        layout.addLayout(filters)
        layout.addWidget(self.summary)
        layout.addStretch(1)

        self.events = None          # every event found by the last detection
        self.points_layer = None    # the layer showing them
        self._show_filter_values()
        connect_while_alive(self, napari_viewer.layers.events.removed, lambda *_: SCRATCH.release_unused(self.viewer))

    def _make_filters(self) -> QFormLayout:
        """The min size and min score sliders (off until a detection) and the summary line."""
        self.min_size = QSlider(Qt.Orientation.Horizontal)
        self.min_size.setRange(1, 100)
        self.min_size.setValue(DEFAULT_MIN_SIZE)
        self.min_size.setToolTip("hide events of fewer voxels (spurious detections are small)")
        self.min_size_label = QLabel()
        self.min_score = QSlider(Qt.Orientation.Horizontal)
        self.min_score.setRange(0, SCORE_STEPS)
        self.min_score.setValue(0)
        self.min_score.setToolTip("hide events whose score is lower (the mean event probability, lowered for "
                                  "events that barely rise above the noise or last one frame)")
        self.min_score_label = QLabel()
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        for slider in (self.min_size, self.min_score):
            slider.valueChanged.connect(self.apply_filters)
            slider.setEnabled(False)
        return form_layout((self.min_size_label, self.min_size), (self.min_score_label, self.min_score))

    def _show_weights_field(self, text: str) -> None:
        self.weights_file.setVisible(WEIGHTS_CHOICES[text] == "file")
        self.model_folder.setVisible(WEIGHTS_CHOICES[text] == "folder")

    def weights(self):
        """What :func:`exodeepfinder.load_model` gets: None, "bundled", "official", a weights file or a model folder."""
        choice = WEIGHTS_CHOICES[self.weights_choice.currentText()]
        if choice == "file":
            path = self.weights_file.path()
            if path is None:
                raise ValueError("weights: choose a weights file (.h5)")
            return path
        if choice == "folder":
            path = self.model_folder.path()
            if path is None:
                raise ValueError("weights: choose a model folder (made by exodeepfinder adapt)")
            if not path.is_dir():
                raise ValueError(f"{path}: not a folder (a model folder made by exodeepfinder adapt)")
            if not (path / MODEL_CARD).is_file():
                raise ValueError(f"{path}: no {MODEL_CARD} (not a model folder made by exodeepfinder adapt)")
            return path
        return choice

    def _load_model(self, weights, device):
        """The network, loaded once for a given choice of weights and device (the package's one model cache)."""
        from ...model.weights import cached_model

        return cached_model(weights, device=device)

    def run(self) -> None:
        """Detect the events of the chosen movie layer (in a worker thread)."""
        import exodeepfinder as edf

        movie_layer = self.movie_choice.layer()
        if movie_layer is None:
            self.task.set_status("Open a movie first (File > Open, or File > Open Sample)", error=True)
            return
        if movie_layer.data.ndim != 3 or getattr(movie_layer, "rgb", False):
            self.task.set_status(f"{movie_layer.name}: expected a movie [t, y, x], "
                                 f"found shape {movie_layer.data.shape}", error=True)
            return
        try:
            weights = self.weights()
        except ValueError as err:
            self.task.set_status(str(err), error=True)
            return
        movie = movie_layer.data
        device = self.device_choice.currentText()
        options = dict(patch_size=self.patch_size.value(), precision=self.precision_choice.currentText(),
                       cluster_radius=self.cluster_radius.value(), min_size=None, min_score=None)
        # a segmentation too large for memory is streamed into a temporary file and shown from it
        scratch = None if segmentation_fits_in_memory(movie.shape) else SCRATCH.new_path()

        def task(progress):
            model = self._load_model(weights, device)
            return edf.detect(movie, model, segmentation=scratch, save_scores=True, progress=progress, **options)

        self.task.run(task, on_result=lambda detection: self._show(detection, movie_layer),
                      description=f"Detecting events in {movie_layer.name}")

    def _show(self, detection, movie_layer) -> None:
        name = movie_layer.name
        labels_data, probability_data = self._segmentation_layers(detection, name)
        add_layer(self.viewer, labels_data)
        add_layer(self.viewer, probability_data)
        self.events = detection.events.reset_index(drop=True)
        largest = int(self.events["cluster_size"].max()) if len(self.events) else 1
        self.min_size.setMaximum(max(largest, DEFAULT_MIN_SIZE, 2))
        for slider in (self.min_size, self.min_score):
            slider.setEnabled(True)
        self.points_layer = add_layer(self.viewer, layers.events_layer(self._filtered(), name=f"{name} events"))
        self.viewer.layers.selection.active = self.points_layer
        self._show_filter_values()

    @staticmethod
    def _segmentation_layers(detection, name: str) -> tuple[tuple, tuple]:
        """The labels and event probability layers of a detection: in memory, or lazily from its temporary file."""
        if detection.segmentation is None:
            labels_data = layers.labels_layer(detection.labels, name=f"{name} segmentation")
            probability = np.ascontiguousarray(detection.scores[:, EVENT])
            return labels_data, layers.probability_layer(probability, name=f"{name} event probability")
        labels, scores = SCRATCH.open(detection.segmentation)
        labels_data = layers.labels_layer(labels, name=f"{name} segmentation")
        probability_data = layers.probability_layer(layers.ClassProbability(scores), name=f"{name} event probability")
        for _, attributes, _ in (labels_data, probability_data):
            attributes["metadata"] = {**attributes["metadata"], SCRATCH_KEY: str(detection.segmentation)}
        return labels_data, probability_data

    def _filtered(self):
        events = self.events
        keep = events["cluster_size"].to_numpy() >= self.min_size.value()
        if "score" in events.columns:
            keep &= events["score"].to_numpy() >= self.min_score.value() / SCORE_STEPS
        return events[keep].reset_index(drop=True)

    def apply_filters(self) -> None:
        """Show the detected events that pass the min size and min score filters."""
        self._show_filter_values()
        if self.events is None or self.points_layer is None or self.points_layer not in self.viewer.layers:
            return
        data, attributes, _ = layers.events_layer(self._filtered())
        self.points_layer.data = data
        self.points_layer.features = attributes["features"]
        self.points_layer.border_color = attributes["border_color"]
        self._show_filter_values()

    def _show_filter_values(self) -> None:
        self.min_size_label.setText(f"Min size: {self.min_size.value()} voxels")
        self.min_score_label.setText(f"Min score: {self.min_score.value() / SCORE_STEPS:.2f}")
        if self.events is not None:
            shown = len(self.points_layer.data) if self.points_layer is not None else 0
            self.summary.setText(f"{shown} of {len(self.events)} detected events shown")
