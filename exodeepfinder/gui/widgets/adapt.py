"""Adapt the model widget: from reviewed movie folders to a model folder, in a worker with progress and Cancel.

The same library call as ``exodeepfinder adapt`` (:func:`exodeepfinder.adapt.adapt_folders`): each
subfolder of the chosen folder holds a movie and its corrections (the Review widget's
``corrected_events.csv``, or a complete expert annotation). When it ends, the held-out figures
(base against adapted model, on corrections each stage did not learn from) are shown, and the
Detect widget can use the model folder as its weights.
"""

from __future__ import annotations

import inspect

from qtpy.QtCore import QObject, Signal
from qtpy.QtGui import QFontDatabase
from qtpy.QtWidgets import QDoubleSpinBox, QFormLayout, QLineEdit, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from ._common import PathField, TaskPanel, section_title


class _Lines(QObject):
    """Carries the log lines of the worker thread to the main thread (queued signal)."""

    line = Signal(str)


class AdaptWidget(QWidget):
    """Adapt the detector to reviewed movies and write a model folder."""

    def __init__(self, napari_viewer=None, parent=None):
        from ...adapt import adapt_folders
        from ...adapt.files import DEFAULT_CORRECTIONS

        super().__init__(parent)
        self.viewer = napari_viewer
        self.reviewed = PathField("folder", placeholder="folder of reviewed movie folders")
        self.reviewed.setToolTip("each subfolder: a movie (movie.h5, tiff/ or a movie file) and its corrections")
        self.corrections = QLineEdit(DEFAULT_CORRECTIONS)
        self.corrections.setToolTip("the corrections file in each folder: the Review widget's CSV (review column), "
                                    "or a complete expert annotation (.xml or .csv)")
        self.base = PathField("open", "U-Net weights (*.h5)", "bundled / official / weights file (default: automatic)")
        self.max_minutes = QDoubleSpinBox()
        self.max_minutes.setRange(0, 600)
        self.max_minutes.setDecimals(1)
        self.max_minutes.setValue(inspect.signature(adapt_folders).parameters["max_minutes"].default)
        self.max_minutes.setSuffix(" min")
        self.max_minutes.setToolTip("time budget of fine-tuning the U-Net (0: the candidate classifier only, "
                                    "seconds)")
        self.output = PathField("folder", placeholder="model folder to create")
        self.run_button = QPushButton("Adapt the model")
        self.run_button.clicked.connect(self.run)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMinimumHeight(220)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.task = TaskPanel()
        self.task.started.connect(lambda: self.run_button.setEnabled(False))
        self.task.finished.connect(lambda: self.run_button.setEnabled(True))
        self._lines = _Lines()
        self._lines.line.connect(self.log.appendPlainText)
        self.adapted = None

        layout = QVBoxLayout(self)
        layout.addWidget(section_title("Reviewed movies"))
        form = QFormLayout()
        form.addRow("Folders in", self.reviewed)
        form.addRow("Corrections", self.corrections)
        layout.addLayout(form)
        layout.addWidget(section_title("Adapt"))
        form = QFormLayout()
        form.addRow("Base weights", self.base)
        form.addRow("Fine-tuning", self.max_minutes)
        form.addRow("Model folder", self.output)
        layout.addLayout(form)
        layout.addWidget(self.run_button)
        layout.addWidget(self.task)
        layout.addWidget(self.log)
        layout.addStretch(1)

    def _base_weights(self):
        text = self.base.edit.text().strip()
        if not text:
            return None
        from ...model.weights import WEIGHTS_NAMES

        return text if text in WEIGHTS_NAMES else self.base.path()

    def run(self):
        """Run :func:`~exodeepfinder.adapt.adapt_folders` in a worker; show the held-out figures when done."""
        from ...adapt import adapt_folders

        reviewed, output = self.reviewed.path(), self.output.path()
        if reviewed is None or output is None:
            self.task.set_status("choose the folder of reviewed movies and the model folder to create", error=True)
            return
        options = dict(corrections=self.corrections.text().strip() or None, base_model=self._base_weights(),
                       max_minutes=self.max_minutes.value())
        self.log.clear()
        lines = self._lines

        def task(progress):
            return adapt_folders(reviewed, output, progress=progress, log=lines.line.emit, **options)

        def show(adapted):
            self.adapted = adapted
            self.log.appendPlainText(adapted.summary())
            self.log.appendPlainText(f"Model folder written: {output}\nUse it in Detect events (Weights: model "
                                     f"folder…), or: exodeepfinder detect MOVIE -mw {output}")
            self.task.set_status(f"Model folder written: {output}")

        self.task.run(task, on_result=show, description="Adapting the model")
