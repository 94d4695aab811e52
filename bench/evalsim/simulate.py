"""One movie of a family, with its ground truth: the scene, its dynamics, the optics and the camera."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage

from . import distractors
from .camera import EMCCD, SCMOS, to_counts
from .events import add_events, event_truth, sample_events
from .families import Family, get_family
from .optics import render_spots
from .scene import cell_footprint, diffuse_fluorescence, illumination, inside_points
from .tracks import KINDS, Emitters, ou_process

#: Version of the generator, written into every movie: bump it when movies of a seed change.
GENERATOR = "evalsim 1"
#: Movie size used by the evaluation (frames, height, width) and events per movie.
DEFAULT_SHAPE = (200, 128, 128)
DEFAULT_EVENTS = 20


@dataclass
class Simulation:
    """A simulated movie and its ground truth.

    Attributes
    ----------
    movie : ndarray of uint16, shape (t, y, x)
        Camera counts (baseline ~100).
    events : DataFrame
        The true events: ``t, y, x, class_label`` (the reference columns; ``t`` is the frame
        where the event is brightest) and their attributes: ``amplitude`` (photons at fusion),
        ``origin`` (docked / arrived), ``release`` (spreading / in_place), ``mode`` (FVFi,
        FVFd, KNRi, KNRd), ``decay_tau_s``, ``diffusion_um2_s``, ``plateau_s``, ``t_half_s``,
        ``frames_above_half``, ``t_fusion_s``, ``docked_s``, ``pre_photons``, and the expected
        photons at the event's pixel before it and at its peak (``expected_before_px``,
        ``expected_peak_px``, ``true_dff``).
    mask : ndarray of bool, shape (y, x)
        The cell's footprint.
    objects : DataFrame
        Every object of the scene, frame by frame: ``frame, obj, kind, y, x, photons`` (kinds in
        :data:`~.tracks.KINDS`): to tell what a false detection sat on.
    metadata : dict
        ``pixel_size_um``, ``frame_interval_s``, family, seed, camera and scene parameters.
    """

    movie: np.ndarray
    events: pd.DataFrame
    mask: np.ndarray
    objects: pd.DataFrame
    metadata: dict = field(default_factory=dict)


def family_rng(family: str, seed: int) -> np.random.Generator:
    """The random generator of a (family, seed) pair: movies of different families never share draws."""
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed: a non-negative integer expected, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(family.encode())]))


def _scene(rng, family: Family, shape):
    """Movie-level draws: footprint, diffuse fluorescence, illumination, optics, camera."""
    mask = cell_footprint(rng, shape)
    level = rng.uniform(*family.background_photons) * family.photon_scale
    params = {
        "psf_sigma_px": rng.uniform(*family.psf_sigma_px),
        "penetration_nm": rng.uniform(*family.penetration_nm),
        "background_photons": level,
        "bleach_tau_s": rng.uniform(*family.bleach_tau_s),
        "vesicle_width_px": rng.uniform(0.15, 0.35),
        "lateral_drift_px": rng.uniform(*family.lateral_drift_px),
        "focus_drift": rng.uniform(*family.focus_drift),
    }
    background = diffuse_fluorescence(rng, mask, level, family.background_texture)
    light = illumination(rng, shape, family.illumination_width, family.fringe_amplitude)
    camera = EMCCD(em_gain=rng.uniform(*family.em_gain)) if family.camera == "emccd" else SCMOS()
    return mask, background, light, camera, params


def _populate(rng, family, grid, mask, shape, n_frames, n_events):
    """All emitters of the scene: events with their vesicles, then the distractors."""
    emitters = Emitters()
    duration = n_frames * family.frame_interval_s
    area = float(mask.sum()) * family.pixel_size_um ** 2
    events = sample_events(rng, family, n_events, n_frames, lambda n: inside_points(rng, mask, n, margin=6))
    events["emitter"] = add_events(emitters, rng, events, grid, family, duration)
    points = lambda n: inside_points(rng, mask, n, margin=3)  # noqa: E731
    n_docked = int(rng.poisson(rng.uniform(*family.docked_per_100um2) * area / 100.0))
    distractors.add_docked(emitters, rng, family, grid, points(n_docked), duration)
    distractors.add_docking_and_undocking(emitters, rng, family, grid, points, area, duration)
    distractors.add_moving(emitters, rng, family, grid, points, area, duration)
    distractors.add_blinks(emitters, rng, family, grid, points, area, duration)
    distractors.add_passing_light(emitters, rng, family, grid, shape, area, duration)
    return emitters.table(), events


def _drifts(rng, params, grid, duration):
    """Per step: lateral drift (dy, dx) in pixels and the PSF's scale from focus drift."""
    t = (np.arange(grid["n_steps"]) + 0.5) * grid["step_s"]
    angle = rng.uniform(0, 2 * np.pi)
    amount = params["lateral_drift_px"] * t / duration
    wander = 0.1 * params["lateral_drift_px"]
    dy = amount * np.sin(angle) + ou_process(rng, len(t), grid["step_s"], duration / 4, wander)
    dx = amount * np.cos(angle) + ou_process(rng, len(t), grid["step_s"], duration / 4, wander)
    focus = 1 + params["focus_drift"] * 0.5 * (1 - np.cos(np.pi * t / duration))
    return dy, dx, focus


