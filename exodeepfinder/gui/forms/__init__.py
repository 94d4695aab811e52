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

The parts: :mod:`.fields` (from argparse to fields and back to a command line, no Qt),
:mod:`.command_form` (the form of one command), :mod:`.runner` (the child process, its log and
progress) and :mod:`.window` (the window and :func:`launch`).
"""

from .command_form import CommandForm, PathInput
from .fields import (DEFAULT_CHOICE, MOVIE_FILTER, Field, arguments, command_names, command_parser, command_summary,
                     describe, expand_help, file_filter, parser_fields, path_mode)
from .runner import CHILD_ENVIRONMENT, EXIT_CANCELLED, CommandRunner
from .window import CommandWindow, launch

__all__ = ["CHILD_ENVIRONMENT", "DEFAULT_CHOICE", "EXIT_CANCELLED", "MOVIE_FILTER", "CommandForm", "CommandRunner",
           "CommandWindow", "Field", "PathInput", "arguments", "command_names", "command_parser", "command_summary",
           "describe", "expand_help", "file_filter", "launch", "parser_fields", "path_mode"]
