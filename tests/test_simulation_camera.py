"""The simulated cameras: noise statistics of the simple, sCMOS and EMCCD models, and hot pixels."""

from __future__ import annotations

import numpy as np
import pytest

from exodeepfinder.simulation import simulate_movie

QUIET = dict(n_events=0, n_spots=0, n_flashes=0, n_flickers=0, n_moving=0)
FLAT = dict(background_variation=0.0, outside_background=1.0, bleaching_frames=1e12)  # the same photons everywhere


@pytest.mark.parametrize("camera, excess", [("simple", 1.0), ("scmos", 1.0), ("emccd", 2.0)])
def test_variance_grows_with_the_photons(camera, excess):
    """var = excess * gain^2 * photons + read^2, mean = offset + gain * photons, over the cell's range of photons."""
    gain, offset, read_noise = 2.0, 100.0, 4.0
    sim = simulate_movie((300, 48, 64), background=60, bleaching_frames=1e12, camera=camera, gain=gain,
                         offset=offset, read_noise=read_noise, scmos_read_noise_spread=0.0, seed=30, **QUIET)
    movie = sim.movie.astype(float)
    mean, var = movie.mean(0).ravel(), movie.var(0).ravel()
    slope, intercept = np.polyfit(mean - offset, var, 1)
    assert slope == pytest.approx(excess * gain, rel=0.08)
    assert intercept == pytest.approx(read_noise ** 2, abs=15)
    assert ((mean - offset) / gain).min() < 20 < ((mean - offset) / gain).max()  # both noise branches


@pytest.mark.parametrize("photons", [6.0, 80.0])  # the exact (Poisson) and the Gaussian branch
def test_emccd_excess_noise_factor_is_two(photons):
    gain, offset, read_noise = 3.0, 200.0, 2.0
    sim = simulate_movie((400, 32, 48), background=photons, camera="emccd", gain=gain, offset=offset,
                         read_noise=read_noise, seed=31, **FLAT, **QUIET)
    counts = sim.movie.astype(float)
    signal = counts.mean() - offset
    assert signal == pytest.approx(gain * photons, rel=0.02)
    excess = (counts.var(axis=0).mean() - read_noise ** 2) / (gain * signal)
    assert excess == pytest.approx(2.0, rel=0.05)
    simple = simulate_movie((400, 32, 48), background=photons, gain=gain, offset=offset, read_noise=read_noise,
                            seed=31, **FLAT, **QUIET).movie.astype(float)
    plain_excess = (simple.var(axis=0).mean() - read_noise ** 2) / (gain * (simple.mean() - offset))
    assert plain_excess == pytest.approx(1, rel=0.05)


@pytest.mark.parametrize("photons", [8.0, 60.0])
def test_scmos_pixels_have_their_own_offset_gain_and_read_noise(photons):
    sim = simulate_movie((500, 32, 48), background=photons, camera="scmos", gain=2.0, offset=100.0, read_noise=6.0,
                         scmos_offset_sd=5.0, scmos_gain_sd=0.05, scmos_read_noise_spread=0.6, seed=32,
                         **FLAT, **QUIET)
    maps = sim.camera
    assert maps["model"] == "scmos" and maps["offset"].shape == maps["gain"].shape == (32, 48)
    assert maps["offset"].std() == pytest.approx(5.0, rel=0.1)
    assert (maps["gain"] / 2.0 - 1).std() == pytest.approx(0.05, rel=0.1)
    assert np.median(maps["read_noise"]) == pytest.approx(6.0, rel=0.1)
    assert np.log(maps["read_noise"]).std() == pytest.approx(0.6, rel=0.1)
    counts = sim.movie.astype(float)
    expected_mean = maps["offset"] + maps["gain"] * photons
    expected_var = maps["gain"] ** 2 * photons + maps["read_noise"] ** 2
    # per pixel: means within 5 standard errors, variances follow the map of each pixel
    standard_error = np.sqrt(expected_var / len(counts))
    assert np.abs(counts.mean(0) - expected_mean).max() < 5 * standard_error.max()
    ratio = counts.var(0) / expected_var
    assert np.median(ratio) == pytest.approx(1, abs=0.03) and np.percentile(np.abs(ratio - 1), 99) < 0.25
    assert np.corrcoef(counts.var(0).ravel(), expected_var.ravel())[0, 1] > 0.9
    # a fixed pattern: the pixels of a simple camera do not differ beyond the shot noise
    simple = simulate_movie((500, 32, 48), background=photons, gain=2.0, offset=100.0, read_noise=6.0, seed=32,
                            **FLAT, **QUIET).movie.astype(float)
    assert simple.mean(0).std() < 0.3 * counts.mean(0).std()


def test_hot_pixels_where_requested():
    sim = simulate_movie((60, 64, 64), n_events=3, n_spots=5, background=80, hot_pixels=12,
                         hot_pixel_level=(400.0, 800.0), drift=0.1, gain=1.5, seed=33)
    hot = sim.hot_pixels
    assert len(hot) == 12 and not hot.duplicated(["y", "x"]).any()
    assert hot.level.between(400, 800).all()
    median = np.median(sim.movie.astype(float), axis=0)
    local = np.median(np.stack([np.roll(median, s, axis=a) for s in (-2, 2) for a in (0, 1)]), axis=0)
    excess = median - local
    # hot pixels stay on their pixel of the sensor while the sample drifts 6 px
    np.testing.assert_allclose(excess[hot.y, hot.x], 1.5 * hot.level, rtol=0.15)
    found = np.argwhere(excess > 300)
    assert sorted(map(tuple, found)) == sorted(zip(hot.y, hot.x))
    assert len(simulate_movie((10, 32, 32), seed=33, **QUIET).hot_pixels) == 0
