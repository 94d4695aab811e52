"""The commands and flags that README.md and docs/*.md name exist.

Every ``exodeepfinder <command> ...``, ``python -m exodeepfinder ...`` and ``edf_<command> ...``
in the code blocks of the docs (and in inline code that starts with one) is checked against the
command's own argparse parser (the one its ``--help`` prints): the command must exist and every
flag named must be one of its options. Lines without placeholders (``...``, ``<file>``) must also
parse as a whole (positional arguments, choices, values). Nothing is run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from exodeepfinder.cli.main import build_main_parser
from exodeepfinder.commands import COMMANDS, build_parser

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"(?<!`)`((?:exodeepfinder|edf_\w+|python -m exodeepfinder) [^`]+)`(?!`)")
_SEPARATORS = {"|", "||", "&&", ";", "&"}
#: Commands of the standalone app only (docs/packaging.md), not of the Python package.
APP_ONLY = {"napari"}
_PLACEHOLDER = re.compile(r"\.\.\.|…|<[^>]*>|\[[^\]]*\]|\{[^}]*\}\*|\bFLAGS?\b|\bOPTIONS\b")


def _main_parser():
    parser = build_main_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return parser, commands.choices


MAIN, SUBCOMMANDS = _main_parser()


def _lines(text: str):
    """Command lines of a code block: continuations joined, comments and prompts dropped."""
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            yield line


def _invocations(line: str):
    """(parser, script name, arguments) of every exodeepfinder command run on a line."""
    try:
        tokens = shlex.split(line, posix=True)
    except ValueError:  # an unbalanced quote: not a shell line
        return
    segments, segment = [], []
    for token in tokens:
        if token in _SEPARATORS:
            segments.append(segment)
            segment = []
        else:
            segment.append(token)
    segments.append(segment)
    for words in segments:
        while words and re.fullmatch(r"\w+=\S*", words[0]):  # VAR=value before the command
            words = words[1:]
        for prefix in ("flock", "time", "srun", "torchrun", "xvfb-run", "nohup"):
            if words and words[0] == prefix:
                words = words[1:]
                while words and words[0].startswith("-"):
                    words = words[1:]
                if words and prefix == "flock":
                    words = words[1:]  # the lock file
        if not words:
            continue
        program = words[0].rsplit("/", 1)[-1]
        args = words[1:]
        if re.fullmatch(r"python3?(\.\d+)?", program) and args[:2] == ["-m", "exodeepfinder"]:
            program, args = "exodeepfinder", args[2:]
        if program == "exodeepfinder":
            yield "exodeepfinder", args
        elif program.startswith("edf_") or program == "detect_spots_with_atlas":
            yield program, args


def _parser_of(program: str, args: list):
    """(parser, rest of the arguments) or an error message."""
    if program == "exodeepfinder":
        if not args or args[0].startswith("-"):
            return MAIN, args
        if args[0].startswith("<") or args[0] in APP_ONLY:
            return None, []
        if args[0] not in SUBCOMMANDS:
            return f"exodeepfinder {args[0]}: no such command", []
        return SUBCOMMANDS[args[0]], args[1:]
    name = program.removeprefix("edf_")
    if "*" in name or "<" in name:
        return None, []
    if name not in COMMANDS:
        return f"{program}: no such command", []
    import importlib

    return build_parser(importlib.import_module(f"exodeepfinder.cli.{name}")), args


def _problems(line: str, whole: bool = True) -> list[str]:
    """What is wrong with the commands of ``line``; with ``whole``, also parse each command line whole."""
    problems = []
    for program, args in _invocations(line):
        parser, args = _parser_of(program, args)
        if parser is None:
            continue
        if isinstance(parser, str):
            if whole or any(arg.startswith("-") for arg in args):  # in prose, "exodeepfinder contributors" is a name
                problems.append(parser)
            continue
        known = parser._option_string_actions
        for arg in args:
            flag = arg.split("=", 1)[0]
            if re.fullmatch(r"--?[A-Za-z][\w-]*", flag) and flag not in known:
                problems.append(f"{program}: no option {flag}")
        whole_line = whole and args and not _PLACEHOLDER.search(line) and "--help" not in args and "-h" not in args
        if not problems and whole_line:
            with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
                try:
                    parser.parse_args(args)
                except SystemExit as exit_:
                    if exit_.code:
                        problems.append(f"{program}: {err.getvalue().strip()}")
    return problems


def _documented_lines():
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for block in _FENCE.finditer(text):
            number = text.count("\n", 0, block.start()) + 2
            for line in _lines(block.group(1)):
                yield f"{path.relative_to(REPO)}:{number}", line, True
        for span in _INLINE.finditer(text):  # a command named in the prose, maybe with some of its flags
            yield f"{path.relative_to(REPO)}:{text.count(chr(10), 0, span.start()) + 1}", span.group(1), False


def test_the_checker_finds_wrong_commands_and_flags():
    assert _problems("exodeepfinder detect movie.h5 --min_size 20") == []
    assert _problems("edf_segment -m cell1/movie.h5 -v --save_scores") == []
    assert _problems("exodeepfinder detekt movie.h5") == ["exodeepfinder detekt: no such command"]
    assert _problems("edf_evaluate -a a.xml -r b.xml --cluster local") == ["edf_evaluate: no option --cluster"]
    assert _problems("cd x && python -m exodeepfinder detect movie.h5 --no_such_flag") == \
        ["exodeepfinder: no option --no_such_flag"]
    assert _problems("edf_segment -m movie.h5 --precision fastest")[0].startswith("edf_segment: error: --precision")
    assert _problems("pip install exodeepfinder-torch") == []


def test_every_command_and_flag_in_the_docs_exists():
    lines = list(_documented_lines())
    assert sum(1 for _, line, _ in lines if any(_invocations(line))) > 100  # the docs were read
    problems = [f"{where}: {line!r}: {problem}" for where, line, whole in lines for problem in _problems(line, whole)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_doc_has_balanced_code_fences(path):
    assert path.read_text(encoding="utf-8").count("```") % 2 == 0
