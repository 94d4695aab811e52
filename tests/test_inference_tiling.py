"""Tile geometry of the segmentation (no network)."""

import numpy as np
import pytest

from exodeepfinder.inference.tiling import PAD, T_REACH, reference_axis, time_windows


@pytest.mark.parametrize("n, patch_size, starts", [
    (400, 160, (0, 106, 212, 290)),   # 450 padded: centres 80, 186, 292 and 370 (aligned to the end)
    (300, 160, (0, 106, 190)),
    (50, 160, (0,)),                  # shorter than a patch: one patch, zeros at the end
    (30, 80, (0,)),                   # padded length equal to the patch
])
def test_reference_axis_matches_reference_centres(n, patch_size, starts):
    axis = reference_axis(n, patch_size)
    assert axis.starts == starts
    assert axis.length >= n + 2 * PAD and axis.length >= patch_size
    covered = np.zeros(axis.length, int)
    for i in range(len(axis.starts)):
        covered[slice(*axis.kept(i))] += 1
    assert covered[PAD:PAD + n].min() >= 1


def test_time_windows_tile_the_movie_with_margins():
    windows = list(time_windows(100, 60))
    assert windows[0][:2] == (0, 32) and windows[-1][1] == 100
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:]))
    for first, last, start, stop in windows:
        assert first + PAD - start == T_REACH and stop - (last + PAD) == T_REACH
