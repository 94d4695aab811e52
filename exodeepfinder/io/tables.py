"""Tables (pandas DataFrames) saved as CSV: evaluations, precision-recall curves, simulated spots."""

from __future__ import annotations

from pathlib import Path

from .atomic import atomic_output

#: A text cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formulas(table):
    """A copy of ``table`` whose text cells starting with ``= + - @`` (or a tab, a carriage return) begin with ``'``.

    Spreadsheets would run such a cell as a formula when the CSV is opened (``=HYPERLINK(...)``);
    the quote makes it text. Numbers (``-1.5`` in a number column) are left as they are.
    :func:`unescape_formulas` undoes it when the file is read.
    """
    table = table.copy()
    for column in table.columns:
        if table[column].dtype == object or str(table[column].dtype) in ("string", "str"):
            table[column] = table[column].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v)
    renamed = {c: "'" + c for c in table.columns if isinstance(c, str) and c.startswith(FORMULA_STARTS)}
    return table.rename(columns=renamed) if renamed else table


def unescape_formulas(table):
    """Undo :func:`escape_formulas` on a table read from CSV."""
    def undo(value):
        if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
            return value[1:]
        return value

    for column in table.columns:
        if table[column].dtype == object or str(table[column].dtype) in ("string", "str"):
            table[column] = table[column].map(undo)
    return table.rename(columns={c: undo(c) for c in table.columns})


def write_csv(table, path, *, overwrite: bool = False) -> Path:
    """Write a DataFrame to ``path`` as CSV (no index, floats to 6 significant digits), atomically.

    With ``overwrite=False`` an existing ``path`` is never replaced (FileExistsError). Text
    cells that a spreadsheet would take for formulas are escaped (:func:`escape_formulas`). Event
    tables have their own writer, :func:`exodeepfinder.io.events.write_events`.
    """
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        escape_formulas(table).to_csv(tmp, index=False, float_format="%.6g")
    return path
