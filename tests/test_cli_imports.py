"""Every command's --help answers without importing PyTorch (it takes seconds to import)."""

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from exodeepfinder.cli.main import COMMANDS

# Runs each (entry point, arguments) in turn in one fresh interpreter and prints the first call
# after which torch is imported, or "clean".
_CHECK = """
import contextlib, importlib, io, sys
calls = [line.split(" ", 1) for line in sys.stdin.read().splitlines()]
for entry, argv in calls:
    module, function = entry.split(":")
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            getattr(importlib.import_module(module), function)(argv.split())
        except SystemExit:
            pass
    assert "usage:" in out.getvalue(), (entry, argv, out.getvalue()[:200])
    if "torch" in sys.modules:
        print("torch imported by", entry, argv)
        break
else:
    print("clean", len(calls))
"""


def _console_scripts() -> dict:
    return {script.name: script.value for script in entry_points(group="console_scripts")
            if script.value.startswith("exodeepfinder.")}


def test_help_of_every_command_does_not_import_torch():
    scripts = _console_scripts()
    for name in ("exodeepfinder", "edf_train", "edf_detect"):
        if name not in scripts:
            pytest.fail(f"console script {name} not installed (pip install -e .)")
    calls = [f"{entry} --help" for entry in scripts.values()]
    calls += [f"exodeepfinder.cli.main:main {command} --help" for command in COMMANDS]
    calls += [f"exodeepfinder.launch:edf_{command} --help" for command in COMMANDS]  # the scripts, as pyproject names them
    calls += ["exodeepfinder.launch:main --help"]
    calls += ["exodeepfinder.train:main --help"]  # python -m exodeepfinder.train, what torchrun runs
    result = subprocess.run([sys.executable, "-c", _CHECK], input="\n".join(calls), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"clean {len(calls)}"


def test_the_train_module_keeps_the_train_function_callable():
    # `python -m exodeepfinder.train` is a module beside the API's exodeepfinder.train(); once the
    # module is imported, Python makes it the package's attribute: calling it must still train.
    code = """
import exodeepfinder as edf
import exodeepfinder.train
try:
    edf.train("no_such_dataset", "no_such_output")
except edf.InputError as err:
    print(err)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "no_such_dataset: dataset folder not found", result.stderr[-2000:]
