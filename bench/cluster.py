"""Benchmark: clustering a 1000-frame label map into events, ours vs scikit-learn MeanShift.

The label map is 1000 x 400 x 300 (the size of a published movie) with a few hundred events
painted with the reference event mask, one pixel wider (as network predictions are), some of them
in close pairs that mean shift has to split, and bright-spot voxels (label 1, ignored by
default). scikit-learn's MeanShift(bandwidth=5, bin_seeding=True) on all event voxels is what the
reference runs; it is timed on the first --sklearn_frames frames and extrapolated linearly to the
whole movie (--sklearn_frames 1000 times it on the whole map, which takes minutes). Both results
are compared on that part (F1 of events matched within 2 voxels).

    .venv/bin/python bench/cluster.py [--events 400] [--sklearn_frames 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy import ndimage


def make_label_map(shape, n_events, n_spots, seed=0):
    from exodeepfinder.events.targets import events_to_labels
    from exodeepfinder.io.events import make_events

    rng = np.random.default_rng(seed)
    n_frames, height, width = shape
    n_single = int(n_events * 0.85)
    t = rng.integers(0, n_frames - 3, n_single)
    y = rng.uniform(6, height - 6, n_single)
    x = rng.uniform(6, width - 6, n_single)
    # the other events come in pairs 6-10 px apart, 0-2 frames apart
    n_pairs = n_events - n_single
    pt, py, px = t[:n_pairs] + rng.integers(0, 3, n_pairs), y[:n_pairs] + rng.uniform(6, 10, n_pairs), x[:n_pairs]
    events = make_events(np.r_[t, np.minimum(pt, n_frames - 3)], np.r_[y, np.minimum(py, height - 6)], np.r_[x, px], 2)
    labels = events_to_labels(events, shape)
    labels = ndimage.grey_dilation(labels, footprint=np.ones((1, 3, 3), bool)).astype(np.int8)
    spot_t = rng.integers(0, n_frames, n_spots)
    spot_y, spot_x = rng.integers(3, height - 3, n_spots), rng.integers(3, width - 3, n_spots)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            free = labels[spot_t, spot_y + dy, spot_x + dx] == 0
            labels[spot_t[free], spot_y[free] + dy, spot_x[free] + dx] = 1
    return labels, events


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", type=int, nargs=3, default=[1000, 400, 300])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--spots", type=int, default=20000)
    parser.add_argument("--cluster_radius", type=float, default=5)
    parser.add_argument("--sklearn_frames", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from sklearn.cluster import MeanShift

    from exodeepfinder.events.cluster import cluster_events
    from exodeepfinder.events.evaluate import match_events
    from exodeepfinder.io.events import make_events

    shape = tuple(args.shape)
    labels, truth = make_label_map(shape, args.events, args.spots)
    n_voxels = int((labels == 2).sum())
    print(f"label map {shape}, {len(truth)} events ({n_voxels} event voxels), "
          f"{int((labels == 1).sum())} bright-spot voxels; {os.cpu_count()} CPU(s)")

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        ours = cluster_events(labels, args.cluster_radius)
        times.append(time.perf_counter() - start)
    ours_s = min(times)
    print(f"ours:    {ours_s:.3f} s for the whole map (best of {args.repeat}), {len(ours)} events; "
          f"F1 vs painted events (2 vox): {match_events(ours, truth, 2).summary['f1']:.3f}")

    start = time.perf_counter()
    both = cluster_events(labels, args.cluster_radius, keep_labels_unchanged=True)
    print(f"ours, --keep_labels_unchanged (events and bright spots, {int((labels > 0).sum())} voxels): "
          f"{time.perf_counter() - start:.3f} s, {len(both)} objects")

    frames = min(args.sklearn_frames, shape[0])
    part = labels[:frames]
    voxels = np.argwhere(part == 2).astype(float)
    start = time.perf_counter()
    fit = MeanShift(bandwidth=args.cluster_radius, bin_seeding=True).fit(voxels)
    sklearn_s = time.perf_counter() - start
    reference = make_events(*fit.cluster_centers_.T, 1)
    ours_part = cluster_events(part, args.cluster_radius)
    agreement = match_events(ours_part, reference, 2).summary
    scale = shape[0] / frames
    print(f"sklearn: {sklearn_s:.2f} s for the first {frames} frames ({len(voxels)} voxels)"
          + (f", about {sklearn_s * scale:.1f} s for the whole map (extrapolated x{scale:g})" if scale != 1 else ""))
    print(f"speed-up: about {sklearn_s * scale / ours_s:.0f}x; agreement on those frames: "
          f"{len(ours_part)} vs {len(reference)} events, F1 {agreement['f1']:.4f} within 2 voxels")


if __name__ == "__main__":
    main()
