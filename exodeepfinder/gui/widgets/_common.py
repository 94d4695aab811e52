"""What the dock widgets share: layer pickers, file and number fields, forms, a log, and the panel that runs long work.

Long work runs in a napari thread worker. The library reports progress through a callback
``progress(done, total)`` called in the worker thread; :class:`TaskPanel` relays it to its
progress bar with a Qt signal (queued into the main thread) and answers False once Cancel was
pressed, which makes the library raise :class:`~exodeepfinder.errors.Cancelled`.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from qtpy.QtCore import QObject, Qt, Signal, Slot
from qtpy.QtGui import QFontDatabase
from qtpy.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                            QPlainTextEdit, QProgressBar, QPushButton, QSizePolicy, QSpinBox, QVBoxLayout, QWidget)

from ...errors import Cancelled, InputError
from ..layers import PATH_KEY, ROLE_KEY

#: Errors shown to the user as one line (the library's messages name the file or argument).
USER_ERRORS = (InputError, ValueError, FileExistsError, FileNotFoundError)


def layer_path(layer) -> Path | None:
    """The file a layer was read from (set by the plugin's reader), if known."""
    if layer is None:
        return None
    path = layer.metadata.get(PATH_KEY) if layer.metadata else None
    if path is None and getattr(layer, "source", None) is not None and layer.source.path:
        path = layer.source.path
    return Path(path) if path else None


def is_events_layer(layer) -> bool:
    """True for a points layer ``[t, y, x]`` that is not one of the widgets' helper layers."""
    from napari.layers import Points

    return isinstance(layer, Points) and layer.ndim == 3 and not (layer.metadata or {}).get(ROLE_KEY)


def is_movie_layer(layer) -> bool:
    """True for a single-channel image layer ``[t, y, x]`` that is not a class probability."""
    from napari.layers import Image

    return isinstance(layer, Image) and layer.ndim == 3 and not layer.rgb and not (layer.metadata or {}).get(ROLE_KEY)


def add_layer(viewer, layer_data: tuple, *, replace: bool = True):
    """Add a layer from a layer data tuple; replace the layer of the same name (a rerun's result)."""
    from napari.layers import Layer

    layer = Layer.create(*layer_data)
    if replace and layer.name in viewer.layers:
        old = viewer.layers[layer.name]
        index = viewer.layers.index(old)
        viewer.layers.remove(old)
        viewer.layers.insert(index, layer)
    else:
        viewer.add_layer(layer)
    return layer


def connect_while_alive(widget: QWidget, emitter, callback) -> None:
    """Connect a napari event to ``callback`` until ``widget`` is deleted (a closed dock widget).

    The viewer outlives its dock widgets: without this, its events would call methods of a
    deleted Qt object.
    """
    emitter.connect(callback)

    def disconnect(*_):
        try:
            emitter.disconnect(callback)
        except (TypeError, ValueError, RuntimeError):
            pass

    widget.destroyed.connect(disconnect)


def section_title(text: str) -> QLabel:
    label = QLabel(f"<b>{text}</b>")
    label.setContentsMargins(0, 8, 0, 0)
    return label


def form_layout(*rows) -> QFormLayout:
    """A form of rows ``(label, field)``; a row that is a field alone has no label (it goes under the one above)."""
    form = QFormLayout()
    for row in rows:
        label, field = row if isinstance(row, tuple) else ("", row)
        form.addRow(label, field)
    return form


def number_field(low: float, high: float, value: float = 0, *, integer: bool = False, decimals: int | None = None,
                 step: float | None = None, suffix: str = "", special: str = "", tip: str = ""):
    """A spin box from ``low`` to ``high`` starting at ``value`` (a QSpinBox with ``integer``, else a QDoubleSpinBox).

    ``special`` is the text shown at ``low`` (e.g. "unknown", "no limit"); ``tip`` the tooltip.
    """
    box = QSpinBox() if integer else QDoubleSpinBox()
    if decimals is not None:
        box.setDecimals(decimals)
    number = int if integer else float
    box.setRange(number(low), number(high))
    if step is not None:
        box.setSingleStep(step)
    if suffix:
        box.setSuffix(suffix)
    if special:
        box.setSpecialValueText(special)
    box.setValue(number(value))
    if tip:
        box.setToolTip(tip)
    return box


def library_default(function: Callable, name: str):
    """The default value of a library function's parameter (the library is the one home of its settings)."""
    return inspect.signature(function).parameters[name].default


class LogView(QPlainTextEdit):
    """A read-only log; :meth:`write` appends a line from any thread (queued into the main thread)."""

    _line = Signal(str)

    def __init__(self, *, min_height: int = 80, max_lines: int = 0, fixed_font: bool = False, wrap: bool = True,
                 parent=None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMinimumHeight(min_height)
        if max_lines:
            self.setMaximumBlockCount(max_lines)
        if not wrap:
            self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        if fixed_font:
            self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._line.connect(self.appendPlainText)

    def write(self, text: str) -> None:
        """Append ``text`` as a line (safe from a worker thread: the library's ``log`` callback)."""
        self._line.emit(str(text))


class LayerChoice(QComboBox):
    """A combo box of the viewer's layers of some types, kept up to date as layers come and go.

    Parameters
    ----------
    viewer : napari.Viewer
    layer_types : type or tuple of types
        napari layer classes to list (e.g. ``napari.layers.Image``).
    accept : callable, optional
        ``accept(layer) -> bool``: list only the layers for which it is true.
    prefer : callable, optional
        ``prefer(layer) -> bool``: a new layer for which it is true becomes the choice when
        nothing was chosen yet.
    """

    def __init__(self, viewer, layer_types, *, accept: Callable | None = None, prefer: Callable | None = None,
                 parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.layer_types = layer_types
        self.accept = accept
        self.prefer = prefer
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self._layers = []
        connect_while_alive(self, viewer.layers.events.inserted, self._on_inserted)
        connect_while_alive(self, viewer.layers.events.removed, self.refresh)
        connect_while_alive(self, viewer.layers.events.moved, self.refresh)
        for layer in viewer.layers:
            connect_while_alive(self, layer.events.name, self.refresh)
        self.refresh()

    def _on_inserted(self, event):
        connect_while_alive(self, event.value.events.name, self.refresh)
        chosen = self.layer()
        self.refresh()
        if event.value in self._layers and self.prefer is not None and self.prefer(event.value) \
                and (chosen is None or not self.prefer(chosen)):
            self.set_layer(event.value)

    def refresh(self, event=None):
        current = self.layer()
        self._layers = [layer for layer in self.viewer.layers if isinstance(layer, self.layer_types)
                        and (self.accept is None or self.accept(layer))]
        self.blockSignals(True)
        self.clear()
        self.addItems([layer.name for layer in self._layers])
        self.blockSignals(False)
        if current in self._layers:
            self.setCurrentIndex(self._layers.index(current))
        elif self._layers:
            preferred = [layer for layer in self._layers if self.prefer is not None and self.prefer(layer)]
            self.setCurrentIndex(self._layers.index(preferred[0] if preferred else self._layers[0]))
            self.currentIndexChanged.emit(self.currentIndex())

    def layer(self):
        """The chosen layer, or None."""
        index = self.currentIndex()
        return self._layers[index] if 0 <= index < len(self._layers) else None

    def set_layer(self, layer) -> None:
        self.refresh()
        if layer in self._layers:
            self.setCurrentIndex(self._layers.index(layer))


class PathField(QWidget):
    """A line edit for a path with a button that opens a file or folder dialog.

    Parameters
    ----------
    mode : {"open", "save", "folder"}
    file_filter : str
        Qt name filter of the dialog, e.g. ``"Weights (*.h5)"``.
    """

    changed = Signal(str)

    def __init__(self, mode: str = "open", file_filter: str = "", placeholder: str = "", parent=None):
        super().__init__(parent)
        self.mode = mode
        self.file_filter = file_filter
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.textChanged.connect(self.changed)
        self.button = QPushButton("Folder…" if mode == "folder" else "Browse…")
        self.button.clicked.connect(self.browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button)

    def browse(self) -> None:
        start = self.edit.text() or str(Path.cwd())
        if self.mode == "folder":
            chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        elif self.mode == "save":
            chosen, _ = QFileDialog.getSaveFileName(self, "Save as", start, self.file_filter)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Open", start, self.file_filter)
        if chosen:
            self.edit.setText(chosen)

    def path(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text).expanduser() if text else None

    def set_path(self, path) -> None:
        self.edit.setText("" if path is None else str(path))


@dataclass
class _Outcome:
    """How a task ended: its result, a cancel, or a user error (shown as one line)."""

    result: object = None
    cancelled: bool = False
    error: Exception | None = None


class _Relay(QObject):
    """Carries progress from the worker thread to the main thread (queued signal)."""

    progressed = Signal(int, int)


class TaskPanel(QWidget):
    """A progress bar, a Cancel button and a status line that run one task at a time in a thread.

    ``run(task, ...)`` calls ``task(progress)`` in a napari thread worker; the task passes
    ``progress`` to the library. When it ends, ``on_result(result)`` runs in the main thread;
    a cancel shows "Cancelled", a user error its one-line message.
    """

    started = Signal()
    finished = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self._relay = _Relay()
        self._relay.progressed.connect(self._show_progress)
        self._cancel = threading.Event()
        self.worker = None
        self.error = None

    @property
    def running(self) -> bool:
        return self.worker is not None

    def locks(self, *buttons) -> "TaskPanel":
        """Disable ``buttons`` while a task runs (one task at a time); returns the panel."""
        self.started.connect(lambda: [button.setEnabled(False) for button in buttons])
        self.finished.connect(lambda: [button.setEnabled(True) for button in buttons])
        return self

    def run(self, task: Callable, *, on_result: Callable | None = None, description: str = "Working") -> None:
        """Run ``task(progress)`` in a thread worker; ``on_result(result)`` gets what it returns."""
        from napari.qt.threading import create_worker

        if self.running:
            raise RuntimeError("a task is already running")
        self._cancel.clear()
        self.error = None
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.set_status(f"{description}…")
        self.cancel_button.setEnabled(True)
        relay, cancel = self._relay, self._cancel

        def progress(done, total):
            relay.progressed.emit(int(done), int(total))
            return not cancel.is_set()

        def guarded(progress):
            # a cancel or a user error is an outcome, not a crash: napari would report it as a bug
            try:
                return _Outcome(result=task(progress))
            except Cancelled:
                return _Outcome(cancelled=True)
            except USER_ERRORS as err:
                return _Outcome(error=err)

        worker = create_worker(guarded, progress, _start_thread=False,
                               _connect={"returned": lambda outcome: self._on_returned(outcome, on_result, description),
                                         "errored": self._on_errored, "finished": self._on_finished})
        self.worker = worker
        self.started.emit()
        worker.start()

    def cancel(self) -> None:
        """Ask the running task to stop at its next progress report."""
        if self.running:
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self.set_status("Cancelling…")

    @Slot(int, int)
    def _show_progress(self, done: int, total: int) -> None:
        if total <= 0:
            return
        self.bar.setRange(0, total)
        self.bar.setValue(min(done, total))

    def _on_returned(self, outcome: "_Outcome", on_result, description) -> None:
        self.bar.setRange(0, 100)
        if outcome.cancelled:
            self.bar.setValue(0)
            self.set_status("Cancelled")
            return
        if outcome.error is not None:
            self.bar.setValue(0)
            self._show_error(outcome.error)
            return
        self.bar.setValue(100)
        self.set_status(f"{description}: done")
        if on_result is not None:
            try:
                on_result(outcome.result)
            except USER_ERRORS as err:
                self._show_error(err)

    def _on_errored(self, error: Exception) -> None:
        # an unexpected error (a bug): napari also shows it with its traceback
        self.bar.setRange(0, 100)
        self.bar.setValue(0)
        self._show_error(error)

    def _show_error(self, error: Exception) -> None:
        self.error = error
        text = str(error) if isinstance(error, USER_ERRORS) else f"{type(error).__name__}: {error}"
        self.set_status(text, error=True)

    def _on_finished(self) -> None:
        self.worker = None
        self.cancel_button.setEnabled(False)
        self.finished.emit()

    def set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setStyleSheet("color: #ff6b6b;" if error else "")
        self.status.setText(text)


def push_button(text: str, slot: Callable, tip: str = "") -> QPushButton:
    """A button that calls ``slot()`` when clicked."""
    button = QPushButton(text)
    button.clicked.connect(lambda *_: slot())
    if tip:
        button.setToolTip(tip)
    return button


def run_controls(text: str, slot: Callable, tip: str = "") -> tuple[QPushButton, TaskPanel]:
    """A button that starts a widget's task (``slot``) and the :class:`TaskPanel` that runs it, locking the button."""
    button = push_button(text, slot, tip)
    return button, TaskPanel().locks(button)
