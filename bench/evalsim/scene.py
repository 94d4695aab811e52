"""The still parts of a scene: the cell's footprint, its diffuse fluorescence, the illumination.

- **Footprint**: a cell spread on the coverslip is a smooth irregular blob; its outline is a
  circle whose radius is modulated by a few low angular harmonics. Outside it there is no
  fluorescence, only the camera's noise.
- **Diffuse fluorescence**: the reporter already on the plasma membrane (e.g. the fraction of
  VAMP2-pHluorin at the surface, not quenched) gives a dim, uneven glow over the footprint,
  falling off at the cell's edge where the membrane leaves the evanescent field.
- **Illumination**: a TIRF field is the footprint of a focused laser beam, brighter at its
  centre (a Gaussian profile) and often crossed by faint interference fringes.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def cell_footprint(rng, shape, radius_fraction=(0.30, 0.42), roughness=0.12) -> np.ndarray:
    """A smooth irregular cell outline as a boolean mask.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : (int, int)
        Image height and width.
    radius_fraction : (float, float)
        Range of the mean radius, as a fraction of the smaller side of the image.
    roughness : float
        Largest relative amplitude of the angular harmonics 2 to 5 of the outline.

    Returns
    -------
    ndarray of bool
    """
    height, width = shape
    size = min(height, width)
    centre = np.array([height, width]) / 2 + rng.normal(0, 0.06 * size, 2)
    radius = rng.uniform(*radius_fraction) * size
    rows, cols = np.mgrid[0:height, 0:width].astype(float)
    angle = np.arctan2(rows - centre[0], cols - centre[1])
    outline = np.ones_like(angle)
    for harmonic in range(2, 6):
        amplitude = rng.uniform(0, roughness) / np.sqrt(harmonic - 1)
        outline += amplitude * np.cos(harmonic * angle + rng.uniform(0, 2 * np.pi))
    distance = np.hypot(rows - centre[0], cols - centre[1])
    mask = distance < radius * outline
    # a slightly blurred outline: no one-pixel spikes
    return ndimage.gaussian_filter(mask.astype(float), 2.0) > 0.5


def diffuse_fluorescence(rng, mask, level, texture=0.25, edge_width=2.5) -> np.ndarray:
    """Photons per pixel of the membrane's diffuse glow over the footprint.

    Parameters
    ----------
    rng : numpy.random.Generator
    mask : ndarray of bool
        The cell's footprint.
    level : float
        Mean photons per pixel and frame inside the cell.
    texture : float
        Relative standard deviation of the smooth unevenness (membrane ruffles, adhesion).
    edge_width : float
        Width (pixels) of the fall-off at the cell's edge.

    Returns
    -------
    ndarray of float64
        Zero outside the cell.
    """
    noise = ndimage.gaussian_filter(rng.standard_normal(mask.shape), 6.0)
    noise /= max(noise.std(), 1e-12)
    fine = ndimage.gaussian_filter(rng.standard_normal(mask.shape), 2.0)
    fine /= max(fine.std(), 1e-12)
    pattern = np.clip(1 + texture * noise + 0.3 * texture * fine, 0.3, None)
    edge = ndimage.gaussian_filter(mask.astype(float), edge_width)
    return level * pattern * edge * mask


def illumination(rng, shape, width_fraction=(0.7, 1.3), fringe_amplitude=(0.0, 0.05)) -> np.ndarray:
    """Relative excitation over the field (maximum ~1): a Gaussian beam profile with fringes.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : (int, int)
    width_fraction : (float, float)
        Range of the beam's standard deviation as a fraction of the image side.
    fringe_amplitude : (float, float)
        Range of the relative amplitude of the interference fringes.

    Returns
    -------
    ndarray of float64
    """
    height, width = shape
    size = max(height, width)
    rows, cols = np.mgrid[0:height, 0:width].astype(float)
    centre = np.array([height, width]) / 2 + rng.normal(0, 0.15 * size, 2)
    spread = rng.uniform(*width_fraction) * size
    beam = np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * spread ** 2))
    direction = rng.uniform(0, np.pi)
    period = rng.uniform(12, 40)
    phase = (rows * np.sin(direction) + cols * np.cos(direction)) * 2 * np.pi / period
    fringes = 1 + rng.uniform(*fringe_amplitude) * np.sin(phase + rng.uniform(0, 2 * np.pi))
    field = beam * fringes
    return field / field.max()


def inside_points(rng, mask, n, margin=4) -> np.ndarray:
    """``n`` random ``(y, x)`` positions (float pixels) inside the mask eroded by ``margin`` pixels.

    Falls back to the whole mask when the eroded one is empty.
    """
    core = ndimage.binary_erosion(mask, iterations=margin)
    border = np.zeros_like(mask)
    border[margin:-margin or None, margin:-margin or None] = True
    core &= border
    rows, cols = np.nonzero(core if core.any() else mask)
    pick = rng.integers(0, len(rows), n)
    return np.stack([rows[pick], cols[pick]], axis=1) + rng.uniform(-0.5, 0.5, (n, 2))
