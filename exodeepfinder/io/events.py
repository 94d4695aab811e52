"""Event lists: a pandas DataFrame in memory, the reference XML or CSV object lists on disk.

The table has one row per event (or object) with columns ``t, y, x`` (frame and pixel
position, floats), ``class_label`` (1 = event in expert annotations; in merged annotations
1 = bright spot, 2 = event) and optional columns that later steps add: ``obj_id``,
``cluster_size``, ``score``, measurements... On disk, ``t`` is the reference's ``z``.

This is the one reader and writer of event files in the package.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # only to write XML; reading goes through defusedxml
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as defused
import numpy as np
import pandas as pd

from ..errors import InputError
from .atomic import atomic_output
from .tables import escape_formulas, unescape_formulas

#: Columns every events table has, in order.
EVENT_COLUMNS = ["t", "y", "x", "class_label"]
#: Optional reference columns (XML attributes), in the order they are written.
OPTIONAL_COLUMNS = ["obj_id", "cluster_size", "score", "phi", "psi", "the"]
_FLOAT_ATTRIBUTES = {"x", "y", "z", "phi", "psi", "the", "score"}
#: The review column of a corrected events table (the napari Review widget, ``exodeepfinder adapt``).
REVIEW_COLUMN = "review"
#: Its values: not looked at yet, confirmed by the user, a detection the user rejected (kept in the
#: file as a negative example), an event the user added by hand.
REVIEW_STATES = ("unreviewed", "accepted", "rejected", "added")


def make_events(t=(), y=(), x=(), class_label=1, **columns) -> pd.DataFrame:
    """Build an events table from coordinate sequences (``class_label`` may be a scalar)."""
    table = pd.DataFrame({"t": np.asarray(t, float), "y": np.asarray(y, float), "x": np.asarray(x, float)})
    table["class_label"] = np.broadcast_to(np.asarray(class_label, int), len(table)).copy()
    for name, values in columns.items():
        table[name] = values
    return table


def _from_reference_columns(table: pd.DataFrame, path) -> pd.DataFrame:
    reference = ("tomo_idx", "class_label", "x", "y", "z")
    # headers typed by hand: ' X', 'Class_Label'...
    table = table.rename(columns=lambda c: str(c).strip().lower() if str(c).strip().lower() in reference
                         else str(c).strip())
    missing = [c for c in ("x", "y", "z") if c not in table.columns]
    if missing:
        found = ", ".join(map(str, table.columns[:8])) or "none"
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (found: {found}; "
                         "expected tomo_idx,class_label,x,y,z)")
    if "class_label" not in table.columns:
        table["class_label"] = 1
    table = table.rename(columns={"z": "t"})
    for name in ("t", "y", "x"):
        values = pd.to_numeric(table[name], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.fillna(0).astype(float))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            shown = "z" if name == "t" else name
            raw = table[name].iloc[row]
            what = f"no {shown}" if pd.isna(raw) or str(raw).strip() == "" else f"a non-numeric {shown} ({raw!r})"
            if not pd.isna(values.iloc[row]):
                what = f"a non-finite {shown} ({raw!r})"
            raise InputError(f"{path}: event {row + 1} has {what}")
        table[name] = values.astype(float)
    labels = pd.to_numeric(table["class_label"], errors="coerce")
    if labels.isna().any() or (labels != labels.round()).any():
        row = int(np.flatnonzero(labels.isna() | (labels != labels.round()))[0])
        raise InputError(f"{path}: event {row + 1} has an invalid class_label ({table['class_label'].iloc[row]!r})")
    table["class_label"] = labels.astype(int)
    table = table.drop(columns=[c for c in ("tomo_idx",) if c in table.columns])
    for name in table.columns:
        # XML attributes are strings (object dtype, or 'str' in pandas >= 3): make numbers numeric
        if name not in EVENT_COLUMNS and not pd.api.types.is_numeric_dtype(table[name]):
            converted = pd.to_numeric(table[name], errors="coerce")
            if not converted.isna().any():
                table[name] = converted
    if REVIEW_COLUMN in table.columns:
        table[REVIEW_COLUMN] = _review_states(table[REVIEW_COLUMN], path)
    ordered = EVENT_COLUMNS + [c for c in table.columns if c not in EVENT_COLUMNS]
    return table[ordered].reset_index(drop=True)


def _review_states(values: pd.Series, path) -> pd.Series:
    states = values.astype(object).where(values.notna(), "unreviewed").map(lambda v: str(v).strip().lower())
    states = states.replace("", "unreviewed")
    bad = ~states.isin(REVIEW_STATES)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: event {row + 1} has an unknown review state {values.iloc[row]!r} "
                         f"(expected one of {', '.join(REVIEW_STATES)})")
    return states.astype(object)


def kept_events(events: pd.DataFrame) -> pd.DataFrame:
    """The events a user keeps: all of them, less those whose ``review`` state is ``rejected``."""
    if REVIEW_COLUMN not in events.columns:
        return events
    return events[events[REVIEW_COLUMN] != "rejected"].reset_index(drop=True)


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV table; ``;`` or tab separators (spreadsheets in many languages) are recognised from the header."""
    options = dict(encoding="utf-8-sig")
    try:
        with open(path, encoding="utf-8-sig") as handle:
            header = handle.readline()
        if "," not in header:
            for separator in (";", "\t"):
                if separator in header:
                    # with ';' between cells, spreadsheets write decimal commas
                    options.update(sep=separator, decimal="," if separator == ";" else ".")
                    break
        return unescape_formulas(pd.read_csv(path, **options))
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file (expected a header tomo_idx,class_label,x,y,z)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable CSV file ({str(err).splitlines()[0]})") from None


