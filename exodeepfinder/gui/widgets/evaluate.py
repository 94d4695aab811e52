"""Evaluate widget: compare detected events with reference events (precision, recall, F1).

Events are matched one to one within a tolerance (:func:`exodeepfinder.evaluate`). The two
points layers are then coloured: matched events green, false detections red, missed reference
events orange; each point gets a ``match`` feature (``matched``, ``false`` or ``missed``).
"""

from __future__ import annotations

from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from .. import layers
from ._common import LayerChoice, form_layout, is_events_layer, number_field, push_button

MATCHED, FALSE, MISSED = "matched", "false", "missed"
COLORS = {MATCHED: "lime", FALSE: "red", MISSED: "orange"}


def _is_reference(layer) -> bool:
    name = layer.name.lower()
    return any(word in name for word in ("true", "expert", "reference", "truth"))


class EvaluateWidget(QWidget):
    """Precision, recall and F1 of a detected events layer against a reference events layer."""

    def __init__(self, napari_viewer, parent=None):
        from napari.layers import Points

        super().__init__(parent)
        self.viewer = napari_viewer
        self.detected_choice = LayerChoice(napari_viewer, Points, accept=is_events_layer,
                                           prefer=lambda layer: not _is_reference(layer))
        self.reference_choice = LayerChoice(napari_viewer, Points, accept=is_events_layer, prefer=_is_reference)
        self.tolerance = number_field(0.5, 50, 5,
                                      tip="largest distance (voxels, frames and pixels alike) between matched events")
        button = push_button("Evaluate", self.evaluate)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        legend = QLabel(f"<span style='color:{COLORS[MATCHED]}'>●</span> matched &nbsp; "
                        f"<span style='color:{COLORS[FALSE]}'>●</span> false detection &nbsp; "
                        f"<span style='color:{COLORS[MISSED]}'>●</span> missed")
        layout = QVBoxLayout(self)
        layout.addLayout(form_layout(("Detected", self.detected_choice), ("Reference", self.reference_choice),
                                     ("Tolerance", self.tolerance)))
        layout.addWidget(button)
        layout.addWidget(self.result)
        layout.addWidget(legend)
        layout.addStretch(1)
        self.summary = None

    def evaluate(self) -> dict | None:
        """Match the two layers' events; show and return ``tp, fp, fn, precision, recall, f1``."""
        from ... import evaluate

        detected_layer, reference_layer = self.detected_choice.layer(), self.reference_choice.layer()
        if detected_layer is None or reference_layer is None:
            self.result.setText("Choose a detected and a reference events layer")
            return None
        if detected_layer is reference_layer:
            self.result.setText("Choose two different layers")
            return None
        detected = layers.events_from_points(detected_layer.data, detected_layer.features)
        reference = layers.events_from_points(reference_layer.data, reference_layer.features)
        matching = evaluate(detected, reference, tolerance=self.tolerance.value())
        detected_status = [MATCHED] * len(detected)
        for index in matching.false_positives:
            detected_status[index] = FALSE
        reference_status = [MATCHED] * len(reference)
        for index in matching.false_negatives:
            reference_status[index] = MISSED
        _colour(detected_layer, detected_status)
        _colour(reference_layer, reference_status)
        self.summary = summary = matching.summary
        self.result.setText(
            f"<b>F1 {_percent(summary['f1'])}</b> &nbsp; precision {_percent(summary['precision'])} &nbsp; "
            f"recall {_percent(summary['recall'])}<br>{summary['tp']} matched, {summary['fp']} false, "
            f"{summary['fn']} missed (tolerance {self.tolerance.value():g})")
        return summary


def _colour(layer, status: list[str]) -> None:
    features = layer.features.copy()
    features["match"] = status
    layer.features = features
    layer.border_color = [COLORS[value] for value in status]


def _percent(value: float) -> str:
    return "–" if value != value else f"{100 * value:.1f} %"
