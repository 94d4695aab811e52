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


# Distractors described for real TIRF exocytosis movies (IVEA's artefact classes, ExoJ/SIMON):
# off unless asked for (``n_bumps``, ``n_blinks``, ``n_steps``, ``n_passing`` of simulate_movie).

def add_bumps(scene, rng, n, *, amplitude, sigma, tau):
    """Low-contrast transient bumps: a small spot that rises in one frame and decays with a time
    constant drawn from ``tau`` (frames), without spreading: an event's shape at a fraction of its
    contrast, which is not an event (a vesicle touching the membrane, a local fluctuation)."""
    for _ in range(n):
        decay = rng.uniform(*tau)
        length = max(2, int(np.ceil(3.0 * decay)) + 1)
        start = int(rng.integers(0, scene.n_frames))
        frames = np.arange(start, min(start + length, scene.n_frames))
        (y,), (x,) = scene.positions(rng, 1)
        level = amplitude * rng.uniform(0.7, 1.3) * np.exp(-np.arange(len(frames)) / decay)
        scene.add(frames, y, x, level, rng.uniform(*sigma), kind="bump", bleach=True)


def add_blinks(scene, rng, n, *, amplitude, sigma, on_frames):
    """Short blinking spots: a spot that is on for ``on_frames`` frames (a range) at a time, off as
    long or longer in between, one to four times, switching abruptly (a quantum dot, a vesicle
    flickering at the edge of the evanescent field)."""
    for _ in range(n):
        (y,), (x,) = scene.positions(rng, 1)
        t = int(rng.integers(0, scene.n_frames))
        frames = []
        for _blink in range(int(rng.integers(1, 5))):
            on = int(rng.integers(on_frames[0], on_frames[1] + 1))
            frames.extend(range(t, t + on))
            t += on + int(rng.integers(on, 4 * on + 2))
        frames = np.asarray([f for f in frames if f < scene.n_frames], np.int64)
        if len(frames):
            level = np.full(len(frames), amplitude * rng.uniform(0.7, 1.3), np.float32)
            scene.add(frames, y, x, level, rng.uniform(*sigma), kind="blink", bleach=True)


def add_steps(scene, rng, n, *, amplitude, sigma, lifetime, fades, step, fluctuation):
    """Docking steps and undocking drops: a vesicle that appears in one frame and stays (docking
    rise, fading out slowly when it leaves), or one that came slowly and vanishes in one frame
    (undocking drop), without fusing. Half of each, at random."""
    n_frames, height, width, margin = scene.n_frames, scene.height, scene.width, scene.margin
    for _ in range(n):
        frames_alive = int(rng.integers(lifetime[0], lifetime[1] + 1))
        start = int(rng.integers(-frames_alive // 2, n_frames))
        slow = int(rng.integers(fades[0], fades[1] + 1))
        docking = rng.uniform() < 0.5
        visibility = fade(frames_alive, 0, slow) if docking else fade(frames_alive, slow, 0)
        frames = np.arange(start, start + frames_alive)
        (y0,), (x0,) = scene.positions(rng, 1)
        y = np.clip(y0 + np.cumsum(rng.normal(0, step, frames_alive)), margin, height - 1 - margin)
        x = np.clip(x0 + np.cumsum(rng.normal(0, step, frames_alive)), margin, width - 1 - margin)
        level = (amplitude * rng.uniform(0.7, 1.3) * visibility
                 * np.clip(1 + fluctuation * rng.standard_normal(frames_alive), 0.3, None))
        inside = (frames >= 0) & (frames < n_frames)
        if inside.any():
            scene.add(frames[inside], y[inside], x[inside], level[inside], rng.uniform(*sigma),
                      kind="docking_step" if docking else "undocking_drop", bleach=True)


def add_passing(scene, rng, n, *, amplitude, sigma, speed):
    """Vesicles passing deeper in the cell, out of focus: a wide, dim spot crossing the frame fast in a
    straight line (light passing by), from a border of the frame to beyond the opposite one."""
    n_frames, height, width = scene.n_frames, scene.height, scene.width
    for _ in range(n):
        pace, angle = rng.uniform(*speed), rng.uniform(0, 2 * np.pi)
        (y0,), (x0,) = scene.positions(rng, 1)
        length = int(np.ceil(np.hypot(height, width) / pace)) + 1
        middle = int(rng.integers(0, n_frames))
        steps = np.arange(length) - length // 2
        frames = middle + steps
        y, x = y0 + pace * np.sin(angle) * steps, x0 + pace * np.cos(angle) * steps
        inside = (frames >= 0) & (frames < n_frames)
        level = np.full(int(inside.sum()), amplitude * rng.uniform(0.7, 1.3), np.float32)
        scene.add(frames[inside], y[inside], x[inside], level, rng.uniform(*sigma), kind="passing")
