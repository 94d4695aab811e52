"""Simulate TIRF movies of exocytosis: a cell, docked vesicles, fusion events, camera noise.

The one simulator of the package: the tests, the benchmarks, ``exodeepfinder simulate`` and
``exodeepfinder demo`` all draw their movies here. Units are pixels (160 nm) and frames (~0.3 s).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..io.events import make_events


@dataclass
class Simulation:
    """A simulated movie and its ground truth.

    Attributes
    ----------
    movie : ndarray of uint16, shape (t, y, x)
        Camera counts.
    events : DataFrame
        One row per fusion event: ``t, y, x, class_label`` (1), ``amplitude`` (photons at the
        peak), ``tau`` (decay time constant, frames), ``sigma`` (spot sigma at the peak, px).
    spots : DataFrame
        One row per visible docked vesicle per frame: ``t, y, x, spot_id, amplitude``.
    """

    movie: np.ndarray
    events: pd.DataFrame
    spots: pd.DataFrame
    params: dict = field(default_factory=dict)


def _gaussian_stamps(movie, frames, y, x, amplitude, sigma):
    """Add Gaussian spots (one per frame in ``frames``, sub-pixel centres) into ``movie`` in place."""
    n_frames, height, width = movie.shape
    radius = int(np.ceil(3.5 * np.max(sigma))) + 1
    cy, cx = int(round(float(np.mean(y)))), int(round(float(np.mean(x))))
    drift = int(np.ceil(max(np.ptp(y), np.ptp(x)))) if len(frames) > 1 else 0
    half = radius + drift
    y0, y1 = max(cy - half, 0), min(cy + half + 1, height)
    x0, x1 = max(cx - half, 0), min(cx + half + 1, width)
    if y0 >= y1 or x0 >= x1:
        return
    yy = np.arange(y0, y1)[None, :, None]
    xx = np.arange(x0, x1)[None, None, :]
    y = np.asarray(y, float)[:, None, None]
    x = np.asarray(x, float)[:, None, None]
    sigma = np.broadcast_to(np.asarray(sigma, float), (len(frames),))[:, None, None]
    amplitude = np.broadcast_to(np.asarray(amplitude, float), (len(frames),))[:, None, None]
    stamp = amplitude * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma ** 2))
    movie[frames[0]:frames[-1] + 1, y0:y1, x0:x1] += stamp.astype(movie.dtype)


def simulate_movie(
    shape=(200, 128, 128),
    *,
    n_events: int = 20,
    n_spots: int = 40,
    event_amplitude: float = 400.0,
    event_tau: tuple[float, float] = (1.5, 6.0),
    event_sigma: float = 1.3,
    event_spread: float = 0.25,
    spot_amplitude: float = 250.0,
    spot_sigma: tuple[float, float] = (1.0, 1.5),
    spot_lifetime: tuple[int, int] = (20, 150),
    spot_drift: float = 0.15,
    background: float = 300.0,
    bleaching_frames: float = 3000.0,
    gain: float = 1.0,
    offset: float = 100.0,
    read_noise: float = 3.0,
    margin: int = 6,
    seed: int | None = 0,
) -> Simulation:
    """Simulate a TIRF movie with fusion events and docked vesicles.

    Parameters
    ----------
    shape : (int, int, int)
        Movie shape ``(frames, height, width)``.
    n_events : int
        Number of fusion events; each is a one-frame rise at a random frame and position
        followed by an exponential decay with lateral spreading.
    n_spots : int
        Number of docked vesicles: persistent spots that appear, drift slightly and leave.
    event_amplitude, spot_amplitude : float
        Peak photons of events and docked vesicles (each varies by a factor 0.7-1.3).
    event_tau : (float, float)
        Range of the decay time constants of events, in frames.
    event_sigma, event_spread : float
        Spot sigma of an event at its peak (px) and its growth per frame (lateral spreading).
    spot_sigma, spot_lifetime, spot_drift
        Docked vesicle size range (px), lifetime range (frames), random-walk step (px/frame).
    background, bleaching_frames : float
        Cell fluorescence (photons) and photobleaching time constant (frames).
    gain, offset, read_noise : float
        Camera: counts per photon, baseline counts, Gaussian read noise (counts).
    margin : int
        Events and vesicles keep this distance (px) from the border.
    seed : int or None
        Random seed.

    Returns
    -------
    Simulation
    """
    rng = np.random.default_rng(seed)
    n_frames, height, width = (int(s) for s in shape)
    if min(height, width) <= 2 * margin:
        raise ValueError(f"shape: frames of {height} x {width} are too small for margin {margin}")
    photons = np.zeros(shape, np.float32)

    # Cell footprint: a smooth blob with uneven fluorescence, dimmed by photobleaching.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = height * rng.uniform(0.4, 0.6), width * rng.uniform(0.4, 0.6)
    ry, rx = height * rng.uniform(0.45, 0.6), width * rng.uniform(0.45, 0.6)
    footprint = 1.0 / (1.0 + np.exp(8.0 * (np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) - 1.0)))
    texture = 1.0 + 0.2 * np.sin(yy / rng.uniform(6, 12) + rng.uniform(0, 6)) * np.cos(xx / rng.uniform(6, 12))
    cell = (background * (0.15 + 0.85 * footprint * texture)).astype(np.float32)
    bleaching = np.exp(-np.arange(n_frames, dtype=np.float32) / bleaching_frames)
    photons += cell[None] * bleaching[:, None, None]

    # Docked vesicles.
    spot_rows = []
    for spot_id in range(n_spots):
        lifetime = int(rng.integers(spot_lifetime[0], spot_lifetime[1] + 1))
        start = int(rng.integers(-lifetime // 2, n_frames))
        frames = np.arange(max(start, 0), min(start + lifetime, n_frames))
        if len(frames) == 0:
            continue
        y = rng.uniform(margin, height - margin) + np.cumsum(rng.normal(0, spot_drift, len(frames)))
        x = rng.uniform(margin, width - margin) + np.cumsum(rng.normal(0, spot_drift, len(frames)))
        y = np.clip(y, margin, height - margin)
        x = np.clip(x, margin, width - margin)
        amplitude = spot_amplitude * rng.uniform(0.7, 1.3)
        sigma = rng.uniform(*spot_sigma)
        _gaussian_stamps(photons, frames, y, x, amplitude * bleaching[frames], sigma)
        spot_rows.append(pd.DataFrame({"t": frames.astype(float), "y": y, "x": x, "spot_id": spot_id,
                                       "amplitude": amplitude * bleaching[frames]}))
    spots = (pd.concat(spot_rows, ignore_index=True) if spot_rows
             else pd.DataFrame(columns=["t", "y", "x", "spot_id", "amplitude"]))

    # Fusion events: a one-frame rise, then exponential decay while the cargo spreads.
    event_t = np.sort(rng.integers(0, max(n_frames - 3, 1), n_events)) if n_events else np.zeros(0, int)
    event_y = rng.uniform(margin, height - margin, n_events)
    event_x = rng.uniform(margin, width - margin, n_events)
    event_amplitude_ = event_amplitude * rng.uniform(0.7, 1.3, n_events)
    taus = rng.uniform(event_tau[0], event_tau[1], n_events)
    for t0, y, x, amplitude, tau in zip(event_t, event_y, event_x, event_amplitude_, taus):
        frames = np.arange(t0, min(t0 + int(np.ceil(5 * tau)) + 1, n_frames))
        age = frames - t0
        sigma = event_sigma + event_spread * age
        # total photons decay with tau; spreading lowers the peak as sigma grows
        peak = amplitude * np.exp(-age / tau) * (event_sigma / sigma) ** 2
        _gaussian_stamps(photons, frames, np.full(len(frames), y), np.full(len(frames), x), peak, sigma)
    events = make_events(event_t, event_y, event_x, 1, amplitude=event_amplitude_, tau=taus,
                         sigma=np.full(n_events, event_sigma))

    counts = rng.poisson(np.maximum(photons, 0)).astype(np.float32) * gain
    counts += offset + rng.normal(0, read_noise, shape).astype(np.float32)
    movie = np.clip(np.round(counts), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    params = dict(shape=shape, n_events=n_events, n_spots=n_spots, seed=seed)
    return Simulation(movie=movie, events=events, spots=spots, params=params)
