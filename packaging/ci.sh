#!/usr/bin/env bash
# Build the lite app and smoke-test it: `<app> detect` gives the installed package's events,
# the form window opens under Xvfb (screenshot: packaging/dist/lite/form_window.png).
# About 5 minutes of build on 2 cores. Usage: packaging/ci.sh  (PYTHON=... to choose the Python)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
"$PYTHON" packaging/build.py --flavour lite
EXODEEPFINDER_BUILD_APP=1 EXODEEPFINDER_APP=packaging/dist/lite/exodeepfinder \
    EXODEEPFINDER_SCREENSHOT=packaging/dist/lite/form_window.png \
    "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_packaging.py
