"""Fusion events: where and when, and how their fluorescence rises, decays and spreads.

An event is a one-frame rise followed by an exponential decay of its total fluorescence while
the cargo diffuses away from the fusion site (the spot widens, its peak drops faster). Its
vesicle either arrives and fuses at once, or is docked (a dimmer spot) for a while before fusing.
"""

from __future__ import annotations

import numpy as np

from ..io.events import make_events
from ._scene import fade

#: Values of the ``kind`` column of :attr:`Simulation.events`.
EVENT_KINDS = ("arrived_and_fused", "docked_then_fused")


def _times_and_positions(scene, rng, n_events, frame_range, separation, hotspots=None):
    """Draw events (image coordinates at their frame) no two closer than ``separation`` both in
    frames and in pixels.

    The separation is best effort: in a movie too small to hold them all apart, the last
    candidate drawn is kept. ``hotspots``: None, or ``(sites, fraction, radius)``: that fraction
    of the events (drawn at random) fuse at one of the sites (sample coordinates, ``(n, 2)``),
    scattered by a Gaussian of ``radius`` px; the others anywhere in the cell.
    """
    first, last = frame_range
    last = max(last - 3, first + 1)
    low, high = scene.margin, np.array([scene.height, scene.width]) - 1 - scene.margin
    times, ys, xs = [], [], []
    at_site = np.zeros(n_events, bool)
    if hotspots is not None:
        at_site = rng.uniform(size=n_events) < hotspots[1]
    for i in range(n_events):
        for _attempt in range(200):
            t = int(rng.integers(first, last))
            if at_site[i]:
                sites, _, radius = hotspots
                site = sites[int(rng.integers(len(sites)))]
                y, x = site[:, None] + rng.normal(0, radius, (2, 1))
            else:
                y, x = scene.positions(rng, 1)
            y, x = np.clip(np.array([y[0], x[0]]) + scene.drift[t], low, high)
            if not times or separation <= 0:
                break
            close = ((np.abs(np.asarray(times) - t) < separation)
                     & (np.hypot(np.asarray(ys) - y, np.asarray(xs) - x) < separation))
            if not close.any():
                break
        times.append(t)
        ys.append(float(y))
        xs.append(float(x))
    order = np.argsort(times, kind="stable")
    return np.asarray(times, int)[order], np.asarray(ys)[order], np.asarray(xs)[order]


def _add_docked_vesicle(scene, rng, t0, y, x, amplitude, sigma, docking, fades, fluctuation):
    """The vesicle of a docked-then-fused event: visible from ``t0 - docked`` to ``t0 - 1``."""
    docked = int(rng.integers(docking[0], docking[1] + 1))
    fade_in = min(int(rng.integers(fades[0], fades[1] + 1)), docked)
    level = (amplitude * fade(docked, fade_in, 0)
             * np.clip(1 + fluctuation * rng.standard_normal(docked), 0.3, None))
    frames = np.arange(t0 - docked, t0)
    inside = frames >= 0
    scene.add(frames[inside], y, x, level[inside], sigma, kind="docked_then_fused", bleach=True)
    return docked


def add_events(scene, rng, n_events, *, frame_range, amplitude, tau, sigma, spread, spread_fraction, onset,
               separation, docked_fraction, docking, docking_brightness, docking_fades, fluctuation, hotspots=0,
               hotspot_fraction=0.0, hotspot_radius=1.5):
    """Add ``n_events`` fusion events to the scene and return their table (see ``Simulation.events``).

    With ``hotspots`` > 0, sites are drawn in the cell and ``hotspot_fraction`` of the events
    fuse at one of them (within ``hotspot_radius`` px): repeated fusions at the same places.
    """
    sites = None
    if hotspots > 0:
        sites = np.stack(scene.positions(rng, int(hotspots)), axis=1)
    event_t, event_y, event_x = _times_and_positions(
        scene, rng, n_events, frame_range, separation,
        None if sites is None else (sites, hotspot_fraction, hotspot_radius))
    amplitudes = amplitude * rng.uniform(0.7, 1.3, n_events)
    taus = rng.uniform(tau[0], tau[1], n_events)
    # draws only for the options in use, so that the default movies stay what they were
    spreads = (np.where(rng.uniform(size=n_events) < spread_fraction, spread, 0.0) if spread_fraction < 1
               else np.full(n_events, float(spread)))
    docked = (rng.uniform(size=n_events) < docked_fraction if docked_fraction > 0
              else np.zeros(n_events, bool))
    docked_frames = np.zeros(n_events, int)
    for i, (t0, y, x, peak_photons, tau_i, spread_i) in enumerate(zip(event_t, event_y, event_x, amplitudes, taus,
                                                                       spreads)):
        y_sample, x_sample = np.array([y, x]) - scene.drift[t0]
        frames = np.arange(t0, min(t0 + int(np.ceil(6 * tau_i)) + 2, scene.n_frames))
        start = rng.uniform(*onset)
        age = np.maximum(frames - t0 - start, 0).astype(np.float32)
        sigma2 = sigma ** 2 + 2.0 * spread_i * age
        peak = peak_photons * np.exp(-age / tau_i) * sigma ** 2 / sigma2
        peak[0] *= 1 - start
        scene.add(frames, y_sample, x_sample, peak, np.sqrt(sigma2))
        if docked[i]:
            docked_frames[i] = _add_docked_vesicle(scene, rng, t0, y_sample, x_sample,
                                                   docking_brightness * peak_photons, sigma, docking,
                                                   docking_fades, fluctuation)
    if scene.illumination is not None:
        amplitudes = amplitudes * scene.illumination.at(event_y, event_x)
    return make_events(event_t, event_y, event_x, 1, amplitude=amplitudes, tau=taus,
                       sigma=np.full(n_events, float(sigma)), spread=spreads,
                       kind=np.where(docked, EVENT_KINDS[1], EVENT_KINDS[0]).astype(object),
                       docked_frames=docked_frames)
