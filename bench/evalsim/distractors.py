"""Everything bright that is not an exocytosis event (IVEA's artefact classes and the rest).

- docked vesicles, present the whole movie, jittering by a few nanometres; a fraction of them
  **flicker** (axial excursions of tens of nanometres, i.e. intensity swings of ~1.5-2x);
- **docking rises**: vesicles arriving from the cytoplasm and staying (a rise, no spreading);
- **undocking drops**: docked vesicles leaving back into the cytoplasm;
- **moving vesicles**: vesicles travelling near the membrane, directed or diffusing;
- **blinks**: brief excursions of a vesicle into the evanescent field (0.1-1 s);
- **passing light**: large dim out-of-focus objects drifting across the field.
"""

from __future__ import annotations

import numpy as np

from .tracks import Emitters, VesicleMotion, vesicle_track


def _count(rng, rate, area_um2, duration_s) -> int:
    """Poisson number of objects for a rate per 100 um^2 and per minute."""
    return int(rng.poisson(rate * area_um2 / 100.0 * duration_s / 60.0))


def _brightness(rng, family, n):
    return family.vesicle_photons * family.photon_scale * np.exp(family.vesicle_spread * rng.standard_normal(n))


def _add(emitters, rng, kind, motion, grid):
    steps, y, x, photons = vesicle_track(rng, motion, grid["step_s"], grid["n_steps"], grid["penetration_nm"])
    if len(steps):
        emitters.add(kind, steps, y, x, photons, width=grid["vesicle_width"])


def add_docked(emitters: Emitters, rng, family, grid, points, duration_s):
    """Docked vesicles at ``points``, present throughout; a fraction of them flicker."""
    flickering = rng.random(len(points)) < family.flicker_fraction
    for (y, x), brightness, flicker in zip(points, _brightness(rng, family, len(points)), flickering):
        motion = VesicleMotion(0.0, duration_s, y, x, brightness, z_rest=rng.uniform(0, 40),
                               z_sd=rng.uniform(*family.flicker_z_sd_nm) if flicker else rng.uniform(2, 8),
                               z_tau_s=rng.uniform(*family.flicker_tau_s) if flicker else rng.uniform(1, 5),
                               lateral_sd=rng.uniform(0.05, 0.2))
        _add(emitters, rng, "flickering" if flicker else "docked", motion, grid)


def add_docking_and_undocking(emitters: Emitters, rng, family, grid, sample_points, area_um2, duration_s):
    """Vesicles that come and stay (docking rise) and vesicles that leave (undocking drop)."""
    for kind, rate in (("docking", family.docking_rate), ("undocking", family.undocking_rate)):
        n = _count(rng, rate, area_um2, duration_s)
        for (y, x), brightness in zip(sample_points(n), _brightness(rng, family, n)):
            moment = rng.uniform(0, duration_s)
            ramp = rng.uniform(0.15, 1.0)
            if kind == "docking":
                motion = VesicleMotion(moment, duration_s + 1, y, x, brightness, z_rest=rng.uniform(0, 40),
                                       z_sd=rng.uniform(2, 10), arrive_s=ramp, lateral_sd=rng.uniform(0.05, 0.2))
            else:
                motion = VesicleMotion(-1.0, moment, y, x, brightness, z_rest=rng.uniform(0, 40),
                                       z_sd=rng.uniform(2, 10), leave_s=ramp, lateral_sd=rng.uniform(0.05, 0.2),
                                       velocity=tuple(rng.normal(0, 0.5, 2)))
            _add(emitters, rng, kind, motion, grid)


def add_moving(emitters: Emitters, rng, family, grid, sample_points, area_um2, duration_s):
    """Vesicles travelling near the membrane: half directed (0.1-1.2 um/s), half diffusing."""
    n = _count(rng, family.moving_rate, area_um2, duration_s)
    px_per_um = 1.0 / family.pixel_size_um
    for (y, x), brightness in zip(sample_points(n), _brightness(rng, family, n)):
        start = rng.uniform(-2, duration_s)
        length = rng.uniform(1.0, 8.0)
        angle = rng.uniform(0, 2 * np.pi)
        directed = rng.random() < 0.5
        speed = rng.uniform(0.1, 1.2) * px_per_um if directed else 0.0
        motion = VesicleMotion(start, start + length, y, x, brightness, z_rest=rng.uniform(30, 120),
                               z_sd=rng.uniform(5, 25), z_tau_s=0.5, lateral_sd=0.05,
                               arrive_s=rng.uniform(0.2, 0.8), leave_s=rng.uniform(0.2, 0.8),
                               velocity=(speed * np.sin(angle), speed * np.cos(angle)),
                               diffusion=0.0 if directed else rng.uniform(0.01, 0.1) * px_per_um ** 2)
        _add(emitters, rng, "moving", motion, grid)


def add_blinks(emitters: Emitters, rng, family, grid, sample_points, area_um2, duration_s):
    """Brief excursions of vesicles into the field: up and down within 0.1-1 s."""
    n = _count(rng, family.blink_rate, area_um2, duration_s)
    for (y, x), brightness in zip(sample_points(n), _brightness(rng, family, n)):
        length = rng.uniform(*family.blink_duration_s)
        start = rng.uniform(-length / 2, duration_s)
        up = rng.uniform(0.2, 0.5) * length
        motion = VesicleMotion(start, start + length, y, x, brightness, z_rest=rng.uniform(0, 60),
                               z_sd=rng.uniform(2, 10), arrive_s=up, leave_s=length - up, lateral_sd=0.1)
        _add(emitters, rng, "blink", motion, grid)


def add_passing_light(emitters: Emitters, rng, family, grid, shape, area_um2, duration_s):
    """Large dim blobs (out-of-focus organelles or debris) crossing the field in a few frames."""
    n = _count(rng, family.passing_rate, area_um2, duration_s)
    height, width = shape
    px_per_um = 1.0 / family.pixel_size_um
    for _ in range(n):
        start = rng.uniform(0, duration_s)
        length = rng.uniform(0.6, 3.0)
        angle = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(1.5, 6.0) * px_per_um
        centre = np.array([rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width])
        first = int(max(start / grid["step_s"], 0))
        steps = np.arange(first, min(int((start + length) / grid["step_s"]), grid["n_steps"]))
        if not len(steps):
            continue
        elapsed = (steps + 0.5) * grid["step_s"] - start - length / 2
        y = centre[0] + speed * np.sin(angle) * elapsed
        x = centre[1] + speed * np.cos(angle) * elapsed
        envelope = np.sin(np.pi * np.clip((elapsed + length / 2) / length, 0, 1))
        photons = rng.uniform(3000, 10000) * family.photon_scale * envelope
        emitters.add("passing_light", steps, y, x, photons, width=rng.uniform(0.5, 1.2) * px_per_um)
