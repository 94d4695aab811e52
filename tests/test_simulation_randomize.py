"""Domain randomisation: the drawn parameters respect their ranges, and a seed gives the same movie."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exodeepfinder.simulation import DEFAULT_RANGES, random_parameters, simulate_movie, simulate_randomized
from exodeepfinder.simulation.randomize import DRAWN_AS_RANGE, LOG_UNIFORM, draw_settings

SHAPE = (100, 64, 64)


def _within(value, span):
    return span[0] <= value <= span[1]


def test_settings_respect_their_ranges_over_many_draws():
    draws = [draw_settings(np.random.default_rng(seed)) for seed in range(400)]
    for name, span in DEFAULT_RANGES.items():
        values = [draw[name] for draw in draws]
        if name == "camera":
            assert set(values) == set(span)  # every camera is drawn
            continue
        if name in DRAWN_AS_RANGE:
            assert all(_within(low, span) and _within(high, span) and low <= high for low, high in values), name
            values = [v for pair in values for v in pair]
        else:
            assert all(_within(v, span) for v in values), name
        # the draws fill their range: uniform, or uniform in log scale
        scale = np.log if name in LOG_UNIFORM else np.asarray
        low, high = scale(span[0]), scale(span[1])
        middle = np.median(scale(np.array(values)))
        assert abs(middle - (low + high) / 2) < 0.1 * (high - low), name
        assert np.min(scale(np.array(values))) < low + 0.05 * (high - low), name


def test_parameters_follow_the_settings():
    for seed in range(200):
        settings = draw_settings(np.random.default_rng(seed))
        params = random_parameters(np.random.default_rng(seed), shape=SHAPE)
        assert 50 <= params["event_amplitude"] <= 2000 and 50 <= params["background"] <= 1000
        assert 0.8 <= params["event_sigma"] <= 2.5 and params["event_sigma"] == settings["psf_sigma"]
        low, high = params["spot_sigma"]
        assert low == pytest.approx(0.8 * params["event_sigma"]) and high == pytest.approx(1.15 * params["event_sigma"])
        assert 0.5 <= params["event_tau"][0] <= params["event_tau"][1] <= 20
        assert params["camera"] in DEFAULT_RANGES["camera"]
        assert 0 <= params["drift"] <= 0.02 and 0 <= params["illumination_falloff"] <= 0.6
        assert params["spot_amplitude"] == pytest.approx(settings["spot_amplitude_ratio"] * params["event_amplitude"])
        # durations follow the frame rate: time_scale frames per 0.3 s
        assert params["spot_lifetime"] == (max(1, round(20 * settings["time_scale"])),
                                           max(1, round(150 * settings["time_scale"])))
        assert min(SHAPE[1:]) > 2 * params["margin"]
        assert all(params[n] >= 0 for n in ("n_events", "n_spots", "n_flashes", "n_flickers", "n_moving",
                                           "n_arriving_leaving", "hot_pixels"))
        assert set(params) <= set(simulate_movie.__kwdefaults__) - {"seed", "progress"}


def test_counts_follow_the_rates_and_the_movie_size():
    rng = np.random.default_rng(5)
    ranges = {"event_rate": (10, 10), "spot_rate": (20, 20), "hot_pixel_fraction": 0.001}
    small = [random_parameters(rng, ranges, shape=(100, 100, 100)) for _ in range(200)]
    large = [random_parameters(rng, ranges, shape=(400, 100, 200)) for _ in range(200)]
    assert np.mean([p["n_events"] for p in small]) == pytest.approx(10, rel=0.1)
    assert np.mean([p["n_events"] for p in large]) == pytest.approx(80, rel=0.05)
    assert np.mean([p["n_spots"] for p in small]) == pytest.approx(20, rel=0.1)
    assert np.mean([p["hot_pixels"] for p in large]) == pytest.approx(20, rel=0.1)


def test_narrowed_ranges_and_fixed_values():
    ranges = {"event_amplitude": (100, 200), "camera": ["scmos", "emccd"], "drift": 0.0, "event_tau": (2, 3)}
    for seed in range(100):
        params = random_parameters(seed, ranges, shape=SHAPE)
        assert 100 <= params["event_amplitude"] <= 200 and params["camera"] in ("scmos", "emccd")
        assert params["drift"] == 0.0 and 2 <= params["event_tau"][0] <= params["event_tau"][1] <= 3
    assert random_parameters(0, {"camera": "emccd"})["camera"] == "emccd"
    for bad, match in [({"brightness": (1, 2)}, "unknown setting 'brightness'"),
                       ({"event_amplitude": (300, 100)}, "event_amplitude"),
                       ({"event_tau": (0, 2)}, "event_tau must be positive"),
                       ({"camera": ["ccd"]}, "camera must be among"),
                       ({"drift": "fast"}, "drift")]:
        with pytest.raises(ValueError, match=match):
            random_parameters(0, bad)


def test_randomized_movies_are_reproducible_and_record_their_draws():
    a = simulate_randomized(SHAPE, seed=7)
    b = simulate_randomized(SHAPE, seed=7)
    c = simulate_randomized(SHAPE, seed=8)
    assert np.array_equal(a.movie, b.movie) and a.events.equals(b.events) and a.spots.equals(b.spots)
    assert not np.array_equal(a.movie, c.movie) and a.params["randomized"] != c.params["randomized"]
    assert set(a.params["randomized"]) == set(DEFAULT_RANGES) and a.params["ranges"] == DEFAULT_RANGES
    # params minus the record of the draw remake the movie
    params = {k: v for k, v in a.params.items() if k not in ("randomized", "ranges", "shape")}
    assert np.array_equal(simulate_movie(SHAPE, **params).movie, a.movie)
    # the drawn camera, brightness and size are those of the movie
    assert a.camera["model"] == a.params["camera"]
    assert (a.events.sigma == a.params["event_sigma"]).all() and len(a.events) == a.params["n_events"]


def test_randomized_with_fixed_parameters_and_narrow_ranges():
    sim = simulate_randomized(SHAPE, seed=3, ranges={"camera": "emccd", "background": (200, 200)}, n_events=4,
                              blank_frames=(2, 0))
    assert len(sim.events) == 4 and sim.params["camera"] == "emccd"
    assert sim.params["background"] == pytest.approx(200) and sim.params["blank_frames"] == (2, 0)
    with pytest.raises(TypeError):
        simulate_randomized(SHAPE, 3, None, seed=1)  # the seed is simulate_randomized's own
    with pytest.raises(ValueError, match="colour"):
        simulate_randomized(SHAPE, 3, colour="red")


def test_a_mixture_of_movies_holds_every_kind_of_object():
    kinds, event_kinds, cameras = set(), set(), set()
    for seed in range(6):
        sim = simulate_randomized((60, 64, 64), seed=seed)
        kinds |= set(sim.spots.kind)
        event_kinds |= set(sim.events.kind)
        cameras.add(sim.params["camera"])
        assert math.isfinite(sim.movie.mean()) and sim.movie.max() < 65535  # no saturation
    assert kinds == {"docked", "flash", "flicker", "moving", "arriving_leaving", "docked_then_fused"}
    assert event_kinds == {"arrived_and_fused", "docked_then_fused"} and len(cameras) >= 2
