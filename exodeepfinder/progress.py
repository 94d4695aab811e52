"""Progress reporting and cancellation for long work.

Long functions (segmentation, spot detection, training) take ``progress``, a callable
``progress(done, total)``. It is called as work advances; returning ``False`` cancels the work,
which then raises :class:`~exodeepfinder.errors.Cancelled`. The command line passes a
:class:`TqdmProgress`; a GUI passes a callable that updates its bar and reads its Cancel button.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

from .errors import Cancelled

ProgressCallback = Callable[[int, int], Optional[bool]]
#: Set to "1" to draw progress bars even when stderr is not a terminal (the GUI reads them from a pipe).
PROGRESS_ENV = "EXODEEPFINDER_PROGRESS"

#: The interruption (Ctrl-C, SIGTERM) a signal handler raised, until the command has handled it.
_pending_interrupt: list = []


def interrupt(exception: BaseException) -> None:
    """Raise ``exception`` from a signal handler, and again at the next :func:`report` or publish.

    A signal handler runs wherever Python happens to be, and an exception raised inside a
    finalizer or a weak-reference callback (h5py and NumPy run many) is printed and ignored:
    the interruption would be lost and the work would finish as if nothing happened.
    """
    _pending_interrupt[:] = [exception]
    raise exception


def raise_pending_interrupt() -> None:
    """Raise the interruption that a signal handler raised and something swallowed, if any."""
    if _pending_interrupt:
        raise _pending_interrupt[0]


def clear_pending_interrupt() -> None:
    """Forget the interruption (the command has handled it)."""
    _pending_interrupt.clear()


def report(progress: ProgressCallback | None, done: int, total: int) -> None:
    """Tell ``progress`` that ``done`` of ``total`` units are finished; raise Cancelled if it says stop."""
    raise_pending_interrupt()
    if progress is None:
        return
    answer = progress(done, total)
    if answer is not None and not answer:  # False, or a NumPy False from a GUI callback
        raise Cancelled()


class TqdmProgress:
    """A progress callback that draws a tqdm bar (used by the command-line tools).

    Parameters
    ----------
    desc : str
        Label shown before the bar.
    unit : str
        Name of one unit of work.
    disable : bool or None
        Passed to tqdm; ``None`` hides the bar when stderr is not a terminal.
    """

    def __init__(self, desc: str = "", unit: str = "it", disable: bool | None = None):
        if disable is None and os.environ.get(PROGRESS_ENV) == "1":
            disable = False
        self.desc = desc
        self.unit = unit
        self.disable = disable
        self._bar = None

    def __call__(self, done: int, total: int) -> bool:
        from tqdm.auto import tqdm

        if self._bar is None or self._bar.total != total:
            self.close()
            self._bar = tqdm(total=total, desc=self.desc, unit=self.unit, disable=self.disable,
                             dynamic_ncols=True)
        self._bar.update(done - self._bar.n)
        if done >= total:
            self.close()
        return True

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def within(progress: ProgressCallback | None, start: float, stop: float, total: int = 100) -> ProgressCallback | None:
    """A callback that reports a step's own ``(done, total)`` as the span ``[start, stop]`` of ``progress``.

    Long work made of several steps (segmentation, then clustering, then measurements) shows
    one bar: each step is given its share of ``total`` (e.g. percent). Cancelling works as for
    ``progress``.
    """
    if progress is None:
        return None

    def step(done: int, step_total: int):
        fraction = done / step_total if step_total else 1.0
        return progress(int(round(start + (stop - start) * fraction)), total)

    return step
