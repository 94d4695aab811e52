"""The form window: one command's form and runner, or every command's with the Actions list; :func:`launch`."""

from __future__ import annotations

import sys
from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtGui import QAction, QFont
from qtpy.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QLabel, QListWidget, QMainWindow, QMessageBox,
                            QPlainTextEdit, QSplitter, QStackedWidget, QVBoxLayout, QWidget)

from ..._version import __version__
from .command_form import CommandForm
from .fields import command_names, command_summary
from .runner import CommandRunner


class CommandWindow(QMainWindow):
    """The window of one command, or of all of them (``command=None``: the Actions list on the left)."""

    def __init__(self, command: str | None = None, parent=None):
        super().__init__(parent)
        self.commands = command_names() if command is None else [command]
        if command is not None and command not in command_names():
            raise ValueError(f"command: unknown command {command!r} (known: {', '.join(command_names())})")
        self.setWindowTitle("ExoDeepFinder" if command is None else f"ExoDeepFinder: edf_{command}")
        self.forms = {}
        self.stack = QStackedWidget()
        self.runner = CommandRunner()
        self.runner.run_button.clicked.connect(self.run)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.stack)
        right.addWidget(self.runner)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        if command is None:
            self.actions_list = QListWidget()
            self.actions_list.addItems(self.commands)
            for index, name in enumerate(self.commands):
                self.actions_list.item(index).setToolTip(command_summary(name))
            self.actions_list.currentRowChanged.connect(lambda row: self.show_command(self.commands[row]))
            self.actions_list.setMaximumWidth(260)
            actions = QWidget()
            actions_layout = QVBoxLayout(actions)
            actions_layout.setContentsMargins(0, 0, 0, 0)
            actions_layout.addWidget(QLabel("<b>Actions</b>"))
            actions_layout.addWidget(self.actions_list)
            splitter = QSplitter(Qt.Orientation.Horizontal)
            splitter.addWidget(actions)
            splitter.addWidget(right)
            splitter.setStretchFactor(1, 1)
            self.setCentralWidget(splitter)
            self.actions_list.setCurrentRow(0)
        else:
            self.actions_list = None
            self.setCentralWidget(right)
            self.show_command(command)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("About", self)
        about.triggered.connect(self.about)
        documentation = QAction("Documentation", self)
        documentation.triggered.connect(self.documentation)
        help_menu.addAction(about)
        help_menu.addAction(documentation)
        self.resize(980 if command is None else 760, 760)

    @property
    def current(self) -> str:
        return self.stack.currentWidget().name

    def form(self, name: str) -> CommandForm:
        """The form of a command (built when first shown)."""
        if name not in self.forms:
            self.forms[name] = CommandForm(name)
            self.stack.addWidget(self.forms[name])
        return self.forms[name]

    def show_command(self, name: str) -> None:
        self.stack.setCurrentWidget(self.form(name))
        if self.actions_list is not None and self.actions_list.currentRow() != self.commands.index(name):
            self.actions_list.setCurrentRow(self.commands.index(name))

    def run(self) -> None:
        """Check the current form with the command's parser, then run the command."""
        form = self.form(self.current)
        problem = form.check()
        if problem:
            self.runner.status.setText(f"Check the form: {problem}")
            return
        self.runner.start(form.name, form.arguments())

    def about(self) -> None:
        QMessageBox.about(self, "About ExoDeepFinder",
                          f"<b>ExoDeepFinder</b> {__version__}<br>Detect exocytosis events in TIRF microscopy "
                          "movies with a 3D U-Net.<br><br>A PyTorch re-implementation of ExoDeepFinder "
                          "(Lachuer, Moebel et al., PLOS Comput Biol 2025, "
                          "<a href='https://doi.org/10.1371/journal.pcbi.1013556'>doi:10.1371/journal.pcbi.1013556</a>)."
                          "<br><br>License: GPL-3.0-or-later.")

    def documentation(self) -> None:
        """The current command's full help (what ``--help`` prints), and where the user's guide is."""
        form = self.form(self.current)
        dialog = QDialog(self)
        dialog.setWindowTitle(f"Documentation: {form.parser.prog}")
        text = QPlainTextEdit(form.parser.format_help() + _guide_note())
        text.setReadOnly(True)
        text.setFont(QFont("monospace", 9))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(text)
        layout.addWidget(buttons)
        dialog.resize(720, 560)
        dialog.show()
        self._documentation = dialog

    def closeEvent(self, event) -> None:
        if self.runner.running:
            answer = QMessageBox.question(self, "Cancel the running command?",
                                          "A command is running. Cancel it and close the window?")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.runner.cancel()
            if self.runner.process is not None:
                self.runner.process.waitForFinished(30000)
        event.accept()


def _guide_note() -> str:
    readme = Path(__file__).resolve().parents[3] / "README.md"
    where = f"\nUser's guide: {readme}\n" if readme.is_file() else ""
    return "\n" + where + "Every command also runs in a terminal: exodeepfinder <command> --help\n"


def launch(command: str | None = None) -> int:
    """Open the form window of ``command`` (or the ExoDeepFinder window of all commands) and run it.

    Parameters
    ----------
    command : str or None
        A command name (``"segment"``, ``"detect"``...); None for the window listing every command.

    Returns
    -------
    int
        The exit status of the last command run from the window (0 if none was run).
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ExoDeepFinder")
    window = CommandWindow(command)
    window.show()
    app.exec()
    return window.runner.exit_code or 0
