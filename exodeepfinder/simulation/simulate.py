"""Simulate TIRF movies of exocytosis: a cell, docked vesicles, distractors, fusion events, camera noise.

The one simulator of the package: the tests, the benchmarks, ``exodeepfinder simulate`` and
``exodeepfinder demo`` all draw their movies here. Units are pixels (160 nm by default) and frames
(~0.3 s by default); :mod:`exodeepfinder.simulation.randomize` draws other scales.

What a movie holds, in the order it is drawn (one private module per step):

- the scene (``_scene``): a cell footprint (a smooth blob with a soft, wobbly edge) whose
  fluorescence is uneven (a smooth random texture) and fades with photobleaching; optionally an
  uneven illumination and a stage drift that moves everything on the sample;
- docked vesicles (``_vesicles``): diffraction-limited spots that fade in as they approach the
  membrane, stay tens of frames while drifting slightly, and fade out as they leave;
- distractors that an event detector must not report (``_vesicles``): one-frame flashes,
  flickering or blinking spots, moving spots, and vesicles that arrive and leave the TIRF field;
  off by default, the artefact classes described for real TIRF movies (IVEA, ExoJ): low-contrast
  transient bumps, short blinking spots, docking steps and undocking drops, out-of-focus vesicles
  passing, and a slow change of all the fluorescence (focus drift);
- fusion events (``_events``): a one-frame rise followed by an exponential decay of the total
  fluorescence while the cargo spreads laterally by diffusion (the spot widens and dims); the
  vesicle either arrives and fuses at once or is docked for a while before it fuses;
- the camera (``_camera``): shot noise, gain, offset, read noise (``simple``, ``scmos`` with
  per-pixel values, ``emccd`` with excess noise) and hot pixels.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._camera import CAMERAS, camera_maps, draw_hot_pixels, no_hot_pixels, record_movie
from ._events import EVENT_KINDS, add_events
from ._scene import SPOT_COLUMNS, Illumination, Scene, draw_cell, drift_path
from ._vesicles import (add_arriving_leaving, add_blinks, add_bumps, add_docked, add_flashes, add_flickers, add_moving,
                        add_passing, add_steps)

__all__ = ["Simulation", "simulate_movie", "SPOT_COLUMNS", "SPOT_KINDS", "EVENT_KINDS", "CAMERAS"]

#: Values of the ``kind`` column of :attr:`Simulation.spots`.
SPOT_KINDS = ("docked", "flash", "flicker", "moving", "arriving_leaving", "docked_then_fused", "bump", "blink",
              "docking_step", "undocking_drop", "passing")


@dataclass
class Simulation:
    """A simulated movie and its ground truth.

    Attributes
    ----------
    movie : ndarray of uint16, shape (t, y, x)
        Camera counts.
    events : DataFrame
        One row per fusion event: ``t, y, x, class_label`` (1), ``amplitude`` (photons at the
        peak, in the centre pixel), ``tau`` (decay time constant of the total fluorescence,
        frames), ``sigma`` (spot sigma at the peak, px), ``spread`` (lateral diffusion,
        px^2 per frame; 0 for an event that does not spread), ``kind`` (``arrived_and_fused`` or
        ``docked_then_fused``), ``docked_frames`` (frames the vesicle was docked before fusing,
        0 if it arrived and fused at once). ``t`` is the frame of the rise (the peak), ``y, x``
        the position in that frame.
    spots : DataFrame
        One row per visible spot per frame: ``t, y, x, spot_id, amplitude`` (photons in the
        centre pixel in that frame), ``sigma`` (px), ``kind`` (``docked`` vesicle; the vesicle of
        a ``docked_then_fused`` event before it fuses; or a distractor: ``flash``, ``flicker``,
        ``moving``, ``arriving_leaving``, ``bump``, ``blink``, ``docking_step``, ``undocking_drop``,
        ``passing``).
    params : dict
        The arguments of :func:`simulate_movie` that made this movie (for
        :func:`~exodeepfinder.simulation.simulate_randomized`, also ``randomized``: the drawn
        settings, and ``ranges``: the ranges they were drawn from).
    hot_pixels : DataFrame
        ``y, x, level``: the hot pixels and their dark signal (electrons per frame).
    drift : ndarray, shape (t, 2)
        Shift (dy, dx) of the sample in each frame, px (zeros without drift).
    camera : dict
        ``model`` and the ``gain``, ``offset`` and ``read_noise`` of each pixel (floats, or
        (y, x) arrays for the ``scmos`` camera).
    cell_mask : ndarray of bool, shape (y, x)
        The true cell: where the cell footprint is above half its height (first frame's
        coordinates). Its area in µm² is ``cell_mask.sum() * pixel_size ** 2``.
    """

    movie: np.ndarray
    events: pd.DataFrame
    spots: pd.DataFrame
    params: dict = field(default_factory=dict)
    hot_pixels: pd.DataFrame = field(default_factory=no_hot_pixels)
    drift: np.ndarray | None = None
    camera: dict = field(default_factory=dict)
    cell_mask: np.ndarray | None = None


def _check_parameters(p: dict, shape) -> None:
    """Raise ValueError naming the first argument of :func:`simulate_movie` that is out of range."""
    n_frames, height, width = shape
    if min(height, width) <= 2 * p["margin"]:
        raise ValueError(f"shape: frames of {height} x {width} are too small for margin {p['margin']}")
    if n_frames < 1:
        raise ValueError(f"shape: {n_frames} frames")
    for name in ("n_events", "n_spots", "n_flashes", "n_flickers", "n_moving", "n_arriving_leaving", "n_bumps",
                 "n_blinks", "n_steps", "n_passing", "hot_pixels"):
        if p[name] < 0:
            raise ValueError(f"{name}: must be >= 0 (got {p[name]})")
    if min(p["blank_frames"]) < 0 or sum(p["blank_frames"]) > n_frames - 3 and p["n_events"]:
        raise ValueError(f"blank_frames: {tuple(p['blank_frames'])} leaves no frame for the events of a "
                         f"{n_frames}-frame movie")
    if p["event_tau"][0] <= 0 or p["event_tau"][1] < p["event_tau"][0]:
        raise ValueError(f"event_tau: expected 0 < low <= high (got {p['event_tau']})")
    for name in ("pixel_size", "frame_interval"):
        if not p[name] > 0:
            raise ValueError(f"{name}: must be positive (got {p[name]})")
    if p["event_rate"] is not None and p["event_rate"] < 0:
        raise ValueError(f"event_rate: must be >= 0 (got {p['event_rate']})")
    if p["hotspots"] < 0 or p["hotspot_radius"] < 0:
        raise ValueError(f"hotspots, hotspot_radius: must be >= 0 (got {p['hotspots']}, {p['hotspot_radius']})")
    for name in ("event_spread_fraction", "docked_fraction", "flicker_on", "flicker_low", "hotspot_fraction"):
        if not 0 <= p[name] <= 1:
            raise ValueError(f"{name}: must be between 0 and 1 (got {p[name]})")
    if not 0 <= p["illumination_falloff"] < 1:
        raise ValueError(f"illumination_falloff: must be >= 0 and < 1 (got {p['illumination_falloff']})")
    for name in ("drift", "event_spread", "spot_drift", "bleaching_frames", "gain", "read_noise"):
        if p[name] < 0:
            raise ValueError(f"{name}: must be >= 0 (got {p[name]})")
    if p["camera"] not in CAMERAS:
        raise ValueError(f"camera: expected one of {', '.join(CAMERAS)} (got {p['camera']!r})")
    for name in ("event_docking", "spot_lifetime", "moving_lifetime", "arriving_leaving_duration"):
        if p[name][0] < 1 or p[name][1] < p[name][0]:
            raise ValueError(f"{name}: expected 1 <= low <= high (got {tuple(p[name])})")
    for name in ("bump_tau", "passing_speed", "passing_sigma"):
        if p[name][0] <= 0 or p[name][1] < p[name][0]:
            raise ValueError(f"{name}: expected 0 < low <= high (got {tuple(p[name])})")
    if p["blink_frames"][0] < 1 or p["blink_frames"][1] < p["blink_frames"][0]:
        raise ValueError(f"blink_frames: expected 1 <= low <= high (got {tuple(p['blink_frames'])})")
    if not p["focus_drift"] > -1:
        raise ValueError(f"focus_drift: must be > -1 (got {p['focus_drift']})")
    if p["hot_pixel_level"][0] <= 0 or p["hot_pixel_level"][1] < p["hot_pixel_level"][0]:
        raise ValueError(f"hot_pixel_level: expected 0 < low <= high (got {tuple(p['hot_pixel_level'])})")


def _scene(rng, shape, p) -> Scene:
    """The cell, its bleaching, the stage drift and the illumination (nothing on the cell yet)."""
    n_frames, height, width = shape
    angle = p["drift_angle"]
    if p["drift"] > 0 and angle is None:
        angle = rng.uniform(0, 2 * np.pi)
    drift = drift_path(n_frames, p["drift"], angle or 0.0)
    pad = int(np.ceil(np.abs(drift).max())) + 1 if p["drift"] > 0 else 0
    cell, footprint = draw_cell(rng, height, width, p["background"], p["background_variation"],
                                p["background_scale"], p["outside_background"], pad)
    illumination = Illumination(rng, height, width, p["illumination_falloff"]) if p["illumination_falloff"] else None
    bleaching = np.exp(-np.arange(n_frames) / p["bleaching_frames"]).astype(np.float32)
    intensity = None
    if p["focus_drift"]:  # a linear change of all the sample's light, from 1 to 1 + focus_drift
        intensity = (1.0 + p["focus_drift"] * np.arange(n_frames) / max(n_frames - 1, 1)).astype(np.float32)
    scene = Scene(shape, cell=cell, footprint=footprint, margin=p["margin"], bleaching=bleaching, drift=drift,
                  illumination=illumination, intensity=intensity)
    scene.cell_mask = footprint > 0.5
    return scene


def _add_vesicles(scene, rng, p) -> None:
    """Docked vesicles, then each kind of distractor."""
    spot = dict(amplitude=p["spot_amplitude"], sigma=p["spot_sigma"])
    add_docked(scene, rng, p["n_spots"], lifetime=p["spot_lifetime"], fades=p["spot_fade"], step=p["spot_drift"],
               fluctuation=p["spot_fluctuation"], **spot)
    flash_amplitude = p["event_amplitude"] if p["flash_amplitude"] is None else p["flash_amplitude"]
    add_flashes(scene, rng, p["n_flashes"], amplitude=flash_amplitude, sigma=p["spot_sigma"])
    add_flickers(scene, rng, p["n_flickers"], lifetime=p["spot_lifetime"], on=p["flicker_on"], low=p["flicker_low"],
                 bright_frames=p["flicker_bright_frames"], **spot)
    add_moving(scene, rng, p["n_moving"], lifetime=p["moving_lifetime"], speed=p["moving_speed"], **spot)
    add_arriving_leaving(scene, rng, p["n_arriving_leaving"], duration=p["arriving_leaving_duration"],
                         fades=p["arriving_leaving_fade"], fluctuation=p["spot_fluctuation"], **spot)
    # the opt-in distractors draw nothing when their count is 0: the movies above stay the same
    bump_amplitude = 0.2 * p["event_amplitude"] if p["bump_amplitude"] is None else p["bump_amplitude"]
    add_bumps(scene, rng, p["n_bumps"], amplitude=bump_amplitude, sigma=p["spot_sigma"], tau=p["bump_tau"])
    add_blinks(scene, rng, p["n_blinks"], on_frames=p["blink_frames"], **spot)
    add_steps(scene, rng, p["n_steps"], lifetime=p["spot_lifetime"], fades=p["spot_fade"], step=p["spot_drift"],
              fluctuation=p["spot_fluctuation"], **spot)
    add_passing(scene, rng, p["n_passing"], amplitude=p["spot_amplitude"], sigma=p["passing_sigma"],
                speed=p["passing_speed"])


def _add_fusions(scene, rng, p, lit) -> pd.DataFrame:
    """The fusion events in the ``lit`` frames (``n_events`` of them, or as many as ``event_rate``
    gives, which then sets ``p["n_events"]``); return the events table."""
    if p["event_rate"] is not None:
        area_um2 = float(len(scene.allowed_pixels()[0])) * p["pixel_size"] ** 2
        minutes = (lit[1] - lit[0]) * p["frame_interval"] / 60.0
        p["n_events"] = int(round(p["event_rate"] * area_um2 * minutes))
    return add_events(
        scene, rng, p["n_events"], frame_range=lit, amplitude=p["event_amplitude"], tau=p["event_tau"],
        sigma=p["event_sigma"], spread=p["event_spread"], spread_fraction=p["event_spread_fraction"],
        onset=p["event_onset"], separation=p["event_separation"], docked_fraction=p["docked_fraction"],
        docking=p["event_docking"], docking_brightness=p["event_docking_brightness"], docking_fades=p["spot_fade"],
        fluctuation=p["spot_fluctuation"], hotspots=p["hotspots"], hotspot_fraction=p["hotspot_fraction"],
        hotspot_radius=p["hotspot_radius"])


def _record(scene, rng, p, lit, progress):
    """Expose the scene with the camera: the movie (closed shutter outside the ``lit`` frames), the
    spots table of the lit frames, the hot pixels and the camera maps."""
    n_frames, height, width = scene.n_frames, scene.height, scene.width
    spots = scene.spots()
    hot = draw_hot_pixels(rng, p["hot_pixels"], (height, width), p["hot_pixel_level"])
    maps = camera_maps(rng, p["camera"], (height, width), gain=p["gain"], offset=p["offset"],
                       read_noise=p["read_noise"], offset_sd=p["scmos_offset_sd"], gain_sd=p["scmos_gain_sd"],
                       read_noise_spread=p["scmos_read_noise_spread"])
    movie = record_movie(scene, rng, p["camera"], maps, hot, progress)
    if lit[0] > 0 or lit[1] < n_frames:
        movie[:lit[0]] = movie[lit[1]:] = np.uint16(np.clip(round(p["offset"]), 0, np.iinfo(np.uint16).max))
        spots = spots[(spots["t"] >= lit[0]) & (spots["t"] < lit[1])].reset_index(drop=True)
    return movie, spots, hot, maps


def simulate_movie(
    shape=(200, 128, 128),
    *,
    n_events: int = 20,
    n_spots: int = 40,
    n_flashes: int = 5,
    n_flickers: int = 5,
    n_moving: int = 5,
    n_arriving_leaving: int = 0,
    event_amplitude: float = 400.0,
    event_tau: tuple[float, float] = (1.5, 6.0),
    event_sigma: float = 1.3,
    event_spread: float = 0.3,
    event_spread_fraction: float = 1.0,
    event_separation: float = 8.0,
    event_onset: tuple[float, float] = (0.0, 0.0),
    event_rate: float | None = None,
    hotspots: int = 0,
    hotspot_fraction: float = 0.7,
    hotspot_radius: float = 1.5,
    docked_fraction: float = 0.0,
    event_docking: tuple[int, int] = (5, 50),
    event_docking_brightness: float = 0.4,
    spot_amplitude: float = 250.0,
    spot_sigma: tuple[float, float] = (1.0, 1.5),
    spot_lifetime: tuple[int, int] = (20, 150),
    spot_fade: tuple[int, int] = (3, 10),
    spot_drift: float = 0.15,
    spot_fluctuation: float = 0.1,
    flash_amplitude: float | None = None,
    flicker_on: float = 0.5,
    flicker_low: float = 0.25,
    flicker_bright_frames: float = 4.0,
    moving_speed: tuple[float, float] = (0.5, 2.0),
    moving_lifetime: tuple[int, int] = (5, 30),
    arriving_leaving_duration: tuple[int, int] = (1, 8),
    arriving_leaving_fade: tuple[int, int] = (1, 3),
    n_bumps: int = 0,
    bump_amplitude: float | None = None,
    bump_tau: tuple[float, float] = (0.5, 3.0),
    n_blinks: int = 0,
    blink_frames: tuple[int, int] = (1, 3),
    n_steps: int = 0,
    n_passing: int = 0,
    passing_speed: tuple[float, float] = (1.0, 4.0),
    passing_sigma: tuple[float, float] = (3.0, 6.0),
    focus_drift: float = 0.0,
    background: float = 300.0,
    background_variation: float = 0.25,
    background_scale: float = 12.0,
    outside_background: float = 0.15,
    bleaching_frames: float = 3000.0,
    illumination_falloff: float = 0.0,
    drift: float = 0.0,
    drift_angle: float | None = None,
    camera: str = "simple",
    gain: float = 1.0,
    offset: float = 100.0,
    read_noise: float = 3.0,
    scmos_offset_sd: float = 3.0,
    scmos_gain_sd: float = 0.03,
    scmos_read_noise_spread: float = 0.5,
    hot_pixels: int = 0,
    hot_pixel_level: tuple[float, float] = (200.0, 2000.0),
    pixel_size: float = 0.16,
    frame_interval: float = 0.3,
    margin: int = 6,
    blank_frames: tuple[int, int] = (0, 0),
    seed: int | None = 0,
    progress=None,
) -> Simulation:
    """Simulate a TIRF movie with fusion events, docked vesicles and distractors.

    Amplitudes are photons in the centre pixel of a spot; each object's amplitude varies by a
    random factor 0.7-1.3. Events and spots lie inside the cell footprint. The defaults give the
    movies the bundled model was trained on; the parameters after them (distractors arriving and
    leaving, transient bumps, blinks, docking steps, passing vesicles, focus drift,
    docked-then-fused events, uneven illumination, drift, sCMOS and EMCCD cameras, hot pixels)
    are off by default.

    Parameters
    ----------
    shape : (int, int, int)
        Movie shape ``(frames, height, width)``.
    n_events : int
        Number of fusion events (exactly this many rows in ``events``).
    n_spots : int
        Number of docked vesicles that do not fuse: persistent spots that fade in, drift slightly
        and fade out.
    n_flashes, n_flickers, n_moving, n_arriving_leaving : int
        Number of distractors: one-frame flashes, flickering or blinking spots (abrupt switches
        between a bright and a dim or dark state), spots moving in a straight line, vesicles that
        arrive in the TIRF field, stay a few frames and leave without fusing.
    event_amplitude : float
        Peak photons of an event (centre pixel, frame of the rise).
    event_tau : (float, float)
        Range of the decay time constants of the total event fluorescence, in frames
        (0.45-1.8 s at 0.3 s per frame).
    event_sigma : float
        Spot sigma of an event at its peak (px).
    event_spread : float
        Lateral spreading of the event's cargo, a diffusion coefficient in px^2 per frame:
        ``sigma(age)^2 = event_sigma^2 + 2 * event_spread * age``.
    event_spread_fraction : float
        Fraction of the events whose cargo spreads; the others decay in place (spread 0).
    event_separation : float
        Events are drawn so that no two are closer than this both in frames and in pixels
        (keeps the truth unambiguous for evaluations at tolerance 5).
    event_onset : (float, float)
        Range of the fusion time within the exposure of frame ``t`` (0 = at its start). The
        frame ``t`` then holds ``1 - onset`` of the peak and the decay starts from there; the
        default (0, 0) gives the sharp one-frame rise that the official weights expect.
    event_rate : float or None
        Exocytosis rate, events per µm² of cell per minute: when given, ``n_events`` is replaced
        by ``round(event_rate * area * minutes)``, the area being that of the cell where events
        may lie (``cell_mask`` less the ``margin`` band along the frame's edges, in µm² with
        ``pixel_size``) and the minutes those of the lit frames (with ``frame_interval``).
    hotspots : int
        Number of hotspots: sites in the cell where events fuse again and again (0: events
        anywhere in the cell, complete spatial randomness).
    hotspot_fraction : float
        With ``hotspots``: fraction of the events that fuse at a hotspot.
    hotspot_radius : float
        With ``hotspots``: scatter (px, Gaussian sigma) of the events around their hotspot.
    docked_fraction : float
        Fraction of the events whose vesicle is docked (a visible spot) before it fuses; the
        others arrive and fuse at once.
    event_docking : (int, int)
        Range of the frames a docked-then-fused vesicle is visible before it fuses.
    event_docking_brightness : float
        Brightness of a docked-then-fused vesicle before fusion, relative to its event's peak.
    spot_amplitude : float
        Photons of a docked vesicle (also of flickering, moving and arriving-leaving spots).
    spot_sigma : (float, float)
        Range of spot sigmas (px) of docked vesicles and distractors.
    spot_lifetime : (int, int)
        Range of the lifetimes of docked vesicles and flickering spots (frames).
    spot_fade : (int, int)
        Range of the fade-in and fade-out durations of docked vesicles (frames).
    spot_drift : float
        Random-walk step of docked vesicles (px per frame, standard deviation per axis).
    spot_fluctuation : float
        Frame-to-frame relative intensity fluctuation of docked vesicles.
    flash_amplitude : float or None
        Photons of a one-frame flash (default: ``event_amplitude``).
    flicker_on, flicker_low : float
        Flickering spots switch abruptly between a bright state (``flicker_on`` of the frames)
        and a dim one (``flicker_low`` times as bright; 0 makes them blink).
    flicker_bright_frames : float
        Mean duration of the bright state of flickering spots (frames).
    moving_speed : (float, float)
        Speed range of moving spots (px per frame).
    moving_lifetime : (int, int)
        Range of the lifetimes of moving spots (frames).
    arriving_leaving_duration : (int, int)
        Range of the frames an arriving-leaving vesicle stays at full brightness.
    arriving_leaving_fade : (int, int)
        Range of the frames it takes to arrive and to leave.
    n_bumps, n_blinks, n_steps, n_passing : int
        Number of the distractors described for real TIRF movies (IVEA's artefact classes, ExoJ),
        0 by default: low-contrast transient bumps (a spot that rises in one frame and decays
        in a few, like a faint event that is not one), short blinking spots (on for a few frames,
        one to four times), docking steps and undocking drops (a vesicle that appears in one
        frame and stays, or vanishes in one frame; half of each) and out-of-focus vesicles passing
        (wide, dim spots crossing the frame fast). None of them is an event.
    bump_amplitude : float or None
        Photons of a transient bump (default: 0.2 times ``event_amplitude``).
    bump_tau : (float, float)
        Range of the decay time constants of transient bumps (frames).
    blink_frames : (int, int)
        Range of the frames a blinking spot stays on at a time.
    passing_speed : (float, float)
        Speed range of passing vesicles (px per frame).
    passing_sigma : (float, float)
        Range of the spot sigmas of passing vesicles (px; out of focus, so wide).
    background : float
        Cell fluorescence (photons per pixel, mean inside the footprint).
    background_variation, background_scale : float
        Unevenness of the cell fluorescence: relative standard deviation and feature size (px).
    outside_background : float
        Fluorescence outside the cell, relative to ``background``.
    bleaching_frames : float
        Photobleaching time constant (frames) of the cell and of the vesicles.
    focus_drift : float
        Slow change of all the sample's fluorescence (cell, vesicles, events; not the camera's
        offset or hot pixels) over the movie, as the focus or the evanescent field's depth
        drifts: a factor going linearly from 1 in the first frame to ``1 + focus_drift`` in the
        last (-0.2: a fifth dimmer at the end; 0: none, the default).
    illumination_falloff : float
        Uneven illumination: the light falls from 1 at a centre near the middle of the frame to
        ``1 - illumination_falloff`` at the farthest corner (0: even). It dims everything on the
        sample, not the camera's offset or hot pixels.
    drift : float
        Stage drift (px per frame): the sample (cell, vesicles, events) moves in a straight line.
    drift_angle : float or None
        Direction of the drift (radians, 0 = +x, pi/2 = +y); None: random.
    camera : str
        Camera model: ``simple`` (the same gain, offset and read noise in every pixel),
        ``scmos`` (per-pixel offset, gain and read noise) or ``emccd`` (excess noise factor 2:
        the shot noise variance is doubled).
    gain, offset, read_noise : float
        Camera: counts per photon, baseline counts, Gaussian read noise (counts); for ``scmos``
        the mean gain, the mean offset and the median read noise.
    scmos_offset_sd, scmos_gain_sd, scmos_read_noise_spread : float
        ``scmos`` only: standard deviation of the pixel offsets (counts), relative standard
        deviation of the pixel gains, and log-normal spread of the pixel read noises.
    hot_pixels : int
        Number of hot pixels (high dark current at fixed pixels of the sensor).
    hot_pixel_level : (float, float)
        Range of their dark signal (electrons per frame, log-uniform).
    pixel_size : float
        Size of a pixel (µm), stored with the movie (and used by ``event_rate``).
    frame_interval : float
        Time between frames (s), stored with the movie (and used by ``event_rate``).
    margin : int
        Events and spots keep this distance (px) from the border.
    blank_frames : (int, int)
        Frames at the start and at the end of the movie with the shutter closed: every pixel
        holds the camera offset, without noise. Such a frame normalises to zeros, like the
        zero padding the segmentation adds around the movie, so a model trained on these
        movies learns that spots already there when a movie starts are not events. No event
        falls in these frames and no spot is visible in them.
    seed : int, sequence of int, or None
        Random seed (same seed, same movie).
    progress : callable or None
        ``progress(done, total)`` over frames while the movie is drawn.

    Returns
    -------
    Simulation
        ``movie`` (uint16), ``events`` and ``spots`` tables (see :class:`Simulation`), ``params``,
        ``hot_pixels``, ``drift``, ``camera``.

    Examples
    --------
    >>> sim = simulate_movie((100, 64, 64), n_events=5, seed=1)
    >>> sim.movie.shape, len(sim.events)
    ((100, 64, 64), 5)
    """
    p = {name: value for name, value in locals().items()
         if name in inspect.signature(simulate_movie).parameters and name != "progress"}
    shape = tuple(int(s) for s in shape)
    _check_parameters(p, shape)
    rng = np.random.default_rng(seed)
    scene = _scene(rng, shape, p)
    _add_vesicles(scene, rng, p)
    lit = (int(blank_frames[0]), shape[0] - int(blank_frames[1]))
    events = _add_fusions(scene, rng, p, lit)
    movie, spots, hot, maps = _record(scene, rng, p, lit, progress)
    return Simulation(movie=movie, events=events, spots=spots, params=p, hot_pixels=hot, drift=scene.drift,
                      camera={"model": camera, **maps}, cell_mask=scene.cell_mask)
