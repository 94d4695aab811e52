"""Simulate TIRF movies of exocytosis: a cell, docked vesicles, distractors, fusion events, camera noise.

The one simulator of the package: the tests, the benchmarks, ``exodeepfinder simulate`` and
``exodeepfinder demo`` all draw their movies here. Units are pixels (160 nm) and frames (~0.3 s).

What a movie holds, in the order it is drawn:

- a cell footprint (a smooth blob with a soft, wobbly edge) whose fluorescence is uneven (a
  smooth random texture) and fades with photobleaching;
- docked vesicles: diffraction-limited spots that fade in as they approach the membrane, stay
  tens of frames while drifting slightly, and fade out as they leave;
- distractors that an event detector must not report: one-frame flashes, flickering spots
  (switching on and off abruptly) and moving spots (vesicles travelling along the membrane);
- fusion events: a one-frame rise followed by an exponential decay of the total fluorescence
  while the cargo spreads laterally by diffusion (the spot widens and dims);
- the camera: Poisson shot noise, gain, offset and Gaussian read noise.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage

from ..io.events import make_events

#: Columns of :attr:`Simulation.spots`.
SPOT_COLUMNS = ["t", "y", "x", "spot_id", "amplitude", "sigma", "kind"]
#: Values of the ``kind`` column of :attr:`Simulation.spots`.
SPOT_KINDS = ("docked", "flash", "flicker", "moving")

# Above this many photons per pixel, shot noise is drawn from its Gaussian approximation
# (relative error of the variance below 1 / (2 * 20)); it is 7x faster than rng.poisson.
_GAUSSIAN_SHOT_NOISE_ABOVE = 20.0
_FRAMES_PER_BLOCK = 32


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
        px^2 per frame). ``t`` is the frame of the rise (the peak).
    spots : DataFrame
        One row per visible spot per frame: ``t, y, x, spot_id, amplitude`` (photons in the
        centre pixel in that frame), ``sigma`` (px), ``kind`` (``docked`` vesicle, or a
        distractor: ``flash``, ``flicker``, ``moving``).
    params : dict
        The arguments of :func:`simulate_movie` that made this movie.
    """

    movie: np.ndarray
    events: pd.DataFrame
    spots: pd.DataFrame
    params: dict = field(default_factory=dict)


def _add_gaussians(photons, frames, y, x, amplitude, sigma):
    """Add one Gaussian spot per frame of ``frames`` (sub-pixel centres) to ``photons`` in place.

    ``y, x, amplitude, sigma`` are per-frame sequences (or scalars). Long trajectories are
    drawn in short pieces so that each piece needs only a small box around the spot.
    """
    n = len(frames)
    if n == 0:
        return
    y, x, amplitude, sigma = (np.broadcast_to(np.asarray(v, np.float32), (n,)) for v in (y, x, amplitude, sigma))
    _, height, width = photons.shape
    piece = 16
    for start in range(0, n, piece):
        sl = slice(start, start + piece)
        f, py, px, pa, ps = frames[sl], y[sl], x[sl], amplitude[sl], sigma[sl]
        radius = int(np.ceil(4.0 * ps.max())) + 1
        y0, y1 = max(int(np.floor(py.min())) - radius, 0), min(int(np.ceil(py.max())) + radius + 1, height)
        x0, x1 = max(int(np.floor(px.min())) - radius, 0), min(int(np.ceil(px.max())) + radius + 1, width)
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1, dtype=np.float32)[None, :, None]
        xx = np.arange(x0, x1, dtype=np.float32)[None, None, :]
        inv = (-0.5 / ps ** 2)[:, None, None]
        stamp = pa[:, None, None] * np.exp(((yy - py[:, None, None]) ** 2 + (xx - px[:, None, None]) ** 2) * inv)
        if np.all(np.diff(f) == 1):
            photons[f[0]:f[-1] + 1, y0:y1, x0:x1] += stamp
        else:
            photons[f, y0:y1, x0:x1] += stamp


