"""Exocytosis events: the fusion of a vesicle carrying a pH-sensitive reporter (e.g. pHluorin).

Inside the acidic vesicle the reporter is quenched; when the fusion pore opens the lumen is
neutralised within milliseconds and the vesicle lights up: the rise takes well under one frame.
What follows depends on the fusion mode (the four modes of the Gupton lab's pHusion pipeline):

Fusion never dims a vesicle: what was quenched inside lights up, so the event's photons exceed
those of the vesicle before it (3-10x for a docked vesicle).

- **full fusion** (``release="spreading"``): the vesicle membrane collapses into the plasma
  membrane and the reporter diffuses away, a cloud whose width grows as
  ``sigma^2 = sigma_0^2 + 2 D t`` while its total slowly fades (retrieval, bleaching), so the
  peak falls and the spot widens;
- **kiss-and-run** (``release="in_place"``): the pore closes, the vesicle stays and
  re-acidifies: the spot fades in place, without widening, and the vesicle may stay docked;
- either may be **delayed** (a plateau before the fading: FVFd, KNRd).

Where the vesicle came from (Edwards lab's distinction): ``origin="docked"`` vesicles sat at the
membrane, visible as a dim spot, for seconds before fusing; ``origin="arrived"`` ones came from
the cytoplasm within the last few hundred milliseconds (IVEA's "latent vesicle fusion": nothing
visible before).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .tracks import Emitters, VesicleMotion, vesicle_track

#: Radius (pixels) of the disk in which an event's half-life ``t_half_s`` is measured.
HALF_LIFE_RADIUS = 2.0


def _event_times(rng, n, n_frames, frame_s, margins=(6, 10)):
    return rng.uniform(margins[0] * frame_s, (n_frames - margins[1]) * frame_s, n)


def _separated(candidates, times, chosen, min_px=8.0, min_s=4.0):
    """Indices of candidates kept so that no two events are close in both space and time."""
    kept = []
    for index in range(len(candidates)):
        close = [j for j in kept if abs(times[j] - times[index]) < min_s and
                 np.hypot(*(candidates[j] - candidates[index])) < min_px]
        if not close:
            kept.append(index)
        if len(kept) == chosen:
            break
    return kept


def sample_events(rng, family, n_events, n_frames, sample_points) -> pd.DataFrame:
    """Draw the events of a movie: when, where, how bright, how they release.

    Returns
    -------
    DataFrame
        One row per event: ``t_fusion_s, y0, x0, amplitude, release, delayed, plateau_s,
        diffusion_um2_s, decay_tau_s, rise_s, origin, pre_photons, docked_s``.
    """
    frame_s = family.frame_interval_s
    points = sample_points(20 * n_events + 20)
    times = _event_times(rng, len(points), n_frames, frame_s)
    kept = _separated(points, times, n_events)
    n = len(kept)
    spreading = rng.random(n) < family.full_fusion_fraction
    delayed = rng.random(n) < family.delayed_fraction
    docked = rng.random(n) < family.docked_origin_fraction
    scale = family.photon_scale
    table = pd.DataFrame({
        "t_fusion_s": times[kept], "y0": points[kept, 0], "x0": points[kept, 1],
        "amplitude": family.event_photons * scale * np.exp(family.event_spread * rng.standard_normal(n)),
        "release": np.where(spreading, "spreading", "in_place"),
        "delayed": delayed,
        "plateau_s": np.where(delayed, rng.uniform(*family.plateau_s, n), 0.0),
        "diffusion_um2_s": np.where(spreading, rng.uniform(*family.diffusion_um2_s, n), 0.0),
        "decay_tau_s": np.where(spreading, rng.uniform(*family.content_loss_tau_s, n),
                                rng.uniform(*family.in_place_tau_s, n)),
        "rise_s": rng.uniform(*family.rise_s, n),
        "origin": np.where(docked, "docked", "arrived"),
        "docked_s": np.where(docked, rng.uniform(*family.docked_before_s, n), rng.uniform(0.0, 0.6, n)),
    })
    # the quenched vesicle before fusion: 3-10x dimmer than its content unquenched (docked), or
    # barely visible (arrived, seen only for the last few hundred milliseconds if at all)
    table["pre_photons"] = table["amplitude"] * np.where(docked, rng.uniform(0.1, 0.35, n), rng.uniform(0.0, 0.3, n))
    table["mode"] = [("FVF" if s else "KNR") + ("d" if d else "i") for s, d in zip(spreading, delayed)]
    return table.sort_values("t_fusion_s", ignore_index=True)


def event_profile(event, tau_s, pixel_size_um, vesicle_width):
    """Total photons and extra width (pixels) of an event ``tau_s`` seconds after fusion."""
    tau = np.asarray(tau_s, float)
    after_pause = np.maximum(tau - event.plateau_s, 0.0)
    rising = np.clip(tau / event.rise_s, 0, 1) if event.rise_s > 0 else (tau >= 0).astype(float)
    if event.release == "spreading":
        total = event.amplitude * np.exp(-tau / event.decay_tau_s)
        width = np.sqrt(vesicle_width ** 2 + 2 * event.diffusion_um2_s * after_pause / pixel_size_um ** 2)
    else:
        total = event.amplitude * np.exp(-after_pause / event.decay_tau_s)
        width = np.full_like(tau, vesicle_width)
    return total * rising * (tau >= 0), width


def _lifetime_s(event, psf_sigma, pixel_size_um, vesicle_width):
    """Time after fusion when the event's peak pixel is below 1% of its start (at most 20 s)."""
    tau = np.linspace(0, 20, 2001)
    total, width = event_profile(event, tau, pixel_size_um, vesicle_width)
    peak = total / (psf_sigma ** 2 + width ** 2)
    below = np.flatnonzero((peak < 0.01 * peak.max()) & (tau > event.plateau_s + event.rise_s))
    return float(tau[below[0]]) if len(below) else 20.0


