"""Label maps to events: mean-shift clustering of the event voxels, made fast.

The reference clusters the coordinates of all event voxels with scikit-learn's
``MeanShift(bandwidth=cluster_radius, bin_seeding=True)``, which takes tens of minutes on a
1000-frame movie. The same flat-kernel mean shift is local: a voxel only moves towards voxels
closer than the bandwidth. So the voxels are first split into groups that cannot see each other
(connected components of a coarse grid whose cells are one bandwidth wide); a group that lies
entirely within one bandwidth of its centroid is a single cluster centred on that centroid (the
fixed point mean shift reaches), and only the other groups go through mean shift, done here
with the same bin seeding, convergence test and merging of close centres as scikit-learn, on
many groups at once (padded arrays and batched matrix products instead of one query per seed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from ..io.events import EVENT_COLUMNS
from ..progress import report

_BLOCK_FRAMES = 64
_MAX_ITERATIONS = 300


def _event_voxels(labels, keep_labels_unchanged, scores, progress):
    """Coordinates (t, y, x), label values and scores of the voxels to cluster, read by blocks of frames."""
    n_frames = labels.shape[0]
    coordinates, values, sampled = [], [], []
    for start in range(0, n_frames, _BLOCK_FRAMES):
        block = np.asarray(labels[start:start + _BLOCK_FRAMES])
        # default: label 2 (event) becomes 1 and label 1 (bright spot) is dropped, as the reference
        mask = block > 0 if keep_labels_unchanged else block == 2
        # flatnonzero + unravel is ~10x faster than a 3D nonzero
        t, y, x = np.unravel_index(np.flatnonzero(mask.reshape(-1)), mask.shape)
        if len(t):
            coordinates.append(np.stack([t + start, y, x], axis=1))
            values.append(block[t, y, x].astype(np.int64) if keep_labels_unchanged else np.ones(len(t), np.int64))
            if scores is not None:
                score_block = scores[start:start + _BLOCK_FRAMES, 2] if scores.ndim == 4 else \
                    scores[start:start + _BLOCK_FRAMES]
                sampled.append(np.asarray(score_block, np.float32)[t, y, x])
        report(progress, min(start + _BLOCK_FRAMES, n_frames), n_frames)
    if not coordinates:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64), (np.zeros(0, np.float32) if scores is not None else None)
    return (np.concatenate(coordinates), np.concatenate(values),
            np.concatenate(sampled) if scores is not None else None)


def _bin_seeds(points: np.ndarray, bandwidth: float) -> np.ndarray:
    """Seeds of scikit-learn's bin seeding: occupied bins of size ``bandwidth`` (all points if every bin is single)."""
    bins = np.unique(np.round(points / bandwidth), axis=0)
    if len(bins) == len(points):
        return points.astype(float)
    return bins.astype(np.float32).astype(float) * bandwidth


def mean_shift(points: np.ndarray, bandwidth: float, seeds: np.ndarray | None = None):
    """Flat-kernel mean shift with bin seeding, as ``sklearn.cluster.MeanShift(bandwidth, bin_seeding=True)``.

    Parameters
    ----------
    points : ndarray, shape (n, d)
        Coordinates to cluster.
    bandwidth : float
        Kernel radius.
    seeds : ndarray, shape (m, d), optional
        Starting positions; by default scikit-learn's bin seeds.

    Returns
    -------
    centres : ndarray, shape (k, d)
        Cluster centres, by decreasing number of points within one bandwidth.
    assignment : ndarray of int, shape (n,)
        Index of the nearest centre of each point.
    """
    from scipy.spatial import cKDTree

    points = np.asarray(points, float)
    if seeds is None:
        seeds = _bin_seeds(points, bandwidth)
    means = np.array(seeds, float)
    counts = np.zeros(len(means), np.int64)
    active = np.ones(len(means), bool)
    tree = cKDTree(points) if len(points) * len(means) > 4_000_000 else None
    stop = 1e-3 * bandwidth
    for iteration in range(_MAX_ITERATIONS + 1):
        index = np.flatnonzero(active)
        if len(index) == 0:
            break
        current = means[index]
        if tree is None:
            distance2 = ((current[:, None, :] - points[None, :, :]) ** 2).sum(-1)
            window = distance2 <= bandwidth ** 2
            n_within = window.sum(1)
            sums = window.astype(float) @ points
        else:
            neighbours = tree.query_ball_point(current, bandwidth)
            n_within = np.array([len(n) for n in neighbours])
            sums = np.array([points[n].sum(0) if len(n) else np.zeros(points.shape[1]) for n in neighbours])
        empty = n_within == 0
        counts[index] = n_within
        with np.errstate(invalid="ignore", divide="ignore"):
            new = sums / n_within[:, None]
        new[empty] = current[empty]
        shift = np.sqrt(((new - current) ** 2).sum(1))
        means[index] = new
        done = empty | (shift <= stop) | (iteration == _MAX_ITERATIONS)
        active[index[done]] = False
    found = counts > 0
    means, counts = means[found], counts[found]
    # one centre per distinct converged position, strongest (most points within reach) first
    unique_means, first = np.unique(means, axis=0, return_index=True)
    unique_counts = counts[first]
    order = np.lexsort(tuple(unique_means[:, d] for d in reversed(range(unique_means.shape[1]))) + (unique_counts,))[::-1]
    candidates = unique_means[order]
    keep = np.ones(len(candidates), bool)
    for i in range(len(candidates)):
        if keep[i]:
            close = ((candidates - candidates[i]) ** 2).sum(1) <= bandwidth ** 2
            keep[close] = False
            keep[i] = True
    centres = candidates[keep]
    distance2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1) if len(points) * len(centres) < 20_000_000 \
        else None
    if distance2 is not None:
        assignment = distance2.argmin(1)
    else:
        assignment = cKDTree(centres).query(points)[1]
    return centres, assignment