def _smooth_field(rng, shape, scale):
    """A smooth random field of unit standard deviation with features of ``scale`` pixels."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), scale, mode="wrap")
    return field / max(float(field.std()), 1e-6)


def _cell(rng, height, width, background, variation, scale, outside):
    """Cell fluorescence (photons, first frame) and its footprint (0..1) over one frame."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = height * rng.uniform(0.4, 0.6), width * rng.uniform(0.4, 0.6)
    ry, rx = height * rng.uniform(0.45, 0.65), width * rng.uniform(0.45, 0.65)
    angle = np.arctan2((yy - cy) / ry, (xx - cx) / rx)
    wobble = 1.0 + sum(rng.uniform(0, 0.08) * np.cos(k * angle + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5))
    radius = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) / wobble
    # soft edge about 3 px wide, as the evanescent field fades under the cell border
    edge = 3.0 / max(min(ry, rx), 1.0)
    footprint = 1.0 / (1.0 + np.exp(np.clip((radius - 1.0) / edge, -50, 50)))
    texture = np.clip(1.0 + variation * _smooth_field(rng, (height, width), scale), 0.2, None)
    cell = background * (outside + (1.0 - outside) * footprint * texture)
    return cell.astype(np.float32), footprint


def _sample_positions(rng, n, allowed, margin):
    """``n`` random sub-pixel positions (y, x) inside the ``allowed`` mask (a 2D boolean array)."""
    ys, xs = np.nonzero(allowed)
    pick = rng.integers(0, len(ys), n)
    jitter = rng.uniform(-0.5, 0.5, (2, n))
    height, width = allowed.shape
    y = np.clip(ys[pick] + jitter[0], margin, height - 1 - margin)
    x = np.clip(xs[pick] + jitter[1], margin, width - 1 - margin)
    return y, x


def _fade(n_frames, fade_in, fade_out):
    """Visibility over a lifetime: raised-cosine ramps of ``fade_in`` and ``fade_out`` frames."""
    visibility = np.ones(n_frames, np.float32)
    if fade_in > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(1, fade_in + 1) / (fade_in + 1))
        visibility[:fade_in] *= ramp[:n_frames]
    if fade_out > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade_out, 0, -1) / (fade_out + 1))
        visibility[n_frames - min(fade_out, n_frames):] *= ramp[max(fade_out - n_frames, 0):]
    return visibility


def _event_times_and_positions(rng, n_events, frame_range, allowed, margin, separation):
    """Draw events so that no two are closer than ``separation`` both in frames and in pixels.

    The separation is best effort: in a movie too small to hold them all apart, the last
    candidate drawn is kept.
    """
    first, last = frame_range
    last = max(last - 3, first + 1)
    times, ys, xs = [], [], []
    for _ in range(n_events):
        for _attempt in range(200):
            t = int(rng.integers(first, last))
            y, x = _sample_positions(rng, 1, allowed, margin)
            if not times or separation <= 0:
                break
            close = ((np.abs(np.asarray(times) - t) < separation)
                     & (np.hypot(np.asarray(ys) - y[0], np.asarray(xs) - x[0]) < separation))
            if not close.any():
                break
        times.append(t)
        ys.append(float(y[0]))
        xs.append(float(x[0]))
    order = np.argsort(times, kind="stable")
    return np.asarray(times, int)[order], np.asarray(ys)[order], np.asarray(xs)[order]


def _add_camera_noise(photons, rng, gain, offset, read_noise, progress=None):
    """Turn expected photons into uint16 camera counts (shot noise, gain, offset, read noise)."""
    movie = np.empty(photons.shape, np.uint16)
    n_frames = photons.shape[0]
    top = float(np.iinfo(np.uint16).max)
    for start in range(0, n_frames, _FRAMES_PER_BLOCK):
        lam = np.maximum(photons[start:start + _FRAMES_PER_BLOCK], 0)
        # Shot and read noise are independent: one Gaussian draw with the summed variance.
        noise = rng.standard_normal(lam.shape, dtype=np.float32)
        noise *= np.sqrt(gain * gain * lam + read_noise * read_noise)
        counts = gain * lam + offset + noise
        dim = lam < _GAUSSIAN_SHOT_NOISE_ABOVE
        if dim.any():
            exact = rng.poisson(lam[dim]).astype(np.float32)
            counts[dim] = gain * exact + offset + read_noise * rng.standard_normal(exact.shape, dtype=np.float32)
        np.clip(np.rint(counts, out=counts), 0, top, out=counts)
        movie[start:start + _FRAMES_PER_BLOCK] = counts
        if progress is not None:
            from ..progress import report

            report(progress, min(start + _FRAMES_PER_BLOCK, n_frames), n_frames)
    return movie


