"""Domain randomisation: movies whose brightness, optics, kinetics, distractors and camera are drawn at random.

A model trained only on :func:`~exodeepfinder.simulation.simulate_movie`'s defaults knows one
microscope. :func:`random_parameters` draws one setting for each entry of :data:`DEFAULT_RANGES`
(the one home of these ranges, documented in docs/simulate_detect.md) and turns the settings into
:func:`simulate_movie` arguments; :func:`simulate_randomized` simulates a movie with them.

Most settings are :func:`simulate_movie` arguments; the others tie several arguments together:

- ``psf_sigma`` (px) stands for the pixel size (60-160 nm): it is the events' sigma, the spots'
  sigmas are 0.8-1.15 times it, and lengths given at 160 nm per pixel (speeds, spreads,
  separation, margin) are scaled by ``psf_sigma / 1.3``;
- ``time_scale`` stands for the frame rate (frames per 0.3 s): durations given at 0.3 s per
  frame (lifetimes, fades, docking, bright states) are multiplied by it, speeds divided by it;
  ``event_tau`` keeps its own range;
- ``*_rate``: objects per 100 frames per 100 x 100 pixels (the counts follow the movie's size);
- ``*_ratio``: brightness of spots and flashes relative to ``event_amplitude``;
- ``hot_pixel_fraction``: the fraction of the pixels that are hot.

:data:`DISTRACTOR_RANGES` holds more settings, the distractors described for real TIRF movies
(transient bumps, blinks, docking steps, passing vesicles, focus drift): they are drawn only
when named in ``ranges`` (``--range bump_rate 0 8``), so that the movies of the default ranges
stay the same; ``ranges=DISTRACTOR_RANGES`` draws them all from their suggested ranges.
"""

from __future__ import annotations

import math

import numpy as np

from .simulate import CAMERAS, Simulation, simulate_movie

#: Range of each randomised setting: ``(low, high)``, or the choices of ``camera``. See the
#: module docstring and docs/simulate_detect.md for what each one sets.
DEFAULT_RANGES = {
    # brightness (photons in the centre pixel; background per pixel)
    "event_amplitude": (50.0, 2000.0),
    "background": (50.0, 1000.0),
    "spot_amplitude_ratio": (0.2, 1.2),
    "flash_amplitude_ratio": (0.5, 1.5),
    # optics and frame rate
    "psf_sigma": (0.8, 2.5),
    "time_scale": (0.5, 3.0),
    # fusion events
    "event_rate": (2.0, 12.0),
    "event_tau": (0.5, 20.0),
    "event_spread": (0.0, 0.6),
    "event_spread_fraction": (0.0, 1.0),
    "event_onset": (0.0, 0.5),
    "docked_fraction": (0.0, 1.0),
    "event_docking_brightness": (0.1, 0.5),
    # docked vesicles and distractors
    "spot_rate": (0.0, 25.0),
    "flash_rate": (0.0, 4.0),
    "flicker_rate": (0.0, 4.0),
    "moving_rate": (0.0, 4.0),
    "arriving_leaving_rate": (0.0, 4.0),
    "spot_fluctuation": (0.0, 0.3),
    "flicker_on": (0.2, 0.8),
    "flicker_low": (0.0, 0.5),
    # cell, illumination, stage
    "background_variation": (0.05, 0.4),
    "background_scale": (5.0, 30.0),
    "outside_background": (0.05, 0.5),
    "bleaching_frames": (300.0, 30000.0),
    "illumination_falloff": (0.0, 0.6),
    "drift": (0.0, 0.02),
    # camera
    "camera": CAMERAS,
    "gain": (0.5, 4.0),
    "offset": (50.0, 500.0),
    "read_noise": (1.0, 10.0),
    "scmos_offset_sd": (0.0, 10.0),
    "scmos_gain_sd": (0.0, 0.05),
    "scmos_read_noise_spread": (0.0, 0.7),
    "hot_pixel_fraction": (0.0, 0.001),
    "hot_pixel_level": (100.0, 3000.0),
}

#: Settings drawn only when ``ranges`` names them (see the module docstring), with their suggested
#: ranges: the opt-in distractors of :func:`simulate_movie` (``*_rate`` as above; ``bump_contrast``: the
#: bumps' photons relative to ``background``, their ΔF/F0, at most half ``event_amplitude`` so that a
#: bump stays fainter than the movie's events) and its ``focus_drift``.
DISTRACTOR_RANGES = {
    "bump_rate": (0.0, 8.0),
    "bump_contrast": (0.1, 0.4),
    "blink_rate": (0.0, 4.0),
    "step_rate": (0.0, 4.0),
    "passing_rate": (0.0, 3.0),
    "focus_drift": (-0.3, 0.3),
}

# Drawn uniformly in log scale (their ranges span more than a factor 10 or are scales).
LOG_UNIFORM = frozenset({"event_amplitude", "background", "time_scale", "event_tau", "bleaching_frames", "gain",
                         "background_scale", "hot_pixel_level"})
