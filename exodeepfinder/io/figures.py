"""Pictures: matplotlib figures saved as files."""

from __future__ import annotations

from pathlib import Path

from .atomic import atomic_output


def save_figure(figure, path, *, dpi=None, overwrite: bool = False) -> Path:
    """Save a matplotlib ``figure`` to ``path`` (format from its suffix, e.g. PNG), atomically.

    With ``overwrite=False`` an existing ``path`` is never replaced (FileExistsError).
    Returns ``path``.
    """
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        figure.savefig(tmp, dpi=dpi if dpi is not None else "figure")
    return path
