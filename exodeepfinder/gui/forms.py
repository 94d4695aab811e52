"""Form windows for the commands, generated from the same argparse parsers as the command line.

Every ``edf_*`` command run with no arguments opens the form of its parser (:func:`launch`);
``exodeepfinder`` alone opens the ``ExoDeepFinder`` window, which lists every command in an
Actions list, like the reference's Gooey window. A form has one field per argument:

- paths get a Browse button: a file chooser for inputs, a file saver for outputs (arguments whose
  default is a ``{placeholder}`` template, or whose help starts with "output"), a folder chooser
  for folders (``--batch``, and arguments whose help says "folder"), and for movies both a file
  and a folder chooser (a movie may be a folder of TIFF frames);
- flags are check boxes, choices are combo boxes, lists are space-separated text;
- each field starts at the argument's default and shows the argument's help as its tooltip.

Run starts ``python -m exodeepfinder <command> <arguments>`` as a child process whose output goes
to the log view and whose progress bars (tqdm, on stderr) drive the progress bar. Only the
arguments changed from their defaults are passed, so the command line shown above the log is
the one a user would type. Cancel interrupts the child as Ctrl+C does (SIGINT): the commands then
remove their temporary outputs and exit with status 130.
"""

from __future__ import annotations

import argparse
import html
import importlib
import os
import re
import shlex
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from qtpy.QtCore import QProcess, QProcessEnvironment, Qt, Signal
from qtpy.QtGui import QAction, QFont
from qtpy.QtWidgets import (QApplication, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                            QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QMainWindow, QMessageBox,
                            QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSplitter, QStackedWidget,
                            QVBoxLayout, QWidget)

from .._version import __version__
from ..commands import COMMANDS, build_parser

#: Environment of the child process: unbuffered output, and progress bars although stderr is a pipe.
CHILD_ENVIRONMENT = {"PYTHONUNBUFFERED": "1", "EXODEEPFINDER_PROGRESS": "1"}
EXIT_CANCELLED = 130
MOVIE_FILTER = "Movies (*.h5 *.hdf5 *.tif *.tiff *.TIF *.TIFF)"
_EXTENSION = re.compile(r"\.(h5|hdf5|xml|csv|tiff?|png|pt|zip)\b", re.IGNORECASE)
_FILE_TYPES = {"h5": "HDF5", "hdf5": "HDF5", "xml": "XML", "csv": "CSV", "tif": "TIFF", "tiff": "TIFF",
               "png": "PNG", "pt": "PyTorch", "zip": "ZIP"}
#: tqdm's "12/345 [" (counts) or " 45%|" (percent), the last one on a line wins.
_TQDM_COUNT = re.compile(r"(\d+)/(\d+) \[")
_TQDM_PERCENT = re.compile(r"(\d+)%\|")
_TQDM_DESC = re.compile(r"^\s*(.*?):\s+\d+%\|")


# ---- from argparse to fields (no Qt) ------------------------------------------------------------