# simulate_movie takes a range for these: two values are drawn and sorted.
DRAWN_AS_RANGE = frozenset({"event_tau", "event_onset", "hot_pixel_level"})

# The default movie's values of the lengths and durations that psf_sigma and time_scale scale.
_DEFAULT_SIGMA = 1.3
_PER_100_FRAMES_AND_100_PX = ("n_events", "event_rate"), ("n_spots", "spot_rate"), ("n_flashes", "flash_rate"), \
    ("n_flickers", "flicker_rate"), ("n_moving", "moving_rate"), ("n_arriving_leaving", "arriving_leaving_rate")
_OPTIONAL_COUNTS = ("n_bumps", "bump_rate"), ("n_blinks", "blink_rate"), ("n_steps", "step_rate"), \
    ("n_passing", "passing_rate")
_KNOWN_RANGES = {**DEFAULT_RANGES, **DISTRACTOR_RANGES}


def check_ranges(ranges: dict | None) -> dict:
    """:data:`DEFAULT_RANGES` updated with ``ranges``; raise ValueError naming a bad entry.

    Settings of :data:`DISTRACTOR_RANGES` are added only when ``ranges`` names them. A numeric range is ``(low, high)`` (or one number: a fixed value); ``camera`` takes a
    sequence of camera names (or one name).
    """
    merged = dict(DEFAULT_RANGES)
    for name, value in (ranges or {}).items():
        if name not in _KNOWN_RANGES:
            raise ValueError(f"ranges: unknown setting {name!r} (known: {', '.join(_KNOWN_RANGES)})")
        if name == "camera":
            choices = (value,) if isinstance(value, str) else tuple(value)
            unknown = [c for c in choices if c not in CAMERAS]
            if not choices or unknown:
                got = ", ".join(map(str, choices)) or "none"
                raise ValueError(f"ranges: camera must be among {', '.join(CAMERAS)} (got {got})")
            merged[name] = choices
            continue
        try:
            values = tuple(float(v) for v in ((value,) * 2 if np.isscalar(value) else value))
        except (TypeError, ValueError):
            values = ()
        if len(values) != 2 or not all(map(math.isfinite, values)) or values[0] > values[1]:
            raise ValueError(f"ranges: {name} must be (low, high) with low <= high (got {value!r})")
        if name in LOG_UNIFORM and values[0] <= 0:
            raise ValueError(f"ranges: {name} must be positive (got {value})")
        merged[name] = values
    return merged


def draw_settings(rng, ranges: dict | None = None) -> dict:
    """One value of each setting of :data:`DEFAULT_RANGES` (updated with ``ranges``).

    Settings in ``DRAWN_AS_RANGE`` get a sorted pair of values drawn from their range.
    """
    rng = np.random.default_rng(rng)
    settings = {}
    merged = check_ranges(ranges)
    # the default settings first, in their order, then the opt-in ones: the default draws stay the same
    order = [*DEFAULT_RANGES, *(name for name in DISTRACTOR_RANGES if name in merged)]
    for name, span in ((name, merged[name]) for name in order):
        if name == "camera":
            settings[name] = str(span[int(rng.integers(len(span)))])
            continue
        low, high = (math.log(span[0]), math.log(span[1])) if name in LOG_UNIFORM else span
        values = rng.uniform(low, high, 2 if name in DRAWN_AS_RANGE else 1)
        values = np.exp(values) if name in LOG_UNIFORM else values
        # exp(log(x)) may miss the bounds by a rounding error
        values = np.clip(values, span[0], span[1])
        settings[name] = tuple(sorted(float(v) for v in values)) if name in DRAWN_AS_RANGE else float(values[0])
    return settings


