"""The camera: expected photons to uint16 counts (shot noise, gain, offset, read noise, hot pixels).

Three models (:data:`CAMERAS`):

- ``simple``: the same gain, offset and Gaussian read noise in every pixel;
- ``scmos``: per-pixel offset, gain and read noise (a fixed pattern drawn once per movie; the
  read noise is log-normal, with the long tail of noisy pixels that sCMOS sensors have);
- ``emccd``: electron multiplication doubles the variance of the shot noise (excess noise
  factor F^2 = 2): a pixel's electrons n ~ Poisson(photons) leave the gain register as Gamma(n, 1).

Hot pixels (high dark current) add their own electrons to fixed pixels of the sensor: they
neither drift with the sample nor fade with bleaching.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..progress import report

CAMERAS = ("simple", "scmos", "emccd")

# Above this many photons per pixel, shot noise is drawn from its Gaussian approximation
# (relative error of the variance below 1 / (2 * 20)); it is 7x faster than rng.poisson.
_GAUSSIAN_SHOT_NOISE_ABOVE = 20.0
_FRAMES_PER_BLOCK = 32


def camera_maps(rng, camera, shape, *, gain, offset, read_noise, offset_sd, gain_sd, read_noise_spread):
    """Gain, offset and read noise of each pixel: floats, or (height, width) arrays for ``scmos``."""
    if camera != "scmos":
        return {"gain": float(gain), "offset": float(offset), "read_noise": float(read_noise)}
    return {
        "gain": (gain * np.clip(1 + gain_sd * rng.standard_normal(shape), 0.1, None)).astype(np.float32),
        "offset": (offset + offset_sd * rng.standard_normal(shape)).astype(np.float32),
        "read_noise": (read_noise * np.exp(read_noise_spread * rng.standard_normal(shape))).astype(np.float32),
    }


def no_hot_pixels() -> pd.DataFrame:
    """An empty hot-pixel table (columns ``y, x, level``)."""
    return pd.DataFrame({"y": pd.Series(dtype=int), "x": pd.Series(dtype=int), "level": pd.Series(dtype=float)})


def draw_hot_pixels(rng, n, shape, level):
    """``n`` hot pixels at distinct random positions: table ``y, x, level`` (electrons per frame,
    log-uniform in the range ``level``)."""
    if n == 0:
        return no_hot_pixels()
    height, width = shape
    flat = rng.choice(height * width, size=min(n, height * width), replace=False)
    levels = np.exp(rng.uniform(np.log(level[0]), np.log(level[1]), len(flat)))
    return pd.DataFrame({"y": flat // width, "x": flat % width, "level": levels})


def expose(photons, rng, camera, gain, offset, read_noise):
    """Camera counts (float32, unrounded) of expected ``photons`` (float32, modified in place)."""
    lam = np.maximum(photons, 0, out=photons)
    excess = 2.0 if camera == "emccd" else 1.0
    # Shot and read noise are independent: one Gaussian draw with the summed variance
    # (computed in place: the blocks are large and memory traffic is most of the cost).
    noise = rng.standard_normal(lam.shape, dtype=np.float32)
    spread = np.multiply(lam, excess * gain * gain, dtype=np.float32)
    spread += read_noise * read_noise
    noise *= np.sqrt(spread, out=spread)
    counts = np.multiply(lam, gain, dtype=np.float32)
    counts += offset
    counts += noise
    dim = lam < _GAUSSIAN_SHOT_NOISE_ABOVE
    if dim.any():
        electrons = rng.poisson(lam[dim]).astype(np.float32)
        if camera == "emccd":
            electrons = rng.gamma(electrons).astype(np.float32)
        gain, offset, read_noise = (np.broadcast_to(v, lam.shape)[dim] if np.ndim(v) else v
                                    for v in (gain, offset, read_noise))
        counts[dim] = gain * electrons + offset + read_noise * rng.standard_normal(electrons.shape, dtype=np.float32)
    return counts


def record_movie(scene, rng, camera, maps, hot_pixels, progress=None):
    """Render the scene block of frames by block of frames and expose it: the uint16 movie."""
    n_frames = scene.n_frames
    movie = np.empty((n_frames, scene.height, scene.width), np.uint16)
    top = float(np.iinfo(np.uint16).max)
    hot_y, hot_x = hot_pixels["y"].to_numpy(), hot_pixels["x"].to_numpy()
    hot_level = hot_pixels["level"].to_numpy(np.float32)
    for start in range(0, n_frames, _FRAMES_PER_BLOCK):
        stop = min(start + _FRAMES_PER_BLOCK, n_frames)
        photons = scene.render(start, stop)
        photons[:, hot_y, hot_x] += hot_level
        counts = expose(photons, rng, camera, maps["gain"], maps["offset"], maps["read_noise"])
        np.clip(np.rint(counts, out=counts), 0, top, out=counts)
        movie[start:stop] = counts
        report(progress, stop, n_frames)
    return movie
