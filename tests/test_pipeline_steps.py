"""The library's steps that the commands are thin doors over: events from a segmentation, a segmentation
file, the one model cache, and the scripts' front door."""

import os

import h5py
import numpy as np
import pandas as pd
import pytest

import exodeepfinder.launch as launch
from exodeepfinder.errors import InputError
from exodeepfinder.events.cluster import cluster_events
from exodeepfinder.events.measure import add_physical_units, measure_events
from exodeepfinder.events.score import score_events
from exodeepfinder.io.segmentation import read_segmentation
from exodeepfinder.model.weights import BUNDLED_WEIGHTS, cached_model
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.pipeline import detect, detect_file, events_from_segmentation, segment, segment_file
from exodeepfinder.simulation import simulate_movie

# one network window per call (fast tests), as tests/test_cli_segment.py
SHAPE = (30, 48, 48)
NETWORK = dict(patch_size=100)


@pytest.fixture(scope="module")
def simulation():
    return simulate_movie(SHAPE, n_events=4, n_spots=4, seed=5)


@pytest.fixture(scope="module")
def model():
    return cached_model("bundled", device="cpu")


@pytest.fixture(scope="module")
def segmented(simulation, model):
    return segment(simulation.movie, model, return_scores=True, **NETWORK)


def test_events_from_segmentation_is_detects_order_of_steps(simulation, segmented):
    labels, scores = segmented
    movie = simulation.movie
    events = events_from_segmentation(labels, scores, movie, min_score=0.2, offset=100, pixel_size=0.1,
                                      frame_interval=0.05)
    clusters = cluster_events(labels, 5, scores=scores, min_size=10)
    assert len(clusters) >= 2
    expected = add_physical_units(score_events(measure_events(movie, clusters, offset=100), 0.2),
                                  pixel_size=0.1, frame_interval=0.05)
    pd.testing.assert_frame_equal(events, expected)
    assert len(events) < len(clusters) or (events["score"] >= 0.2).all()
    assert "y_um" in events.columns and "probability" in events.columns


def test_events_from_segmentation_without_a_movie_only_clusters(segmented):
    labels, scores = segmented
    events = events_from_segmentation(labels, scores, min_size=None, min_score=0.5)
    expected = cluster_events(labels, 5, scores=scores, min_score=0.5)
    pd.testing.assert_frame_equal(events, expected)
    assert "peak_dff" not in events.columns and (events["score"] >= 0.5).all()


def test_events_from_segmentation_refuses_what_it_cannot_do(simulation, segmented):
    labels, scores = segmented
    with pytest.raises(ValueError, match="min_score"):
        events_from_segmentation(labels, None, min_score=0.5)
    with pytest.raises(ValueError, match="shape"):
        events_from_segmentation(labels, scores, simulation.movie[:-1])


def test_events_from_segmentation_refuses_a_confidence_it_cannot_give(simulation, segmented):
    labels, scores = segmented
    with pytest.raises(ValueError, match="min_confidence"):
        events_from_segmentation(labels, scores, simulation.movie, min_confidence=0.5)
    with pytest.raises(ValueError, match="calibration"):
        events_from_segmentation(labels, scores, calibration=object())


@pytest.mark.parametrize("save_scores", [False, True])
def test_detect_file_in_memory_writes_what_the_streamed_detection_writes(simulation, model, tmp_path, monkeypatch,
                                                                         save_scores):
    """A movie that fits is segmented in memory and its segmentation file written once; a larger one is
    streamed to the file: the same labels, probabilities, frames without contrast and events."""
    import exodeepfinder.inference.memory as memory

    movie = simulation.movie.copy()
    movie[3] = movie[3].mean()  # a frame without contrast: recorded in the segmentation file
    write_h5(tmp_path / "movie.h5", movie)
    outputs = {}
    for way, limit in (("memory", None), ("streamed", 1)):
        if limit is not None:
            monkeypatch.setattr(memory, "in_memory_limit", lambda max_memory=None: limit)
        outputs[way] = {"segmentation": tmp_path / f"{way}_segmentation.h5", "events": tmp_path / f"{way}.csv"}
        detect_file(tmp_path / "movie.h5", outputs[way], model, save_scores=save_scores, **NETWORK)
    with h5py.File(outputs["memory"]["segmentation"]) as in_memory, \
            h5py.File(outputs["streamed"]["segmentation"]) as streamed:
        assert sorted(in_memory) == sorted(streamed) == (["dataset", "scores"] if save_scores else ["dataset"])
        for name in in_memory:
            np.testing.assert_array_equal(in_memory[name][()], streamed[name][()])
        assert dict(in_memory.attrs).keys() == dict(streamed.attrs).keys()
        np.testing.assert_array_equal(in_memory.attrs["frames_without_contrast"], [3])
        np.testing.assert_array_equal(streamed.attrs["frames_without_contrast"], [3])
    assert outputs["memory"]["events"].read_bytes() == outputs["streamed"]["events"].read_bytes()
    assert not [p.name for p in tmp_path.iterdir() if "partial" in p.name or p.name.endswith(".labels.h5")]


