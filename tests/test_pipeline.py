"""The whole analysis in memory (detect_events) and streamed through a segmentation file (find_events)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exodeepfinder.events.evaluate import match_events
from exodeepfinder.inference import iter_segment
from exodeepfinder.io.segmentation import open_segmentation, write_segmentation
from exodeepfinder.model.weights import load_unet
from exodeepfinder.pipeline import DEFAULT_MIN_SIZE, detect_events, find_events
from exodeepfinder.simulation import simulate_movie


def test_streamed_analysis_equals_the_in_memory_one(tmp_path, official_weights):
    simulation = simulate_movie((40, 64, 64), n_events=5, n_spots=8, n_flashes=0, n_flickers=0, n_moving=0,
                                seed=3)
    model, _, _ = load_unet(official_weights, "cpu")
    offset = simulation.params["offset"]
    labels, events, scores = detect_events(simulation.movie, model, offset=offset, return_scores=True)
    assert labels.shape == simulation.movie.shape and scores.shape == (40, 3, 64, 64)
    assert (events["cluster_size"] >= DEFAULT_MIN_SIZE).all() and events["score"].between(0, 1).all()
    assert match_events(events, simulation.events, tolerance=5).summary["recall"] >= 0.8

    path = write_segmentation(tmp_path / "seg.h5", iter_segment(simulation.movie, model, return_scores=True),
                              simulation.movie.shape, save_scores=True)
    file_labels, file_scores = open_segmentation(path)
    try:
        np.testing.assert_array_equal(file_labels[()], labels)
        streamed = find_events(file_labels, simulation.movie, scores=file_scores, offset=offset)
    finally:
        file_labels.file.close()
    pd.testing.assert_frame_equal(streamed, events)
