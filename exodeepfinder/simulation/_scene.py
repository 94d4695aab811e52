"""The scene of a simulated movie: the cell, where objects may lie, how the sample drifts, how it is lit.

Objects (docked vesicles, distractors, fusion events) are placed in *sample coordinates* (the
image coordinates of the first frame) and kept as *sprites*: one Gaussian spot per frame, in image
coordinates, with the stage drift, the illumination and (for vesicles) the photobleaching already
applied. :meth:`Scene.render` then draws the expected photons of a block of frames: the cell
(drifting, bleaching, lit unevenly) plus the sprites visible in that block. Drawing block by block
keeps the memory of long movies to the movie itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

#: Columns of :attr:`Simulation.spots`.
SPOT_COLUMNS = ["t", "y", "x", "spot_id", "amplitude", "sigma", "kind"]


@dataclass
class Sprite:
    """One object as drawn: a Gaussian spot in each of its frames (ascending), image coordinates."""

    frames: np.ndarray
    y: np.ndarray
    x: np.ndarray
    amplitude: np.ndarray
    sigma: np.ndarray


def add_gaussians(photons, frames, y, x, amplitude, sigma):
    """Add one Gaussian spot per frame of ``frames`` (ascending) to ``photons`` in place.

    ``y, x`` (sub-pixel centres), ``amplitude`` (photons in the centre) and ``sigma`` are float32
    arrays, one value per frame. Long trajectories are drawn in pieces so that each piece needs
    only a small box around the spot.
    """
    _, height, width = photons.shape
    piece = 32
    for start in range(0, len(frames), piece):
        sl = slice(start, start + piece)
        f, py, px, pa, ps = frames[sl], y[sl], x[sl], amplitude[sl], sigma[sl]
        radius = int(np.ceil(4.0 * ps.max())) + 1
        y0, y1 = max(int(np.floor(py.min())) - radius, 0), min(int(np.ceil(py.max())) + radius + 1, height)
        x0, x1 = max(int(np.floor(px.min())) - radius, 0), min(int(np.ceil(px.max())) + radius + 1, width)
        if y0 >= y1 or x0 >= x1:
            continue
        inv = (-0.5 / ps ** 2)[:, None]
        # a 2D Gaussian is the product of two 1D ones: box height + width exponentials, not their product
        gy = np.exp((np.arange(y0, y1, dtype=np.float32)[None, :] - py[:, None]) ** 2 * inv)
        gx = np.exp((np.arange(x0, x1, dtype=np.float32)[None, :] - px[:, None]) ** 2 * inv)
        stamp = (pa[:, None] * gy)[:, :, None] * gx[:, None, :]
        if f[-1] - f[0] == len(f) - 1:  # consecutive frames: a slice, faster than fancy indexing
            photons[f[0]:f[-1] + 1, y0:y1, x0:x1] += stamp
        else:
            photons[f, y0:y1, x0:x1] += stamp


def fade(n_frames, fade_in, fade_out):
    """Visibility over a lifetime: raised-cosine ramps of ``fade_in`` and ``fade_out`` frames."""
    visibility = np.ones(n_frames, np.float32)
    if fade_in > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(1, fade_in + 1) / (fade_in + 1))
        visibility[:fade_in] *= ramp[:n_frames]
    if fade_out > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade_out, 0, -1) / (fade_out + 1))
        visibility[n_frames - min(fade_out, n_frames):] *= ramp[max(fade_out - n_frames, 0):]
    return visibility


def _smooth_field(rng, shape, scale):
    """A smooth random field of unit standard deviation with features of ``scale`` pixels."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), scale, mode="wrap")
    return field / max(float(field.std()), 1e-6)


def draw_cell(rng, height, width, background, variation, scale, outside, pad=0):
    """Cell fluorescence (photons, before bleaching) and its footprint (0..1).

    The fluorescence covers the frame plus ``pad`` pixels on each side (room for the stage
    drift); the footprint covers the frame only.
    """
    yy, xx = np.mgrid[-pad:height + pad, -pad:width + pad].astype(np.float32)
    cy, cx = height * rng.uniform(0.4, 0.6), width * rng.uniform(0.4, 0.6)
    ry, rx = height * rng.uniform(0.45, 0.65), width * rng.uniform(0.45, 0.65)
    angle = np.arctan2((yy - cy) / ry, (xx - cx) / rx)
    wobble = 1.0 + sum(rng.uniform(0, 0.08) * np.cos(k * angle + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5))
    radius = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) / wobble
    # soft edge about 3 px wide, as the evanescent field fades under the cell border
    edge = 3.0 / max(min(ry, rx), 1.0)
    footprint = 1.0 / (1.0 + np.exp(np.clip((radius - 1.0) / edge, -50, 50)))
    texture = np.clip(1.0 + variation * _smooth_field(rng, yy.shape, scale), 0.2, None)
    cell = background * (outside + (1.0 - outside) * footprint * texture)
    return cell.astype(np.float32), footprint[pad:pad + height, pad:pad + width]