def add_events(emitters: Emitters, rng, events: pd.DataFrame, grid, family, duration_s) -> list:
    """Add each event and its vesicle before (and, for kiss-and-run, after) fusion.

    Returns the emitter object id of each event.
    """
    step_s = grid["step_s"]
    ids = []
    for event in events.itertuples():
        life = _lifetime_s(event, grid["psf_sigma"], family.pixel_size_um, grid["vesicle_width"])
        first = int(np.floor(event.t_fusion_s / step_s))
        steps = np.arange(first, min(int(np.ceil((event.t_fusion_s + life) / step_s)), grid["n_steps"]))
        tau = (steps + 0.5) * step_s - event.t_fusion_s
        total, width = event_profile(event, tau, family.pixel_size_um, grid["vesicle_width"])
        ids.append(emitters.add("event", steps, np.full(len(steps), event.y0), np.full(len(steps), event.x0),
                                total, width=width))
        _add_vesicle(emitters, rng, event, grid, duration_s)
    return ids


def _add_vesicle(emitters, rng, event, grid, duration_s):
    """The fusing vesicle: docked (or arriving) before fusion; staying a while after kiss-and-run."""
    end = event.t_fusion_s
    leave = 0.0
    if event.release == "in_place":
        end = min(event.t_fusion_s + rng.uniform(0.5, 8.0), duration_s + 1)
        leave = rng.uniform(0.2, 0.6) if end < duration_s else 0.0
    arrive = 0.0 if event.origin == "docked" else min(rng.uniform(0.1, 0.3), event.docked_s + 0.1)
    motion = VesicleMotion(event.t_fusion_s - event.docked_s - arrive, end, event.y0, event.x0, event.pre_photons,
                           z_rest=rng.uniform(0, 30), z_sd=rng.uniform(2, 8), arrive_s=arrive, leave_s=leave,
                           lateral_sd=0.08)
    steps, y, x, photons = vesicle_track(rng, motion, grid["step_s"], grid["n_steps"], grid["penetration_nm"])
    if len(steps):
        emitters.add("fusing_vesicle", steps, y, x, photons, width=grid["vesicle_width"])


def event_truth(events: pd.DataFrame, grid, family, n_frames) -> pd.DataFrame:
    """Per event: its own brightest frame, peak photons per pixel, t1/2 and frames above half its peak.

    The annotated frame ``t`` is chosen later, from the rendered movie (the fusion frame or the
    next, whichever is brighter at the event's pixel, the vesicle before fusion included).
    """
    step_s, substeps = grid["step_s"], grid["substeps"]
    psf = grid["psf_sigma"]
    rows = []
    for event in events.itertuples():
        steps = np.arange(n_frames * substeps)
        tau = (steps + 0.5) * step_s - event.t_fusion_s
        total, width = event_profile(event, tau, family.pixel_size_um, grid["vesicle_width"])
        spread = psf ** 2 + width ** 2
        peak = (total / (2 * np.pi * spread)).reshape(n_frames, substeps).mean(axis=1)
        in_disk = (total * (1 - np.exp(-HALF_LIFE_RADIUS ** 2 / (2 * spread))))
        top = int(np.argmax(in_disk))
        below = np.flatnonzero(in_disk[top:] < 0.5 * in_disk[top])
        t_half = (below[0] * step_s) if len(below) else np.nan
        rows.append({"own_peak_frame": int(np.argmax(peak)), "peak_photons_px": float(peak.max()),
                     "frames_above_half": int((peak >= 0.5 * peak.max()).sum()),
                     "t_half_s": float(t_half + tau[top]) if len(below) else np.nan})
    return pd.DataFrame(rows, index=events.index)
