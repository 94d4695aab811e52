"""Families of movies: each one a set of physical parameters (ranges are drawn per movie).

Numbers are in physical units (seconds, micrometres, nanometres, photons per frame) so that a
family with another frame rate keeps the same biology. Rates of distractors are per 100 um^2
of cell and per minute, so a bigger cell or a longer movie has proportionally more of them.
Photon numbers are those of a 0.3 s exposure: a family with shorter frames scales them down.

Where the numbers come from (see README.md of this folder for the references):

- pixel 160 nm, 0.3 s per frame, events ~1 s and ~400 nm wide (the ExoDeepFinder paper);
- evanescent field penetration 80-150 nm (Axelrod 2001); PSF sigma ~0.8-1.0 pixel at 160 nm;
- docked vesicles: 100-300 photons per spot and frame, flicker from axial motion;
- fusion: the pH-sensitive reporter unquenches within milliseconds when the pore opens (rise
  within one frame); full fusion spreads the reporter in the membrane (apparent diffusion
  0.03-0.15 um^2/s in the local cloud; FM-dye and VAMP-pHluorin clouds of 0.1-0.5 um^2/s have been
  reported) while kiss-and-run stays in place and fades as the vesicle re-acidifies
  (tau 0.3-1.5 s); either may pause before (the delayed modes of the Gupton lab's pHusion).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Family:
    """Parameters of a family of movies (a tuple is a range drawn uniformly per movie or object)."""

    name: str
    description: str
    frame_interval_s: float = 0.3
    pixel_size_um: float = 0.16
    photon_scale: float = 1.0
    # optics and scene
    psf_sigma_px: tuple = (0.8, 1.0)
    penetration_nm: tuple = (80.0, 150.0)
    background_photons: tuple = (15.0, 40.0)
    background_texture: float = 0.25
    illumination_width: tuple = (0.7, 1.3)
    fringe_amplitude: tuple = (0.0, 0.05)
    bleach_tau_s: tuple = (150.0, 500.0)
    laser_flicker: float = 0.005
    lateral_drift_px: tuple = (0.0, 0.0)
    focus_drift: tuple = (0.0, 0.0)
    camera: str = "scmos"
    em_gain: tuple = (100.0, 300.0)
    # docked vesicles and distractors
    docked_per_100um2: tuple = (25.0, 40.0)
    vesicle_photons: float = 220.0
    vesicle_spread: float = 0.45
    flicker_fraction: float = 0.2
    flicker_z_sd_nm: tuple = (25.0, 60.0)
    flicker_tau_s: tuple = (0.2, 1.0)
    docking_rate: float = 4.0
    undocking_rate: float = 4.0
    moving_rate: float = 8.0
    blink_rate: float = 30.0
    blink_duration_s: tuple = (0.15, 0.9)
    passing_rate: float = 1.5
    # exocytosis events
    event_photons: float = 800.0
    event_spread: float = 0.45
    full_fusion_fraction: float = 0.7
    delayed_fraction: float = 0.2
    plateau_s: tuple = (0.3, 1.5)
    docked_origin_fraction: float = 0.5
    docked_before_s: tuple = (2.0, 30.0)
    diffusion_um2_s: tuple = (0.01, 0.06)
    content_loss_tau_s: tuple = (1.5, 4.0)
    in_place_tau_s: tuple = (0.3, 1.5)
    rise_s: tuple = (0.0, 0.06)


DEFAULT = Family("default", "one cell, sCMOS camera, docked (some flickering), moving and blinking vesicles, "
                            "docking/undocking, passing light; 20 events, 70% full fusion, 30% kiss-and-run")

FAMILIES = {family.name: family for family in (
    DEFAULT,
    replace(DEFAULT, name="dim", event_photons=260.0, event_spread=0.35,
            description="as default, events ~3x dimmer (about as bright as a docked vesicle)"),
    replace(DEFAULT, name="crowded", docked_per_100um2=(80.0, 120.0), moving_rate=24.0, blink_rate=90.0,
            docking_rate=12.0, undocking_rate=12.0, flicker_fraction=0.3,
            description="as default, 3x more docked, moving, blinking and docking/undocking vesicles"),
    replace(DEFAULT, name="fast", in_place_tau_s=(0.12, 0.3), diffusion_um2_s=(0.05, 0.15),
            content_loss_tau_s=(0.3, 0.8), delayed_fraction=0.0,
            description="as default, events over in 1-2 frames (fast re-acidification or spreading)"),
    replace(DEFAULT, name="emccd", camera="emccd", photon_scale=0.5,
            description="as default with an EMCCD camera (excess noise, EM gain 100-300) and half the light"),
    replace(DEFAULT, name="artefacts", flicker_fraction=0.5, flicker_z_sd_nm=(40.0, 80.0), docking_rate=16.0,
            undocking_rate=16.0, moving_rate=24.0, blink_rate=80.0, passing_rate=6.0,
            blink_duration_s=(0.1, 0.6),
            description="as default with IVEA's artefact classes in abundance: strong flicker, docking rises, "
                        "undocking drops, moving vesicles, blinks, passing light"),
    replace(DEFAULT, name="kiss_and_run", full_fusion_fraction=0.0, delayed_fraction=0.5,
            description="as default, every event releases in place (kiss-and-run), half of them delayed"),
    replace(DEFAULT, name="drift", lateral_drift_px=(2.0, 5.0), focus_drift=(0.2, 0.5), bleach_tau_s=(40.0, 90.0),
            illumination_width=(0.45, 0.7), fringe_amplitude=(0.05, 0.12),
            description="as default with stage drift (2-5 px), focus drift (PSF +20-50%), strong bleaching "
                        "and uneven illumination with fringes"),
    replace(DEFAULT, name="highrate", frame_interval_s=0.1, photon_scale=1 / 3,
            description="as default filmed at 0.1 s per frame (3x fewer photons per frame; events ~10 frames)"),
)}


def get_family(name: str) -> Family:
    """The family called ``name`` (ValueError listing the known ones otherwise)."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown family '{name}' (known: {', '.join(FAMILIES)})") from None
