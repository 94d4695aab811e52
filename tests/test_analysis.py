"""From events to answers (issue 29): cell masks, event types, spatial statistics, per-cell rates, conditions.

The goals of the issue, checked on small movies of the package's simulator (the full-size
figures are in docs/report.md, from bench/report_validation.py).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from exodeepfinder.analysis import (analyse_cell, automatic_mask, classify_events, clustering_test,
                                    compare_conditions, knox_test, mask_area_um2, mask_projection,
                                    nearest_neighbours, ripley_l, summarise_conditions)
from exodeepfinder.analysis.mask import check_mask
from exodeepfinder.analysis.spatial import random_points
from exodeepfinder.errors import InputError
from exodeepfinder.io.masks import read_mask
from exodeepfinder.io.units import UnitsWarning, resolve_units
from exodeepfinder.simulation import simulate_movie

PIXEL, INTERVAL = 0.16, 0.3


def _window(mask, border=6):
    window = mask.copy()
    window[:border], window[-border:], window[:, :border], window[:, -border:] = False, False, False, False
    return window


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_automatic_mask_area_within_ten_percent(seed):
    sim = simulate_movie((48, 96, 96), n_events=5, n_spots=10, seed=seed)
    mask = automatic_mask(mask_projection(sim.movie))
    assert abs(mask.sum() / sim.cell_mask.sum() - 1) <= 0.10
    assert (mask & sim.cell_mask).sum() / (mask | sim.cell_mask).sum() > 0.85  # the right place, not just the size
    assert mask_area_um2(mask, PIXEL) == pytest.approx(mask.sum() * PIXEL ** 2)
    assert np.isnan(mask_area_um2(mask, None))


def test_rate_per_area_and_minute_within_ten_percent_of_truth():
    sim = simulate_movie((150, 96, 96), event_rate=1.0, n_spots=10, pixel_size=PIXEL, frame_interval=INTERVAL, seed=4)
    truth = len(sim.events) / (_window(sim.cell_mask).sum() * PIXEL ** 2 * 150 * INTERVAL / 60)
    assert truth == pytest.approx(1.0, rel=0.05)  # the simulator's own rate, rounded to whole events
    analysis = analyse_cell(sim.movie, sim.events, pixel_size=PIXEL, frame_interval=INTERVAL, offset=100,
                            n_simulations=39)
    stats = analysis.stats
    assert abs(stats["events_per_um2_per_min"] / truth - 1) <= 0.10
    assert stats["duration_min"] == pytest.approx(150 * INTERVAL / 60)
    assert stats["n_events"] + stats["n_outside"] == len(sim.events)
    assert set(analysis.events["origin"]) <= {"docked", "arrived"}
    assert {"t_s", "x_um", "analysed", "inside_mask"} <= set(analysis.events.columns)


def test_event_types_agree_with_the_simulated_truth():
    sim = simulate_movie((200, 112, 112), n_events=40, n_spots=15, docked_fraction=0.5, event_spread_fraction=0.5,
                         seed=7)
    typed = classify_events(sim.movie, sim.events, offset=100)
    true_origin = np.where(sim.events["kind"] == "docked_then_fused", "docked", "arrived")
    true_release = np.where(sim.events["spread"] > 0, "spreading", "in_place")
    assert (true_origin == "docked").sum() >= 10 and (true_origin == "arrived").sum() >= 10
    assert (typed["origin"].to_numpy() == true_origin).mean() >= 0.90
    assert (typed["release"].to_numpy() == true_release).mean() >= 0.85
    assert typed["origin_confidence"].between(0, 1).all() and typed["release_confidence"].between(0, 1).all()


def test_clustering_test_flags_hotspots_and_not_random_patterns():
    sim = simulate_movie((200, 96, 96), n_events=5, seed=0)
    window = _window(sim.cell_mask)
    flagged_random = 0
    for seed in range(40):  # the false-positive rate, on 40 patterns of complete spatial randomness
        points = random_points(window, 60, np.random.default_rng(1000 + seed))
        flagged_random += clustering_test(points, window, n_simulations=39, seed=seed).p_value < 0.05
    assert flagged_random <= 4
    for seed in range(4):
        hot = simulate_movie((300, 96, 96), n_events=60, hotspots=3, n_spots=0, n_flashes=0, n_flickers=0, n_moving=0,
                             seed=seed)
        inside = window[hot.events["y"].round().astype(int), hot.events["x"].round().astype(int)]
        test = clustering_test(hot.events.loc[inside, ["y", "x"]].to_numpy(), window, n_simulations=39, seed=seed)
        assert test.p_value < 0.05
        assert (test.l_observed > test.l_high).any()


def test_ripley_nearest_neighbours_knox_on_known_patterns():
    square = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    assert np.allclose(nearest_neighbours(square), 1.0)
    # all 12 ordered pairs within r = 2 in a window of area 100: K = 100 * 12 / 12 = 100
    assert ripley_l(square, 100.0, [2.0])[0] == pytest.approx(np.sqrt(100 / np.pi))
    assert np.isnan(ripley_l(square[:1], 100.0, [2.0])).all()
    rng = np.random.default_rng(0)
    sites = rng.uniform(0, 100, (5, 2))
    points = np.repeat(sites, 6, axis=0) + rng.normal(0, 0.5, (30, 2))
    together = np.repeat(np.arange(5) * 100.0, 6) + rng.uniform(0, 5, 30)  # each site's events within 5 frames
    p, close = knox_test(points, together, space=3, time=10, n_permutations=199)
    assert p < 0.05 and close >= 50
    p_random, _ = knox_test(points, rng.permutation(together), space=3, time=10, n_permutations=199)
    assert p_random > p


def test_condition_tests_with_one_cell_and_several_movies_per_cell():
    cells = pd.DataFrame({"condition": ["a"] * 4 + ["b"] * 5 + ["c"],
                          "cell": ["1", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
                          "events_per_um2_per_min": [1.0, 1.2, 0.9, 1.1, 2.1, 1.9, 2.2, 2.0, 2.4, 5.0]})
    tests = compare_conditions(cells, ["events_per_um2_per_min"], n_boot=200)
    ab = tests[(tests["condition_a"] == "a") & (tests["condition_b"] == "b")].iloc[0]
    assert ab["n_cells_a"] == 3  # two movies of cell 1 are one unit
    assert ab["ratio_b_over_a"] == pytest.approx(2.1 / 1.1)  # medians of the cells: (1.1, 0.9, 1.1) and b
    assert ab["effect_size"] == pytest.approx(1.0) and ab["p_value"] < 0.05
    assert ab["ratio_ci_low"] <= ab["ratio_b_over_a"] <= ab["ratio_ci_high"]
    ac = tests[(tests["condition_a"] == "a") & (tests["condition_b"] == "c")].iloc[0]
    assert np.isnan(ac["p_value"]) and "c has 1 cell(s)" in ac["note"]
    assert (tests["test"] == "Kruskal-Wallis").sum() == 1
    summary = summarise_conditions(cells, ["events_per_um2_per_min"], n_boot=200)
    assert summary.set_index("condition").loc["a", "n_movies"] == 4


def test_mask_files_and_bad_masks(tmp_path):
    import matplotlib.image
    import tifffile

    mask = np.zeros((20, 30), np.uint8)
    mask[5:15, 5:25] = 3
    tifffile.imwrite(tmp_path / "m.tif", mask)
    np.save(tmp_path / "m.npy", mask)
    matplotlib.image.imsave(tmp_path / "m.png", mask, cmap="gray")
    for name in ("m.tif", "m.npy", "m.png"):
        assert check_mask(read_mask(tmp_path / name), (20, 30)).sum() == 200
    with pytest.raises(InputError, match=r"20 x 30 does not match the movie's frames \(21 x 30\)"):
        check_mask(mask, (21, 30))
    with pytest.raises(InputError, match="empty"):
        check_mask(np.zeros((20, 30)), (20, 30))
    (tmp_path / "m.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="unknown mask format"):
        read_mask(tmp_path / "m.jpg")


def test_units_missing_warn_naming_the_flag():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert resolve_units("cell.h5", None) == (None, None)
    messages = [str(w.message) for w in caught if issubclass(w.category, UnitsWarning)]
    assert any("--pixel_size" in m for m in messages) and any("--frame_interval" in m for m in messages)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_units("cell.h5", None, pixel_size=0.1, frame_interval=0.05) == ((0.1, 0.1), 0.05)