def _render(rng, table, background, light, camera, params, grid, family, n_frames, probes):
    """Expected photons frame by frame, then the camera; ``probes`` (frame -> [(row, y, x)]) are sampled."""
    shape = background.shape
    substeps, step_s = grid["substeps"], grid["step_s"]
    duration = n_frames * family.frame_interval_s
    dy, dx, focus = _drifts(rng, params, grid, duration)
    step_times = (np.arange(grid["n_steps"]) + 0.5) * step_s
    bleach = np.exp(-step_times / params["bleach_tau_s"])
    laser = 1 + family.laser_flicker * rng.standard_normal(n_frames)
    maps = camera.pixel_maps(rng, shape)
    bounds = np.searchsorted(table["step"], np.arange(n_frames + 1) * substeps)
    movie = np.empty((n_frames, *shape), np.uint16)
    sampled = {}
    for frame in range(n_frames):
        part = slice(bounds[frame], bounds[frame + 1])
        steps = table["step"][part]
        fades = np.where(table["kind"][part] == KINDS.index("event"), 1.0, bleach[steps])
        sigma = np.hypot(grid["psf_sigma"] * focus[steps], table["width"][part])
        expected = render_spots(shape, table["y"][part] + dy[steps], table["x"][part] + dx[steps],
                                table["photons"][part] * fades / substeps, sigma)
        middle = frame * substeps + substeps // 2
        diffuse = ndimage.shift(background, (dy[middle], dx[middle]), order=1, mode="constant")
        expected += diffuse * bleach[middle]
        expected *= light * laser[frame]
        for row, y, x in probes.get(frame, ()):  # at the event's pixel, drift included
            at = (min(max(int(round(y + dy[middle])), 0), shape[0] - 1),
                  min(max(int(round(x + dx[middle])), 0), shape[1] - 1))
            sampled[(row, frame)] = float(expected[at])
        movie[frame] = to_counts(camera.expose(expected, rng, maps))
    return movie, sampled, (dy, dx)


def _objects_table(table, drift, substeps) -> pd.DataFrame:
    """Per object and frame: mean position (drift included), photons, kind."""
    steps = table["step"]
    frame_table = pd.DataFrame({"frame": steps // substeps, "obj": table["obj"], "kind": table["kind"],
                                "y": table["y"] + drift[0][steps], "x": table["x"] + drift[1][steps],
                                "photons": table["photons"] / substeps})
    grouped = frame_table.groupby(["obj", "frame"], sort=True).agg(
        kind=("kind", "first"), y=("y", "mean"), x=("x", "mean"), photons=("photons", "sum")).reset_index()
    grouped["kind"] = np.asarray(KINDS)[grouped["kind"].to_numpy(int)]
    return grouped[["frame", "obj", "kind", "y", "x", "photons"]]


