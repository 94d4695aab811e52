"""Measure each event in the movie: intensity trace, ΔF/F0, rise, decay time, duration, spot size.

What ExoJ, IVEA or pHusion report for every exocytosis event, computed from the events table.
The trace of an event is the mean intensity in a small disk around it minus the median of a
surrounding annulus (the local background, robust to a neighbouring spot), frame by frame.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..progress import report

#: Columns added by :func:`measure_events`.
MEASUREMENT_COLUMNS = ["f0", "peak_frame", "rise_frame", "peak_df", "peak_dff", "peak_snr", "decay_ratio",
                       "decay_tau", "decay_r2", "duration", "spot_amplitude", "spot_sigma", "measure_note"]


def _exponential(k, amplitude, tau, floor):
    return amplitude * np.exp(-k / tau) + floor


def _gaussian(coordinates, offset, amplitude, y0, x0, sigma):
    y, x = coordinates
    return offset + amplitude * np.exp(-((y - y0) ** 2 + (x - x0) ** 2) / (2 * sigma ** 2))


def _fit_decay(signal):
    """Fit ``A exp(-k / tau) + c`` to the trace from its peak on; return tau, R² and a note."""
    from scipy.optimize import curve_fit

    k = np.arange(len(signal), dtype=float)
    if len(signal) < 4:
        return np.nan, np.nan, "decay: fewer than 4 frames after the peak"
    if not signal[0] > signal[-1]:
        return np.nan, np.nan, "decay: trace does not decrease after the peak"
    amplitude0 = float(signal[0] - signal[-1])
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            params, _ = curve_fit(_exponential, k, signal, p0=(amplitude0, 3.0, float(signal[-1])),
                                  bounds=([0, 0.05, -np.inf], [np.inf, 10.0 * len(signal), np.inf]), maxfev=2000)
    except (RuntimeError, ValueError) as err:
        return np.nan, np.nan, f"decay: fit failed ({str(err).splitlines()[0][:60]})"
    residual = float(((signal - _exponential(k, *params)) ** 2).sum())
    total = float(((signal - signal.mean()) ** 2).sum())
    r2 = 1.0 - residual / total if total > 0 else np.nan
    return float(params[1]), r2, ""


def _fit_spot(patch, y0, x0):
    """Fit a 2D Gaussian plus a constant to ``patch`` (coordinates relative to the patch)."""
    from scipy.optimize import curve_fit

    if patch.size < 9:
        return np.nan, np.nan, "spot: too few pixels"
    yy, xx = np.mgrid[0:patch.shape[0], 0:patch.shape[1]].astype(float)
    offset = float(np.median(patch))
    amplitude = float(patch.max() - offset)
    if not amplitude > 0:
        return np.nan, np.nan, "spot: no peak above the background"
    limit = max(patch.shape)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            params, _ = curve_fit(_gaussian, (yy.ravel(), xx.ravel()), patch.ravel().astype(float),
                                  p0=(offset, amplitude, y0, x0, 1.5),
                                  bounds=([-np.inf, 0, -1, -1, 0.3], [np.inf, np.inf, patch.shape[0], patch.shape[1],
                                                                       limit / 2]), maxfev=2000)
    except (RuntimeError, ValueError) as err:
        return np.nan, np.nan, f"spot: fit failed ({str(err).splitlines()[0][:60]})"
    if np.hypot(params[2] - y0, params[3] - x0) > 3:
        return np.nan, np.nan, "spot: fitted centre more than 3 px away"
    return float(params[1]), float(params[4]), ""


class _FrameBlocks:
    """Read a lazy movie (HDF5, TIFF folder) by blocks of whole frames, for events visited in time order.

    Reading a small box per event from a compressed HDF5 movie would decompress the same chunks of
    full frames again and again; whole-frame blocks read each frame about once.
    """

    def __init__(self, movie, block_frames=128):
        self.movie = movie
        self.shape = tuple(movie.shape)
        self.ndim = 3
        self.block_frames = block_frames
        self.start, self.frames = 0, np.zeros((0,) + self.shape[1:], movie.dtype)

    def __getitem__(self, key):
        frames, rest = key[0], key[1:]
        end = self.start + len(self.frames)
        if frames.start < self.start or frames.stop > end:
            start = frames.start
            reuse = self.frames[start - self.start:] if self.start <= start < end else self.frames[:0]
            load_from = start + len(reuse)
            stop = max(min(max(frames.stop, start + self.block_frames), self.shape[0]), load_from)
            fresh = np.asarray(self.movie[load_from:stop])
            self.start, self.frames = start, np.concatenate([reuse, fresh])
        return self.frames[(slice(frames.start - self.start, frames.stop - self.start),) + rest]


def _disk_and_ring(rows, columns, y, x, disk_radius, annulus):
    """Masks of the disk around ``(y, x)`` and of the annulus, over the pixels ``rows x columns``."""
    distance2 = (rows[:, None] - y) ** 2 + (columns[None, :] - x) ** 2
    disk = distance2 <= disk_radius ** 2
    if not disk.any():
        disk = distance2 == distance2.min()
    return disk, (distance2 > annulus[0] ** 2) & (distance2 <= annulus[1] ** 2)


def _local_trace(movie, tc, yc, xc, y, x, t0, t1, half, disk_radius, annulus, offset):
    """Raw disk mean and background-subtracted trace over frames ``t0:t1`` around ``(y, x)``.

    Returns ``raw``, ``signal``, the crop (offset removed), its origin ``(y0, x0)``, the disk and
    annulus masks over it and whether a background annulus was available (not at a movie edge).
    """
    n_frames, height, width = movie.shape
    y0, y1 = max(yc - half, 0), min(yc + half + 1, height)
    x0, x1 = max(xc - half, 0), min(xc + half + 1, width)
    crop = np.asarray(movie[t0:t1, y0:y1, x0:x1], float) - offset
    disk, ring = _disk_and_ring(np.arange(y0, y1), np.arange(x0, x1), y, x, disk_radius, annulus)
    raw = crop[:, disk].mean(1)
    has_ring = ring.sum() >= 3
    background = np.median(crop[:, ring], axis=1) if has_ring else np.zeros(len(crop))
    return raw, raw - background, crop, (y0, x0), (disk, ring), has_ring


def _disk_mean_noise(crop, disk, ring, frames) -> float:
    """Standard deviation of the disk mean due to pixel noise, from the annulus pixels of ``frames``.

    The spread of the ring's pixels around their median (MAD, which a neighbouring spot barely
    moves) is the noise of one pixel; the disk mean averages as many pixels as the disk holds.
    """
    pixels = crop[frames][:, ring]
    mad = np.median(np.abs(pixels - np.median(pixels, axis=1, keepdims=True)), axis=1).mean()
    return float(1.4826 * mad / np.sqrt(disk.sum()))


def _peak_and_baseline(signal, tc, t0, n_frames, search_frames, baseline_frames):
    """Index of the brightest frame within ``search_frames`` of ``tc``, and the baseline frames before it."""
    lo, hi = max(tc - search_frames, 0) - t0, min(tc + search_frames + 1, n_frames) - t0
    peak = lo + int(np.argmax(signal[lo:hi]))
    return peak, slice(max(peak - baseline_frames, 0), peak)


def event_trace(movie, t: float, y: float, x: float, *, before: int = 15, after: int = 40, disk_radius: float = 3,
                annulus=(5, 8), baseline_frames: int = 5, search_frames: int = 3, offset: float = 0.0):
    """ΔF/F0 of the event at ``(t, y, x)``, from ``before`` frames before it to ``after`` frames after it.

    The trace :func:`measure_events` measures: ``max(ΔF/F0)`` near the event is its ``peak_dff``.

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        Only a small box around the event is read.
    t, y, x : float
        The event (frame, row, column).
    before, after : int
        Frames shown before and after the event's frame.
    disk_radius, annulus, baseline_frames, search_frames, offset
        As in :func:`measure_events`.

    Returns
    -------
    frames : ndarray of int
    dff : ndarray of float
        ΔF/F0 at each frame (NaN everywhere when F0 is not positive or no frame precedes the peak).
    """
    n_frames = movie.shape[0]
    tc, yc, xc = int(round(t)), int(round(y)), int(round(x))
    t0 = max(min(tc - before, tc - search_frames - baseline_frames), 0)
    t1 = min(tc + after + 1, n_frames)
    raw, signal, *_ = _local_trace(movie, tc, yc, xc, y, x, t0, t1, int(np.ceil(annulus[1])), disk_radius, annulus,
                                   offset)
    peak, baseline = _peak_and_baseline(signal, tc, t0, n_frames, search_frames, baseline_frames)
    frames = np.arange(t0, t1)
    f0 = raw[baseline].mean() if peak > baseline.start else np.nan
    if not f0 > 0:
        return frames, np.full(len(frames), np.nan)
    dff = (signal - signal[baseline].mean()) / f0
    keep = frames >= tc - before
    return frames[keep], dff[keep]


def _measure_one(movie, t, y, x, *, disk_radius, annulus, baseline_frames, window_frames, search_frames,
                 spot_half_width, offset):
    n_frames, height, width = movie.shape
    row = dict.fromkeys(MEASUREMENT_COLUMNS, np.nan)
    notes = []
    tc, yc, xc = int(round(t)), int(round(y)), int(round(x))
    half = int(np.ceil(max(annulus[1], spot_half_width)))
    t0 = max(tc - search_frames - baseline_frames, 0)
    t1 = min(tc + search_frames + window_frames + 1, n_frames)
    if not (0 <= tc < n_frames and 0 <= yc < height and 0 <= xc < width):
        row["measure_note"] = "event outside the movie"
        return row
    raw, signal, crop, (y0, x0), masks, has_ring = _local_trace(movie, tc, yc, xc, y, x, t0, t1, half,
                                                                disk_radius, annulus, offset)
    if not has_ring:
        notes.append("no background annulus (movie edge)")

    peak, before = _peak_and_baseline(signal, tc, t0, n_frames, search_frames, baseline_frames)
    if peak - before.start > 0:
        f0 = float(raw[before].mean())
        base = float(signal[before].mean())
        row["f0"] = f0
    else:
        f0, base = np.nan, 0.0
        notes.append("no frame before the event: f0 unknown")
    delta = signal - base
    peak_df = float(delta[peak])
    row["peak_frame"] = peak + t0
    row["peak_df"] = peak_df
    row["peak_dff"] = peak_df / f0 if f0 > 0 else np.nan
    if has_ring and peak - before.start > 0:
        noise = _disk_mean_noise(crop, *masks, before)
        row["peak_snr"] = peak_df / noise if noise > 0 else np.nan
    if peak_df > 0 and peak + 1 < len(delta):
        row["decay_ratio"] = float(delta[peak + 1] / peak_df)
    if not peak_df > 0:
        notes.append("no intensity rise at the event")
    else:
        # rise: first frame of the run above half of the peak that ends at the peak
        rise = peak
        while rise - 1 >= 0 and delta[rise - 1] >= peak_df / 2:
            rise -= 1
        row["rise_frame"] = rise + t0
        below = np.flatnonzero(delta[peak:] < peak_df / 2)
        if len(below):
            row["duration"] = peak + int(below[0]) - rise
        else:
            notes.append("duration: still above half maximum at the end of the window")
    tau, r2, note = _fit_decay(delta[peak:])
    row["decay_tau"], row["decay_r2"] = tau, r2
    if note:
        notes.append(note)

    ys, ye = max(yc - spot_half_width, 0) - y0, min(yc + spot_half_width + 1, height) - y0
    xs, xe = max(xc - spot_half_width, 0) - x0, min(xc + spot_half_width + 1, width) - x0
    amplitude, sigma, note = _fit_spot(crop[peak, ys:ye, xs:xe], y - y0 - ys, x - x0 - xs)
    row["spot_amplitude"], row["spot_sigma"] = amplitude, sigma
    if note:
        notes.append(note)
    row["measure_note"] = "; ".join(notes) if notes else "ok"
    return row


def measure_events(movie, events: pd.DataFrame, *, disk_radius: float = 3, annulus=(5, 8), baseline_frames: int = 5,
                   window_frames: int = 30, search_frames: int = 3, spot_half_width: int = 5, offset: float = 0.0,
                   progress=None) -> pd.DataFrame:
    """Measure every event in the movie and add the results as columns.

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        The movie (a NumPy array or a lazy movie from :func:`exodeepfinder.io.movie.open_movie`;
        only a small box around each event is read).
    events : DataFrame
        Events table (columns ``t, y, x``).
    disk_radius : float
        Radius (px) of the disk whose mean intensity is the event trace.
    annulus : (float, float)
        Inner and outer radius (px) of the ring whose median is the local background.
    baseline_frames : int
        Frames before the peak averaged into F0.
    window_frames : int
        Frames after the peak used for the decay fit and the duration.
    search_frames : int
        The peak is the brightest frame within this many frames of the event's ``t``.
    spot_half_width : int
        Half width (px) of the square fitted with a 2D Gaussian at the peak frame.
    offset : float
        Camera baseline subtracted from the movie first (it would otherwise bias F0 and ΔF/F0).
    progress : callable, optional
        ``progress(done, total)`` over events.

    Returns
    -------
    DataFrame
        A copy of ``events`` with columns added:

        - ``f0``: mean disk intensity over the ``baseline_frames`` before the peak;
        - ``peak_frame``: frame of the largest background-subtracted intensity;
        - ``rise_frame``: first frame of the rise (first of the frames above half the peak ΔF that lead to it);
        - ``peak_df``: ΔF at the peak (background-subtracted trace minus its baseline);
        - ``peak_dff``: ``peak_df / f0``;
        - ``peak_snr``: ``peak_df`` over the noise of the disk mean (pixel noise measured in the
          annulus over the baseline frames): how far the rise stands out of the noise;
        - ``decay_ratio``: ΔF one frame after the peak over ``peak_df`` (about ``exp(-1/tau)`` for
          an event decaying with time constant ``tau`` frames; near 0 for a one-frame flash);
        - ``decay_tau``, ``decay_r2``: time constant (frames) of ``A exp(-k/tau) + c`` fitted from the peak on, and its R²;
        - ``duration``: frames from the rise until ΔF falls below half its peak;
        - ``spot_amplitude``, ``spot_sigma``: height and sigma (px) of a 2D Gaussian fitted at the peak frame;
        - ``measure_note``: ``ok``, or why some values are NaN (failed fit, event at the movie edge...).
    """
    if movie.ndim != 3:
        raise ValueError(f"movie: expected [t, y, x], got shape {movie.shape}")
    annulus = (float(annulus[0]), float(annulus[1]))
    if not 0 < disk_radius <= annulus[0] < annulus[1]:
        raise ValueError("disk_radius, annulus: need 0 < disk_radius <= inner radius < outer radius")
    positions = events[["t", "y", "x"]].to_numpy(float)
    if not isinstance(movie, np.ndarray):
        movie = _FrameBlocks(movie)
    rows = [None] * len(positions)
    for i, index in enumerate(np.argsort(positions[:, 0], kind="stable")):
        t, y, x = positions[index]
        rows[index] = (_measure_one(movie, t, y, x, disk_radius=disk_radius, annulus=annulus,
                                 baseline_frames=int(baseline_frames), window_frames=int(window_frames),
                                 search_frames=int(search_frames), spot_half_width=int(spot_half_width),
                                 offset=float(offset)))
        report(progress, i + 1, len(positions))
    measured = pd.DataFrame(rows, columns=MEASUREMENT_COLUMNS, index=events.index)
    if len(measured) == 0:
        measured["measure_note"] = measured["measure_note"].astype(object)
    result = events.drop(columns=[c for c in MEASUREMENT_COLUMNS if c in events.columns]).copy()
    return pd.concat([result, measured], axis=1)


#: Columns in physical units added by :func:`add_physical_units`: name -> (column in pixels or frames, unit).
PHYSICAL_COLUMNS = {"t_s": ("t", "s"), "y_um": ("y", "um y"), "x_um": ("x", "um x"),
                    "decay_tau_s": ("decay_tau", "s"), "duration_s": ("duration", "s"),
                    "spot_sigma_um": ("spot_sigma", "um")}


def add_physical_units(events: pd.DataFrame, *, pixel_size=None, frame_interval=None) -> pd.DataFrame:
    """Add the positions and measurements of the events in micrometres and seconds.

    Parameters
    ----------
    events : DataFrame
        Events table (``t, y, x`` in frames and pixels, and the measurements of
        :func:`measure_events` if present).
    pixel_size : float or (float, float), optional
        Size of a pixel in micrometres: one value, or ``(y, x)``. None: no length columns.
    frame_interval : float, optional
        Time between frames in seconds. None: no time columns.

    Returns
    -------
    DataFrame
        A copy of ``events`` with, for the columns it has, each placed right after its source:
        ``t_s = t * frame_interval``, ``y_um = y * pixel_size_y``, ``x_um = x * pixel_size_x``,
        ``decay_tau_s`` and ``duration_s`` (frames to seconds) and ``spot_sigma_um`` (pixels to
        micrometres; the geometric mean of the two pixel sides for non-square pixels).
        Columns whose unit is not known are left out (not filled with NaN): a missing column
        says that the movie file did not give the pixel size or the frame interval.
    """
    if pixel_size is not None:
        pixel_size = np.broadcast_to(np.asarray(pixel_size, float), (2,))
        if not np.all(np.isfinite(pixel_size) & (pixel_size > 0)):
            raise ValueError(f"pixel_size: must be positive micrometres, got {pixel_size.tolist()}")
    if frame_interval is not None and not (np.isfinite(frame_interval) and frame_interval > 0):
        raise ValueError(f"frame_interval: must be positive seconds, got {frame_interval}")
    scales = {"s": None if frame_interval is None else float(frame_interval)}
    if pixel_size is not None:
        scales.update({"um y": float(pixel_size[0]), "um x": float(pixel_size[1]),
                       "um": float(np.sqrt(pixel_size[0] * pixel_size[1]))})
    result = events.drop(columns=[c for c in PHYSICAL_COLUMNS if c in events.columns]).copy()
    for name, (source, unit) in PHYSICAL_COLUMNS.items():
        if scales.get(unit) is not None and source in result.columns:
            values = pd.to_numeric(result[source], errors="coerce").astype(float) * scales[unit]
            result.insert(result.columns.get_loc(source) + 1, name, values)
    return result
