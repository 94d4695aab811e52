"""The front door: the ``exodeepfinder`` and ``edf_<command>`` scripts.

A script run with arguments runs its command (:mod:`exodeepfinder.cli`); run with none, it opens
the form window of its command, or of every command for ``exodeepfinder``
(:mod:`exodeepfinder.gui.forms`). This module stands above both, so that neither imports the other.
``edf_<command>`` is :func:`run_script` for each name of :data:`exodeepfinder.commands.COMMANDS`.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys

from .commands import COMMANDS, EXIT_INPUT_ERROR, build_parser, no_arguments

GUI_INSTALL_HINT = "pip install 'exodeepfinder-torch[gui]'"


def _display_available() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_form_window(parser: argparse.ArgumentParser, command: str | None) -> int:
    """The form window of ``command`` (or of all commands); without the GUI, the usage and how to get it."""
    if _display_available():
        try:
            from .gui.forms import launch
        except ImportError as err:
            reason = f"the form window needs the GUI extra ({err})"
        else:
            return launch(command)
    else:
        reason = "no display for the form window"
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: {reason}; run with --help for the options, or install the GUI with: {GUI_INSTALL_HINT}",
          file=sys.stderr)
    return EXIT_INPUT_ERROR


def main(argv=None) -> int:
    """``exodeepfinder [<command> ...]``: run a command, or with no arguments open the form window of every command."""
    from .cli.main import build_main_parser
    from .cli.main import main as run_main

    if no_arguments(argv):
        return open_form_window(build_main_parser(), None)
    return run_main(argv)


def run_script(command: str, argv=None) -> int:
    """``edf_<command> ...``: run the command, or with no arguments open its form window."""
    from .cli._common import execute

    module = importlib.import_module(f"exodeepfinder.cli.{command}")
    parser = build_parser(module)
    if no_arguments(argv):
        return open_form_window(parser, command)
    return execute(module, parser.parse_args(argv))


def __getattr__(name: str):
    # the console scripts edf_<command> = "exodeepfinder.launch:edf_<command>"
    if name.startswith("edf_") and name[len("edf_"):] in COMMANDS:
        script = functools.partial(run_script, name[len("edf_"):])
        script.__doc__ = f"The ``{name}`` script (see :func:`run_script`)."
        return script
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
