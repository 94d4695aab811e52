"""The form of one command: a field per argument of its parser, each at its default, the help as tooltip."""

from __future__ import annotations

import html
import shlex
from pathlib import Path

from qtpy.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                            QPushButton, QScrollArea, QVBoxLayout, QWidget)

from .fields import (DEFAULT_CHOICE, Field, arguments, command_parser, command_summary, expand_help, parse_quietly,
                     parser_fields)


class PathInput(QWidget):
    """A line with Browse (and for movies, Folder) buttons; for lists, chosen paths are appended."""

    def __init__(self, field: Field, parent=None):
        super().__init__(parent)
        self.field = field
        self.edit = QLineEdit()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        mode = field.path_mode
        if mode in ("open", "save", "movie"):
            button = QPushButton("Browse…")
            button.clicked.connect(self._browse_file)
            layout.addWidget(button)
        if mode in ("folder", "movie"):
            button = QPushButton("Folder…")
            button.clicked.connect(self._browse_folder)
            layout.addWidget(button)

    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:
        self.edit.setText(text)

    def _start(self) -> str:
        text = self.edit.text().strip()
        if text and "{" not in text:
            last = shlex.split(text)[-1] if self.field.kind == "list" else text
            return str(Path(last).expanduser())
        return str(Path.cwd())

    def _choose(self, chosen: str) -> None:
        if not chosen:
            return
        if self.field.kind == "list":
            current = self.edit.text().strip()
            default = self.field.default_text().strip()
            keep = current if current and current != default else ""
            self.edit.setText(" ".join(filter(None, [keep, shlex.quote(chosen)])))
        else:
            self.edit.setText(chosen)

    def _browse_file(self) -> None:
        if self.field.path_mode == "save":
            chosen, _ = QFileDialog.getSaveFileName(self, self.field.label, self._start(), self.field.file_filter)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, self.field.label, self._start(), self.field.file_filter)
        self._choose(chosen)

    def _browse_folder(self) -> None:
        self._choose(QFileDialog.getExistingDirectory(self, self.field.label, self._start()))


class CommandForm(QScrollArea):
    """The fields of one command, each starting at its default, with the help as tooltip."""

    def __init__(self, name: str, parent=None):
        super().__init__(parent)
        self.name = name
        self.parser = command_parser(name)
        self.fields = parser_fields(self.parser)
        self.inputs = {}
        content = QWidget()
        layout = QVBoxLayout(content)
        title = QLabel(f"<b>{self.parser.prog}</b> &nbsp; {command_summary(name)}")
        title.setWordWrap(True)
        layout.addWidget(title)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for field in self.fields:
            widget = self._input(field)
            tip = expand_help(field.action, self.parser.prog)
            flags = ", ".join(field.action.option_strings) or field.dest
            widget.setToolTip(f"<b>{html.escape(flags)}</b><br>{html.escape(tip)}")
            self.inputs[field.dest] = widget
            if field.kind == "flag":
                form.addRow("", widget)
            else:
                label = QLabel(field.label)
                label.setToolTip(widget.toolTip())
                form.addRow(label, widget)
        layout.addLayout(form)
        layout.addStretch(1)
        self.setWidget(content)
        self.setWidgetResizable(True)

    def _input(self, field: Field) -> QWidget:
        if field.kind == "flag":
            box = QCheckBox(field.label + f"  ({field.option})")
            box.setChecked(bool(field.action.default))
            return box
        if field.kind == "choice":
            box = QComboBox()
            if field.action.default is None:  # not given: the command decides (its help says how)
                box.addItem(DEFAULT_CHOICE)
            box.addItems([str(c) for c in field.action.choices])
            box.setCurrentText(field.default_text())
            return box
        widget = PathInput(field) if field.path_mode else QLineEdit()
        widget.setText(field.default_text())
        if getattr(field.action.type, "__name__", "") == "weights_argument":
            widget.edit.setPlaceholderText("automatic; or bundled, official, or a weights file (.h5)")
        elif field.path_mode == "movie":
            (widget.edit if isinstance(widget, PathInput) else widget).setPlaceholderText(
                "a .h5 file, a TIFF stack or a folder of TIFF frames")
        return widget

    def values(self) -> dict:
        """The fields' values by dest (bool for flags, text otherwise)."""
        values = {}
        for field in self.fields:
            widget = self.inputs[field.dest]
            if field.kind == "flag":
                values[field.dest] = widget.isChecked()
            elif field.kind == "choice":
                text = widget.currentText()
                values[field.dest] = "" if text == DEFAULT_CHOICE else text
            else:
                values[field.dest] = widget.text()
        return values

    def set_value(self, dest: str, value) -> None:
        """Fill a field as a user would (bool for flags, text otherwise)."""
        widget = self.inputs[dest]
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QComboBox):
            widget.setCurrentText(str(value) if str(value) else DEFAULT_CHOICE)
        else:
            widget.setText(str(value))

    def arguments(self) -> list[str]:
        return arguments(self.fields, self.values())

    def check(self) -> str | None:
        """The parser's complaint about the current values (as the command would print it), or None."""
        try:
            parse_quietly(self.parser, self.arguments())
        except ValueError as err:
            return str(err)
        return None
