"""The reference event mask painted from event lists."""

import numpy as np
import pytest

from exodeepfinder.events.targets import events_to_labels
from exodeepfinder.io.events import make_events


def test_cone_shape_and_values():
    labels = events_to_labels(make_events([2], [10], [12]), (8, 24, 24))
    assert labels.dtype == np.int8
    assert [int(labels[t].sum()) for t in range(8)] == [0, 0, 49, 13, 1, 0, 0, 0]
    assert labels[4, 10, 12] == 1
    # disk of radius 4: dy^2 + dx^2 <= 16 exactly
    yy, xx = np.mgrid[0:24, 0:24]
    np.testing.assert_array_equal(labels[2] == 1, (yy - 10) ** 2 + (xx - 12) ** 2 <= 16)
    np.testing.assert_array_equal(labels[3] == 1, (yy - 10) ** 2 + (xx - 12) ** 2 <= 4)


def test_positions_are_rounded_and_label_overrides_class():
    events = make_events([1.4], [5.6], [7.5], class_label=1)
    labels = events_to_labels(events, (5, 16, 16), label=2)
    assert labels[3, 6, 8] == 2 and labels[3].sum() == 2  # (5.6, 7.5) -> (6, 8); t 1.4 -> 1, single pixel at t+2
    assert set(np.unique(labels)) == {0, 2}


def test_clipped_at_the_borders():
    events = make_events([0, 9], [0, 15], [15, 0])
    labels = events_to_labels(events, (10, 16, 16))
    # corner event at t=0: a quarter disk (with its axes) at frame 0
    assert labels[0].sum() == sum(1 for dy in range(5) for dx in range(5) if dy * dy + dx * dx <= 16)
    # event in the last frame: its frames t+1, t+2 are outside the movie
    assert labels[9].sum() == labels[0].sum()
    assert labels[1, 0, 15] == 1 and labels[2, 0, 15] == 1


def test_overlaps_keep_the_larger_label_whatever_the_order():
    for order in ([1, 2], [2, 1]):
        events = make_events([0, 0], [5, 7], [5, 5], class_label=order)
        labels = events_to_labels(events, (3, 16, 16))
        assert labels[0, 6, 5] == 2


def test_empty_list_and_bad_shape():
    assert not events_to_labels(make_events(), (3, 4, 4)).any()
    with pytest.raises(ValueError, match="shape"):
        events_to_labels(make_events(), (4, 4))
