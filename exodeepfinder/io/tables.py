"""Tables (pandas DataFrames) saved as CSV: evaluations, precision-recall curves, simulated spots."""

from __future__ import annotations

from pathlib import Path

from .atomic import atomic_output


def write_csv(table, path, *, overwrite: bool = False) -> Path:
    """Write a DataFrame to ``path`` as CSV (no index, floats to 6 significant digits), atomically.

    With ``overwrite=False`` an existing ``path`` is never replaced (FileExistsError). Event
    tables have their own writer, :func:`exodeepfinder.io.events.write_events`.
    """
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return path
