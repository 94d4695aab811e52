"""Cameras: expected photons per pixel to uint16 counts.

Two sensor models, each with the noise a real one adds:

- **sCMOS** (e.g. Hamamatsu ORCA-Flash4.0): photons are detected with a quantum efficiency
  (Poisson shot noise on the photoelectrons), each pixel has its own amplifier, hence its own
  offset, gain and read noise (Huang et al. 2013, Nat Methods 10:653, "Video-rate nanoscopy
  using sCMOS camera-specific single-molecule localization algorithms": a skewed distribution
  of per-pixel read noise, median ~1.5 e-, a tail of noisy pixels);
- **EMCCD** (e.g. Andor iXon 897): the photoelectrons (plus clock-induced charges) are
  multiplied in a gain register; the output of ``n`` input electrons is Gamma-distributed with
  shape ``n`` and scale the EM gain, which doubles the variance of the shot noise (excess
  noise factor sqrt(2); Hirsch et al. 2013, PLoS ONE 8:e53671), then read noise and a
  conversion to counts with a baseline.

Counts are rounded and clipped to the 16-bit range, with a baseline (offset) of ~100 counts, as
the movies of real cameras are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SCMOS:
    """An sCMOS camera (parameters of a Flash4.0-like sensor).

    Attributes
    ----------
    qe : float
        Quantum efficiency at the emission wavelength.
    counts_per_electron : float
        Mean conversion gain (the Flash4.0 v2 gives ~0.46 e- per count).
    gain_spread : float
        Relative standard deviation of the per-pixel gain.
    offset : float
        Mean baseline (counts).
    offset_spread : float
        Standard deviation of the per-pixel baseline (counts).
    read_noise : float
        Median read noise (electrons rms).
    read_noise_spread : float
        Log-normal spread of the per-pixel read noise (its tail is the noisy pixels).
    """

    qe: float = 0.72
    counts_per_electron: float = 2.17
    gain_spread: float = 0.03
    offset: float = 100.0
    offset_spread: float = 2.0
    read_noise: float = 1.6
    read_noise_spread: float = 0.45

    name = "sCMOS"

    def pixel_maps(self, rng, shape) -> dict:
        """Fixed-pattern maps of this sensor: offset, gain and read noise of each pixel."""
        return {
            "offset": self.offset + self.offset_spread * rng.standard_normal(shape),
            "gain": self.counts_per_electron * (1 + self.gain_spread * rng.standard_normal(shape)),
            "read": self.read_noise * np.exp(self.read_noise_spread * rng.standard_normal(shape)),
        }

    def expose(self, photons, rng, maps) -> np.ndarray:
        """Counts of one frame from its expected photons per pixel (float64 array)."""
        electrons = rng.poisson(self.qe * photons).astype(float)
        electrons += maps["read"] * rng.standard_normal(photons.shape)
        return maps["offset"] + maps["gain"] * electrons


@dataclass(frozen=True)
class EMCCD:
    """An EMCCD camera (parameters of an iXon 897-like sensor).

    Attributes
    ----------
    qe : float
        Quantum efficiency.
    em_gain : float
        Electron-multiplying gain.
    cic : float
        Clock-induced charges per pixel and frame (electrons before the gain register).
    read_noise : float
        Output amplifier read noise (electrons rms, after multiplication).
    electrons_per_count : float
        Analogue-to-digital conversion (electrons per count).
    offset : float
        Baseline (counts).
    """

    qe: float = 0.92
    em_gain: float = 200.0
    cic: float = 0.005
    read_noise: float = 45.0
    electrons_per_count: float = 12.0
    offset: float = 100.0

    name = "EMCCD"

    def pixel_maps(self, rng, shape) -> dict:
        """An EMCCD reads every pixel through one amplifier: no per-pixel pattern."""
        return {}

    def expose(self, photons, rng, maps) -> np.ndarray:
        """Counts of one frame from its expected photons per pixel (float64 array)."""
        electrons = rng.poisson(self.qe * photons + self.cic)
        multiplied = np.zeros(photons.shape)
        lit = electrons > 0
        multiplied[lit] = rng.gamma(electrons[lit], self.em_gain)
        multiplied += self.read_noise * rng.standard_normal(photons.shape)
        return self.offset + multiplied / self.electrons_per_count


def to_counts(values) -> np.ndarray:
    """Round and clip camera values to uint16, as the camera's digitiser does."""
    return np.clip(np.rint(values), 0, np.iinfo(np.uint16).max).astype(np.uint16)
