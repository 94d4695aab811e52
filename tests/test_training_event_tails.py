"""Event tails in the training targets: the decaying spot after an event is labelled the same way every time."""

import numpy as np
import pytest

from exodeepfinder.events.targets import events_to_labels
from exodeepfinder.io.events import make_events
from exodeepfinder.simulation.simulate import simulate_movie
from exodeepfinder.training_data import detect_spots, merge_detector_expert


def _tail_labels(merged, detector, events, first=3, last=10, radius=2):
    """Per event: the labels of the detector voxels near it in frames t+first .. t+last (its tail)."""
    tails = []
    for event in events.itertuples():
        t, y, x = int(round(event.t)), int(round(event.y)), int(round(event.x))
        region = (slice(t + first, t + last + 1), slice(y - radius, y + radius + 1), slice(x - radius, x + radius + 1))
        tails.append(merged[region][detector[region] != 0])
    return tails


def test_tails_of_simulated_events_are_spots_in_every_frame():
    sim = simulate_movie((120, 96, 96), n_events=16, n_spots=10, seed=3)
    detector = detect_spots(sim.movie)
    expert = events_to_labels(sim.events, sim.movie.shape, label=1)
    consistent, objects = merge_detector_expert(detector, sim.events, expert)
    reference, _ = merge_detector_expert(detector, sim.events, expert, event_tails="reference")
    tails = _tail_labels(consistent, detector, sim.events)
    seen = [tail for tail in tails if tail.size]
    assert len(seen) >= 8  # most events leave a tail that the detector sees
    assert all((tail == 1).all() for tail in seen)
    # the reference rule: background after some events, a spot after others (the inconsistency fixed)
    reference_tails = [tail for tail in _tail_labels(reference, detector, sim.events) if tail.size]
    share_spot = [float((tail == 1).mean()) for tail in reference_tails]
    assert min(share_spot) == 0.0 and max(share_spot) > 0.5
    # the event masks are class 2 in both; nothing else changed but the tails
    assert np.array_equal(consistent == 2, expert == 1) and np.array_equal(reference == 2, expert == 1)
    assert np.array_equal(consistent == 1, (detector != 0) & (expert == 0))
    # no spot object sits on an event's own frame within the event's disk (those voxels are class 2)
    spots = objects[objects.class_label == 1]
    for event in sim.events.itertuples():
        same_frame = spots[spots.t.round() == round(event.t)]
        assert (np.hypot(same_frame.y - event.y, same_frame.x - event.x) > 2.5).all()


def test_short_and_long_tails_and_docked_vesicles_get_the_same_labels():
    shape = (60, 40, 80)
    detector = np.zeros(shape, np.uint8)
    detector[10:14, 9:12, 9:12] = 1        # event A at frame 10: a short tail (its blob ends at t+3)
    detector[10:30, 9:12, 29:32] = 1       # event B at frame 10: a long tail (20 frames)
    detector[20:45, 9:12, 49:52] = 1       # a vesicle docked 20 frames before fusing (event C, frame 40)
    detector[5:50, 29:32, 9:12] = 1        # a docked vesicle that does not fuse
    events = make_events([10, 10, 40], [10, 10, 10], [10, 30, 50])
    expert = events_to_labels(events, shape, label=1)
    merged, objects = merge_detector_expert(detector, events, expert)
    for x in (10, 30, 50):
        t = 10 if x < 40 else 40
        assert (merged[t:t + 3, 10, x] == 2).all()  # the event mask
    assert (merged[13, 9:12, 9:12] == 1).all()                    # A's tail frame
    assert (merged[13:30, 9:12, 29:32] == 1).all()                # B's tail frames
    assert (merged[20:40, 9:12, 49:52] == 1).all() and (merged[43:45, 9:12, 49:52] == 1).all()  # C docked, tail
    assert (merged[5:50, 29:32, 9:12] == 1).all()
    # the reference rule erases A's blob (centroid near the event) but keeps B's and C's (centroids far)
    reference, _ = merge_detector_expert(detector, events, expert, event_tails="reference")
    assert (reference[13, 9:12, 9:12] == 0).all()
    assert (reference[13:30, 9:12, 29:32] == 1).all() and (reference[20:40, 9:12, 49:52] == 1).all()
    # one spot object per frame and 2D blob of label-1 voxels: none in frame 10 at A (masked by the event)
    spots = objects[objects.class_label == 1]
    assert not ((spots.t == 10) & (spots.x < 20) & (spots.y < 20)).any()
    assert ((spots.t == 13) & (spots.x < 20) & (spots.y < 20)).sum() == 1
    with pytest.raises(ValueError, match="event_tails: expected one of spot, reference"):
        merge_detector_expert(detector, events, expert, event_tails="erase")
