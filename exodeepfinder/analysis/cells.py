"""Everything about one cell (one movie and its events): mask, event types, rate, kinetics, spatial statistics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..progress import report, within
from .mask import automatic_mask, check_mask, inside_mask, mask_area_um2, mask_projection
from .spatial import DEFAULT_RADII, ClusteringTest, clustering_test, hotspot_density, knox_test, nearest_neighbours
from .types import classify_events

#: Columns of a cell's statistics (one row of ``cells.csv``; ``condition``, ``cell`` and
#: ``movie`` are filled by the caller).
CELL_COLUMNS = ["condition", "cell", "movie", "n_events", "n_outside", "area_um2", "mask_area_um2", "duration_min",
                "events_per_um2_per_min", "events_per_min", "clustering_p", "clustering_statistic", "spacetime_p",
                "nn_median_um", "docked_fraction", "spreading_fraction", "peak_dff_median", "decay_tau_s_median",
                "duration_s_median", "spot_sigma_um_median", "area_px", "n_frames", "pixel_size_um",
                "frame_interval_s", "mask_source"]
#: Kinetics (event measurement columns) whose medians are reported: column -> cells.csv name.
KINETICS = {"peak_dff": "peak_dff_median", "decay_tau_s": "decay_tau_s_median", "duration_s": "duration_s_median",
            "spot_sigma_um": "spot_sigma_um_median"}


@dataclass
class CellAnalysis:
    """What :func:`analyse_cell` finds.

    Attributes
    ----------
    events : DataFrame
        The events with their measurements, ``origin``, ``release`` (see
        :func:`~exodeepfinder.analysis.types.classify_events`), ``inside_mask`` (in the cell
        mask), ``analysed`` (in the mask and away from the frame's edges: the events counted),
        and positions in µm and s when the units are known.
    stats : dict
        One row of ``cells.csv`` (keys :data:`CELL_COLUMNS`).
    mask : ndarray of bool (y, x)
    projection : ndarray (y, x)
        The mean projection the mask was found in.
    clustering : ClusteringTest
        Ripley's L of the events inside the mask with its CSR envelope and p-value.
    density : ndarray (y, x)
        Hotspot map: events per µm² per minute (per px² per frame without units), NaN outside the mask.
    nearest : ndarray
        Nearest-neighbour distance of each event inside the mask (µm, or px without units).
    """

    events: pd.DataFrame
    stats: dict
    mask: np.ndarray
    projection: np.ndarray
    clustering: ClusteringTest
    density: np.ndarray
    nearest: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _median(events, column):
    if column not in events.columns or len(events) == 0:
        return float("nan")
    values = pd.to_numeric(events[column], errors="coerce")
    return float(values.median()) if values.notna().any() else float("nan")


def analyse_cell(movie, events: pd.DataFrame, *, mask=None, pixel_size=None, frame_interval=None, offset: float = 0.0,
                 n_simulations: int = 199, radii=DEFAULT_RADII, knox_space: float = 3.0, knox_time: float = 20.0,
                 bandwidth: float = 4.0, border: int = 6, type_options=None, measure: bool = True, seed=0,
                 progress=None) -> CellAnalysis:
    """Analyse one cell: its mask, its events' types, its exocytosis rate, kinetics and spatial pattern.

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        The movie (NumPy array or lazy movie).
    events : DataFrame
        Its events (``t, y, x``; the measurements of ``detect`` if present, else they are
        measured here). Events marked ``rejected`` in a ``review`` column are left out.
    mask : ndarray (y, x), optional
        The cell (a label image, > 0 inside); default: :func:`~exodeepfinder.analysis.mask.automatic_mask`.
    pixel_size : float or (float, float), optional
        µm; without it areas, rates and distances stay in pixels (the µm columns are NaN).
    frame_interval : float, optional
        s; without it durations and rates stay in frames (the minute columns are NaN).
    offset : float
        Camera baseline (for the measurements).
    n_simulations : int
        CSR patterns of the clustering test.
    radii : array
        Radii (px) of Ripley's L.
    knox_space, knox_time : float
        Closeness (px, frames) of the space-time test.
    bandwidth : float
        Kernel sigma (px) of the hotspot map.
    border : int
        Band (px) along the frame's edges left out of the analysed window: events there are
        poorly detected and measured (the measurement annulus reaches 8 px), so the window is the
        mask less that band, and ``area_um2`` is its area (``mask_area_um2`` the whole mask's).
    type_options : dict, optional
        Options of :func:`~exodeepfinder.analysis.types.classify_events`.
    measure : bool
        Measure the events that lack the measurements of ``detect`` (their kinetics); False
        leaves the kinetics out (faster).
    seed : int
        Seed of the Monte-Carlo tests.
    progress : callable, optional
        ``progress(done, 100)``; returning False cancels.

    Returns
    -------
    CellAnalysis
    """
    shape = tuple(movie.shape)
    projection = mask_projection(movie)
    if mask is None:
        mask, mask_source = automatic_mask(projection), "automatic"
    else:
        mask, mask_source = check_mask(mask, shape[1:]), "file"
    report(progress, 10, 100)
    events = _typed_events(movie, events, offset=offset, measure=measure, type_options=type_options,
                           pixel_size=pixel_size, frame_interval=frame_interval, progress=within(progress, 10, 90))
    window = _analysis_window(mask, border)
    events["inside_mask"] = inside_mask(events, mask)
    inside = inside_mask(events, window)
    events["analysed"] = inside
    kept = events[inside]
    points = kept[["y", "x"]].to_numpy(float)

    n_frames = shape[0]
    area_um2 = mask_area_um2(window, pixel_size)
    duration_min = n_frames * frame_interval / 60.0 if frame_interval is not None else float("nan")
    pixel_um = float(np.sqrt(np.prod(np.broadcast_to(np.asarray(pixel_size, float), (2,))))) if pixel_size else None
    clustering = clustering_test(points, window, radii=radii, n_simulations=n_simulations, seed=seed)
    spacetime_p, _ = knox_test(points, kept["t"].to_numpy(float), space=knox_space, time=knox_time, seed=seed)
    nearest = nearest_neighbours(points) * (pixel_um or 1.0)
    scale = (1.0 / (pixel_um ** 2 * duration_min)) if pixel_um and np.isfinite(duration_min) else 1.0 / n_frames
    density = hotspot_density(points, window, bandwidth=bandwidth, scale=scale)
    report(progress, 100, 100)

    stats = _cell_stats(events, kept, inside, mask, mask_source, area_um2, duration_min, pixel_um, frame_interval,
                        clustering, spacetime_p, nearest, n_frames, pixel_size)
    return CellAnalysis(events=events, stats=stats, mask=mask, projection=projection, clustering=clustering,
                        density=density, nearest=nearest)


def _typed_events(movie, events, *, offset, measure, type_options, pixel_size, frame_interval, progress):
    """The events kept by the review, measured if they lack ``detect``'s measurements (``measure``),
    typed (:func:`~exodeepfinder.analysis.types.classify_events`) and in physical units when known."""
    from ..events.measure import add_physical_units, measure_events
    from ..io.events import kept_events

    events = kept_events(events).reset_index(drop=True)
    if measure and "peak_dff" not in events.columns:
        events = measure_events(movie, events, offset=offset, progress=within(progress, 0, 50))
    events = classify_events(movie, events, offset=offset, progress=within(progress, 50, 100), **(type_options or {}))
    if pixel_size is not None or frame_interval is not None:
        events = add_physical_units(events, pixel_size=pixel_size, frame_interval=frame_interval)
    return events


def _analysis_window(mask, border: int):
    """The mask less a band of ``border`` pixels along the frame's edges."""
    window = mask.copy()
    if border > 0:
        height, width = mask.shape
        window[:border], window[height - border:], window[:, :border], window[:, width - border:] = (
            False, False, False, False)
    return window


def _cell_stats(events, kept, inside, mask, mask_source, area_um2, duration_min, pixel_um, frame_interval,
                clustering, spacetime_p, nearest, n_frames, pixel_size) -> dict:
    """The row of a cell in the table of cells (:data:`CELL_COLUMNS`)."""
    n = int(inside.sum())
    typed = kept[kept["release"] != "unknown"] if len(kept) else kept
    stats = dict.fromkeys(CELL_COLUMNS, np.nan)
    stats.update(
        condition="", cell="", movie="", n_events=n, n_outside=int(len(events) - n), area_um2=area_um2,
        mask_area_um2=mask_area_um2(mask, pixel_size),
        duration_min=duration_min,
        events_per_um2_per_min=n / (area_um2 * duration_min) if area_um2 > 0 and duration_min > 0 else np.nan,
        events_per_min=n / duration_min if duration_min > 0 else np.nan,
        clustering_p=clustering.p_value, clustering_statistic=clustering.statistic, spacetime_p=spacetime_p,
        nn_median_um=float(np.median(nearest)) if pixel_um and len(nearest) and np.isfinite(nearest).any() else np.nan,
        docked_fraction=float((kept["origin"] == "docked").mean()) if n else np.nan,
        spreading_fraction=float((typed["release"] == "spreading").mean()) if len(typed) else np.nan,
        area_px=int(np.count_nonzero(mask)), n_frames=n_frames,
        pixel_size_um=pixel_um if pixel_um else np.nan,
        frame_interval_s=frame_interval if frame_interval is not None else np.nan, mask_source=mask_source)
    for column, name in KINETICS.items():
        stats[name] = _median(kept, column)
    return stats