def _mean_shift_groups(points, groups, bandwidth, budget=300_000):
    """Mean shift of many small independent groups at once (padded arrays, a chunk of groups at a time).

    The same steps as :func:`mean_shift` run on each group alone. Returns a dict group -> centre
    array and, for each point, the index of its centre in its group's array.
    """
    assignment = np.zeros(len(points), np.int64)
    centres = {}
    order = np.argsort(groups, kind="stable")
    ids, starts, sizes = np.unique(groups[order], return_index=True, return_counts=True)
    members = {g: order[b:b + n] for g, b, n in zip(ids, starts, sizes)}
    seeds_of = {g: np.unique(np.round(points[members[g]] / bandwidth), axis=0).astype(np.float32).astype(float)
                * bandwidth for g in ids}
    for chunk, m_max in _chunks_of_groups(ids, members, seeds_of, budget):
        n_max = max(len(members[g]) for g in chunk)
        if len(chunk) == 1 and n_max * m_max > budget:
            g = chunk[0]
            centres[g], assignment[members[g]] = mean_shift(points[members[g]], bandwidth, seeds_of[g])
            continue
        group_points, valid_point, means, active, origin = _padded_chunk(points, chunk, members, seeds_of, n_max,
                                                                         m_max)
        means, counts, found = _shift_padded(group_points, valid_point, means, active, bandwidth)
        means += origin
        means, keep = _strongest_padded(means, counts, found, bandwidth)
        distance2 = ((group_points[:, :, None, :] + origin[:, :, None, :] - means[:, None, :, :]) ** 2).sum(-1)
        distance2[~np.broadcast_to(keep[:, None, :], distance2.shape)] = np.inf
        nearest = distance2.argmin(-1)
        for k, g in enumerate(chunk):
            kept_index = np.flatnonzero(keep[k])
            renumber = np.full(m_max, -1)
            renumber[kept_index] = np.arange(len(kept_index))
            centres[g] = means[k, kept_index]
            assignment[members[g]] = renumber[nearest[k, :len(members[g])]]
    return centres, assignment


def _chunks_of_groups(ids, members, seeds_of, budget):
    """Yield ``(groups, most seeds)``: the groups sorted by size, in chunks whose padded
    (groups x seeds x points) arrays stay within ``budget`` (a larger group alone)."""
    by_size = sorted(ids, key=lambda g: (len(members[g]), len(seeds_of[g])))
    i = 0
    while i < len(by_size):
        j, m_max = i + 1, len(seeds_of[by_size[i]])
        while j < len(by_size):
            m_next = max(m_max, len(seeds_of[by_size[j]]))
            if (j + 1 - i) * len(members[by_size[j]]) * m_next > budget:
                break
            j, m_max = j + 1, m_next
        yield by_size[i:j], m_max
        i = j


def _padded_chunk(points, chunk, members, seeds_of, n_max, m_max):
    """The points and seeds of a chunk of groups in padded arrays, relative to each group's corner.

    Returns ``group_points`` (groups, n_max, 3), ``valid_point`` (groups, n_max), ``means`` (the
    seeds, groups x m_max x 3), ``active`` (real seeds) and ``origin`` (groups, 1, 3).
    """
    n_chunk = len(chunk)
    group_points = np.zeros((n_chunk, n_max, 3))
    valid_point = np.zeros((n_chunk, n_max), bool)
    means = np.zeros((n_chunk, m_max, 3))
    active = np.zeros((n_chunk, m_max), bool)
    origin = np.zeros((n_chunk, 1, 3))
    for k, g in enumerate(chunk):
        # coordinates relative to the group keep the squared-distance expansion below exact
        origin[k, 0] = points[members[g]].min(0)
        group_points[k, :len(members[g])] = points[members[g]] - origin[k]
        valid_point[k, :len(members[g])] = True
        means[k, :len(seeds_of[g])] = seeds_of[g] - origin[k]
        active[k, :len(seeds_of[g])] = True
    return group_points, valid_point, means, active, origin


