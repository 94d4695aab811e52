"""Matching detections to reference events on hand-made cases."""

import numpy as np
import pandas as pd
import pytest

from exodeepfinder.events.evaluate import match_events, precision_recall_curve, precision_recall_figure
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
