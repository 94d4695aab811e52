"""Saving the Review widget's events: the corrections CSV or a reference XML annotation, written atomically.

A CSV holds every event and column, the review states included (what ``exodeepfinder adapt``
reads); an XML is a reference annotation of the accepted and added events (the unreviewed ones
too if the user says so when asked). An existing file is replaced only when the save dialog
confirmed it.

A mixin of :class:`~.widget.ReviewWidget`: it uses the widget's ``events_layer()``,
``events_table()`` and ``movie_choice``.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QMessageBox, QPushButton

from ....events.review import progress_text, reference_events, review_counts
from ....io.events import write_events
from .._common import layer_path

#: Default file names beside the movie: the corrected events that ``exodeepfinder adapt`` reads, the expert annotation.
CORRECTIONS_NAME = "corrected_events.csv"
ANNOTATION_NAME = "expert_annotation.xml"


class Saving:
    """Save the events layer as CSV or XML (mixed into the Review widget)."""

    def _make_saving(self) -> QHBoxLayout:
        """The Save CSV and Save XML buttons (their row) and the status line ``self.save_status``."""
        save_csv = QPushButton("Save CSV…")
        save_csv.clicked.connect(lambda: self.save_dialog(".csv"))
        save_xml = QPushButton("Save XML…")
        save_xml.clicked.connect(lambda: self.save_dialog(".xml"))
        self.save_status = QLabel("")
        self.save_status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(save_csv)
        row.addWidget(save_xml)
        return row

    def default_save_path(self, suffix: str) -> Path:
        """The file the save dialog proposes.

        The layer's own file (with ``suffix``) if it was read from one; else, beside the movie,
        ``corrected_events.csv`` (what ``exodeepfinder adapt`` reads) or ``expert_annotation.xml``
        (what ``edf_generate_segmentation`` reads).
        """
        layer = self.events_layer()
        movie_path = layer_path(self.movie_choice.layer())
        folder = movie_path.parent if movie_path is not None else Path.cwd()
        if layer is not None and layer_path(layer) is not None:
            return layer_path(layer).with_suffix(suffix)
        return folder / (CORRECTIONS_NAME if suffix == ".csv" else ANNOTATION_NAME)

    def save_dialog(self, suffix: str):
        """Ask where to save (the dialog asks before replacing a file), then save.

        Before an XML with unreviewed events, ask whether they belong in it.
        """
        what = "Events CSV (*.csv)" if suffix == ".csv" else "ExoDeepFinder annotation (*.xml)"
        path, _ = QFileDialog.getSaveFileName(self, "Save events", str(self.default_save_path(suffix)), what)
        if not path:
            return None
        include_unreviewed = False
        counts = review_counts(self.events_table()) if self.events_layer() is not None else None
        if suffix == ".xml" and counts and counts["unreviewed"]:
            answer = QMessageBox.question(
                self, "Unreviewed events",
                f"{counts['unreviewed']} of {counts['total']} events are not reviewed yet.\n\nThe annotation holds "
                "the accepted and added events. Include the unreviewed events as well?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.No)
            if answer == QMessageBox.StandardButton.Cancel:
                return None
            include_unreviewed = answer == QMessageBox.StandardButton.Yes
        # the dialog asked before replacing an existing file
        return self.save(path, overwrite=True, include_unreviewed=include_unreviewed)

    def save(self, path, *, overwrite: bool = False, include_unreviewed: bool = False) -> Path | None:
        """Write the events layer to ``path``, atomically; an existing file only with ``overwrite``.

        A ``.csv`` holds every event and column, the review states included (rejected events too,
        as negatives). A ``.xml`` is a reference annotation of the accepted and added events, and of
        the unreviewed ones with ``include_unreviewed``. Returns the path, or None (the status line
        says why).
        """
        events = self.events_table()
        if events is None:
            self.save_status.setText("No events layer to save")
            return None
        path = Path(path)
        xml = path.suffix.lower() != ".csv"
        saved = reference_events(events, include_unreviewed=include_unreviewed) if xml else events
        try:
            written = write_events(saved, path, overwrite=overwrite)
        except FileExistsError:
            self.save_status.setText(f"{path} exists: not replaced (choose it in 'Save…' to replace it)")
            return None
        except OSError as err:
            self.save_status.setText(f"{path}: not saved ({err.strerror or err})")
            return None
        if xml:
            counts = review_counts(events)
            left_out = [f"{counts['rejected']} rejected"] if counts["rejected"] else []
            if counts["unreviewed"] and not include_unreviewed:
                left_out.append(f"{counts['unreviewed']} unreviewed")
            text = f"Saved {len(saved)} events to {written}"
            text += f" (left out: {', '.join(left_out)})" if left_out else ""
        else:
            text = f"Saved {len(saved)} events to {written}: {progress_text(events)}"
        self.save_status.setText(text)
        return written
