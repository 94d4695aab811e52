"""Review-state bookkeeping of the Review widget: accept, reject, the uncertainty order, the progress line.

A mixin of :class:`~.widget.ReviewWidget`: it uses the widget's ``events_layer()``, ``info``,
``progress``, ``ranking``, ``threshold``, ``advance`` and its navigation (``go_to_event``, ``_step``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from qtpy.QtWidgets import QCheckBox, QLabel

from ... import layers
from ....events.review import most_uncertain_order, progress_text, review_states, uncertainty_column
from .._common import number_field
from .styling import set_states


class ReviewStates:
    """Accept, reject and the order of uncertain events (mixed into the Review widget)."""

    _navigation = "time"   # the order A / R go on in: "time" (N / B) or "uncertain" (U)

    def _make_review_options(self) -> None:
        """The progress line, the decision threshold, the ranking line, "go on" and the selected event's line."""
        self.progress = QLabel("")
        self.progress.setWordWrap(True)
        self.threshold = number_field(0.0, 1.0, 0.5, decimals=2, step=0.05,
                                      tip="the score at which an event is decided: 'Next most uncertain' goes to the "
                                          "unreviewed events whose score is closest to it (a calibrated "
                                          "'confidence' column, when the events have one, is ranked around 0.5 "
                                          "instead)")
        self.threshold.valueChanged.connect(self._show_progress)
        self.ranking = QLabel("")
        self.ranking.setWordWrap(True)
        self.advance = QCheckBox("After A / R, go on to the next event")
        self.advance.setChecked(True)
        self.advance.setToolTip("the next most uncertain event after U, the next in time after N / B")
        self.info = QLabel("No event selected")
        self.info.setWordWrap(True)

    def events_table(self) -> pd.DataFrame | None:
        """The events of the layer as a table (``t, y, x``, features, ``review``), or None without a layer."""
        layer = self.events_layer()
        if layer is None:
            return None
        return layers.events_from_points(layer.data, layer.features)

    def review_states(self) -> np.ndarray:
        """The review state of each event of the layer."""
        layer = self.events_layer()
        return np.zeros(0, dtype=object) if layer is None else review_states(layer.features)

    def set_review_state(self, state: str, indices=None) -> None:
        """Give events ``indices`` (default: the selected ones) the review ``state``.

        Accepting a hand-added event keeps it ``added`` (it was no detection).
        """
        layer = self.events_layer()
        indices = sorted(layer.selected_data) if indices is None and layer is not None else indices
        if layer is None or not indices:
            self.info.setText("Select an event first (N, B or U go to one)")
            return
        set_states(layer, indices, state)

    def accept_selected(self):
        """Accept the selected events (real events), then go on to the next one."""
        self._review_and_go_on("accepted")

    def reject_selected(self):
        """Reject the selected events (not events; they stay in the layer as negatives), then go on."""
        self._review_and_go_on("rejected")

    def _review_and_go_on(self, state: str) -> None:
        layer = self.events_layer()
        if layer is None or not layer.selected_data:
            self.info.setText("Select an event first (N, B or U go to one)")
            return
        go_on = self.advance.isChecked() and len(layer.selected_data) == 1
        # the event after this one in the uncertainty order, taken before this one leaves the order
        after = self._next_uncertain() if go_on and self._navigation == "uncertain" else None
        self.set_review_state(state)
        if not go_on:
            return
        if self._navigation != "uncertain":
            self._step(+1)
        elif after is not None and review_states(layer.features)[after] == "unreviewed":
            self.go_to_event(after)
        else:
            self.info.setText(f"All {len(layer.data)} events are reviewed")

    def _next_uncertain(self) -> int | None:
        """The unreviewed event after the selected one in order of uncertainty (wrapping), or the first."""
        events = self.events_table()
        order = [] if events is None else list(most_uncertain_order(events, self.threshold.value()))
        selected = self.selected_event()
        if selected is not None and selected[0] in order:
            position = order.index(selected[0])
            order = order[position + 1:] + order[:position + 1]  # the selected one last
        return order[0] if order else None

    def next_uncertain_event(self):
        """Go to the next unreviewed event in order of uncertainty (closest to the decision first).

        From an unreviewed event, the one after it in that order; otherwise the most uncertain one.
        Returns its index, or None when every event is reviewed.
        """
        layer = self.events_layer()
        index = self._next_uncertain()
        if index is None:
            if layer is not None:
                self.info.setText(f"All {len(layer.data)} events are reviewed")
            return None
        self._navigation = "uncertain"
        self.go_to_event(index)
        return index

    def _show_progress(self, *_):
        events = self.events_table()
        if events is None:
            self.progress.setText("")
            self.ranking.setText("")
            return
        self.progress.setText(f"<b>{progress_text(events)}</b>")
        column = uncertainty_column(events)
        self.threshold.setEnabled(column == "score")
        self.ranking.setText({"confidence": "U ranks the unreviewed events by |confidence − 0.5|",
                              "score": f"U ranks the unreviewed events by |score − {self.threshold.value():.2f}|",
                              None: "U goes through the unreviewed events in time (they have no score)"}[column])
