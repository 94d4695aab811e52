"""The cell mask: where the cell is, its area, and which events fall inside it.

Automatic: the temporal mean of a few blocks of frames spread over the movie, smoothed with a
Gaussian, thresholded at half-height between the background outside the cell (the 1st
percentile) and the cell's median brightness (the median of the pixels above Li's minimum
cross-entropy threshold, scikit-image): the half-maximum of the cell's edge, whatever share of
the frame the cell covers (Otsu's and Li's thresholds alone cut into the cell's own dim texture
when it fills most of the frame), holes filled, small specks removed by
an opening, the largest connected component kept. A mask file (read by
:func:`exodeepfinder.io.masks.read_mask`) overrides it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError


def mask_projection(movie, *, n_blocks: int = 4, block_frames: int = 16) -> np.ndarray:
    """Mean of ``n_blocks`` blocks of ``block_frames`` consecutive frames spread over the movie.

    Contiguous blocks read few chunks of a compressed HDF5 movie (whole frames, 16 at a time),
    and their mean is as good as the mean of the whole movie for finding the cell.

    Returns
    -------
    ndarray of float64, shape (y, x)
    """
    n_frames = movie.shape[0]
    if n_frames <= n_blocks * block_frames:
        return np.asarray(movie[0:n_frames], float).mean(axis=0)
    starts = np.linspace(0, n_frames - block_frames, n_blocks).astype(int)
    starts -= starts % block_frames  # aligned on HDF5 chunks of 16 frames
    total = np.zeros(movie.shape[1:], float)
    for start in starts:
        total += np.asarray(movie[start:start + block_frames], float).sum(axis=0)
    return total / (len(starts) * block_frames)


def automatic_mask(projection, *, smooth: float = 2.0, opening: int = 2) -> np.ndarray:
    """The cell in a projection: half-height threshold of the smoothed image, holes filled, largest component.

    Parameters
    ----------
    projection : ndarray, shape (y, x)
        A temporal mean (see :func:`mask_projection`) or maximum projection.
    smooth : float
        Gaussian sigma (px) applied first (the texture of the cell and the vesicles).
    opening : int
        Radius (px) of the disk that opens the mask (removes thin bridges and specks).

    Returns
    -------
    ndarray of bool, shape (y, x)
    """
    from scipy import ndimage
    from skimage import filters, measure, morphology

    image = ndimage.gaussian_filter(np.asarray(projection, float), smooth) if smooth > 0 else np.asarray(projection,
                                                                                                          float)
    if not np.isfinite(image).all() or np.ptp(image) == 0:
        return np.zeros(image.shape, bool)
    above = image > filters.threshold_li(image)
    background = np.percentile(image, 1)
    mask = image > background + 0.5 * (np.median(image[above]) - background)
    if opening > 0:
        mask = ndimage.binary_opening(mask, morphology.disk(opening))
    mask = ndimage.binary_fill_holes(mask)
    labels = measure.label(mask)
    if labels.max() > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        mask = labels == int(np.argmax(sizes))
    return mask


def check_mask(mask, shape, name="mask") -> np.ndarray:
    """``mask`` (a label image: > 0 is the cell) as a bool array of the frames' ``shape`` (y, x).

    Raises
    ------
    InputError
        ``<name>: <h> x <w> does not match the movie's frames (<H> x <W>)``, or an empty mask.
    """
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.shape != tuple(shape):
        size = " x ".join(map(str, mask.shape))
        raise InputError(f"{name}: {size} does not match the movie's frames ({shape[0]} x {shape[1]})")
    mask = mask > 0
    if not mask.any():
        raise InputError(f"{name}: the mask is empty (no pixel > 0)")
    return mask


def mask_area_um2(mask, pixel_size) -> float:
    """Area of ``mask`` in µm² (``pixel_size``: one value or ``(y, x)`` µm); NaN when unknown."""
    if pixel_size is None:
        return float("nan")
    sizes = np.broadcast_to(np.asarray(pixel_size, float), (2,))
    return float(np.count_nonzero(mask) * sizes[0] * sizes[1])


def inside_mask(events: pd.DataFrame, mask) -> np.ndarray:
    """Whether each event's rounded ``(y, x)`` lies inside ``mask`` (bool array, one per event)."""
    if len(events) == 0:
        return np.zeros(0, bool)
    y = np.clip(np.round(events["y"].to_numpy(float)).astype(int), 0, mask.shape[0] - 1)
    x = np.clip(np.round(events["x"].to_numpy(float)).astype(int), 0, mask.shape[1] - 1)
    return mask[y, x]
