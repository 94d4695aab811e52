"""Vesicles that do not fuse: docked vesicles and the distractors an event detector must not report.

Each function draws its objects with ``rng`` and adds them to the scene (see ``_scene.Scene``);
amplitudes are photons in the centre pixel, varied per object by a random factor 0.7-1.3.
"""

from __future__ import annotations

import numpy as np

from ._scene import fade


def add_docked(scene, rng, n, *, amplitude, sigma, lifetime, fades, step, fluctuation):
    """Docked vesicles: fade in as they approach the membrane, wander (random walk of ``step``
    px per frame), fluctuate, fade out as they leave; some are already there when the movie starts."""
    n_frames, height, width, margin = scene.n_frames, scene.height, scene.width, scene.margin
    for _ in range(n):
        frames_alive = int(rng.integers(lifetime[0], lifetime[1] + 1))
        start = int(rng.integers(-frames_alive + 1, n_frames))
        fade_in, fade_out = (int(v) for v in rng.integers(fades[0], fades[1] + 1, 2))
        frames = np.arange(start, start + frames_alive)
        visibility = fade(frames_alive, fade_in, fade_out)
        (y0,), (x0,) = scene.positions(rng, 1)
        y = np.clip(y0 + np.cumsum(rng.normal(0, step, frames_alive)), margin, height - 1 - margin)
        x = np.clip(x0 + np.cumsum(rng.normal(0, step, frames_alive)), margin, width - 1 - margin)
        level = (amplitude * rng.uniform(0.7, 1.3) * visibility
                 * np.clip(1 + fluctuation * rng.standard_normal(frames_alive), 0.3, None))
        inside = (frames >= 0) & (frames < n_frames)
        if not inside.any():
            continue
        scene.add(frames[inside], y[inside], x[inside], level[inside], rng.uniform(*sigma),
                  kind="docked", bleach=True)


def add_flashes(scene, rng, n, *, amplitude, sigma):
    """One-frame flashes (as bright as events by default): a rise with no decay."""
    for _ in range(n):
        frames = rng.integers(0, scene.n_frames, 1)
        (y,), (x,) = scene.positions(rng, 1)
        scene.add(frames, y, x, np.array([amplitude * rng.uniform(0.7, 1.3)]), rng.uniform(*sigma), kind="flash")


def add_flickers(scene, rng, n, *, amplitude, sigma, lifetime, on, low, bright_frames):
    """Flickering (``low`` > 0) or blinking (``low`` = 0) spots: a vesicle jumping between two
    heights in the evanescent field, a two-state Markov chain with abrupt switches that is bright
    ``on`` of the time, for ``bright_frames`` frames at a time on average."""
    p_off = 1.0 / max(bright_frames, 1.0)
    p_on = p_off * on / max(1.0 - on, 1e-6)
    for _ in range(n):
        frames_alive = int(rng.integers(lifetime[0], lifetime[1] + 1))
        start = int(rng.integers(0, scene.n_frames))
        frames = np.arange(start, min(start + frames_alive, scene.n_frames))
        (y,), (x,) = scene.positions(rng, 1)
        bright = np.empty(len(frames), bool)
        bright[0] = rng.uniform() < on
        switches = rng.uniform(size=len(frames))
        for i in range(1, len(frames)):
            bright[i] = (switches[i] >= p_off) if bright[i - 1] else (switches[i] < p_on)
        level = np.where(bright, 1.0, low) * fade(len(frames), 2, 2)
        scene.add(frames, y, x, (amplitude * rng.uniform(0.7, 1.3) * level).astype(np.float32),
                  rng.uniform(*sigma), kind="flicker", bleach=True)


def add_moving(scene, rng, n, *, amplitude, sigma, lifetime, speed):
    """Vesicles travelling in a straight line along the membrane; they stop at the border."""
    n_frames, height, width, margin = scene.n_frames, scene.height, scene.width, scene.margin
    for _ in range(n):
        frames_alive = int(rng.integers(lifetime[0], lifetime[1] + 1))
        start = int(rng.integers(0, n_frames))
        frames = np.arange(start, min(start + frames_alive, n_frames))
        (y0,), (x0,) = scene.positions(rng, 1)
        pace, angle = rng.uniform(*speed), rng.uniform(0, 2 * np.pi)
        steps = np.arange(len(frames))
        y = y0 + pace * np.sin(angle) * steps
        x = x0 + pace * np.cos(angle) * steps
        keep = (y >= margin) & (y <= height - 1 - margin) & (x >= margin) & (x <= width - 1 - margin)
        keep = np.cumprod(keep).astype(bool)  # stop at the border
        level = amplitude * rng.uniform(0.7, 1.3) * fade(len(frames), 2, 2)
        scene.add(frames[keep], y[keep], x[keep], level[keep], rng.uniform(*sigma), kind="moving", bleach=True)


def add_arriving_leaving(scene, rng, n, *, amplitude, sigma, duration, fades, fluctuation):
    """Vesicles that arrive in the TIRF field within a few frames, stay briefly and leave, without
    fusing: a sudden spot like an event's rise, but one that leaves as it came."""
    for _ in range(n):
        fade_in, fade_out = (int(v) for v in rng.integers(fades[0], fades[1] + 1, 2))
        frames_alive = fade_in + int(rng.integers(duration[0], duration[1] + 1)) + fade_out
        start = int(rng.integers(-fade_in, scene.n_frames))
        frames = np.arange(start, start + frames_alive)
        (y,), (x,) = scene.positions(rng, 1)
        level = (amplitude * rng.uniform(0.7, 1.3) * fade(frames_alive, fade_in, fade_out)
                 * np.clip(1 + fluctuation * rng.standard_normal(frames_alive), 0.3, None))
        inside = (frames >= 0) & (frames < scene.n_frames)
        scene.add(frames[inside], y, x, level[inside], rng.uniform(*sigma), kind="arriving_leaving", bleach=True)
