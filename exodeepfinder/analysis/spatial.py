"""Spatial statistics of the events of one cell, inside its mask.

Point-pattern statistics with SciPy (``scipy.spatial.cKDTree`` for pair counts and nearest
neighbours, ``scipy.ndimage`` for the kernel density):

- :func:`ripley_l`: Ripley's K and Besag's L = sqrt(K / pi) at a range of radii;
- :func:`clustering_test`: a Monte-Carlo test of complete spatial randomness (CSR) in the mask:
  ``n_simulations`` patterns of as many points drawn uniformly in the same mask give a pointwise
  envelope of L, and a global one-sided test (the largest standardised excess of L over the
  simulations, over all radii: a maximum-deviation envelope test) gives a p-value that is exact
  under CSR whatever the mask's shape (the edge effects of K, not corrected, are the same for
  the data and the simulations);
- :func:`nearest_neighbours`: each event's distance to its nearest neighbour;
- :func:`knox_test`: do events close in space happen close in time (Knox's statistic, a
  permutation test over the event times);
- :func:`hotspot_density`: a Gaussian kernel density of the events over the mask, corrected at
  the mask's edge (events per µm² per minute, or per px² per frame without units).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

#: Default radii (px) at which Ripley's L is computed.
DEFAULT_RADII = np.arange(1.0, 13.0, 1.0)


def _pairs_within(points, radii) -> np.ndarray:
    """Number of ordered pairs (i != j) closer than each radius."""
    tree = cKDTree(points)
    counts = tree.count_neighbors(tree, radii)
    return np.asarray(counts, float) - len(points)  # each point is its own neighbour at distance 0


def ripley_l(points, area, radii=DEFAULT_RADII) -> np.ndarray:
    """Besag's L(r) = sqrt(K(r) / pi) of ``points`` (``(n, 2)``, px) in a window of ``area`` px².

    ``K(r) = area / (n (n - 1)) * #{ordered pairs closer than r}`` (no edge correction: compare
    with patterns simulated in the same window, as :func:`clustering_test` does). Under complete
    spatial randomness in an infinite plane, L(r) = r; at the edge of a window it falls below.
    NaN for fewer than 2 points.
    """
    points = np.asarray(points, float).reshape(-1, 2)
    radii = np.asarray(radii, float)
    n = len(points)
    if n < 2:
        return np.full(len(radii), np.nan)
    k = area * _pairs_within(points, radii) / (n * (n - 1))
    return np.sqrt(k / np.pi)


def random_points(mask, n, rng) -> np.ndarray:
    """``n`` points (``(n, 2)``, y x in px) uniform in the pixels of ``mask`` (jittered within each pixel)."""
    ys, xs = np.nonzero(mask)
    pick = rng.integers(0, len(ys), n)
    return np.column_stack([ys[pick], xs[pick]]) + rng.uniform(-0.5, 0.5, (n, 2))


@dataclass
class ClusteringTest:
    """Result of :func:`clustering_test`.

    Attributes
    ----------
    radii : ndarray
        Radii (px).
    l_observed : ndarray
        L(r) of the events.
    l_low, l_high, l_mean : ndarray
        Pointwise 2.5 %, 97.5 % quantiles and mean of L(r) of the CSR simulations.
    p_value : float
        One-sided p-value of clustering (NaN with fewer than 3 events).
    statistic : float
        Largest standardised excess of L over the simulations' mean.
    n_simulations : int
    """

    radii: np.ndarray
    l_observed: np.ndarray
    l_low: np.ndarray
    l_high: np.ndarray
    l_mean: np.ndarray
    p_value: float
    statistic: float
    n_simulations: int


def clustering_test(points, mask, *, radii=DEFAULT_RADII, n_simulations: int = 199, seed=0) -> ClusteringTest:
    """Are the events clustered? A Monte-Carlo test of complete spatial randomness in ``mask``.

    Parameters
    ----------
    points : array (n, 2)
        Event positions (y, x) in px, inside ``mask``.
    mask : ndarray of bool (y, x)
        The window (the cell).
    radii : array
        Radii (px) of L(r).
    n_simulations : int
        CSR patterns drawn (199: p-values down to 0.005).
    seed : int
        Random seed of the simulations.

    Returns
    -------
    ClusteringTest
        With ``p_value = (1 + #{simulations at least as extreme}) / (n_simulations + 1)``, the
        statistic being ``max_r (L(r) - mean L(r)) / sd L(r)``, mean and sd over the data and the
        simulations together (so that all ``n_simulations + 1`` patterns are exchangeable under CSR).
    """
    points = np.asarray(points, float).reshape(-1, 2)
    radii = np.asarray(radii, float)
    area = float(np.count_nonzero(mask))
    rng = np.random.default_rng(seed)
    observed = ripley_l(points, area, radii)
    n = len(points)
    if n < 3:
        nan = np.full(len(radii), np.nan)
        return ClusteringTest(radii, observed, nan, nan, nan, float("nan"), float("nan"), 0)
    simulated = np.array([ripley_l(random_points(mask, n, rng), area, radii) for _ in range(n_simulations)])
    pooled = np.vstack([observed[None], simulated])
    mean, sd = pooled.mean(axis=0), pooled.std(axis=0)
    sd = np.where(sd > 0, sd, np.inf)
    scores = ((pooled - mean) / sd).max(axis=1)
    p_value = float(np.count_nonzero(scores[1:] >= scores[0]) + 1) / (n_simulations + 1)
    low, high = np.quantile(simulated, [0.025, 0.975], axis=0)
    return ClusteringTest(radii, observed, low, high, simulated.mean(axis=0), p_value, float(scores[0]),
                          n_simulations)


def nearest_neighbours(points) -> np.ndarray:
    """Distance (px) from each point to its nearest other point (NaN for fewer than 2 points)."""
    points = np.asarray(points, float).reshape(-1, 2)
    if len(points) < 2:
        return np.full(len(points), np.nan)
    distances, _ = cKDTree(points).query(points, k=2)
    return distances[:, 1]


def knox_test(points, times, *, space: float = 3.0, time: float = 20.0, n_permutations: int = 999,
              seed=0) -> tuple[float, int]:
    """Knox's space-time interaction test: are pairs close in space also close in time?

    Parameters
    ----------
    points : array (n, 2)
        Positions (px).
    times : array (n,)
        Frames.
    space, time : float
        A pair is close when within ``space`` px and ``time`` frames.
    n_permutations : int
        Permutations of the times (the null hypothesis: when an event happens does not depend
        on where).

    Returns
    -------
    p_value : float
        One-sided, ``(1 + #{permutations with at least as many close pairs}) / (n_permutations + 1)``
        (NaN with fewer than 3 events or no pair close in space).
    close_pairs : int
        Pairs close both in space and in time.
    """
    points = np.asarray(points, float).reshape(-1, 2)
    times = np.asarray(times, float)
    if len(points) < 3:
        return float("nan"), 0
    pairs = cKDTree(points).query_pairs(space, output_type="ndarray")
    if len(pairs) == 0:
        return float("nan"), 0
    rng = np.random.default_rng(seed)

    def close(t):
        return int(np.count_nonzero(np.abs(t[pairs[:, 0]] - t[pairs[:, 1]]) <= time))

    observed = close(times)
    at_least = sum(close(rng.permutation(times)) >= observed for _ in range(n_permutations))
    return float(at_least + 1) / (n_permutations + 1), observed


def hotspot_density(points, mask, *, bandwidth: float = 4.0, scale: float = 1.0) -> np.ndarray:
    """Kernel density of events over ``mask``: a Gaussian kernel of ``bandwidth`` px, edge-corrected.

    Each event spreads a unit of mass as a Gaussian; dividing by the smoothed mask (the share of
    each kernel inside the mask) keeps the density unbiased at the mask's edge. ``scale`` turns
    events per px² into the unit wanted (e.g. ``1 / (pixel_area_um2 * minutes)`` for events per
    µm² per minute). NaN outside the mask.
    """
    counts = np.zeros(mask.shape, float)
    points = np.asarray(points, float).reshape(-1, 2)
    if len(points):
        y = np.clip(np.round(points[:, 0]).astype(int), 0, mask.shape[0] - 1)
        x = np.clip(np.round(points[:, 1]).astype(int), 0, mask.shape[1] - 1)
        np.add.at(counts, (y, x), 1.0)
    smoothed = ndimage.gaussian_filter(counts * mask, bandwidth, mode="constant")
    coverage = ndimage.gaussian_filter(mask.astype(float), bandwidth, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        density = np.where(mask & (coverage > 0), smoothed / coverage, np.nan)
    return density * scale