def _shift_padded(group_points, valid_point, means, active, bandwidth):
    """Shift the seeds of a padded chunk to their means until they stop: ``(means, counts, found)``.

    ``counts``: points within reach of each final mean; ``found``: the seeds that never fell empty.
    """
    bandwidth2, stop = bandwidth ** 2, 1e-3 * bandwidth
    found = active.copy()
    transposed = np.ascontiguousarray(group_points.transpose(0, 2, 1))
    point_norm2 = (group_points ** 2).sum(-1)
    point_norm2[~valid_point] = np.inf  # padding never falls in a window
    points32 = group_points.astype(np.float32)  # small integers: float32 sums are exact
    counts = np.zeros(active.shape, np.int64)
    for iteration in range(_MAX_ITERATIONS + 1):
        rows = np.flatnonzero(active.any(1))
        if len(rows) == 0:
            break
        current = means[rows]
        distance2 = (current ** 2).sum(-1)[:, :, None] + point_norm2[rows, None, :] \
            - 2 * np.matmul(current, transposed[rows])
        window = (distance2 <= bandwidth2 + 1e-9).astype(np.float32)
        n_within = window.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            new = np.matmul(window, points32[rows]).astype(float) / n_within[..., None]
        empty = n_within == 0
        new[empty] = current[empty]
        shift = np.sqrt(((new - current) ** 2).sum(-1))
        moving = active[rows]
        means[rows] = np.where(moving[..., None], new, current)
        counts[rows] = np.where(moving, n_within.astype(np.int64), counts[rows])
        found[rows] &= ~(moving & empty)
        active[rows] = moving & ~(empty | (shift <= stop) | (iteration == _MAX_ITERATIONS))
    return means, counts, found


def _strongest_padded(means, counts, found, bandwidth):
    """The means of a padded chunk, strongest first, and which are kept (none within ``bandwidth`` of a stronger)."""
    # strongest centres first (most points within reach, then largest coordinates, as scikit-learn)
    rank = np.lexsort((-means[..., 2], -means[..., 1], -means[..., 0], -counts), axis=-1)
    means = np.take_along_axis(means, rank[..., None], 1)
    keep = np.take_along_axis(found, rank, 1)
    for k in range(means.shape[1]):
        kept = keep[:, k].copy()
        close = ((means - means[:, k:k + 1]) ** 2).sum(-1) <= bandwidth ** 2
        keep &= ~(close & kept[:, None])
        keep[:, k] |= kept
    return means, keep


def _groups(coordinates: np.ndarray, bandwidth: float) -> np.ndarray:
    """Group index of each voxel: voxels closer than ``bandwidth`` always share a group."""
    # cells at least 4 voxels wide keep the grid small when the bandwidth is small
    cells = np.floor(coordinates / max(bandwidth, 4.0)).astype(np.int64)
    cells -= cells.min(0)
    grid = np.zeros(tuple(cells.max(0) + 1), bool)
    grid[tuple(cells.T)] = True
    # voxels within one bandwidth lie in the same or in touching cells
    grid_labels, _ = ndimage.label(grid, structure=np.ones((3, 3, 3), bool))
    return grid_labels[tuple(cells.T)] - 1


