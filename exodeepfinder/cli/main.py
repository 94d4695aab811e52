"""``exodeepfinder <command> ...``: every tool of the package behind one command."""

from __future__ import annotations

import argparse
import importlib
import sys

from .._version import __version__
from ..commands import COMMANDS, HelpFormatter, _one_line_usage_error, build_parser
from ._common import execute

__all__ = ["COMMANDS", "build_main_parser", "main"]


def _available_modules():
    for name in COMMANDS:
        try:
            yield importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__package__}.{name}":
                raise


def build_main_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exodeepfinder", description=__doc__)
    parser.error = _one_line_usage_error.__get__(parser)
    parser.add_argument("--version", action="version", version=f"exodeepfinder {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for module in _available_modules():
        summary = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
        aliases = [module.NAME.replace("_", "-")] if "_" in module.NAME else []
        sub = commands.add_parser(module.NAME, aliases=aliases, help=summary, description=module.__doc__,
                                  formatter_class=HelpFormatter)
        build_parser(module, sub)
    return parser


def main(argv=None) -> int:
    """Parse ``argv`` (default: the command line), run the command it names and return the exit status.

    The installed ``exodeepfinder`` script is :func:`exodeepfinder.launch.main`, which opens the
    form window of every command when started with no arguments.
    """
    args = build_main_parser().parse_args(argv)
    return execute(args._module, args)


if __name__ == "__main__":
    sys.exit(main())
