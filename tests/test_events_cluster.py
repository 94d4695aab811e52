"""Clustering label maps into events: same events as scikit-learn's MeanShift, much faster."""

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from exodeepfinder.events.cluster import cluster_events, mean_shift
from exodeepfinder.events.evaluate import match_events
from exodeepfinder.events.targets import events_to_labels
from exodeepfinder.io.events import make_events
from exodeepfinder.simulation.simulate import simulate_movie

MeanShift = pytest.importorskip("sklearn.cluster").MeanShift


def simulated_label_map(seed, shape=(200, 96, 96), n_events=40):
    """Events of a simulated movie painted as label 2 (one pixel wider, as predictions are), some in
    close pairs, and the simulated docked vesicles as label 1."""
    sim = simulate_movie(shape, n_events=n_events, n_spots=10, seed=seed)
    rng = np.random.default_rng(seed)
    events = sim.events
    pairs = events.iloc[: n_events // 5].copy()
    pairs["y"] = np.clip(pairs["y"] + rng.uniform(6, 10, len(pairs)), 0, shape[1] - 1)
    pairs["t"] = np.clip(pairs["t"] + rng.integers(0, 3, len(pairs)), 0, shape[0] - 1)
    events = pd.concat([events, pairs], ignore_index=True)
    labels = events_to_labels(events, shape, label=2)
    labels = ndimage.grey_dilation(labels, footprint=np.ones((1, 3, 3), bool)).astype(np.int8)
    spots = events_to_labels(sim.spots.iloc[::5], shape, label=1, radii=(1,))
    labels[(labels == 0) & (spots == 1)] = 1
    return labels


def sklearn_events(labels, radius, mask=None):
    voxels = np.argwhere(labels == 2 if mask is None else mask).astype(float)
    fit = MeanShift(bandwidth=radius, bin_seeding=True).fit(voxels)
    sizes = np.bincount(fit.labels_, minlength=len(fit.cluster_centers_))
    return make_events(*fit.cluster_centers_.T, 1, cluster_size=sizes)


@pytest.mark.parametrize("seed", [0, 1])
def test_same_events_as_sklearn_meanshift_on_simulated_label_maps(seed):
    labels = simulated_label_map(seed)
    ours = cluster_events(labels, 5)
    reference = sklearn_events(labels, 5)
    matching = match_events(ours, reference, tolerance=2)
    assert matching.summary["f1"] >= 0.99
    sizes = ours.loc[matching.pairs["detected"], "cluster_size"].to_numpy()
    reference_sizes = reference.loc[matching.pairs["reference"], "cluster_size"].to_numpy()
    assert np.mean(sizes == reference_sizes) >= 0.95
    assert ours["cluster_size"].sum() == (labels == 2).sum()
    assert (ours["class_label"] == 1).all()
    assert list(ours.columns) == ["t", "y", "x", "class_label", "cluster_size", "obj_id"]


def test_same_events_as_sklearn_on_irregular_blobs():
    # overlapping Gaussian clouds: groups that mean shift has to split
    rng = np.random.default_rng(3)
    labels = np.zeros((40, 48, 48), np.int8)
    centres = rng.uniform([5, 5, 5], [35, 43, 43], (12, 3))
    points = np.concatenate([rng.normal(c, 2.5, (120, 3)) for c in centres]).round().astype(int)
    points = points[((points >= 0) & (points < labels.shape)).all(1)]
    labels[tuple(points.T)] = 2
    ours = cluster_events(labels, 4)
    reference = sklearn_events(labels, 4)
    assert match_events(ours, reference, tolerance=2).summary["f1"] >= 0.99


@pytest.mark.parametrize("radius", [3, 5])
def test_mean_shift_matches_sklearn(radius):
    rng = np.random.default_rng(radius)
    points = np.concatenate([rng.normal(c, 2.0, (60, 3)) for c in rng.uniform(0, 30, (8, 3))]).round()
    fit = MeanShift(bandwidth=radius, bin_seeding=True).fit(points)
    centres, assignment = mean_shift(points, radius)
    np.testing.assert_allclose(centres, fit.cluster_centers_, atol=1e-9)
    np.testing.assert_array_equal(assignment, fit.labels_)


def test_keep_labels_unchanged_clusters_spots_too_with_their_label():
    events = make_events([5, 5, 30], [10, 40, 10], [10, 40, 40], class_label=[1, 2, 2])
    labels = events_to_labels(events, (40, 64, 64))
    default = cluster_events(labels, 5)
    assert len(default) == 2 and (default["class_label"] == 1).all()
    kept = cluster_events(labels, 5, keep_labels_unchanged=True)
    assert len(kept) == 3
    assert sorted(kept["class_label"]) == [1, 2, 2]
    spot = kept[kept["class_label"] == 1].iloc[0]
    assert abs(spot["y"] - 10) < 0.01 and abs(spot["x"] - 10) < 0.01 and spot["cluster_size"] == 63
    np.testing.assert_allclose(spot["t"], 5 + (13 + 2) / 63)


def test_scores_sizes_and_filters():
    shape = (40, 48, 48)
    big = make_events([5, 20], [10, 30], [10, 30])
    labels = events_to_labels(big, shape, label=2)
    labels[35, 5, 40] = 2  # a one-voxel spurious detection
    scores = np.zeros((shape[0], 3) + shape[1:], np.float16)
    scores[:, 2][labels == 2] = 0.9
    scores[35, 2, 5, 40] = 0.4
    events = cluster_events(labels, 5, scores=scores)
    assert list(events["cluster_size"]) == [63, 63, 1]
    np.testing.assert_allclose(events["score"], [0.9, 0.9, 0.4], atol=1e-3)
    assert len(cluster_events(labels, 5, scores=scores, min_size=2)) == 2
    assert len(cluster_events(labels, 5, scores=scores[:, 2], min_score=0.5)) == 2
    with pytest.raises(ValueError, match="min_score"):
        cluster_events(labels, 5, min_score=0.5)
    with pytest.raises(ValueError, match="scores"):
        cluster_events(labels, 5, scores=scores[:10])


def test_empty_label_map_gives_an_empty_table():
    events = cluster_events(np.ones((5, 8, 8), np.int8), 5)  # only bright spots
    assert len(events) == 0
    assert list(events.columns) == ["t", "y", "x", "class_label", "cluster_size", "obj_id"]


def test_reads_a_lazy_hdf5_label_map_in_blocks(tmp_path):
    labels = simulated_label_map(2, shape=(150, 64, 64), n_events=15)
    with h5py.File(tmp_path / "seg.h5", "w") as handle:
        handle["dataset"] = labels
    calls = []
    with h5py.File(tmp_path / "seg.h5", "r") as handle:
        lazy = cluster_events(handle["dataset"], 5, progress=lambda done, total: calls.append((done, total)))
    pd.testing.assert_frame_equal(lazy, cluster_events(labels, 5))
    assert calls[-1] == (150, 150)
