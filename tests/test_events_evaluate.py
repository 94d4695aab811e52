"""Matching detections to reference events, and the bootstrap over movies, on hand-made cases."""

import numpy as np
import pandas as pd
import pytest

from exodeepfinder.events.evaluate import (bootstrap_pooled, match_events, pooled_summary, precision_recall_curve,
                                           precision_recall_figure)
from exodeepfinder.io.events import make_events


def test_counts_on_a_hand_made_case():
    reference = make_events([10, 50, 90, 200], [10, 10, 10, 10], [10, 10, 10, 10])
    detected = make_events([11, 50, 52, 93, 400], [10, 13, 10, 10, 10], [10, 10, 10, 13, 10])
    m = match_events(detected, reference, tolerance=5)
    # 50 is matched once only (one to one); 93,10,13 is sqrt(18) = 4.24 from 90,10,10
    assert m.summary == {"tp": 3, "fp": 2, "fn": 1, "precision": 3 / 5, "recall": 3 / 4, "f1": 6 / 9}
    assert sorted(zip(m.pairs["detected"], m.pairs["reference"])) == [(0, 0), (2, 1), (3, 2)]
    np.testing.assert_allclose(m.pairs.sort_values("detected")["distance"], [1, 2, np.sqrt(18)])
    assert sorted(m.false_positives) == [1, 4] and list(m.false_negatives) == [3]


def test_hungarian_maximises_the_number_of_matches():
    # greedy nearest-first would pair d0 with r1 (distance 1) and leave r0 and d1 unmatched
    reference = make_events([0, 4], [0, 0], [0, 0])
    detected = make_events([3, 8], [0, 0], [0, 0])
    m = match_events(detected, reference, tolerance=4)
    assert m.summary["tp"] == 2
    assert sorted(zip(m.pairs["detected"], m.pairs["reference"])) == [(0, 0), (1, 1)]


def test_tolerance_is_inclusive_and_uses_all_three_axes():
    reference = make_events([0], [0], [0])
    assert match_events(make_events([3], [4], [0]), reference, tolerance=5).summary["tp"] == 1
    assert match_events(make_events([3], [4], [0.1]), reference, tolerance=5).summary["tp"] == 0


def test_empty_lists_and_row_labels():
    empty = make_events()
    some = make_events([1, 2], [1, 2], [1, 2])
    some.index = [10, 20]
    assert match_events(empty, some).summary == {"tp": 0, "fp": 0, "fn": 2, "precision": pytest.approx(np.nan,
                                                  nan_ok=True), "recall": 0.0, "f1": 0.0}
    m = match_events(some, empty)
    assert list(m.false_positives) == [10, 20] and m.summary["precision"] == 0
    assert np.isnan(match_events(empty, empty).summary["f1"])
    table = match_events(some, some).table(some, some)
    assert list(table["status"]) == ["tp", "tp"] and list(table["detected_t"]) == [1, 2]


def test_table_lists_pairs_and_misses():
    reference = make_events([10, 90], [5, 5], [5, 5])
    detected = make_events([11, 300], [5, 5], [5, 5], score=[0.9, 0.2])
    table = match_events(detected, reference).table(detected, reference)
    assert list(table["status"]) == ["tp", "fp", "fn"]
    assert table.loc[0, "detected_score"] == 0.9 and table.loc[0, "reference_t"] == 10
    assert table.loc[0, "distance"] == 1 and pd.isna(table.loc[1, "reference_t"])


def test_precision_recall_curve_over_score_thresholds():
    reference = make_events(np.arange(0, 100, 10), np.full(10, 5), np.full(10, 5))
    # 8 true detections with high scores, 4 spurious ones with low scores
    detected = make_events(np.r_[np.arange(0, 80, 10) + 1, [500, 600, 700, 800]], np.full(12, 5), np.full(12, 5),
                           score=np.r_[np.linspace(0.6, 0.9, 8), [0.1, 0.2, 0.3, 0.65]])
    curve = precision_recall_curve(detected, reference)
    assert list(curve.columns) == ["threshold", "tp", "fp", "fn", "precision", "recall", "f1"]
    assert curve["threshold"].is_monotonic_increasing
    first, best = curve.iloc[0], curve.loc[curve["f1"].idxmax()]
    assert (first["tp"], first["fp"], first["fn"]) == (8, 4, 2)
    assert best["threshold"] == pytest.approx(0.6) and best["fp"] == 1
    assert curve.iloc[-1]["tp"] == 1
    figure = precision_recall_figure(curve)
    assert len(figure.axes[0].lines) == 2


def test_bootstrap_resamples_whole_movies_within_their_strata():
    counts = [[10, 0, 0]] * 3 + [[0, 0, 10]] * 2  # three perfect movies, two where every event was missed
    free = bootstrap_pooled(counts, n_resamples=500, seed=1)
    assert free[:, 2].min() < 0.5 < free[:, 2].max()  # a draw can take mostly one kind of movie
    kept = bootstrap_pooled(counts, n_resamples=500, strata=["a"] * 3 + ["b"] * 2, seed=1)
    # within strata every draw has three movies of each kind it had: 30 found, 20 missed, always
    np.testing.assert_allclose(kept, np.tile([1.0, 0.6, 0.75], (500, 1)))
    np.testing.assert_array_equal(bootstrap_pooled(counts, n_resamples=50, seed=3),
                                  bootstrap_pooled(counts, n_resamples=50, seed=3))


def test_paired_draws_and_an_interval_that_narrows_with_more_movies():
    model_a = np.array([[8, 1, 1], [3, 2, 2], [12, 0, 1], [5, 3, 4]])
    model_b = model_a + [[1, 0, -1], [0, 0, 0], [0, 0, 0], [1, 0, -1]]  # b finds two more events
    difference = (bootstrap_pooled(model_b, n_resamples=300, seed=0)[:, 2]
                  - bootstrap_pooled(model_a, n_resamples=300, seed=0)[:, 2])
    assert (difference >= 0).all() and (difference > 0).mean() > 0.8  # same movies drawn for both models
    few = pooled_summary(model_a)
    many = pooled_summary(np.tile(model_a, (25, 1)))
    assert few["tp"] == 28 and few["fp"] == 6 and few["fn"] == 8 and few["f1"] == pytest.approx(56 / 70)
    for summary in (few, many):
        assert summary["f1_low"] < summary["f1"] < summary["f1_high"]
    assert many["f1_high"] - many["f1_low"] < 0.4 * (few["f1_high"] - few["f1_low"])  # about 1/sqrt(25)


def test_bootstrap_rejects_bad_arguments():
    with pytest.raises(ValueError, match="no movies"):
        bootstrap_pooled(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="one group per movie"):
        bootstrap_pooled([[1, 0, 0], [2, 0, 0]], strata=[0])
    with pytest.raises(ValueError, match="level"):
        pooled_summary([[1, 0, 0]], level=95)
    nothing = pooled_summary([[0, 0, 0], [0, 0, 0]])
    assert np.isnan(nothing["f1"]) and np.isnan(nothing["f1_low"])
    one_movie = pooled_summary([[8, 1, 1]])
    assert one_movie["f1"] == pytest.approx(16 / 18) and np.isnan(one_movie["f1_low"])
