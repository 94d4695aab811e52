"""The Review widget: its layout, the layers it works on, and what follows their changes.

What it does is in its parts: :mod:`.states` (accept, reject, uncertainty order, progress),
:mod:`.navigation` (add, delete, move, next, previous), :mod:`.side_views` (cross, side views,
trace), :mod:`.saving` (CSV, XML), :mod:`.keys` (key bindings) and :mod:`.styling` (the layer's
review feature and how each state is drawn).
"""

from __future__ import annotations

from qtpy.QtWidgets import QFormLayout, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ... import layers
from .._common import LayerChoice, add_layer, connect_while_alive, is_events_layer, is_movie_layer, section_title
from .keys import KEYS, bind_keys, unbind_keys
from .navigation import Navigation
from .saving import Saving
from .side_views import SideViews
from .states import ReviewStates
from .styling import ensure_review_column, mark_added, restyle

#: The action buttons: name -> (text, method, place in the grid (row, column, rows, columns), tooltip).
BUTTONS = {
    "accept": (f"Accept [{KEYS['accept']}]", "accept_selected", (0, 0, 1, 1),
               "the selected events are real events (a hand-added event stays 'added')"),
    "reject": (f"Reject [{KEYS['reject']}]", "reject_selected", (0, 1, 1, 1),
               "the selected events are not events: they stay in the layer and the CSV as negatives"),
    "uncertain": (f"Next most uncertain [{KEYS['uncertain']}]", "next_uncertain_event", (1, 0, 1, 2),
                  "the unreviewed event whose confidence (or score) is closest to the decision"),
    "add": (f"Add at cursor [{KEYS['add']}]", "add_event_at_cursor", (2, 0, 1, 1), ""),
    "delete": ("Delete selected [Del]", "delete_selected", (2, 1, 1, 1),
               "remove the selected events (a wrong detection is better rejected: R)"),
    "move": (f"Move selected to cursor [{KEYS['move']}]", "move_selected_to_cursor", (3, 0, 1, 2), ""),
    "previous": (f"◀ Previous [{KEYS['previous']}]", "previous_event", (4, 0, 1, 1), ""),
    "next": (f"Next [{KEYS['next']}] ▶", "next_event", (4, 1, 1, 1), ""),
}


def _prefer_events(layer) -> bool:
    return not layer.name.startswith("true ")


