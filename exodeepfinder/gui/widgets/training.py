"""Training set and Train widgets: from expert events to a training dataset, and training the U-Net.

Training set (one movie at a time, then the dataset):

1. expert events (points) -> the expert target, a label map with the reference event mask
   (:func:`exodeepfinder.events_to_labels`);
2. bright spots of the movie (:func:`exodeepfinder.detect_spots`, the built-in Atlas method);
3. merge of the spots and the expert events into the training target and object list
   (:func:`exodeepfinder.merge_detector_expert`), saved in the movie's folder;
4. the folder of movie folders laid out as ``train/`` and ``valid/``
   (:func:`exodeepfinder.structure_training_dataset`).

Train runs :func:`exodeepfinder.train` in a worker thread, draws the losses and the event F1
after every epoch, and can be cancelled and resumed from its last checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtCore import QObject, Signal, Slot
from qtpy.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QVBoxLayout, QWidget

from ...errors import InputError, error_message
from ...labels import EVENT, EXPERT_EVENT, SPOT
from ...model.precision import TRAINING_PRECISIONS
from ...model.weights import DEVICES
from .. import layers
from ._common import (LayerChoice, LogView, PathField, TaskPanel, add_layer, form_layout, is_events_layer,
                      is_movie_layer, layer_path, library_default, number_field, push_button, section_title)
from ._plots import make_canvas, style_axes


def _labels_layers(layer) -> bool:
    return layer.ndim == 3


class TrainingSetWidget(QWidget):
    """Build the training files of a movie (target, spots, merge) and lay out the dataset folders."""

    def __init__(self, napari_viewer, parent=None):
        from napari.layers import Image, Labels, Points

        from ...training_data.dataset import structure_training_dataset
        from ...training_data.spots import detect_spots

        super().__init__(parent)
        self.viewer = napari_viewer
        self.movie_choice = LayerChoice(napari_viewer, Image, accept=is_movie_layer)
        self.expert_choice = LayerChoice(napari_viewer, Points, accept=is_events_layer,
                                         prefer=lambda layer: "expert" in layer.name or "annotation" in layer.name)
        target_button = push_button("Make expert target", self.make_target,
                                "paint the reference event mask (disks of radius 4, 2, 0 over 3 frames) at each "
                                "expert event")
        self.radius = number_field(1, 200, library_default(detect_spots, "radius"),
                                   tip="std (px) of the Gaussian window of the local statistics (Atlas -rad)")
        self.pval = number_field(1e-5, 0.5, library_default(detect_spots, "pval"), decimals=5, step=0.001,
                                 tip="probability of false alarm (Atlas -pval)")
        self.area_limit = number_field(0, 1000, library_default(detect_spots, "area_limit"), integer=True,
                                       tip="smallest blob area kept, px (Atlas -arealim)")
        spots_button = push_button("Detect bright spots", self.detect_spots)
        self.detector_choice = LayerChoice(napari_viewer, Labels, accept=_labels_layers,
                                           prefer=lambda layer: "detector" in layer.name)
        self.expert_labels_choice = LayerChoice(napari_viewer, Labels, accept=_labels_layers,
                                                prefer=lambda layer: "expert" in layer.name)
        merge_button = push_button("Merge spots and expert events", self.merge)
        self.movie_folder = PathField("folder", placeholder="the movie's folder")
        save_button = push_button("Save training files in the movie folder", self.save_dialog,
                              "writes the merged segmentation and annotation (and movie.h5 if missing) into the "
                              "movie folder, ready for the dataset step")
        self.dataset_input = PathField("folder", placeholder="folder of movie folders")
        self.dataset_output = PathField("folder", placeholder="dataset folder to create")
        self.split = number_field(0, 100, library_default(structure_training_dataset, "split"), suffix=" % train")
        dataset_button = push_button("Make dataset folders", self.make_dataset)
        self.buttons = [target_button, spots_button, merge_button, save_button, dataset_button]
        self.task = TaskPanel().locks(*self.buttons)

        layout = QVBoxLayout(self)
        for title, form, button in (
                ("1. Expert target", (("Movie", self.movie_choice), ("Expert events", self.expert_choice)),
                 target_button),
                ("2. Bright spots (built-in Atlas method)", (("Radius", self.radius), ("P-value", self.pval),
                                                            ("Min area", self.area_limit)), spots_button),
                ("3. Merge", (("Spots", self.detector_choice), ("Expert target", self.expert_labels_choice)),
                 merge_button),
                (None, (("Movie folder", self.movie_folder),), save_button),
                ("4. Dataset folders", (("Movie folders in", self.dataset_input), ("Dataset", self.dataset_output),
                                        ("Split", self.split)), dataset_button)):
            if title:
                layout.addWidget(section_title(title))
            layout.addLayout(form_layout(*form))
            layout.addWidget(button)
        layout.addWidget(self.task)
        layout.addStretch(1)
        self.movie_choice.currentIndexChanged.connect(self._propose_folder)
        self._propose_folder()
        self.merged = None   # (labels, events) of the last merge

    def _propose_folder(self, *_):
        path = layer_path(self.movie_choice.layer())
        if path is not None and not self.movie_folder.edit.text():
            self.movie_folder.set_path(path.parent)

    def _movie_layer(self):
        layer = self.movie_choice.layer()
        if layer is None:
            raise ValueError("movie: open a movie first")
        return layer

    def _expert_events(self):
        layer = self.expert_choice.layer()
        if layer is None:
            raise ValueError("expert events: add a points layer of expert events (Review and annotate)")
        return layers.events_from_points(layer.data, layer.features)

    def make_target(self):
        """Add the expert target ``expert_segmentation`` (event voxels = 1) of the expert events."""
        from ... import events_to_labels

        try:
            shape = tuple(self._movie_layer().data.shape)
            events = self._expert_events()
        except ValueError as err:
            self.task.set_status(str(err), error=True)
            return None
        labels = events_to_labels(events, shape, label=EXPERT_EVENT)
        layer = add_layer(self.viewer, layers.labels_layer(labels, name="expert_segmentation",
                                                           colors={EXPERT_EVENT: layers.LABEL_COLORS[EVENT]}))
        self.task.set_status(f"Expert target of {len(events)} events")
        return layer

    def detect_spots(self):
        """Detect the movie's bright spots into the labels layer ``detector_segmentation`` (in a thread)."""
        from ... import detect_spots

        try:
            movie = self._movie_layer().data
        except ValueError as err:
            self.task.set_status(str(err), error=True)
            return
        options = dict(radius=self.radius.value(), pval=self.pval.value(), area_limit=self.area_limit.value())

        def task(progress):
            return detect_spots(movie, progress=progress, **options)

        def show(mask):
            labels = mask.astype(np.int8)  # 1 = spot
            add_layer(self.viewer, layers.labels_layer(labels, name="detector_segmentation",
                                                       colors={SPOT: layers.LABEL_COLORS[SPOT]}))

        self.task.run(task, on_result=show, description="Detecting bright spots")

    def merge(self):
        """Merge spots and expert events into ``merged_segmentation`` and ``merged_annotation`` layers."""
        from ... import merge_detector_expert

        detector, expert = self.detector_choice.layer(), self.expert_labels_choice.layer()
        try:
            if detector is None or expert is None or detector is expert:
                raise ValueError("merge: choose the spots (detector_segmentation) and the expert target "
                                 "(expert_segmentation)")
            events = self._expert_events()
            labels, merged_events = merge_detector_expert(np.asarray(detector.data), events, np.asarray(expert.data))
        except ValueError as err:
            self.task.set_status(str(err), error=True)
            return None
        add_layer(self.viewer, layers.labels_layer(labels, name="merged_segmentation"))
        add_layer(self.viewer, layers.events_layer(merged_events, name="merged_annotation"))
        self.merged = labels, merged_events
        counts = merged_events["class_label"].value_counts()
        self.task.set_status(f"Merged: {counts.get(EVENT, 0)} events, {counts.get(SPOT, 0)} spots")
        return self.merged

    def training_files(self, folder) -> dict:
        """The files :meth:`save` writes in ``folder``, by what they hold."""
        from ...training_data.dataset import TRAINING_FILES

        return {what: Path(folder) / name for what, name in TRAINING_FILES.items()}

    def save_dialog(self):
        folder = self.movie_folder.path()
        if folder is None:
            self.task.set_status("movie folder: choose the folder of this movie", error=True)
            return
        files = self.training_files(folder)
        existing = [p.name for key, p in files.items() if key != "movie" and p.exists()]
        if existing and QMessageBox.question(self, "Replace files?", f"Replace {', '.join(existing)} in {folder}?") \
                != QMessageBox.StandardButton.Yes:
            return
        self.save(folder, overwrite=True)

    def save(self, folder, *, overwrite: bool = False) -> dict | None:
        """Write the merged segmentation and annotation (and ``movie.h5`` if missing) in ``folder``."""
        from ...io.atomic import atomic_outputs
        from ...io.events import write_events
        from ...io.h5 import write_h5
        from ...io.segmentation import write_segmentation

        if self.merged is None:
            self.task.set_status("Merge first (step 3)", error=True)
            return None
        files = self.training_files(folder)
        if not overwrite:
            for key in ("segmentation", "annotation"):
                if files[key].exists():
                    self.task.set_status(f"{files[key]}: already exists", error=True)
                    return None
        labels, events = self.merged
        group = {key: files[key] for key in ("segmentation", "annotation")}
        if not files["movie"].exists():
            group["movie"] = files["movie"]
        # the files of one training movie appear together or not at all
        try:
            with atomic_outputs(group, overwrite=overwrite) as temporary:
                write_segmentation(labels, temporary["segmentation"])
                write_events(events, temporary["annotation"])
                if "movie" in temporary:
                    write_h5(temporary["movie"], self._movie_layer().data)
        except (OSError, InputError) as err:
            self.task.set_status(error_message(err), error=True)
            return None
        self.task.set_status("Saved " + ", ".join(p.name for p in group.values()) + f" in {folder}")
        return files

    def make_dataset(self):
        """Lay out the movie folders as ``train/`` and ``valid/`` in the dataset folder (in a thread)."""
        from ... import structure_training_dataset

        source, target = self.dataset_input.path(), self.dataset_output.path()
        if source is None or target is None:
            self.task.set_status("dataset: choose the folder of movie folders and the dataset folder", error=True)
            return
        split = self.split.value()

        def task(progress):
            return structure_training_dataset(source, target, split=split)

        def show(layout):
            text = f"{len(layout.train)} training and {len(layout.valid)} validation movies in {target}"
            if layout.skipped:
                text += "; skipped: " + "; ".join(f"{name} ({why})" for name, why in layout.skipped.items())
            self.task.set_status(text)

        self.task.run(task, on_result=show, description="Laying out the dataset")