def _truth(events, timing, drift, sampled, substeps, n_frames) -> pd.DataFrame:
    """The events table in the reference layout, with every truth attribute.

    ``t`` is the frame an annotator would click: the fusion frame, or the next one when it is
    brighter at the event's pixel (the pore opened late in the exposure).
    """
    truth = pd.concat([timing, events], axis=1)
    later = [sampled.get((i, t + 1), -np.inf) > sampled.get((i, t), -np.inf) for i, t in enumerate(truth["t"])]
    truth["t"] = truth["t"] + np.asarray(later, int)
    middle = truth["t"].to_numpy() * substeps + substeps // 2
    truth.insert(1, "y", truth["y0"] + drift[0][middle])
    truth.insert(2, "x", truth["x0"] + drift[1][middle])
    truth.insert(3, "class_label", 1)
    truth.insert(4, "obj_id", np.arange(len(truth)))
    before = [np.mean([sampled[(i, f)] for f in (t - 2, t - 1) if (i, f) in sampled] or [np.nan])
              for i, t in enumerate(truth["t"])]
    truth["expected_before_px"] = before
    truth["expected_peak_px"] = [sampled.get((i, t), np.nan) for i, t in enumerate(truth["t"])]
    truth["true_dff"] = truth["expected_peak_px"] / truth["expected_before_px"] - 1
    return truth.drop(columns=["y0", "x0"]).reset_index(drop=True)


def simulate(family="default", seed: int = 0, *, shape=DEFAULT_SHAPE, n_events: int = DEFAULT_EVENTS,
             substeps: int = 4) -> Simulation:
    """Simulate one TIRF exocytosis movie of a family, with its ground truth.

    Parameters
    ----------
    family : str or Family
        A name from :data:`~.families.FAMILIES` or a :class:`~.families.Family`.
    seed : int
        The movie's seed: the same (family, seed, shape, n_events) always gives the same movie.
    shape : (int, int, int)
        Frames, height, width.
    n_events : int
        Exocytosis events (fewer if the cell is too small to keep them apart).
    substeps : int
        Time samples per frame (the camera integrates motion and fast rises over the exposure).

    Returns
    -------
    Simulation
    """
    family = get_family(family) if isinstance(family, str) else family
    n_frames, height, width = (int(v) for v in shape)
    if n_frames < 20 or min(height, width) < 32:
        raise ValueError(f"shape: at least 20 frames of 32 x 32 pixels expected, got {tuple(shape)}")
    rng = family_rng(family.name, seed)
    mask, background, light, camera, params = _scene(rng, family, (height, width))
    grid = {"step_s": family.frame_interval_s / substeps, "n_steps": n_frames * substeps, "substeps": substeps,
            "psf_sigma": params["psf_sigma_px"], "penetration_nm": params["penetration_nm"],
            "vesicle_width": params["vesicle_width_px"]}
    table, events = _populate(rng, family, grid, mask, (height, width), n_frames, n_events)
    timing = event_truth(events, grid, family, n_frames)
    timing.insert(0, "t", np.floor(events["t_fusion_s"] / family.frame_interval_s).astype(int))
    probes = {}
    for row, (t, y, x) in enumerate(zip(timing["t"], events["y0"], events["x0"])):
        for frame in (t - 2, t - 1, t, t + 1):
            probes.setdefault(frame, []).append((row, y, x))
    movie, sampled, drift = _render(rng, table, background, light, camera, params, grid, family, n_frames, probes)
    truth = _truth(events, timing, drift, sampled, substeps, n_frames)
    metadata = {"generator": GENERATOR, "family": family.name, "seed": int(seed), "shape": [n_frames, height, width],
                "pixel_size_um": family.pixel_size_um, "frame_interval_s": family.frame_interval_s,
                "camera": camera.name, "camera_offset": camera.offset, "n_events": len(truth),
                "cell_area_um2": float(mask.sum()) * family.pixel_size_um ** 2,
                **{name: float(value) for name, value in params.items()}}
    if family.camera == "emccd":
        metadata["em_gain"] = camera.em_gain
    return Simulation(movie, truth, mask, _objects_table(table, drift, substeps), metadata)