class ReviewWidget(ReviewStates, Navigation, SideViews, Saving, QWidget):
    """Review detected events or annotate new ones on a movie."""

    def __init__(self, napari_viewer, parent=None):
        from napari.layers import Image, Points

        super().__init__(parent)
        self.viewer = napari_viewer
        self.events_choice = LayerChoice(napari_viewer, Points, accept=is_events_layer, prefer=_prefer_events)
        self.movie_choice = LayerChoice(napari_viewer, Image, accept=is_movie_layer)
        new_button = QPushButton("New annotation layer")
        new_button.setToolTip("an empty points layer for expert events (saved as expert_annotation.xml)")
        new_button.clicked.connect(self.new_annotation_layer)
        self._slots = {name: getattr(self, BUTTONS[name][1]) for name in KEYS}
        self._watched = None
        grid = self._make_buttons()
        self._make_review_options()
        view_options = self._make_side_views()
        saving = self._make_saving()

        form = QFormLayout()
        form.addRow("Events", self.events_choice)
        form.addRow("", new_button)
        form.addRow("Movie", self.movie_choice)
        uncertain = QHBoxLayout()
        uncertain.addWidget(QLabel("Decision threshold (score)"))
        uncertain.addWidget(self.threshold)
        uncertain.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addLayout(grid)
        layout.addWidget(self.advance)
        layout.addLayout(uncertain)
        layout.addWidget(self.ranking)
        layout.addWidget(self.info)
        layout.addWidget(section_title("Side views and intensity trace"))
        layout.addLayout(view_options)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(saving)
        layout.addWidget(self.save_status)
        self._connect(napari_viewer)

    def _make_buttons(self) -> QGridLayout:
        """The action buttons (``self.buttons`` by name) in their grid."""
        grid = QGridLayout()
        self.buttons = {}
        for name, (text, method, place, tip) in BUTTONS.items():
            button = QPushButton(text)
            button.clicked.connect(getattr(self, method))
            if tip:
                button.setToolTip(tip)
            self.buttons[name] = button
            grid.addWidget(button, *place)
        return grid

    def _connect(self, viewer) -> None:
        """Follow the mouse, the frame and the chosen layers; bind the keys until the widget is closed."""
        connect_while_alive(self, viewer.cursor.events.position, self._on_mouse)
        connect_while_alive(self, viewer.dims.events.current_step, self._schedule_redraw)
        self.events_choice.currentIndexChanged.connect(self._watch_events_layer)
        self.movie_choice.currentIndexChanged.connect(self._on_movie_changed)
        bind_keys(viewer, self._slots)
        self.destroyed.connect(lambda *_: unbind_keys(viewer))
        self.destroyed.connect(lambda *_: unbind_keys(self._watched))
        self._watch_events_layer()
        self._on_movie_changed()

    # ---- layers -----------------------------------------------------------------------------
    def events_layer(self):
        return self.events_choice.layer()

    def movie(self):
        layer = self.movie_choice.layer()
        return None if layer is None else layer.data

    def new_annotation_layer(self):
        """Add an empty events layer ``expert_annotation`` and choose it."""
        layer = add_layer(self.viewer, layers.events_layer(layers.empty_events(), name="expert_annotation"),
                          replace=False)
        self.events_choice.set_layer(layer)
        self.viewer.layers.selection.active = layer
        layer.mode = "select"
        return layer

    def _watch_events_layer(self, *_):
        if self._watched is not None:
            for signal in (self._watched.events.data, self._watched.selected_data.events.items_changed,
                           self._watched.events.features):
                try:
                    signal.disconnect(self._on_events_changed)
                except (TypeError, ValueError, RuntimeError):
                    pass
            unbind_keys(self._watched)
        self._watched = self.events_layer()
        if self._watched is not None:
            ensure_review_column(self._watched)
            restyle(self._watched)
            connect_while_alive(self, self._watched.events.data, self._on_events_changed)
            connect_while_alive(self, self._watched.selected_data.events.items_changed, self._on_events_changed)
            connect_while_alive(self, self._watched.events.features, self._on_events_changed)
            # napari binds A (select all in the slice) to points layers: the layer's own binding wins over it
            bind_keys(self._watched, self._slots)
        self._on_events_changed()

    def _on_movie_changed(self, *_):
        self._block = None
        movie = self.movie()
        if movie is not None and self.cross is None:
            self.set_cross(movie.shape[1] / 2, movie.shape[2] / 2)
        self._schedule_redraw()

    def _on_events_changed(self, event=None):
        layer = self._watched
        if layer is not None and event is not None and getattr(event, "source", None) is layer:
            if getattr(event, "type", "") == "features":
                ensure_review_column(layer)   # features replaced (the Detect widget's sliders)
                restyle(layer)
            elif str(getattr(event, "action", "")) == "added":
                # points added by hand (E, napari's add mode: Points.add, whose indices count from the end) are
                # added events; napari gave them the features of the last selected point. Data set as a whole
                # (a script, the Detect widget's sliders) is not.
                indices = [len(layer.data) + int(i) for i in getattr(event, "data_indices", ()) if int(i) < 0]
                mark_added(layer, indices)
            elif str(getattr(event, "action", "")) == "removed":
                restyle(layer)
        self._show_progress()
        self._show_selected_info()
        self._schedule_redraw()

    def showEvent(self, event):
        super().showEvent(event)
        self._schedule_redraw()