class _TrainingRelay(QObject):
    """Carries the history after each epoch from the training thread to the main thread."""

    epoch = Signal(object)


#: Training options set by text fields: name -> (label, tooltip). Empty fields keep the recipe's defaults.
STAGE_FIELDS = {
    "patch_sizes": ("Patch sizes", "patch size of each stage (frames = pixels, multiple of 4), e.g. 16 32"),
    "batch_sizes": ("Batch sizes", "patches per batch of each stage"),
    "random_shifts": ("Random shifts", "largest random shift (voxels) of a patch from its object, per stage"),
    "n_epochs": ("Epochs", "epochs of each stage"),
    "n_steps": ("Steps per epoch", "training batches per epoch"),
}


class TrainWidget(QWidget):
    """Train the U-Net on a dataset folder with a live plot of the losses; cancel and resume."""

    def __init__(self, napari_viewer=None, parent=None):
        from ...training.recipe import LOSSES

        super().__init__(parent)
        self.viewer = napari_viewer
        self.dataset = PathField("folder", placeholder="dataset folder with train/ and valid/")
        self.output = PathField("folder", placeholder="folder for the weights and the history")
        self.loss_choice = QComboBox()
        self.loss_choice.addItems(list(LOSSES))
        self.loss_choice.setToolTip("the loss names the recipe: the first is the default; 'tversky' trains "
                                    "exactly as the reference ExoDeepFinder")
        self.stage_fields = {}
        for name, (label, tip) in STAGE_FIELDS.items():
            edit = QLineEdit()
            edit.setPlaceholderText("recipe default")
            edit.setToolTip(tip + " (space-separated; empty: the recipe's default)")
            self.stage_fields[name] = edit
        self.max_minutes = number_field(0, 100000, special="no limit", tip="stop after this many minutes (0: no limit)")
        self.start_weights = PathField("open", "U-Net weights (*.h5)", "start from these weights (optional)")
        self.device_choice = QComboBox()
        self.device_choice.addItems(list(DEVICES))
        self.precision_choice = QComboBox()
        self.precision_choice.addItems(list(TRAINING_PRECISIONS))
        self.overwrite = QCheckBox("Replace a previous run in the output folder")
        self.train_button = push_button("Train", lambda: self.train(resume=False))
        self.resume_button = push_button("Resume", lambda: self.train(resume=True),
                                         "continue the run stopped in the output folder from its last checkpoint")
        self.task = TaskPanel().locks(self.train_button, self.resume_button)
        self.figure, self.canvas = make_canvas(4, 3)
        self.axes = self.figure.subplots()
        self.axes_f1 = self.axes.twinx()
        self._empty_plot()
        self.log = LogView(max_lines=2000)
        self._relay = _TrainingRelay()
        self._relay.epoch.connect(self._on_epoch)
        self.history = None

        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.resume_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form_layout(
            ("Dataset", self.dataset), ("Output", self.output), ("Loss", self.loss_choice),
            *((label, self.stage_fields[name]) for name, (label, _) in STAGE_FIELDS.items()),
            ("Time limit (min)", self.max_minutes), ("Start weights", self.start_weights),
            ("Device", self.device_choice), ("Precision", self.precision_choice)))
        layout.addWidget(self.overwrite)
        layout.addLayout(buttons)
        layout.addWidget(self.task)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(QLabel("Log"))
        layout.addWidget(self.log)

    def options(self, *, resume: bool = False) -> dict:
        """Keyword arguments of :func:`exodeepfinder.train` from the fields (empty fields are left out)."""
        options = {"resume": resume, "overwrite": self.overwrite.isChecked() and not resume,
                   "device": self.device_choice.currentText(), "precision": self.precision_choice.currentText()}
        options["loss"] = self.loss_choice.currentText()
        for name, edit in self.stage_fields.items():
            text = edit.text().replace(",", " ").split()
            if text:
                try:
                    options[name] = [int(value) for value in text]
                except ValueError:
                    raise ValueError(f"{name}: expected whole numbers separated by spaces, got {edit.text()!r}") \
                        from None
        if self.max_minutes.value() > 0:
            options["max_minutes"] = self.max_minutes.value()
        if self.start_weights.path() is not None:
            options["weights_path"] = self.start_weights.path()
        return options

    def train(self, *, resume: bool = False):
        """Train (or resume) in a worker thread; the plot and the log follow each epoch."""
        from ... import train

        dataset, output = self.dataset.path(), self.output.path()
        try:
            if dataset is None or output is None:
                raise ValueError("choose the dataset folder and the output folder")
            options = self.options(resume=resume)
        except ValueError as err:
            self.task.set_status(str(err), error=True)
            return
        relay = self._relay
        if not resume:
            self.history = None
            self._empty_plot()
        self.log.appendPlainText(f"{'Resuming' if resume else 'Training'}: {dataset} -> {output}")

        def task(progress):
            return train(dataset, output, progress=progress, on_epoch=lambda record, history: relay.epoch.emit(
                list(history)), log=self.log.write, **options)

        def done(history):
            self.history = list(history)
            self._draw()
            self.log.appendPlainText(f"Finished: weights in {output}")

        self.task.run(task, on_result=done, description="Training")

    @Slot(object)
    def _on_epoch(self, history):
        self.history = history
        self._draw()

    def _empty_plot(self):
        for axes in (self.axes, self.axes_f1):
            axes.clear()
            style_axes(axes)
        self.axes_f1.yaxis.tick_right()  # clear() puts the twin's axis back on the left
        self.axes_f1.yaxis.set_label_position("right")
        self.axes.set_xlabel("epoch")
        self.axes.set_ylabel("loss")
        self.axes_f1.set_ylabel("event F1 (validation)")
        self.axes.set_title("training history")
        self.canvas.draw_idle()

    def _draw(self):
        self._empty_plot()
        if not self.history:
            return
        epochs = [record.epoch for record in self.history]
        self.axes.plot(epochs, [record.loss for record in self.history], color="#4fc3f7", label="training loss")
        self.axes.plot(epochs, [record.val_loss for record in self.history], color="orange", label="validation loss")
        self.axes_f1.plot(epochs, [np.asarray(record.val_f1)[EVENT] for record in self.history], color="lime",
                          ls="--", label="event F1")
        self.axes_f1.set_ylim(0, 1)
        lines = self.axes.get_lines() + self.axes_f1.get_lines()
        self.axes.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="center right",
                         facecolor="#262930", labelcolor="#d0d3d8", edgecolor="#3b3f47")
        self.canvas.draw_idle()