def test_detect_in_memory_keeps_the_frames_without_contrast(simulation, model):
    movie = simulation.movie.copy()
    movie[5] = 7
    detection = detect(movie, model, **NETWORK)
    assert detection.no_contrast == (5,)
    assert detection.labels.shape == SHAPE and detection.scores.shape == (SHAPE[0], 3) + SHAPE[1:]


def test_segment_file_writes_the_segmentation_and_its_pictures_together(simulation, segmented, model, tmp_path):
    output = tmp_path / "cell_segmentation.h5"
    pictures = {"labels": tmp_path / "labels.png"}
    assert segment_file(simulation.movie, output, model, save_scores=True, pictures=pictures, **NETWORK) == output
    labels, scores = read_segmentation(output)
    np.testing.assert_array_equal(labels, segmented[0])
    assert scores.shape == (SHAPE[0], 3) + SHAPE[1:]
    assert pictures["labels"].stat().st_size > 1000
    with pytest.raises(FileExistsError):
        segment_file(simulation.movie, output, model, **NETWORK)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell_segmentation.h5", "labels.png"]  # nothing half-written


def test_one_model_cache_reloads_a_changed_file(tmp_path):
    first = cached_model("bundled", device="cpu")
    assert cached_model(BUNDLED_WEIGHTS, device="cpu") is first  # the same file, by name or by path
    assert first.weights_source == "given file"
    copy = tmp_path / "weights.h5"
    copy.write_bytes(BUNDLED_WEIGHTS.read_bytes())
    model = cached_model(copy, device="cpu")
    assert model is not first and cached_model(copy, device="cpu") is model
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # replaced by a newer file
    assert cached_model(copy, device="cpu") is not model


def test_foreign_weights_are_an_input_error_naming_the_file(tmp_path):
    foreign = tmp_path / "other.h5"
    with h5py.File(foreign, "w") as handle:
        handle["model_weights/conv3d/conv3d/kernel:0"] = np.zeros(3)
    with pytest.raises(InputError, match="other.h5"):
        cached_model(foreign, device="cpu")
    text = tmp_path / "notes.h5"
    text.write_text("not HDF5")
    with pytest.raises(InputError, match="notes.h5"):
        cached_model(text, device="cpu")


def test_the_scripts_are_the_commands_behind_the_front_door(tmp_path, capsys):
    assert launch.edf_segment.args == ("segment",)
    assert launch.edf_segment(["-m", str(tmp_path / "missing.h5")]) == 2
    assert "missing.h5" in capsys.readouterr().err
    with pytest.raises(AttributeError):
        launch.edf_no_such_command
    assert launch.main(["detect", str(tmp_path / "missing.h5")]) == 2


def test_a_script_without_arguments_opens_the_form_window_or_says_why_not(monkeypatch, capsys):
    import sys

    monkeypatch.setattr(sys, "argv", ["edf_detect"])
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert launch.edf_detect() == 2
    err = capsys.readouterr().err
    assert "usage: edf_detect" in err and "no display for the form window" in err
    # the command module's own entry, for Python callers, never opens a window
    from exodeepfinder.cli import detect

    assert detect.main() == 2
    assert "give the options" in capsys.readouterr().err
