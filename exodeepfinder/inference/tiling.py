"""Where the tiles of a tiled segmentation lie, axis by axis.

All positions are in the coordinates of the movie zero-padded by :data:`PAD` voxels on
every side, as in the reference ExoDeepFinder. A window is the part of the padded movie
given to the network; only its central part (``crop`` voxels less on each side) is kept.

In y and x we use the reference windows as they are (patches of ``patch_size``, step
``patch_size - 54``, the last one aligned to the end, ``PAD`` voxels cropped, overlaps
averaged): the network pools by 2 twice in y and x, so its output depends on where a window
starts modulo 4 and on its borders (its reach in y and x, ~35 px, exceeds the 25 px crop).
Larger y/x windows would waste less, but change about 5% of the event voxels.

Along t, the network has no pooling and looks at most :data:`T_REACH` frames away, so any
window whose kept frames are at least that far from its ends gives exactly the values of the
reference patches. We therefore cut t into long windows with a margin of :data:`T_REACH`
frames instead of keeping 110 out of every 160 frames.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Zero padding added on every side of the movie before tiling (reference: 25).
PAD = 25
#: Central part of a reference patch that is kept: ``PAD`` voxels are cropped on each side.
CROP = PAD
#: Reference overlap parameter: patches advance by ``patch_size - OVERLAP + 1``.
OVERLAP = 55
#: Frames the network looks backward/forward in t (12 before, 14 after: 3x3x3 convolutions
#: plus the two size-2 convolutions that look one frame ahead); margins of this size along t
#: make tiled outputs equal to those of untiled ones.
T_REACH = 14


@dataclass(frozen=True)
class AxisTiling:
    """Windows along one axis of the padded movie.

    Attributes
    ----------
    length : int
        Length of the padded axis the windows live in (``n + 2 * PAD``, possibly extended at
        the end so that windows fit).
    size : int
        Window length (the same for every window of this axis).
    starts : tuple of int
        First padded position of each window.
    crop : int
        Voxels dropped at each end of a window; the window ``s`` keeps ``[s + crop, s + size - crop)``.
    """

    length: int
    size: int
    starts: tuple
    crop: int

    def kept(self, index):
        start = self.starts[index]
        return start + self.crop, start + self.size - self.crop


def reference_axis(n: int, patch_size: int) -> AxisTiling:
    """The reference ExoDeepFinder windows for an axis of ``n`` voxels.

    An axis shorter than a patch is padded with zeros at its end up to ``patch_size``
    (the reference pads the movie the same way; its network only ever sees zeros there).
    """
    length = max(n + 2 * PAD, patch_size)
    step = patch_size - OVERLAP + 1
    starts = list(range(0, length - patch_size, step))
    if not starts or starts[-1] < length - patch_size:
        starts.append(length - patch_size)
    return AxisTiling(length, patch_size, tuple(starts), CROP)


def time_windows(n_frames: int, frames_per_window: int):
    """Windows along t: kept blocks of frames that tile the movie, each with ``T_REACH`` frames of context.

    Yields
    ------
    (first_frame, last_frame, window_start, window_stop)
        The window covers padded frames ``[window_start, window_stop)`` and its kept part is
        movie frames ``[first_frame, last_frame)``.
    """
    core = max(frames_per_window - 2 * T_REACH, 1)
    for first in range(0, n_frames, core):
        last = min(first + core, n_frames)
        yield first, last, first + PAD - T_REACH, last + PAD + T_REACH