def command_names() -> list[str]:
    """The commands of ``exodeepfinder`` (in pipeline order) whose module can be imported."""
    names = []
    for name in COMMANDS:
        try:
            importlib.import_module(f"exodeepfinder.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"exodeepfinder.cli.{name}":
                raise
            continue
        names.append(name)
    return names


def command_parser(name: str) -> argparse.ArgumentParser:
    """The argparse parser of command ``name`` (the one ``edf_<name>`` parses its arguments with)."""
    return build_parser(importlib.import_module(f"exodeepfinder.cli.{name}"))


def command_summary(name: str) -> str:
    """First line of the command's description."""
    doc = importlib.import_module(f"exodeepfinder.cli.{name}").__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else name


@dataclass
class Field:
    """How one argparse argument appears in a form.

    Attributes
    ----------
    action : argparse.Action
    kind : str
        ``flag`` (check box), ``choice`` (combo box), ``list`` (several values, space-separated),
        ``path`` or ``text`` (a line).
    path_mode : str or None
        For paths: ``open``, ``save``, ``folder`` or ``movie`` (a file or a folder of frames).
    file_filter : str
        Qt name filter of the file dialog.
    """

    action: argparse.Action
    kind: str
    path_mode: str | None = None
    file_filter: str = ""

    @property
    def dest(self) -> str:
        return self.action.dest

    @property
    def option(self) -> str | None:
        """The long option (``--movie``), or None for a positional argument."""
        options = self.action.option_strings
        if not options:
            return None
        long = [o for o in options if o.startswith("--")]
        return (long or options)[-1]

    @property
    def label(self) -> str:
        return self.dest.replace("_", " ").capitalize()

    def default_text(self) -> str:
        """The default as the field shows it."""
        default = self.action.default
        if default is None or default is argparse.SUPPRESS:
            return ""
        if isinstance(default, (list, tuple)):
            return " ".join(str(v) for v in default)
        return str(default)


def _is_path_like(action: argparse.Action) -> bool:
    type_name = getattr(action.type, "__name__", "")
    template = isinstance(action.default, str) and "{" in action.default
    return action.type is Path or isinstance(action.default, Path) or template or type_name in (
        "Path", "PosixPath", "WindowsPath", "weights_argument")


def path_mode(action: argparse.Action) -> str | None:
    """``open``, ``save``, ``folder`` or ``movie`` for a path argument; None for other arguments."""
    if not _is_path_like(action):
        return None
    text = (action.help or "").strip().lower()
    first_clause = re.split(r"[(;,:]", text, maxsplit=1)[0]
    if action.dest in ("batch", "pooled_batch"):
        return "folder"
    if re.search(r"\bfolders?\b", first_clause) and not text.startswith("movie"):
        return "folder"
    if (isinstance(action.default, str) and "{" in action.default) or text.startswith("output") \
            or re.search(r"\bto (write|create)\b", first_clause):
        return "save"
    if action.dest in ("movie", "movies") or text.startswith("movie"):
        return "movie"
    return "open"


def file_filter(action: argparse.Action, mode: str | None) -> str:
    """A Qt name filter from the extensions the argument's help mentions (e.g. ``XML (*.xml)``)."""
    if mode == "movie":
        return f"{MOVIE_FILTER};;All files (*)"
    extensions = []
    for match in _EXTENSION.finditer(action.help or ""):
        extension = match.group(1).lower()
        if extension not in extensions:
            extensions.append(extension)
    if isinstance(action.default, (str, Path)):
        suffix = Path(str(action.default)).suffix.lower().lstrip(".")
        if suffix in _FILE_TYPES:  # the default's type first
            extensions = [suffix] + [e for e in extensions if e != suffix]
    filters = [f"{_FILE_TYPES[e]} (*.{e})" for e in extensions]
    return ";;".join(filters + ["All files (*)"])


#: The entry of a choice whose option is left out (the command then decides, as its help says).
DEFAULT_CHOICE = "(default)"


def describe(action: argparse.Action) -> Field | None:
    """The form field of an argparse action (None for --help, --version and hidden arguments)."""
    if isinstance(action, (argparse._HelpAction, argparse._VersionAction)) or action.help is argparse.SUPPRESS:
        return None
    if action.nargs == 0:
        return Field(action, "flag")
    if action.choices is not None:
        return Field(action, "choice")
    mode = path_mode(action)
    if action.nargs not in (None, "?"):
        return Field(action, "list", mode, file_filter(action, mode) if mode else "")
    if mode is not None:
        return Field(action, "path", mode, file_filter(action, mode))
    return Field(action, "text")


def parser_fields(parser: argparse.ArgumentParser) -> list[Field]:
    """The fields of a parser's arguments, positionals first, in the parser's order."""
    # argparse keeps its arguments in the (underscored but long-stable) `_actions` list, as Gooey reads them
    fields = [describe(action) for action in parser._actions]
    fields = [f for f in fields if f is not None]
    return [f for f in fields if f.option is None] + [f for f in fields if f.option is not None]


def expand_help(action: argparse.Action, prog: str = "") -> str:
    """The argument's help with ``%(default)s``-style fields filled and ``%%`` as ``%``, as --help prints it."""
    text = action.help or ""
    values = {name: value for name, value in vars(action).items() if value is not argparse.SUPPRESS}
    values["prog"] = prog
    for name, value in list(values.items()):
        if hasattr(value, "__name__"):
            values[name] = value.__name__
    if values.get("choices") is not None:
        values["choices"] = ", ".join(str(c) for c in values["choices"])
    try:
        return text % values
    except (KeyError, TypeError, ValueError):
        return text


def arguments(fields: list[Field], values: dict) -> list[str]:
    """The command-line arguments for the fields' ``values`` (by dest), leaving out unchanged defaults.

    Values are: bool for flags, str for choices, text and paths, str (space-separated, shell
    quoting allowed) for lists.
    """
    argv, positionals = [], []
    for field in fields:
        if field.dest not in values:
            continue
        value = values[field.dest]
        if field.kind == "flag":
            const = field.action.const
            chosen = const if value else (not const if isinstance(const, bool) else field.action.default)
            if bool(value) and chosen != field.action.default:
                argv.append(field.option)
            continue
        text = str(value).strip()
        if text == field.default_text().strip() or not text:
            continue
        items = shlex.split(text) if field.kind == "list" else [text]
        if field.option is None:
            positionals.extend(items)
        else:
            argv.append(field.option)
            argv.extend(items)
    return argv + positionals


# ---- Qt widgets ---------------------------------------------------------------------------------

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
            _parse_quietly(self.parser, self.arguments())
        except ValueError as err:
            return str(err)
        return None


def _parse_quietly(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse like the command, raising ValueError with argparse's message instead of exiting."""
    def fail(message):
        raise ValueError(message)

    original = parser.error
    parser.error = fail
    try:
        return parser.parse_args(argv)
    finally:
        parser.error = original


class CommandRunner(QWidget):
    """Runs a command as a child process: Run / Cancel, the command line, a progress bar and the log."""

    finished = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setValue(0)
        self.bar_label = QLabel("")
        self.command_line = QLineEdit()
        self.command_line.setReadOnly(True)
        self.command_line.setPlaceholderText("the command line appears here")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setFont(QFont("monospace", 9))
        self.status = QLabel("")
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.bar, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.command_line)
        layout.addLayout(row)
        layout.addWidget(self.bar_label)
        layout.addWidget(self.log, 1)
        layout.addWidget(self.status)
        self.process = None
        self.exit_code = None
        self.progress_seen = []          # (done, total) parsed from the child's progress bars
        self._stderr_tail = ""

    @property
    def running(self) -> bool:
        return self.process is not None

    def start(self, command: str, argv: list[str]) -> None:
        """Run ``python -m exodeepfinder <command> <argv>``."""
        if self.running:
            return
        self.exit_code = None
        self.progress_seen = []
        self._stderr_tail = ""
        self.bar.setRange(0, 0)
        self.bar_label.setText("")
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        for name, value in CHILD_ENVIRONMENT.items():
            environment.insert(name, value)
        process.setProcessEnvironment(environment)
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        arguments = ["-m", "exodeepfinder", command, *argv]
        command_line = shlex.join(["exodeepfinder", command, *argv])
        self.command_line.setText(command_line)
        self.log.appendPlainText(f"$ {command_line}")
        self.status.setText("Running…")
        self.process = process
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        process.start(sys.executable, arguments)

    def cancel(self) -> None:
        """Interrupt the command as Ctrl+C does; it removes its temporary outputs and exits (130)."""
        if not self.running:
            return
        self.status.setText("Cancelling…")
        self.cancel_button.setEnabled(False)
        pid = int(self.process.processId())
        if pid and hasattr(signal, "SIGINT") and os.name == "posix":
            os.kill(pid, signal.SIGINT)
        else:  # Windows has no SIGINT for a child without a console: stop it
            self.process.kill()

    def _read_stdout(self) -> None:
        text = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        self.log.appendPlainText(text.rstrip("\n"))

    def _read_stderr(self) -> None:
        text = self._stderr_tail + bytes(self.process.readAllStandardError()).decode("utf-8", "replace")
        # tqdm redraws its bar after '\r'; whole lines end with '\n'
        pieces = re.split(r"(\r|\n)", text)
        self._stderr_tail = pieces[-1]
        line = ""
        for piece in pieces[:-1]:
            if piece == "\r":
                self._progress_line(line)
                line = ""
            elif piece == "\n":
                if not self._progress_line(line) and line.strip():
                    self.log.appendPlainText(line)
                line = ""
            else:
                line += piece
        self._progress_line(self._stderr_tail)

    def _progress_line(self, line: str) -> bool:
        """Update the progress bar from a tqdm line; return True if it was one."""
        counts = _TQDM_COUNT.findall(line)
        percents = _TQDM_PERCENT.findall(line)
        if counts:
            done, total = (int(v) for v in counts[-1])
        elif percents:
            done, total = int(percents[-1]), 100
        else:
            return False
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
            self.progress_seen.append((done, total))
            described = _TQDM_DESC.match(line)
            if described:
                self.bar_label.setText(described.group(1))
        return True

    def _on_error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.log.appendPlainText(f"could not start {sys.executable}")
            self._on_finished(127, None)

    def _on_finished(self, exit_code: int, exit_status=None) -> None:
        if self.process is None:
            return
        if self._stderr_tail.strip() and not self._progress_line(self._stderr_tail):
            self.log.appendPlainText(self._stderr_tail)
        self._stderr_tail = ""
        crashed = exit_status == QProcess.ExitStatus.CrashExit
        code = EXIT_CANCELLED if crashed and not self.cancel_button.isEnabled() else int(exit_code)
        self.exit_code = code
        self.process.deleteLater()
        self.process = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.bar.setRange(0, 100)
        if code == 0:
            self.bar.setValue(100)
            self.status.setText("Done")
        elif code == EXIT_CANCELLED:
            self.bar.setValue(0)
            self.status.setText("Cancelled: nothing was written")
        else:
            self.bar.setValue(0)
            self.status.setText(f"Failed (exit status {code}): see the log")
        self.finished.emit(code)


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
    readme = Path(__file__).resolve().parents[2] / "README.md"
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