def read_events(path) -> pd.DataFrame:
    """Read an XML or CSV object list as an events table.

    CSV files may start with a UTF-8 BOM and may separate cells with ``;`` (then with decimal
    commas) or tabs, as spreadsheets save them.

    Returns
    -------
    DataFrame
        Columns ``t, y, x, class_label`` then any other columns of the file.

    Raises
    ------
    InputError
        On a missing file, unparsable content, missing coordinates or invalid labels.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".xml":
        try:
            root = defused.parse(path).getroot()
        except ET.ParseError as err:
            raise InputError(f"{path}: not valid XML ({err})") from None
        except defusedxml.DefusedXmlException as err:  # entities, DTDs: an XML bomb or an external file
            raise InputError(f"{path}: refused XML ({type(err).__name__}: {err})") from None
        if root.tag != "objlist":
            raise InputError(f"{path}: not an object list (root element <{root.tag}>, expected <objlist>)")
        rows = [dict(obj.attrib) for obj in root.iter("object")]
        table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["class_label", "x", "y", "z"])
    elif suffix == ".csv":
        table = _read_csv(path)
    else:
        raise InputError(f"{path}: unknown annotation format '{path.suffix}' (expected .xml or .csv)")
    return _from_reference_columns(table, path)


def _format(name: str, value) -> str:
    if name in _FLOAT_ATTRIBUTES:
        return f"{float(value):.3f}"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def write_events(events: pd.DataFrame, path, *, overwrite: bool = False) -> Path:
    """Write an events table as a reference XML object list, or as CSV if ``path`` ends in ``.csv``.

    XML holds the reference attributes (``tomo_idx, class_label, x, y, z`` and the optional
    ``obj_id, cluster_size, score, phi, psi, the``); CSV holds those first, then every other column.
    The file is written atomically; with ``overwrite=False`` an existing ``path`` is never
    replaced (FileExistsError).
    """
    path = Path(path)
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"events table lacks column(s) {missing}")
    table = events.rename(columns={"t": "z"}).copy()
    if "tomo_idx" not in table.columns:
        table.insert(0, "tomo_idx", 0)
    reference = ["tomo_idx", "class_label", "x", "y", "z"]
    optional = [c for c in OPTIONAL_COLUMNS if c in table.columns]
    with atomic_output(path, overwrite=overwrite) as tmp:
        if path.suffix.lower() == ".csv":
            other = [c for c in table.columns if c not in reference + optional]
            escape_formulas(table[reference + optional + other]).to_csv(tmp, index=False, float_format="%.6g")
        else:
            root = ET.Element("objlist")
            for row in table[reference + optional].itertuples(index=False):
                element = ET.SubElement(root, "object")
                for name, value in zip(reference + optional, row):
                    if name in optional and pd.isna(value):
                        continue
                    element.set(name, _format(name, value))
            ET.indent(root)
            ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=False)
    return path


def check_events_in_movie(events: pd.DataFrame, shape, path) -> None:
    """Raise InputError if an event centre (rounded ``t, y, x``) lies outside a movie of ``shape``.

    ``path`` names the event file in the message.
    """
    centres = np.round(events[["t", "y", "x"]].to_numpy(float))
    rows = np.flatnonzero(((centres < 0) | (centres >= np.asarray(shape)[None, :])).any(axis=1))
    if len(rows):
        t, y, x = events[["t", "y", "x"]].to_numpy(float)[rows[0]]
        raise InputError(f"{path}: event {rows[0] + 1} at z={t:g}, y={y:g}, x={x:g} lies outside the movie "
                         f"({shape[0]} frames of {shape[1]} x {shape[2]}); {len(rows)} event(s) outside")
