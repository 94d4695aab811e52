"""The runner of a form window: a command as a child process, its log, its progress bar and Cancel.

Run starts ``python -m exodeepfinder <command> <arguments>``; its output goes to the log view and
its progress bars (tqdm, on stderr) drive the progress bar. Cancel interrupts the child as Ctrl+C
does (SIGINT): the commands then remove their temporary outputs and exit with status 130.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sys

from qtpy.QtCore import QProcess, QProcessEnvironment, Signal
from qtpy.QtGui import QFont
from qtpy.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget

#: Environment of the child process: unbuffered output, and progress bars although stderr is a pipe.
CHILD_ENVIRONMENT = {"PYTHONUNBUFFERED": "1", "EXODEEPFINDER_PROGRESS": "1"}
EXIT_CANCELLED = 130
#: tqdm's "12/345 [" (counts) or " 45%|" (percent), the last one on a line wins.
_TQDM_COUNT = re.compile(r"(\d+)/(\d+) \[")
_TQDM_PERCENT = re.compile(r"(\d+)%\|")
_TQDM_DESC = re.compile(r"^\s*(.*?):\s+\d+%\|")


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

