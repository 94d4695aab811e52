"""A simulated experiment laid out as ``exodeepfinder report`` reads it: ``<condition>/<cell>/movie.h5``.

Each cell is a movie folder written by :func:`~exodeepfinder.simulation.folder.simulate_to_folder`
(movie, true events, true cell mask ``cell_mask.tif``, ``simulation.json`` with the true rate).
The conditions after the first differ by a rate effect (their ``event_rate`` multiplied by
``rate_effect``) and by their spatial pattern (``hotspots``: repeated fusions at a few sites).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..progress import within
from .folder import simulate_to_folder


def experiment_folders(folder, conditions, n_cells: int) -> list[tuple[str, Path]]:
    """The (condition, cell folder) pairs of an experiment: ``folder/<condition>/cell_01``..."""
    digits = max(2, len(str(n_cells)))
    return [(condition, Path(folder) / condition / f"cell_{i + 1:0{digits}d}")
            for condition in conditions for i in range(n_cells)]


def simulate_experiment(folder, shape, seed, options=None, *, conditions=("control", "treated"), n_cells: int = 6,
                        rate_effect: float = 1.0, hotspots=None, cell_variation: float = 0.2,
                        overwrite: bool = False, progress=None) -> list:
    """Simulate ``n_cells`` cells per condition into ``folder/<condition>/cell_NN/``.

    Parameters
    ----------
    folder : str or Path
    shape : (int, int, int)
        Movie shape of every cell.
    seed : int
        Cell k (over all conditions) uses seed ``seed + k``.
    options : dict, optional
        :func:`~exodeepfinder.simulation.simulate_movie` arguments of every cell (``event_rate``,
        ``pixel_size``, ``frame_interval``, ``hotspots``...).
    conditions : sequence of str
        Condition names (the first is the reference).
    n_cells : int
        Cells per condition.
    rate_effect : float
        The conditions after the first have ``event_rate`` (or ``n_events``) times this.
    hotspots : int, optional
        The conditions after the first have this many hotspots (default: as the first).
    cell_variation : float
        Cell-to-cell variation of the rate: each cell's rate is multiplied by a log-normal
        factor of this standard deviation (of its logarithm).
    overwrite : bool
    progress : callable, optional

    Returns
    -------
    list of (condition, folder, Simulation)
    """
    options = dict(options or {})
    rng = np.random.default_rng([seed, 29])
    folders = experiment_folders(folder, conditions, n_cells)
    results = []
    for k, (condition, cell) in enumerate(folders):
        cell_options = dict(options)
        factor = float(np.exp(rng.normal(0, cell_variation))) if cell_variation > 0 else 1.0
        if condition != conditions[0]:
            factor *= rate_effect
            if hotspots is not None:
                cell_options["hotspots"] = int(hotspots)
        if cell_options.get("event_rate") is not None:
            cell_options["event_rate"] = cell_options["event_rate"] * factor
        else:
            cell_options["n_events"] = int(round(cell_options.get("n_events", 20) * factor))
        simulation = simulate_to_folder(cell, shape, seed + k, cell_options, overwrite=overwrite,
                                        progress=within(progress, 100 * k / len(folders), 100 * (k + 1) / len(folders)))
        results.append((condition, cell, simulation))
    return results
