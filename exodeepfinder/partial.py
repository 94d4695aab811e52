"""Names of outputs being written: the partial folder an output is written in, and the output it becomes.

An output ``folder/name`` is written as ``folder/.name.<pid>-<token>.exodeepfinder-partial/name``
and then published (:mod:`exodeepfinder.io.atomic`). Error messages name the output, not the
partial path (:func:`exodeepfinder.errors.error_message`), so these names sit below both.
"""

from __future__ import annotations

import re
from pathlib import Path

PARTIAL_SUFFIX = ".exodeepfinder-partial"
_PARTIAL_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-(?P<token>[0-9a-f]+)" + re.escape(PARTIAL_SUFFIX) + "$")


def final_path_of(path) -> Path:
    """The output a temporary path will be published as (``path`` itself if it is not temporary)."""
    path = Path(path)
    for index, part in enumerate(path.parts):
        if _PARTIAL_NAME.match(part):
            return Path(*path.parts[:index]) / _PARTIAL_NAME.match(part).group("name")
    return path


def is_partial(path) -> bool:
    """True for a partial folder (an output being written, or left by a killed process)."""
    return _PARTIAL_NAME.match(Path(path).name) is not None
