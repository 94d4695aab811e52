"""The public API (`import exodeepfinder as edf`): what a notebook user calls first."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import exodeepfinder as edf
from exodeepfinder.pipeline import DEFAULT_MIN_SIZE


@pytest.fixture(scope="module")
def simulation():
    return edf.simulate((40, 64, 64), n_events=5, n_spots=8, n_flashes=0, n_flickers=0, n_moving=0, seed=3)


@pytest.fixture(scope="module")
def model():
    return edf.load_model("bundled", device="cpu")


def test_import_is_light_and_lists_the_api():
    code = ("import sys, exodeepfinder as edf; "
            "print(sorted(m for m in ('torch', 'pandas', 'h5py', 'scipy') if m in sys.modules)); "
            "print(callable(edf.detect), 'torch' in sys.modules)")
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert lines[0] == "[]"            # nothing heavy on import
    assert lines[1] == "True False"    # reaching a function imports its module, still not torch
    for name in ("open_movie", "load_model", "segment", "find_events", "measure_events", "detect", "read_events",
                 "write_events", "evaluate", "simulate", "train", "events_to_labels", "detect_spots"):
        assert name in edf.__all__ and callable(getattr(edf, name)), name
    with pytest.raises(AttributeError):
        edf.no_such_function


def test_load_model_says_where_its_weights_come_from(model):
    assert model.weights_source == "bundled default model"
    assert model.weights_path.name == "exodeepfinder_default.h5"
    assert str(model.device) == "cpu" and not model.training
    with pytest.raises(edf.InputError, match="missing.h5: weights file not found"):
        edf.load_model("missing.h5")


def test_detect_in_memory_finds_the_simulated_events(simulation, model):
    detection = edf.detect(simulation.movie, model, offset=simulation.params["offset"])
    assert detection.labels.shape == simulation.movie.shape and detection.labels.dtype == np.int8
    assert detection.scores.shape == (40, 3, 64, 64) and detection.segmentation is None
    events = detection.events
    assert (events["cluster_size"] >= DEFAULT_MIN_SIZE).all() and events["score"].between(0, 1).all()
    assert {"peak_dff", "decay_tau"} <= set(events.columns)
    assert edf.evaluate(events, simulation.events, tolerance=5).summary["f1"] >= 0.8

    # the same steps one by one give the same events
    labels, scores = edf.segment(simulation.movie, model, return_scores=True)
    np.testing.assert_array_equal(labels, detection.labels)
    found = edf.find_events(labels, scores=scores, min_size=DEFAULT_MIN_SIZE)
    measured = edf.measure_events(simulation.movie, found, offset=simulation.params["offset"])
    # the bundled model's calibration adds each event's confidence and keeps those above the default
    assert detection.calibration is not None
    step_by_step = edf.add_confidence(edf.score_events(measured), detection.calibration,
                                      detection.calibration.default_min_confidence)
    pd.testing.assert_frame_equal(step_by_step, events)
    assert (events["score"] <= events["probability"]).all()


def test_detect_streamed_to_a_file_equals_in_memory(simulation, model, tmp_path):
    in_memory = edf.detect(simulation.movie, model)
    path = tmp_path / "seg.h5"
    streamed = edf.detect(simulation.movie, model, segmentation=path, save_scores=True)
    assert streamed.segmentation == path and streamed.labels is None
    pd.testing.assert_frame_equal(streamed.events, in_memory.events)
    labels, scores = edf.read_segmentation(path)
    np.testing.assert_array_equal(labels, in_memory.labels)
    np.testing.assert_array_equal(scores, in_memory.scores)
    with pytest.raises(FileExistsError):
        edf.detect(simulation.movie, model, segmentation=path)
    # without scores, the file holds the labels only
    labels_only = tmp_path / "labels.h5"
    edf.detect(simulation.movie, model, segmentation=labels_only)
    labels, scores = edf.read_segmentation(labels_only)
    assert scores is None
    np.testing.assert_array_equal(labels, in_memory.labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.h5", "seg.h5"]


def test_progress_runs_to_100_percent_and_cancel_leaves_nothing(simulation, model, tmp_path):
    seen = []
    edf.detect(simulation.movie, model, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (100, 100) and all(total == 100 for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)

    with pytest.raises(edf.Cancelled):
        edf.detect(simulation.movie, model, segmentation=tmp_path / "seg.h5", progress=lambda done, total: done < 30)
    assert list(tmp_path.iterdir()) == []


def test_segmentation_files_round_trip_and_are_checked(tmp_path):
    labels = np.zeros((5, 8, 8), np.int32)
    labels[2, 3:5, 3:5] = 2
    labels[0, 0, 0] = 1
    path = edf.write_segmentation(labels, tmp_path / "seg.h5")
    read, scores = edf.read_segmentation(path)
    assert read.dtype == np.int8 and scores is None
    np.testing.assert_array_equal(read, labels)
    with pytest.raises(ValueError, match="labels: expected whole numbers 0 to 2"):
        edf.write_segmentation(labels * 3, tmp_path / "bad.h5")
    assert not (tmp_path / "bad.h5").exists()


def test_events_files_round_trip(simulation, tmp_path):
    for name in ("truth.csv", "truth.xml"):
        edf.write_events(simulation.events, tmp_path / name)
        read = edf.read_events(tmp_path / name)
        np.testing.assert_allclose(read[["t", "y", "x"]], simulation.events[["t", "y", "x"]], atol=1e-3)
