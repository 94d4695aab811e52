"""Adapt the model widget: from reviewed movie folders to a model folder, in a worker with progress and Cancel.

The same library call as ``exodeepfinder adapt`` (:func:`exodeepfinder.adapt.adapt_folders`): each
subfolder of the chosen folder holds a movie and its corrections (the Review widget's
``corrected_events.csv``, or a complete expert annotation). When it ends, the held-out figures
(base against adapted model, on corrections each stage did not learn from) are shown, and the
Detect widget can use the model folder as its weights.
"""

from __future__ import annotations

from qtpy.QtWidgets import QLineEdit, QVBoxLayout, QWidget

from ._common import LogView, PathField, form_layout, library_default, number_field, run_controls, section_title


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
        self.max_minutes = number_field(0, 600, library_default(adapt_folders, "max_minutes"), decimals=1,
                                        suffix=" min", tip="time budget of fine-tuning the U-Net (0: the candidate "
                                                           "classifier only, seconds)")
        self.output = PathField("folder", placeholder="model folder to create")
        self.run_button, self.task = run_controls("Adapt the model", self.run)
        self.log = LogView(min_height=220, fixed_font=True, wrap=False)
        self.adapted = None

        layout = QVBoxLayout(self)
        layout.addWidget(section_title("Reviewed movies"))
        layout.addLayout(form_layout(("Folders in", self.reviewed), ("Corrections", self.corrections)))
        layout.addWidget(section_title("Adapt"))
        layout.addLayout(form_layout(("Base weights", self.base), ("Fine-tuning", self.max_minutes),
                                     ("Model folder", self.output)))
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
        log = self.log.write

        def task(progress):
            return adapt_folders(reviewed, output, progress=progress, log=log, **options)

        def show(adapted):
            self.adapted = adapted
            self.log.appendPlainText(adapted.summary())
            self.log.appendPlainText(f"Model folder written: {output}\nUse it in Detect events (Weights: model "
                                     f"folder…), or: exodeepfinder detect MOVIE -mw {output}")
            self.task.set_status(f"Model folder written: {output}")

        self.task.run(task, on_result=show, description="Adapting the model")
