"""Review states of a corrected events table: counts, the progress line, the uncertainty order, the reference events."""

import numpy as np
import pandas as pd
import pytest

from exodeepfinder.events.review import (most_uncertain_order, progress_text, reference_events, review_counts,
                                         review_states, uncertainty_distance)
from exodeepfinder.io.events import make_events, read_events, write_events

SCORES = [0.95, 0.52, 0.10, 0.61, 0.40, 0.80]


def _events(**columns):
    return make_events(t=[5, 9, 14, 20, 27, 33], y=[10, 20, 30, 40, 50, 60], x=[11, 21, 31, 41, 51, 61],
                       score=SCORES, **columns)


def test_a_table_without_review_column_is_all_unreviewed():
    events = _events()
    assert list(review_states(events)) == ["unreviewed"] * 6
    assert progress_text(events) == "0 of 6 reviewed"
    assert len(reference_events(events)) == 0
    assert len(reference_events(events, include_unreviewed=True)) == 6


def test_counts_progress_and_reference_events():
    events = _events(review=["accepted", "unreviewed", "rejected", "added", "accepted", "unreviewed"])
    assert review_counts(events) == {"unreviewed": 2, "accepted": 2, "rejected": 1, "added": 1, "reviewed": 4,
                                     "total": 6}
    assert progress_text(events) == "4 of 6 reviewed (2 accepted, 1 rejected, 1 added)"
    kept = reference_events(events)
    assert list(kept["t"]) == [5, 20, 27]
    assert list(reference_events(events, include_unreviewed=True)["t"]) == [5, 9, 20, 27, 33]


def test_unknown_state_is_an_error():
    with pytest.raises(ValueError, match="unknown state.*'maybe'"):
        review_states(_events(review=["accepted", "maybe", "", None, "ADDED", "rejected"]))


def test_empty_and_missing_states_read_as_unreviewed():
    states = review_states(_events(review=["accepted", "", None, np.nan, " Added ", "rejected"]))
    assert list(states) == ["accepted", "unreviewed", "unreviewed", "unreviewed", "added", "rejected"]


def test_most_uncertain_order_by_score_and_threshold():
    events = _events()
    # |score - 0.5| = .45 .02 .40 .11 .10 .30
    assert list(most_uncertain_order(events)) == [1, 4, 3, 5, 2, 0]
    # |score - 0.7| = .25 .18 .60 .09 .30 .10
    assert list(most_uncertain_order(events, threshold=0.7)) == [3, 5, 1, 0, 4, 2]
    reviewed = _events(review=["unreviewed", "accepted", "unreviewed", "rejected", "unreviewed", "unreviewed"])
    assert list(most_uncertain_order(reviewed)) == [4, 5, 2, 0]


def test_a_confidence_column_ranks_around_one_half_whatever_the_threshold():
    confidence = [0.50, 0.99, 0.30, 0.75, 0.05, 0.58]
    events = _events(confidence=confidence)
    np.testing.assert_allclose(uncertainty_distance(events, threshold=0.9), np.abs(np.array(confidence) - 0.5))
    assert list(most_uncertain_order(events, threshold=0.9)) == [0, 5, 2, 3, 4, 1]


def test_events_without_a_score_come_last_in_time_order():
    events = _events()
    events.loc[[0, 3], "score"] = np.nan
    assert list(most_uncertain_order(events)) == [1, 4, 5, 2, 0, 3]
    no_score = make_events(t=[8, 2, 5], y=[1, 2, 3], x=[1, 2, 3])
    assert list(most_uncertain_order(no_score)) == [1, 2, 0]


def test_states_survive_the_csv(tmp_path):
    states = ["accepted", "unreviewed", "rejected", "added", "accepted", "unreviewed"]
    path = write_events(_events(review=states, peak_dff=np.linspace(0.1, 0.6, 6)), tmp_path / "corrected.csv")
    back = read_events(path)
    assert list(back["review"]) == states
    np.testing.assert_allclose(back["score"], SCORES)
    assert list(reference_events(back)["t"]) == [5, 20, 27]
    pd.testing.assert_series_equal(back["peak_dff"], pd.Series(np.linspace(0.1, 0.6, 6), name="peak_dff"))
