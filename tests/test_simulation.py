"""The simulator: its statistics match its parameters (events, decay, spot size, camera, bleaching)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.optimize import curve_fit

from exodeepfinder.simulation import simulate_movie
from exodeepfinder.simulation.simulate import EVENT_KINDS, SPOT_COLUMNS, SPOT_KINDS

QUIET = dict(n_spots=0, n_flashes=0, n_flickers=0, n_moving=0)


def _gaussian_2d(coords, amplitude, y0, x0, sigma, background):
    y, x = coords
    return amplitude * np.exp(-((y - y0) ** 2 + (x - x0) ** 2) / (2 * sigma ** 2)) + background


def fit_sigma(image):
    """Sigma (px) of a 2D Gaussian plus a constant fitted to a small square image."""
    size = image.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    guess = (image.max() - np.median(image), size / 2, size / 2, 1.5, np.median(image))
    params, _ = curve_fit(_gaussian_2d, (yy.ravel(), xx.ravel()), image.ravel().astype(float), p0=guess)
    return abs(params[3])


def test_event_count_positions_and_separation():
    shape = (150, 96, 96)
    sim = simulate_movie(shape, n_events=25, seed=3)
    events = sim.events
    assert len(events) == 25
    assert (events.class_label == 1).all()
    assert events.t.between(0, shape[0] - 3).all() and (events.t == events.t.round()).all()
    margin = sim.params["margin"]
    assert events.y.between(margin, shape[1] - 1 - margin).all()
    assert events.x.between(margin, shape[2] - 1 - margin).all()
    assert events.tau.between(*sim.params["event_tau"]).all()
    t, y, x = (events[c].to_numpy() for c in ("t", "y", "x"))
    close = (np.abs(t[:, None] - t[None]) < 8) & (np.hypot(y[:, None] - y[None], x[:, None] - x[None]) < 8)
    assert close.sum() == len(events)  # only each event with itself
    # every event is a visible brightening at its frame
    for ti, yi, xi in zip(t.astype(int), np.round(y).astype(int), np.round(x).astype(int)):
        before = sim.movie[max(ti - 3, 0):ti, yi - 1:yi + 2, xi - 1:xi + 2].astype(float)
        peak = sim.movie[ti, yi - 1:yi + 2, xi - 1:xi + 2].astype(float)
        if len(before):
            assert peak.mean() - before.mean() > 150


def test_decay_constant_matches_tau():
    sim = simulate_movie((400, 96, 96), n_events=12, event_amplitude=3000, event_tau=(2.0, 7.0),
                         event_spread=0.2, event_separation=40, seed=4, **QUIET)
    movie = sim.movie.astype(float)
    ratios = []
    for t, y, x, tau in sim.events[["t", "y", "x", "tau"]].to_numpy():
        t, y, x = int(t), int(round(y)), int(round(x))
        box = movie[:, y - 6:y + 7, x - 6:x + 7].sum(axis=(1, 2))
        baseline = box[max(t - 5, 0):t].mean() if t >= 3 else box[t + 40:t + 50].mean()
        ages = np.arange(0, int(2 * tau) + 1)
        signal = box[t + ages] - baseline
        slope = np.polyfit(ages, np.log(np.clip(signal, 1, None)), 1)[0]
        ratios.append(-1 / slope / tau)
    ratios = np.array(ratios)
    assert abs(np.median(ratios) - 1) < 0.1, ratios
    assert np.all(np.abs(ratios - 1) < 0.3), ratios


def test_event_spreads_laterally():
    spread = 0.5
    sim = simulate_movie((120, 64, 64), n_events=6, event_amplitude=4000, event_tau=(6.0, 6.0),
                         event_spread=spread, event_separation=30, margin=8, seed=8, **QUIET)
    growth = []
    for t, y, x in sim.events[["t", "y", "x"]].to_numpy():
        t, y, x = int(t), int(round(y)), int(round(x))
        if t + 4 >= sim.movie.shape[0]:
            continue
        crop = lambda f: sim.movie[f, y - 7:y + 8, x - 7:x + 8]  # noqa: E731
        s0, s4 = fit_sigma(crop(t)), fit_sigma(crop(t + 4))
        growth.append((s0, s4 ** 2 - s0 ** 2))
    s0, d = np.median(np.array(growth), axis=0)
    assert abs(s0 - sim.params["event_sigma"]) < 0.15
    assert abs(d - 2 * spread * 4) < 0.25 * 2 * spread * 4


def test_spot_size_matches_sigma():
    sim = simulate_movie((60, 96, 96), n_events=0, n_spots=15, n_flashes=0, n_flickers=0, n_moving=0,
                         spot_drift=0.0, spot_lifetime=(40, 60), spot_amplitude=600, background_variation=0.0,
                         seed=5)
    spots = sim.spots
    assert list(spots.columns) == SPOT_COLUMNS and set(spots.kind) == {"docked"}
    errors = []
    for spot_id, rows in spots.groupby("spot_id"):
        if len(rows) < 20:
            continue
        y, x = int(round(rows.y.iloc[0])), int(round(rows.x.iloc[0]))
        others = spots[(spots.spot_id != spot_id) & (np.hypot(spots.y - y, spots.x - x) < 8)]
        if len(others):
            continue  # a neighbour in the box would bias the fit
        frames = rows.t.astype(int).to_numpy()
        image = sim.movie[frames, y - 5:y + 6, x - 5:x + 6].astype(float).mean(axis=0)
        errors.append(fit_sigma(image) / rows.sigma.iloc[0] - 1)
    assert len(errors) >= 5
    assert abs(np.median(errors)) < 0.08, errors
    assert np.all(np.abs(errors) < 0.2), errors
    assert spots.sigma.between(*sim.params["spot_sigma"]).all()


def test_camera_noise_model():
    gain, offset, read_noise = 2.0, 100.0, 5.0
    sim = simulate_movie((400, 32, 48), n_events=0, background=60, bleaching_frames=1e9, gain=gain, offset=offset,
                         read_noise=read_noise, seed=6, **QUIET)
    movie = sim.movie.astype(float)
    mean, var = movie.mean(0).ravel(), movie.var(0).ravel()
    # shot noise: var = gain^2 * photons + read^2 with mean = offset + gain * photons
    slope, intercept = np.polyfit(mean - offset, var, 1)
    assert abs(slope - gain) < 0.1 * gain
    assert abs(intercept - read_noise ** 2) < 12
    assert ((mean - offset) / gain).min() < 20  # dim pixels (the exact Poisson branch) are covered
    assert sim.movie.dtype == np.uint16


def test_photobleaching():
    sim = simulate_movie((300, 48, 48), n_events=0, bleaching_frames=150, offset=100, seed=7, **QUIET)
    level = sim.movie.astype(float).mean(axis=(1, 2)) - 100
    rate = -np.polyfit(np.arange(300), np.log(level), 1)[0]
    assert abs(1 / rate - 150) < 10


def test_uneven_cell_footprint():
    sim = simulate_movie((5, 128, 128), n_events=0, seed=9, **QUIET)
    frame = sim.movie[0].astype(float) - sim.params["offset"]
    centre, corner = frame[48:80, 48:80].mean(), frame[:10, :10].mean()
    assert corner < 0.5 * centre  # a cell in the middle, dim outside
    inside = frame[40:88, 40:88]
    assert inside.std() > 2 * np.sqrt(inside.mean())  # uneven beyond shot noise


def test_distractors():
    sim = simulate_movie((200, 96, 96), n_events=0, n_spots=5, n_flashes=6, n_flickers=4, n_moving=6, seed=10)
    spots = sim.spots
    # the distractors on by default (SPOT_KINDS also lists kinds that are off by default)
    assert set(spots.kind) == {"docked", "flash", "flicker", "moving"} < set(SPOT_KINDS)
    per_object = spots.groupby("spot_id").agg(kind=("kind", "first"), frames=("t", "size"))
    assert (per_object[per_object.kind == "flash"].frames == 1).all()
    assert (per_object.kind == "flash").sum() == 6
    for _, rows in spots[spots.kind == "moving"].groupby("spot_id"):
        if len(rows) > 2:
            speed = np.hypot(np.diff(rows.y), np.diff(rows.x))
            assert np.allclose(speed, speed[0]) and 0.5 <= speed[0] <= 2.0
    for _, rows in spots[spots.kind == "flicker"].groupby("spot_id"):
        if len(rows) > 10:
            ratio = rows.amplitude.to_numpy()[2:-2] / rows.amplitude.max()
            assert ratio.min() < 0.35 and ratio.max() > 0.9  # switches between dim and bright


def test_reproducible_with_seed():
    a = simulate_movie((20, 40, 40), n_events=3, seed=11)
    b = simulate_movie((20, 40, 40), n_events=3, seed=11)
    c = simulate_movie((20, 40, 40), n_events=3, seed=12)
    assert np.array_equal(a.movie, b.movie) and a.events.equals(b.events) and a.spots.equals(b.spots)
    assert not np.array_equal(a.movie, c.movie)
    assert a.params["seed"] == 11 and a.params["n_events"] == 3


def test_tiny_and_empty_movies():
    sim = simulate_movie((6, 16, 20), n_events=1, n_spots=2, seed=5)
    assert sim.movie.shape == (6, 16, 20) and len(sim.events) == 1
    empty = simulate_movie((4, 20, 20), n_events=0, seed=1, **QUIET)
    assert len(empty.events) == 0 and len(empty.spots) == 0 and list(empty.spots.columns) == SPOT_COLUMNS
    with pytest.raises(ValueError, match="too small"):
        simulate_movie((4, 10, 10))
    with pytest.raises(ValueError, match="n_events"):
        simulate_movie((4, 32, 32), n_events=-1)


def test_blank_frames_look_like_padding():
    from exodeepfinder.inference import normalize_frames

    sim = simulate_movie((60, 48, 48), n_events=8, blank_frames=(5, 3), seed=13)
    assert (normalize_frames(sim.movie[:5]) == 0).all() and (normalize_frames(sim.movie[-3:]) == 0).all()
    assert sim.movie[5].std() > 10
    assert sim.events.t.between(5, 60 - 3 - 3).all()
    assert sim.spots.t.between(5, 56).all()
    with pytest.raises(ValueError, match="blank_frames"):
        simulate_movie((10, 32, 32), n_events=1, blank_frames=(5, 5))


# --- the options beyond the defaults: event kinetics and kinds, new distractors, drift, illumination ---

FLAT = dict(background_variation=0.0, outside_background=1.0, bleaching_frames=1e12)  # the same photons everywhere


@pytest.mark.parametrize("tau, spread", [(0.7, 0.0), (3.0, 0.3), (15.0, 0.3)])
def test_decay_fit_recovers_tau_over_the_randomised_range(tau, spread):
    background, offset, half = 50.0, 100.0, 12
    sim = simulate_movie((260, 96, 96), n_events=6, event_amplitude=15000, event_tau=(tau, tau), event_spread=spread,
                         event_separation=40, background=background, offset=offset, margin=14, seed=14,
                         **FLAT, **QUIET)
    movie = sim.movie.astype(float)
    baseline = (offset + background) * (2 * half + 1) ** 2  # known exactly: flat background, gain 1
    estimates = []
    for t, y, x in sim.events[["t", "y", "x"]].to_numpy():
        t, y, x = int(t), int(round(y)), int(round(x))
        ages = np.arange(0, max(2, int(1.5 * tau)) + 1)
        if t + ages[-1] >= len(movie):
            continue
        signal = movie[t + ages, y - half:y + half + 1, x - half:x + half + 1].sum(axis=(1, 2)) - baseline
        estimates.append(-1 / np.polyfit(ages, np.log(np.clip(signal, 1, None)), 1)[0])
    assert len(estimates) >= 4
    assert abs(np.median(estimates) / tau - 1) < 0.1, estimates
    assert sim.events.tau.eq(tau).all() and sim.events.spread.eq(spread).all()


def test_spreading_fraction():
    sim = simulate_movie((400, 128, 128), n_events=60, event_spread=0.4, event_spread_fraction=0.5, seed=15, **QUIET)
    spread = sim.events.spread.to_numpy()
    assert set(np.unique(spread)) == {0.0, 0.4}
    assert 0.3 < (spread > 0).mean() < 0.7
    # an event that does not spread keeps its size: fit at the peak and 4 frames later
    still = sim.events[(sim.events.spread == 0) & (sim.events.t < 390)]
    quiet = simulate_movie((400, 128, 128), n_events=60, event_amplitude=4000, event_tau=(8.0, 8.0),
                           event_spread=0.4, event_spread_fraction=0.5, seed=15, **QUIET)
    for t, y, x in quiet.events[quiet.events.spread == 0][["t", "y", "x"]].to_numpy()[:5]:
        t, y, x = int(t), int(round(y)), int(round(x))
        crop = lambda f: quiet.movie[f, y - 7:y + 8, x - 7:x + 8]  # noqa: E731
        assert abs(fit_sigma(crop(t + 4)) - fit_sigma(crop(t))) < 0.15
    assert len(still) > 5


def test_events_of_docked_vesicles():
    brightness = 0.3
    sim = simulate_movie((300, 96, 96), n_events=12, docked_fraction=1.0, event_docking=(10, 30),
                         event_docking_brightness=brightness, event_amplitude=2000, spot_fluctuation=0.0,
                         event_separation=30, background=50, seed=16, **FLAT, **QUIET)
    events, spots = sim.events, sim.spots
    assert (events.kind == "docked_then_fused").all() and set(spots.kind) == {"docked_then_fused"}
    assert spots.spot_id.nunique() == len(events)
    for (t, y, x, amplitude, docked), (_, rows) in zip(
            events[["t", "y", "x", "amplitude", "docked_frames"]].to_numpy(), spots.groupby("spot_id")):
        assert 10 <= docked <= 30
        # the vesicle waits at the fusion site until the frame before the rise
        assert rows.t.max() == t - 1 and rows.t.min() == max(t - docked, 0)
        assert np.allclose(rows[["y", "x"]].to_numpy(), [y, x])
        np.testing.assert_allclose(rows.amplitude.iloc[-1], brightness * amplitude, rtol=1e-4)
        # in the movie: a dim spot before, the event's peak at t
        t, yi, xi = int(t), int(round(y)), int(round(x))
        before = sim.movie[int(t) - 3:int(t), yi, xi].astype(float).mean() - 150
        peak = float(sim.movie[t, yi, xi]) - 150
        if t >= 3:
            assert 0.15 * amplitude < before < 0.5 * amplitude and peak > 0.7 * amplitude
    mixed = simulate_movie((400, 128, 128), n_events=60, docked_fraction=0.5, seed=17, **QUIET)
    assert 0.3 < (mixed.events.kind == "docked_then_fused").mean() < 0.7
    assert set(mixed.events.kind) == set(EVENT_KINDS)
    assert (mixed.events.docked_frames[mixed.events.kind == "arrived_and_fused"] == 0).all()


def test_arriving_leaving_moving_and_blinking_distractors():
    sim = simulate_movie((200, 96, 96), n_events=0, n_spots=0, n_flashes=0, n_flickers=6, n_moving=6,
                         n_arriving_leaving=8, flicker_low=0.0, moving_lifetime=(10, 12), seed=18)
    spots = sim.spots
    assert set(spots.kind) == {"flicker", "moving", "arriving_leaving"}
    visits = spots[spots.kind == "arriving_leaving"].groupby("spot_id")
    assert len(visits) == 8
    for _, rows in visits:
        assert len(rows) <= 3 + 8 + 3 and np.all(np.diff(rows.t) == 1)
        inside = 0 < rows.t.min() and rows.t.max() < 199
        if inside:  # arrives and leaves: dimmer at both ends than at its brightest
            assert len(rows) >= 3 and rows.amplitude.iloc[[0, -1]].max() < rows.amplitude.max()
    for _, rows in spots[spots.kind == "moving"].groupby("spot_id"):
        assert len(rows) <= 12
    for _, rows in spots[spots.kind == "flicker"].groupby("spot_id"):
        if len(rows) > 10:
            assert np.diff(rows.t).max() > 1  # blinking: off frames (dark) are not listed


def test_drift_moves_everything_on_the_sample_by_the_requested_amount():
    drift, angle = 0.05, 0.6
    step = drift * np.array([np.sin(angle), np.cos(angle)])
    sim = simulate_movie((201, 96, 96), n_events=6, n_spots=10, n_flashes=0, n_flickers=0, n_moving=0,
                         spot_drift=0.0, drift=drift, drift_angle=angle, event_separation=20, seed=19)
    np.testing.assert_allclose(sim.drift[-1], 200 * step)
    for _, rows in sim.spots.groupby("spot_id"):  # a vesicle still on the sample moves with the stage
        np.testing.assert_allclose(np.diff(rows[["y", "x"]].to_numpy(), axis=0), np.tile(step, (len(rows) - 1, 1)),
                                   atol=1e-9)
    # the cell: the last frame is the first one shifted by the drift (10 px along x with angle 0); a
    # bright cell, so that its texture stands out of the shot noise
    cell = simulate_movie((201, 96, 96), n_events=0, drift=drift, drift_angle=0.0, background=20000,
                          background_variation=0.4, bleaching_frames=1e12, seed=20, **QUIET).movie.astype(float)

    def mismatch(shift):
        return np.abs(cell[200, :, 20 + shift:80 + shift] - cell[0, :, 20:80]).mean()

    assert mismatch(10) < 0.7 * min(mismatch(9), mismatch(11))
    assert mismatch(10) < 2.0 * np.sqrt(cell[0].mean() - 100)  # shot noise only


def test_spot_positions_follow_the_drift_in_the_movie():
    sim = simulate_movie((120, 64, 64), n_events=0, n_spots=1, n_flashes=0, n_flickers=0, n_moving=0,
                         spot_drift=0.0, spot_lifetime=(400, 400), spot_fade=(0, 0), spot_fluctuation=0.0,
                         spot_amplitude=3000, background=30, drift=0.05, drift_angle=np.pi / 2, seed=22, **FLAT)
    rows = sim.spots.set_index("t")
    first, last = int(rows.index.min()), int(rows.index.max())
    assert last - first >= 60
    for t in (first, last):
        y, x = int(round(rows.y[t])), int(round(rows.x[t]))
        weights = np.clip(sim.movie[t, y - 5:y + 6, x - 5:x + 6].astype(float) - 130, 0, None)
        yy, xx = np.mgrid[-5:6, -5:6]
        assert abs((weights * yy).sum() / weights.sum() + y - rows.y[t]) < 0.2
        assert abs((weights * xx).sum() / weights.sum() + x - rows.x[t]) < 0.2
    assert rows.y[last] - rows.y[first] == pytest.approx(0.05 * (last - first))
    assert rows.x[last] == pytest.approx(rows.x[first])


def test_uneven_illumination():
    falloff, background = 0.5, 400.0
    sim = simulate_movie((40, 64, 64), n_events=10, event_amplitude=1000, illumination_falloff=falloff,
                         background=background, seed=22, **FLAT, **QUIET)
    # the median skips the events, the smoothing the noise
    light = ndimage.uniform_filter((np.median(sim.movie.astype(float), axis=0) - 100) / background, 5)
    corners = [light[:3, :3].mean(), light[:3, -3:].mean(), light[-3:, :3].mean(), light[-3:, -3:].mean()]
    assert min(corners) == pytest.approx(1 - falloff, abs=0.05)
    assert light.max() == pytest.approx(1.0, abs=0.05) and light.max() > max(corners) + 0.1
    # the truth gives the photons that reach the camera: dimmer events where the light is weaker
    ratio = sim.events.amplitude / 1000
    assert ratio.between(0.7 * (1 - falloff), 1.3).all() and ratio.min() < 0.9