class Illumination:
    """An uneven TIRF illumination: 1 at a centre near the middle of the frame, ``1 - falloff``
    at the farthest corner, falling off as the squared distance (the top of a Gaussian beam)."""

    def __init__(self, rng, height, width, falloff):
        self.cy, self.cx = height * rng.uniform(0.3, 0.7), width * rng.uniform(0.3, 0.7)
        corners = [(y, x) for y in (0, height - 1) for x in (0, width - 1)]
        self.scale = falloff / max(max((y - self.cy) ** 2 + (x - self.cx) ** 2 for y, x in corners), 1.0)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        self.grid = self.at(yy, xx).astype(np.float32)

    def at(self, y, x):
        """Relative illumination at image positions ``y, x``."""
        return 1.0 - self.scale * ((np.asarray(y) - self.cy) ** 2 + (np.asarray(x) - self.cx) ** 2)


def drift_path(n_frames, drift, angle):
    """Stage drift: the (dy, dx) shift of the sample in each frame, ``drift`` px per frame along ``angle``."""
    steps = np.arange(n_frames, dtype=float)[:, None]
    return steps * drift * np.array([[np.sin(angle), np.cos(angle)]])


class Scene:
    """The expected photons of a movie, as a cell and a list of sprites, with the truth about the spots.

    Parameters
    ----------
    shape : (int, int, int)
        Movie shape ``(frames, height, width)``.
    cell : ndarray (height + 2 pad, width + 2 pad)
        Cell fluorescence (photons) in sample coordinates, ``pad`` pixels beyond each border.
    footprint : ndarray (height, width)
        Cell footprint (0..1) in sample coordinates.
    margin : int
        Objects keep this distance (px) from the border.
    bleaching : ndarray (frames,)
        Remaining fraction of the fluorescence in each frame.
    drift : ndarray (frames, 2)
        Shift (dy, dx) of the sample in each frame.
    illumination : Illumination or None
        Uneven illumination (None: even).
    intensity : ndarray (frames,) or None
        A factor on all the sample's fluorescence in each frame (a focus drift, a change of the
        laser power or of the evanescent field's depth); None: 1 throughout.
    """

    def __init__(self, shape, *, cell, footprint, margin, bleaching, drift, illumination=None, intensity=None):
        self.n_frames, self.height, self.width = shape
        self.intensity = intensity
        self.cell, self.pad = cell, (cell.shape[0] - self.height) // 2
        self.margin, self.bleaching, self.drift, self.illumination = margin, bleaching, drift, illumination
        allowed = np.zeros((self.height, self.width), bool)
        allowed[margin:self.height - margin, margin:self.width - margin] = True
        # objects lie inside the cell, unless the cell misses the frame
        allowed = allowed & (footprint > 0.5) if (allowed & (footprint > 0.5)).any() else allowed
        self._allowed_pixels = np.nonzero(allowed)
        self.sprites: list[Sprite] = []
        self._spots: list[tuple] = []
        self._spans = None  # first and last frame of each sprite, once rendering starts

    def allowed_pixels(self):
        """Rows and columns of the pixels where objects may lie (inside the cell, ``margin`` from the border)."""
        return self._allowed_pixels

    def positions(self, rng, n):
        """``n`` random sub-pixel positions (y, x), sample coordinates, inside the cell and ``margin``
        from the border."""
        ys, xs = self._allowed_pixels
        pick = rng.integers(0, len(ys), n)
        jitter = rng.uniform(-0.5, 0.5, (2, n))
        y = np.clip(ys[pick] + jitter[0], self.margin, self.height - 1 - self.margin)
        x = np.clip(xs[pick] + jitter[1], self.margin, self.width - 1 - self.margin)
        return y, x

    def add(self, frames, y, x, amplitude, sigma, *, kind=None, bleach=False):
        """Add an object: ``y, x`` in sample coordinates, ``amplitude`` photons in the centre pixel.

        ``kind`` (a spot kind) records the object in the spots table; events pass None.
        ``bleach`` applies the photobleaching. Frames where the object is dark or outside the
        frame are dropped.
        """
        frames = np.asarray(frames, np.int64)
        n = len(frames)
        y = np.broadcast_to(np.asarray(y, float), (n,)) + self.drift[frames, 0]
        x = np.broadcast_to(np.asarray(x, float), (n,)) + self.drift[frames, 1]
        amplitude = np.broadcast_to(amplitude, (n,))
        if bleach:
            amplitude = amplitude * self.bleaching[frames]
        if self.illumination is not None:
            amplitude = amplitude * self.illumination.at(y, x)
        visible = ((amplitude > 0) & (y > -0.5) & (y < self.height - 0.5)
                   & (x > -0.5) & (x < self.width - 0.5))
        sigma = np.broadcast_to(np.asarray(sigma, float), (n,))
        if kind is not None:
            self._spots.append((kind, frames[visible], y[visible], x[visible], amplitude[visible], sigma[visible]))
        if visible.any():
            values = (v[visible].astype(np.float32) for v in (y, x, amplitude, sigma))
            self.sprites.append(Sprite(frames[visible], *values))

    def spots(self) -> pd.DataFrame:
        """The spots table: one row per visible spot per frame (columns :data:`SPOT_COLUMNS`)."""
        if not self._spots:
            empty = pd.DataFrame({name: pd.Series(dtype=float) for name in SPOT_COLUMNS})
            return empty.astype({"spot_id": int, "kind": str})
        sizes = [len(spot[1]) for spot in self._spots]
        return pd.DataFrame({
            "t": np.concatenate([spot[1] for spot in self._spots]).astype(float),
            "y": np.concatenate([spot[2] for spot in self._spots]),
            "x": np.concatenate([spot[3] for spot in self._spots]),
            "spot_id": np.repeat(np.arange(len(self._spots)), sizes),
            "amplitude": np.concatenate([spot[4] for spot in self._spots]).astype(float),
            "sigma": np.concatenate([spot[5] for spot in self._spots]),
            "kind": np.repeat(np.array([spot[0] for spot in self._spots], dtype=object), sizes),
        }).astype({"kind": str})

    def render(self, start, stop):
        """Expected photons (float32) of frames ``start`` to ``stop``: the cell plus every sprite."""
        photons = self._background(start, stop)
        if self._spans is None or len(self._spans) != len(self.sprites):
            self._spans = np.array([(s.frames[0], s.frames[-1]) for s in self.sprites], np.int64).reshape(-1, 2)
        for index in np.flatnonzero((self._spans[:, 0] < stop) & (self._spans[:, 1] >= start)):
            sprite = self.sprites[index]
            i0, i1 = np.searchsorted(sprite.frames, [start, stop])
            add_gaussians(photons, sprite.frames[i0:i1] - start, sprite.y[i0:i1], sprite.x[i0:i1],
                          sprite.amplitude[i0:i1], sprite.sigma[i0:i1])
        if self.intensity is not None:
            photons *= self.intensity[start:stop, None, None]
        return photons

    def _background(self, start, stop):
        bleaching = self.bleaching[start:stop, None, None]
        if self.pad == 0:
            photons = self.cell[None] * bleaching
        else:
            # the frame shows the sample shifted by the drift: bilinear interpolation of the cell
            photons = np.empty((stop - start, self.height, self.width), np.float32)
            for i, (dy, dx) in enumerate(self.drift[start:stop]):
                oy, ox = self.pad - dy, self.pad - dx
                iy, ix = int(np.floor(oy)), int(np.floor(ox))
                fy, fx = np.float32(oy - iy), np.float32(ox - ix)
                c = self.cell[iy:iy + self.height + 1, ix:ix + self.width + 1]
                top = (1 - fx) * c[:-1, :-1] + fx * c[:-1, 1:]
                bottom = (1 - fx) * c[1:, :-1] + fx * c[1:, 1:]
                photons[i] = ((1 - fy) * top + fy * bottom) * bleaching[i]
        if self.illumination is not None:
            photons *= self.illumination.grid
        return photons