def parameters_from_settings(settings: dict, shape, rng) -> dict:
    """The :func:`simulate_movie` arguments of ``settings`` (see the module docstring) for a movie of ``shape``.

    ``rng`` draws the object counts (Poisson around rate x movie size).
    """
    n_frames, height, width = shape
    s = settings["psf_sigma"] / _DEFAULT_SIGMA
    ts = settings["time_scale"]

    def frames(low, high):
        return max(1, round(low * ts)), max(1, round(high * ts))

    units = n_frames / 100 * height * width / 1e4
    counts = {count: int(rng.poisson(settings[rate] * units)) for count, rate in _PER_100_FRAMES_AND_100_PX}
    optional = {count: int(rng.poisson(settings[rate] * units)) for count, rate in _OPTIONAL_COUNTS if rate in settings}
    if "bump_contrast" in settings:
        optional["bump_amplitude"] = min(settings["bump_contrast"] * settings["background"],
                                         0.5 * settings["event_amplitude"])
    if "focus_drift" in settings:
        optional["focus_drift"] = settings["focus_drift"]
    if optional:  # durations and speeds of the opt-in distractors, scaled like the others
        optional.update(bump_tau=(0.5 * ts, 3.0 * ts), blink_frames=frames(1, 3),
                        passing_speed=(1.0 * s / ts, 4.0 * s / ts),
                        passing_sigma=(2.5 * settings["psf_sigma"], 5.0 * settings["psf_sigma"]))
    copied = ("event_amplitude", "background", "event_tau", "event_spread_fraction", "event_onset",
              "docked_fraction", "event_docking_brightness", "spot_fluctuation", "flicker_on", "flicker_low",
              "background_variation", "background_scale", "outside_background", "bleaching_frames",
              "illumination_falloff", "drift", "camera", "gain", "offset", "read_noise", "scmos_offset_sd",
              "scmos_gain_sd", "scmos_read_noise_spread", "hot_pixel_level")
    return {
        **counts,
        **{name: settings[name] for name in copied},
        "event_sigma": settings["psf_sigma"],
        "spot_sigma": (0.8 * settings["psf_sigma"], 1.15 * settings["psf_sigma"]),
        "event_spread": settings["event_spread"] * s * s,
        "event_separation": 8.0 * max(s, 1.0),
        # wider spots keep farther from the border, as far as the frame allows
        "margin": min(max(6, math.ceil(4.6 * settings["psf_sigma"])), max((min(height, width) - 1) // 2, 0)),
        "spot_amplitude": settings["spot_amplitude_ratio"] * settings["event_amplitude"],
        "flash_amplitude": settings["flash_amplitude_ratio"] * settings["event_amplitude"],
        "spot_lifetime": frames(20, 150),
        "spot_fade": frames(3, 10),
        "spot_drift": 0.15 * s / math.sqrt(ts),  # a random walk: the step grows as the square root of the time
        "event_docking": frames(5, 50),
        "flicker_bright_frames": 4.0 * ts,
        "moving_speed": (0.5 * s / ts, 2.0 * s / ts),
        "moving_lifetime": frames(5, 30),
        "arriving_leaving_duration": frames(1, 8),
        "arriving_leaving_fade": frames(1, 3),
        "hot_pixels": int(rng.poisson(settings["hot_pixel_fraction"] * height * width)),
        **optional,
    }


def random_parameters(rng=None, ranges: dict | None = None, *, shape=(200, 128, 128)) -> dict:
    """Draw one set of :func:`simulate_movie` arguments from :data:`DEFAULT_RANGES`.

    Parameters
    ----------
    rng : numpy Generator, int seed or None
        Source of the random draws.
    ranges : dict or None
        Settings whose range replaces the default one: ``{"event_amplitude": (200, 500),
        "camera": ("scmos",), "drift": 0.0}`` (one number fixes a setting).
    shape : (int, int, int)
        Movie shape: the object counts follow the movie's size.

    Returns
    -------
    dict
        Keyword arguments of :func:`simulate_movie` (all but ``shape``, ``seed``, ``progress``).

    Examples
    --------
    >>> params = random_parameters(0, {"camera": "emccd"}, shape=(100, 64, 64))
    >>> params["camera"], 50 <= params["event_amplitude"] <= 2000
    ('emccd', True)
    """
    rng = np.random.default_rng(rng)
    return parameters_from_settings(draw_settings(rng, ranges), shape, rng)


def simulate_randomized(shape=(200, 128, 128), seed=None, ranges: dict | None = None, progress=None,
                        **fixed) -> Simulation:
    """Simulate a movie whose parameters are drawn by :func:`random_parameters`.

    Parameters
    ----------
    shape : (int, int, int)
        Movie shape ``(frames, height, width)``.
    seed : int or None
        Seed of both the parameter draw and the movie (same seed, same movie).
    ranges : dict or None
        Ranges replacing those of :data:`DEFAULT_RANGES` (see :func:`random_parameters`).
    progress : callable or None
        ``progress(done, total)`` over frames.
    **fixed
        :func:`simulate_movie` arguments that are not drawn (e.g. ``blank_frames=(3, 0)``).

    Returns
    -------
    Simulation
        Its ``params`` hold the :func:`simulate_movie` arguments (``simulate_movie(**params)``
        minus the two keys below remakes the movie), ``randomized`` (the drawn settings) and
        ``ranges`` (the ranges they were drawn from).
    """
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2 ** 63)
    unknown = sorted(set(fixed) - set(simulate_movie.__kwdefaults__))
    if unknown:
        raise ValueError(f"{unknown[0]}: not a parameter of simulate_movie")
    rng = np.random.default_rng([seed, 0])
    effective = check_ranges(ranges)
    settings = draw_settings(rng, effective)
    parameters = {**parameters_from_settings(settings, shape, rng), **fixed}
    simulation = simulate_movie(shape, **parameters, seed=[seed, 1], progress=progress)
    simulation.params["randomized"] = settings
    simulation.params["ranges"] = effective
    return simulation
