"""From argparse to form fields, with no Qt: which widget each argument gets, and the command line of the values.

A field per argument: flags are check boxes, choices combo boxes, lists space-separated text,
paths a line with file or folder choosers (:func:`path_mode` says which). :func:`arguments`
turns the values back into the command line, leaving out the values left at their defaults.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from ...commands import COMMANDS, build_parser

MOVIE_FILTER = "Movies (*.h5 *.hdf5 *.tif *.tiff *.TIF *.TIFF)"
_EXTENSION = re.compile(r"\.(h5|hdf5|xml|csv|tiff?|png|pt|zip)\b", re.IGNORECASE)
_FILE_TYPES = {"h5": "HDF5", "hdf5": "HDF5", "xml": "XML", "csv": "CSV", "tif": "TIFF", "tiff": "TIFF",
               "png": "PNG", "pt": "PyTorch", "zip": "ZIP"}


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



def parse_quietly(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse like the command, raising ValueError with argparse's message instead of exiting."""
    def fail(message):
        raise ValueError(message)

    original = parser.error
    parser.error = fail
    try:
        return parser.parse_args(argv)
    finally:
        parser.error = original