def simulate_movie(
    shape=(200, 128, 128),
    *,
    n_events: int = 20,
    n_spots: int = 40,
    n_flashes: int = 5,
    n_flickers: int = 5,
    n_moving: int = 5,
    event_amplitude: float = 400.0,
    event_tau: tuple[float, float] = (1.5, 6.0),
    event_sigma: float = 1.3,
    event_spread: float = 0.3,
    event_separation: float = 8.0,
    event_onset: tuple[float, float] = (0.0, 0.0),
    spot_amplitude: float = 250.0,
    spot_sigma: tuple[float, float] = (1.0, 1.5),
    spot_lifetime: tuple[int, int] = (20, 150),
    spot_fade: tuple[int, int] = (3, 10),
    spot_drift: float = 0.15,
    spot_fluctuation: float = 0.1,
    flash_amplitude: float | None = None,
    flicker_on: float = 0.5,
    flicker_low: float = 0.25,
    moving_speed: tuple[float, float] = (0.5, 2.0),
    background: float = 300.0,
    background_variation: float = 0.25,
    background_scale: float = 12.0,
    outside_background: float = 0.15,
    bleaching_frames: float = 3000.0,
    gain: float = 1.0,
    offset: float = 100.0,
    read_noise: float = 3.0,
    margin: int = 6,
    blank_frames: tuple[int, int] = (0, 0),
    seed: int | None = 0,
    progress=None,
) -> Simulation:
    """Simulate a TIRF movie with fusion events, docked vesicles and distractors.

    Amplitudes are photons in the centre pixel of a spot; each object's amplitude varies by a
    random factor 0.7-1.3. Events and spots lie inside the cell footprint.

    Parameters
    ----------
    shape : (int, int, int)
        Movie shape ``(frames, height, width)``.
    n_events : int
        Number of fusion events (exactly this many rows in ``events``).
    n_spots : int
        Number of docked vesicles: persistent spots that fade in, drift slightly and fade out.
    n_flashes, n_flickers, n_moving : int
        Number of distractors: one-frame flashes, flickering spots (abrupt switches between a
        bright and a dim state), spots moving in a straight line.
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
    event_onset : (float, float)
        Range of the fusion time within the exposure of frame ``t`` (0 = at its start). The
        frame ``t`` then holds ``1 - onset`` of the peak and the decay starts from there; the
        default (0, 0) gives the sharp one-frame rise that the official weights expect.
    event_separation : float
        Events are drawn so that no two are closer than this both in frames and in pixels
        (keeps the truth unambiguous for evaluations at tolerance 5).
    spot_amplitude : float
        Photons of a docked vesicle (also of flickering and moving spots).
    spot_sigma : (float, float)
        Range of spot sigmas (px) of docked vesicles and distractors.
    spot_lifetime : (int, int)
        Range of the lifetimes of docked vesicles (frames).
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
        and a dim one (``flicker_low`` times as bright).
    moving_speed : (float, float)
        Speed range of moving spots (px per frame).
    background : float
        Cell fluorescence (photons per pixel, mean inside the footprint).
    background_variation, background_scale : float
        Unevenness of the cell fluorescence: relative standard deviation and feature size (px).
    outside_background : float
        Fluorescence outside the cell, relative to ``background``.
    bleaching_frames : float
        Photobleaching time constant (frames) of the cell and of the docked vesicles.
    gain, offset, read_noise : float
        Camera: counts per photon, baseline counts, Gaussian read noise (counts).
    margin : int
        Events and spots keep this distance (px) from the border.
    blank_frames : (int, int)
        Frames at the start and at the end of the movie with the shutter closed: every pixel
        holds the camera offset, without noise. Such a frame normalises to zeros, like the
        zero padding the segmentation adds around the movie, so a model trained on these
        movies learns that spots already there when a movie starts are not events. No event
        falls in these frames and no spot is visible in them.
    seed : int or None
        Random seed (same seed, same movie).
    progress : callable or None
        ``progress(done, total)`` over frames while the camera noise is drawn.

    Returns
    -------
    Simulation
        ``movie`` (uint16), ``events`` and ``spots`` tables (see :class:`Simulation`), ``params``.

    Examples
    --------
    >>> sim = simulate_movie((100, 64, 64), n_events=5, seed=1)
    >>> sim.movie.shape, len(sim.events)
    ((100, 64, 64), 5)
    """
    params = {name: value for name, value in locals().items()
              if name in inspect.signature(simulate_movie).parameters and name != "progress"}
    n_frames, height, width = (int(s) for s in shape)
    if min(height, width) <= 2 * margin:
        raise ValueError(f"shape: frames of {height} x {width} are too small for margin {margin}")
    if n_frames < 1:
        raise ValueError(f"shape: {n_frames} frames")
    for name in ("n_events", "n_spots", "n_flashes", "n_flickers", "n_moving"):
        if params[name] < 0:
            raise ValueError(f"{name}: must be >= 0 (got {params[name]})")
    if min(blank_frames) < 0 or sum(blank_frames) > n_frames - 3 and n_events:
        raise ValueError(f"blank_frames: {tuple(blank_frames)} leaves no frame for the events of a {n_frames}-frame movie")
    if event_tau[0] <= 0 or event_tau[1] < event_tau[0]:
        raise ValueError(f"event_tau: expected 0 < low <= high (got {event_tau})")
    rng = np.random.default_rng(seed)
    flash_amplitude = event_amplitude if flash_amplitude is None else flash_amplitude
    frames_all = np.arange(n_frames)
    bleaching = np.exp(-frames_all / bleaching_frames).astype(np.float32)

    cell, footprint = _cell(rng, height, width, background, background_variation, background_scale,
                            outside_background)
    photons = np.empty(shape, np.float32)
    photons[:] = cell[None]
    photons *= bleaching[:, None, None]
    allowed = np.zeros((height, width), bool)
    allowed[margin:height - margin, margin:width - margin] = True
    if (allowed & (footprint > 0.5)).any():
        allowed &= footprint > 0.5

    spot_rows = []

    def record(kind, frames, y, x, amplitude, sigma):
        visible = amplitude > 0
        spot_rows.append(pd.DataFrame({
            "t": frames[visible].astype(float), "y": np.broadcast_to(y, frames.shape)[visible],
            "x": np.broadcast_to(x, frames.shape)[visible], "spot_id": len(spot_rows),
            "amplitude": amplitude[visible], "sigma": sigma, "kind": kind}))
        _add_gaussians(photons, frames[visible], np.broadcast_to(y, frames.shape)[visible],
                       np.broadcast_to(x, frames.shape)[visible], amplitude[visible], sigma)

    # Docked vesicles: fade in, drift, fade out; some are already there when the movie starts.
    for _ in range(n_spots):
        lifetime = int(rng.integers(spot_lifetime[0], spot_lifetime[1] + 1))
        start = int(rng.integers(-lifetime + 1, n_frames))
        fade_in, fade_out = (int(v) for v in rng.integers(spot_fade[0], spot_fade[1] + 1, 2))
        frames = np.arange(start, start + lifetime)
        visibility = _fade(lifetime, fade_in, fade_out)
        (y0,), (x0,) = _sample_positions(rng, 1, allowed, margin)
        y = np.clip(y0 + np.cumsum(rng.normal(0, spot_drift, lifetime)), margin, height - 1 - margin)
        x = np.clip(x0 + np.cumsum(rng.normal(0, spot_drift, lifetime)), margin, width - 1 - margin)
        amplitude = (spot_amplitude * rng.uniform(0.7, 1.3) * visibility
                     * np.clip(1 + spot_fluctuation * rng.standard_normal(lifetime), 0.3, None))
        inside = (frames >= 0) & (frames < n_frames)
        if not inside.any():
            continue
        frames, y, x, amplitude = frames[inside], y[inside], x[inside], amplitude[inside]
        record("docked", frames, y, x, amplitude * bleaching[frames], rng.uniform(*spot_sigma))

    # Distractors.
    for _ in range(n_flashes):
        frames = rng.integers(0, n_frames, 1)
        (y,), (x,) = _sample_positions(rng, 1, allowed, margin)
        record("flash", frames, y, x, np.array([flash_amplitude * rng.uniform(0.7, 1.3)]),
               rng.uniform(*spot_sigma))
    for _ in range(n_flickers):
        lifetime = int(rng.integers(spot_lifetime[0], spot_lifetime[1] + 1))
        start = int(rng.integers(0, n_frames))
        frames = np.arange(start, min(start + lifetime, n_frames))
        (y,), (x,) = _sample_positions(rng, 1, allowed, margin)
        # a vesicle jumping between two heights in the evanescent field: a two-state Markov
        # chain (bright for about 4 frames at a time) with abrupt switches
        p_off = 0.25
        p_on = p_off * flicker_on / max(1.0 - flicker_on, 1e-6)
        bright = np.empty(len(frames), bool)
        bright[0] = rng.uniform() < flicker_on
        switches = rng.uniform(size=len(frames))
        for i in range(1, len(frames)):
            bright[i] = (switches[i] >= p_off) if bright[i - 1] else (switches[i] < p_on)
        level = np.where(bright, 1.0, flicker_low) * _fade(len(frames), 2, 2)
        amplitude = spot_amplitude * rng.uniform(0.7, 1.3) * level * bleaching[frames]
        record("flicker", frames, y, x, amplitude.astype(np.float32), rng.uniform(*spot_sigma))
    for _ in range(n_moving):
        lifetime = int(rng.integers(5, 31))
        start = int(rng.integers(0, n_frames))
        frames = np.arange(start, min(start + lifetime, n_frames))
        (y0,), (x0,) = _sample_positions(rng, 1, allowed, margin)
        speed, angle = rng.uniform(*moving_speed), rng.uniform(0, 2 * np.pi)
        steps = np.arange(len(frames))
        y = y0 + speed * np.sin(angle) * steps
        x = x0 + speed * np.cos(angle) * steps
        keep = (y >= margin) & (y <= height - 1 - margin) & (x >= margin) & (x <= width - 1 - margin)
        keep = np.cumprod(keep).astype(bool)  # stop at the border
        amplitude = spot_amplitude * rng.uniform(0.7, 1.3) * _fade(len(frames), 2, 2) * bleaching[frames]
        record("moving", frames[keep], y[keep], x[keep], amplitude[keep], rng.uniform(*spot_sigma))

    spots = (pd.concat(spot_rows, ignore_index=True) if spot_rows
             else pd.DataFrame({name: pd.Series(dtype=float) for name in SPOT_COLUMNS}))
    spots = spots.astype({"spot_id": int, "kind": str})

    # Fusion events: a one-frame rise, then the total fluorescence decays with tau while the
    # cargo diffuses away from the fusion site (the spot widens, its peak drops faster).
    lit = (int(blank_frames[0]), n_frames - int(blank_frames[1]))
    event_t, event_y, event_x = _event_times_and_positions(rng, n_events, lit, allowed, margin, event_separation)
    amplitudes = event_amplitude * rng.uniform(0.7, 1.3, n_events)
    taus = rng.uniform(event_tau[0], event_tau[1], n_events)
    for t0, y, x, amplitude, tau in zip(event_t, event_y, event_x, amplitudes, taus):
        frames = np.arange(t0, min(t0 + int(np.ceil(6 * tau)) + 2, n_frames))
        onset = rng.uniform(*event_onset)
        age = np.maximum(frames - t0 - onset, 0).astype(np.float32)
        sigma2 = event_sigma ** 2 + 2.0 * event_spread * age
        peak = amplitude * np.exp(-age / tau) * event_sigma ** 2 / sigma2
        peak[0] *= 1 - onset
        _add_gaussians(photons, frames, y, x, peak, np.sqrt(sigma2))
    events = make_events(event_t, event_y, event_x, 1, amplitude=amplitudes, tau=taus,
                         sigma=np.full(n_events, float(event_sigma)), spread=np.full(n_events, float(event_spread)))

    movie = _add_camera_noise(photons, rng, gain, offset, read_noise, progress)
    if lit[0] > 0 or lit[1] < n_frames:
        movie[:lit[0]] = movie[lit[1]:] = np.uint16(np.clip(round(offset), 0, np.iinfo(np.uint16).max))
        spots = spots[(spots["t"] >= lit[0]) & (spots["t"] < lit[1])].reset_index(drop=True)
    return Simulation(movie=movie, events=events, spots=spots, params=params)
