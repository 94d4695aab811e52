"""Emitters over time: where each fluorescent object is and how bright, at every sub-frame step.

Time is sampled ``substeps`` times per frame (the camera integrates over the exposure, so a
fast rise or a moving vesicle smears within a frame). Every object of a scene, distractor or
event, becomes rows of one table: step, position, photons (per frame at that brightness),
extra width (pixels, added in quadrature to the point-spread function), kind and object id.

A vesicle's brightness follows its height ``z`` above the coverslip through the evanescent
field (:func:`~.optics.tirf_intensity`): docked vesicles jitter in ``z`` by a few nanometres
(stable) or tens (flicker), vesicles docking come down from ~400 nm over a fraction of a
second (a rise without any spreading: IVEA's "docking rise") and undocking ones go back up
("undocking drop"), moving ones travel laterally while near the membrane, blinking spots are
brief excursions into the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

from .optics import tirf_intensity

#: Object kinds, in the order of their codes in the emitter table.
KINDS = ("event", "docked", "flickering", "docking", "undocking", "moving", "blink", "passing_light",
         "fusing_vesicle")
#: Height (nm) from which a vesicle is practically invisible in the evanescent field.
Z_FAR = 400.0


def ou_process(rng, n, step_s, tau_s, sd) -> np.ndarray:
    """A stationary Ornstein-Uhlenbeck series (mean 0, standard deviation ``sd``) of ``n`` steps."""
    if n == 0 or sd == 0:
        return np.zeros(n)
    a = np.exp(-step_s / max(tau_s, 1e-6))
    noise = rng.standard_normal(n) * sd * np.sqrt(1 - a * a)
    noise[0] = rng.standard_normal() * sd
    return lfilter([1.0], [1.0, -a], noise)


@dataclass
class VesicleMotion:
    """How one vesicle moves and shines between ``start_s`` and ``end_s``.

    Attributes
    ----------
    start_s, end_s : float
        When it enters and leaves the scene (seconds).
    y, x : float
        Position at ``start_s`` (pixels).
    brightness : float
        Photons per frame when touching the coverslip (z = 0).
    z_rest : float
        Mean height (nm) while near the membrane.
    z_sd, z_tau_s : float
        Axial jitter (nm) and its correlation time (s).
    lateral_sd : float
        Lateral jitter (pixels) of a tethered vesicle.
    arrive_s, leave_s : float
        Durations of the descent from :data:`Z_FAR` at the start and of the ascent at the end
        (0: already there / still there).
    velocity : (float, float)
        Directed motion (pixels per second, y and x).
    diffusion : float
        Free lateral diffusion (pixels^2 per second).
    """

    start_s: float
    end_s: float
    y: float
    x: float
    brightness: float
    z_rest: float = 20.0
    z_sd: float = 5.0
    z_tau_s: float = 1.0
    lateral_sd: float = 0.1
    arrive_s: float = 0.0
    leave_s: float = 0.0
    velocity: tuple = (0.0, 0.0)
    diffusion: float = 0.0


def vesicle_track(rng, motion: VesicleMotion, step_s, n_steps, penetration_nm):
    """Steps, positions and photons of a vesicle (see :class:`VesicleMotion`)."""
    first = max(int(np.ceil(motion.start_s / step_s - 0.5)), 0)
    last = min(int(np.ceil(motion.end_s / step_s - 0.5)), n_steps)
    steps = np.arange(first, max(last, first))
    t = (steps + 0.5) * step_s
    n = len(steps)
    z = motion.z_rest + ou_process(rng, n, step_s, motion.z_tau_s, motion.z_sd)
    if motion.arrive_s > 0:
        coming = np.clip(1 - (t - motion.start_s) / motion.arrive_s, 0, 1)
        z += (Z_FAR - motion.z_rest) * coming
    if motion.leave_s > 0:
        going = np.clip(1 - (motion.end_s - t) / motion.leave_s, 0, 1)
        z += (Z_FAR - motion.z_rest) * going
    elapsed = t - motion.start_s
    y = motion.y + motion.velocity[0] * elapsed + ou_process(rng, n, step_s, 0.5, motion.lateral_sd)
    x = motion.x + motion.velocity[1] * elapsed + ou_process(rng, n, step_s, 0.5, motion.lateral_sd)
    if motion.diffusion > 0 and n:
        walk = rng.standard_normal((n, 2)) * np.sqrt(2 * motion.diffusion * step_s)
        walk = np.cumsum(walk, axis=0)
        y, x = y + walk[:, 0], x + walk[:, 1]
    return steps, y, x, motion.brightness * tirf_intensity(z, penetration_nm)


@dataclass
class Emitters:
    """The emitter table of a scene, built object by object (see the module)."""

    columns: dict = field(default_factory=lambda: {name: [] for name in
                                                  ("step", "y", "x", "photons", "width", "kind", "obj")})
    n_objects: int = 0

    def add(self, kind: str, steps, y, x, photons, width=0.0) -> int:
        """Add one object's rows; return its id."""
        n = len(steps)
        values = {"step": np.asarray(steps, np.int64), "y": y, "x": x, "photons": photons,
                  "width": np.broadcast_to(np.asarray(width, float), (n,)),
                  "kind": np.full(n, KINDS.index(kind), np.int8), "obj": np.full(n, self.n_objects, np.int32)}
        for name, value in values.items():
            self.columns[name].append(np.asarray(value))
        self.n_objects += 1
        return self.n_objects - 1

    def table(self) -> dict:
        """All rows, sorted by step, as a dict of arrays."""
        table = {name: (np.concatenate(parts) if parts else np.zeros(0)) for name, parts in self.columns.items()}
        order = np.argsort(table["step"], kind="stable")
        return {name: values[order] for name, values in table.items()}
