"""Event measurements recover the simulated amplitude, decay time and spot size."""

import numpy as np
import pandas as pd
import pytest

from exodeepfinder.events.measure import MEASUREMENT_COLUMNS, measure_events
from exodeepfinder.io.events import make_events
from exodeepfinder.simulation.simulate import simulate_movie


@pytest.fixture(scope="module")
def isolated_events():
    # few bright, isolated, non-spreading events: the decay of the disk trace is the simulated tau
    return simulate_movie((240, 96, 96), n_events=10, n_spots=0, n_flashes=0, n_flickers=0, n_moving=0,
                          event_spread=0.0, event_amplitude=1500, margin=10, seed=3)


def test_recovers_decay_time_amplitude_and_spot_size(isolated_events):
    sim = isolated_events
    measured = measure_events(sim.movie, sim.events, offset=100)
    assert (measured["measure_note"] == "ok").all()
    np.testing.assert_allclose(measured["decay_tau"], sim.events["tau"], rtol=0.2)
    np.testing.assert_allclose(measured["spot_amplitude"], sim.events["amplitude"], rtol=0.2)
    np.testing.assert_allclose(measured["spot_sigma"], sim.events["sigma"], rtol=0.2)
    assert np.median(np.abs(measured["decay_tau"] / sim.events["tau"] - 1)) < 0.05
    # one-frame rise at the simulated fusion frame
    np.testing.assert_array_equal(measured["peak_frame"], sim.events["t"])
    np.testing.assert_array_equal(measured["rise_frame"], sim.events["t"])
    assert (measured["decay_r2"] > 0.9).all()
    assert (measured["peak_dff"] > 0.5).all() and (measured["duration"] >= 1).all()
    assert list(measured.columns[-len(MEASUREMENT_COLUMNS):]) == MEASUREMENT_COLUMNS


def corner_movie(n_frames=40, size=32, tau=3.0):
    """Background 100 and one decaying spot in the corner (1, 1) from frame 0, one at the centre in the last frame."""
    yy, xx = np.mgrid[0:size, 0:size]
    spot = np.exp(-((yy - 1) ** 2 + (xx - 1) ** 2) / (2 * 1.3 ** 2))
    movie = 100 + 500 * np.exp(-np.arange(n_frames) / tau)[:, None, None] * spot[None]
    movie[-1] += 500 * np.exp(-((yy - 16) ** 2 + (xx - 16) ** 2) / (2 * 1.3 ** 2))
    return movie


def test_events_at_the_edges_and_failed_fits_give_nan_and_a_reason():
    movie = corner_movie()
    n_frames, height, width = movie.shape
    events = make_events([0, n_frames - 1, 10, n_frames + 5], [1, 16, height - 1, 10], [1, 16, 0, 10])
    measured = measure_events(movie, events)
    assert len(measured) == len(events)
    corner, last, empty_corner, outside = (measured.iloc[i] for i in range(4))
    # first frame, clipped disk and annulus: no F0 but the decay is still measured
    assert corner["peak_frame"] == 0 and np.isnan(corner["f0"]) and np.isnan(corner["peak_dff"])
    assert "no frame before the event" in corner["measure_note"]
    assert corner["decay_tau"] == pytest.approx(3.0, rel=0.05)
    # last frame: nothing to fit a decay to
    assert last["peak_frame"] == n_frames - 1 and np.isnan(last["decay_tau"])
    assert "fewer than 4 frames" in last["measure_note"]
    assert last["spot_sigma"] == pytest.approx(1.3, rel=0.05)
    assert empty_corner["measure_note"] != "ok"
    assert outside["measure_note"] == "event outside the movie" and np.isnan(outside["peak_df"])


def test_flat_movie_measures_nothing_without_crashing():
    movie = np.full((40, 32, 32), 100, np.uint16)
    measured = measure_events(movie, make_events([20], [16], [16]))
    row = measured.iloc[0]
    assert np.isnan(row["decay_tau"]) and np.isnan(row["spot_sigma"]) and np.isnan(row["rise_frame"])
    assert "no intensity rise" in row["measure_note"] and "spot:" in row["measure_note"]


def test_empty_table_and_bad_options():
    movie = np.zeros((5, 16, 16))
    measured = measure_events(movie, make_events())
    assert len(measured) == 0 and "decay_tau" in measured.columns
    with pytest.raises(ValueError, match="annulus"):
        measure_events(movie, make_events(), disk_radius=6, annulus=(5, 8))


def test_lazy_hdf5_movie_gives_the_same_measurements(tmp_path, isolated_events):
    from exodeepfinder.io.h5 import write_h5
    from exodeepfinder.io.movie import open_movie

    sim = isolated_events
    events = sim.events.sample(frac=1, random_state=0)  # not in time order
    write_h5(tmp_path / "movie.h5", sim.movie)
    lazy = measure_events(open_movie(tmp_path / "movie.h5"), events)
    in_memory = measure_events(sim.movie, events)
    assert list(lazy.index) == list(events.index)
    pd.testing.assert_frame_equal(lazy, in_memory)


def test_peak_snr_and_decay_ratio_on_a_known_noise_and_decay():
    """Rise over the noise of the disk mean (Gaussian pixel noise of known sigma), and the decay a frame later."""
    rng = np.random.default_rng(0)
    n_frames, size, tau, noise = 30, 33, 2.5, 5.0
    yy, xx = np.mgrid[0:size, 0:size]
    spot = np.exp(-((yy - 16) ** 2 + (xx - 16) ** 2) / (2 * 1.5 ** 2))
    time = np.arange(n_frames) - 10.0
    movie = 100 + 300 * np.where(time >= 0, np.exp(-np.clip(time, 0, None) / tau), 0)[:, None, None] * spot
    movie = movie + rng.normal(0, noise, movie.shape)
    measured = measure_events(movie, make_events([10], [16], [16])).iloc[0]
    disk_pixels = ((yy - 16) ** 2 + (xx - 16) ** 2 <= 9).sum()
    assert measured["peak_snr"] == pytest.approx(measured["peak_df"] / (noise / np.sqrt(disk_pixels)), rel=0.15)
    assert measured["decay_ratio"] == pytest.approx(np.exp(-1 / tau), abs=0.1)