def cluster_events(labels, cluster_radius=5, *, keep_labels_unchanged=False, scores=None, min_size=None,
                   min_score=None, progress=None) -> pd.DataFrame:
    """Cluster the voxels of a label map into events (one per cluster, at the cluster centre).

    Gives the events of the reference (scikit-learn ``MeanShift(bandwidth=cluster_radius,
    bin_seeding=True)`` on the event voxel coordinates) in a fraction of the time.

    Parameters
    ----------
    labels : array-like of int, shape (t, y, x)
        Segmentation: 0 background, 1 bright spot, 2 event (a NumPy array or an h5py dataset,
        read by blocks of frames).
    cluster_radius : float
        Mean-shift bandwidth, in voxels.
    keep_labels_unchanged : bool
        If False (reference default) only label-2 voxels are clustered and become events of
        class 1; if True all non-zero voxels are clustered and each cluster takes the most
        frequent label of its voxels.
    scores : array-like of float, shape (t, y, x) or (t, 3, y, x), optional
        Event probability (or the three class probabilities, of which class 2 is used); each
        event then gets ``score``, the mean probability over its voxels.
    min_size : int, optional
        Drop clusters of fewer voxels.
    min_score : float, optional
        Drop clusters whose score is lower (needs ``scores``).
    progress : callable, optional
        ``progress(done, total)`` over frames read.

    Returns
    -------
    DataFrame
        One row per event, sorted by time: ``t, y, x`` (cluster centre), ``class_label``,
        ``cluster_size`` (voxels), ``obj_id``, and ``score`` when ``scores`` is given.
    """
    _check_cluster_options(labels, cluster_radius, scores, min_size, min_score)
    coordinates, values, voxel_scores = _event_voxels(labels, keep_labels_unchanged, scores, progress)
    columns = EVENT_COLUMNS + ["cluster_size", "obj_id"] + (["score"] if scores is not None else [])
    if len(coordinates) == 0:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("t", "y", "x", "score") else int) for c in columns})

    centres, cluster = _cluster_points(coordinates.astype(float), cluster_radius)
    n_clusters = len(centres)
    cluster_size = np.bincount(cluster, minlength=n_clusters)
    events = pd.DataFrame({"t": centres[:, 0], "y": centres[:, 1], "x": centres[:, 2]})
    if keep_labels_unchanged:
        label_values = np.unique(values)
        counts = np.stack([np.bincount(cluster, values == v, n_clusters) for v in label_values], 1)
        events["class_label"] = label_values[counts.argmax(1)]
    else:
        events["class_label"] = 1
    events["cluster_size"] = cluster_size
    if voxel_scores is not None:
        events["score"] = np.bincount(cluster, voxel_scores.astype(float), n_clusters) / np.maximum(cluster_size, 1)
    events = events[cluster_size > 0]
    if min_size is not None:
        events = events[events["cluster_size"] >= min_size]
    if min_score is not None:
        events = events[events["score"] >= min_score]
    events = events.sort_values(["t", "y", "x"]).reset_index(drop=True)
    events["obj_id"] = np.arange(len(events))
    return events[columns]


def _check_cluster_options(labels, cluster_radius, scores, min_size, min_score) -> None:
    """ValueError naming the argument of :func:`cluster_events` that is wrong."""
    if cluster_radius <= 0:
        raise ValueError(f"cluster_radius: must be positive, got {cluster_radius}")
    if min_score is not None and scores is None:
        raise ValueError("min_score: needs scores (a segmentation saved with its class probabilities)")
    if labels.ndim != 3:
        raise ValueError(f"labels: expected a 3D label map [t, y, x], got shape {labels.shape}")
    if np.dtype(labels.dtype).kind not in "biuf":
        raise ValueError(f"labels: values of type {labels.dtype} are not labels (expected whole numbers 0 to 2)")
    if min_size is not None and min_size < 0:
        raise ValueError(f"min_size: must be >= 0, got {min_size}")
    if scores is not None and (scores.shape[0] != labels.shape[0] or tuple(scores.shape[-2:]) != tuple(labels.shape[1:])):
        raise ValueError(f"scores: shape {scores.shape} does not match the label map {labels.shape}")


def _cluster_points(points, cluster_radius):
    """The cluster centres of ``points`` and the cluster of each point.

    Points are first grouped (:func:`_groups`); a compact group (all its points within
    ``cluster_radius`` of its centroid) is one cluster at its centroid, the others are split by
    mean shift (:func:`_mean_shift_groups`).
    """
    group = _groups(points, cluster_radius)
    n_groups = int(group.max()) + 1
    sizes = np.bincount(group, minlength=n_groups)
    centroids = np.stack([np.bincount(group, points[:, d], n_groups) for d in range(3)], 1) / sizes[:, None]
    spread2 = np.zeros(n_groups)
    np.maximum.at(spread2, group, ((points - centroids[group]) ** 2).sum(1))
    compact = spread2 <= cluster_radius ** 2

    # compact groups: one cluster at the centroid; the others: mean shift
    centres = [centroids[compact]]
    cluster_of_group = np.full(n_groups, -1)
    cluster_of_group[compact] = np.arange(int(compact.sum()))
    cluster = np.where(compact[group], cluster_of_group[group], -1)
    n_clusters = int(compact.sum())
    spread = ~compact[group]
    if spread.any():
        spread_centres, assignment = _mean_shift_groups(points[spread], group[spread], cluster_radius)
        first = {}
        for g, group_centres in spread_centres.items():
            first[g] = n_clusters
            centres.append(group_centres)
            n_clusters += len(group_centres)
        offsets = np.zeros(n_groups, np.int64)
        offsets[list(first)] = list(first.values())
        cluster[spread] = assignment + offsets[group[spread]]
    return np.concatenate(centres), cluster
