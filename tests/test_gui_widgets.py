"""Detect, Evaluate and Training set widgets, docked in napari and driven as a user does."""

import numpy as np
import pandas as pd
import pytest

from _gui import register_plugin, skip_without_gui  # noqa: E402

skip_without_gui("napari", "qtpy.QtWidgets")

from napari.layers import Image, Labels, Layer, Points  # noqa: E402
from qtpy.QtCore import Qt  # noqa: E402

from exodeepfinder.events.targets import events_to_labels  # noqa: E402
from exodeepfinder.gui import layers  # noqa: E402
from exodeepfinder.gui._writer import write_segmentation as write_segmentation_layer  # noqa: E402
from exodeepfinder.io.events import make_events, read_events  # noqa: E402
from exodeepfinder.io.segmentation import read_segmentation  # noqa: E402
from exodeepfinder.simulation import simulate_movie  # noqa: E402

PLUGIN = "exodeepfinder-torch"


@pytest.fixture(scope="module", autouse=True)
def plugin():
    return register_plugin()


def _dock(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def _wait(qtbot, panel, timeout=600_000):
    qtbot.waitUntil(lambda: not panel.running, timeout=timeout)
    assert panel.error is None, panel.status.text()


def test_every_widget_docks(make_napari_viewer):
    viewer = make_napari_viewer()
    for name in ("Detect events", "Review and annotate", "Training set", "Train", "Evaluate", "Analyse"):
        widget = _dock(viewer, name)
        assert widget.parent() is not None, name


@pytest.mark.slow
def test_detect_on_the_sample_finds_the_true_events(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    movie_layer, truth_layer = viewer.open_sample(PLUGIN, "simulated_movie")
    detect = _dock(viewer, "Detect events")
    assert detect.movie_choice.layer() is movie_layer
    detect.weights_choice.setCurrentText("bundled")
    detect.device_choice.setCurrentText("cpu")
    qtbot.mouseClick(detect.run_button, Qt.MouseButton.LeftButton)
    assert detect.task.running and not detect.run_button.isEnabled()
    _wait(qtbot, detect.task)

    labels = viewer.layers["simulated movie segmentation"]
    probability = viewer.layers["simulated movie event probability"]
    events = viewer.layers["simulated movie events"]
    assert isinstance(labels, Labels) and labels.data.shape == movie_layer.data.shape
    assert set(np.unique(labels.data)) <= {0, 1, 2} and (labels.data == 2).any()
    assert isinstance(probability, Image) and 0 <= probability.data.min() and probability.data.max() <= 1
    assert isinstance(events, Points) and {"score", "cluster_size", "peak_dff"} <= set(events.features.columns)
    assert (events.features["cluster_size"] >= 10).all()           # the default min size filter

    evaluate = _dock(viewer, "Evaluate")
    evaluate.detected_choice.set_layer(events)
    evaluate.reference_choice.set_layer(truth_layer)
    summary = evaluate.evaluate()
    assert summary["f1"] >= 0.8, summary
    assert set(events.features["match"]) <= {"matched", "false"}

    # the filters hide events live, without a new detection
    n_all = len(detect.events)
    detect.min_size.setValue(1)
    assert len(events.data) == n_all
    detect.min_score.setValue(100)
    assert len(events.data) == int((detect.events["score"] >= 1.0).sum())
    detect.min_score.setValue(0)
    detect.min_size.setValue(detect.min_size.maximum())
    assert len(events.data) == int((detect.events["cluster_size"] >= detect.min_size.maximum()).sum())
    assert "of" in detect.summary.text()


def test_detect_can_be_cancelled(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_layer(Layer.create(*layers.movie_layer(simulate_movie((40, 96, 96), seed=1).movie, name="movie")))
    detect = _dock(viewer, "Detect events")
    detect.weights_choice.setCurrentText("bundled")
    detect.device_choice.setCurrentText("cpu")
    detect.run()
    detect.task.cancel()
    qtbot.waitUntil(lambda: not detect.task.running, timeout=300_000)
    assert detect.task.status.text() == "Cancelled"
    assert [layer.name for layer in viewer.layers] == ["movie"]
    assert detect.run_button.isEnabled()


@pytest.mark.slow
def test_detect_streams_a_segmentation_too_large_for_memory(make_napari_viewer, qtbot, monkeypatch, tmp_path):
    """A segmentation that does not fit in memory goes to a temporary file and is shown from it lazily,
    with the same labels, probabilities and events; the file goes when its layers go."""
    import tempfile

    import exodeepfinder as edf
    from exodeepfinder.gui.widgets import detect as detect_widget

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))           # the work folder under tmp_path
    monkeypatch.setattr(detect_widget, "SCRATCH", detect_widget.ScratchSegmentations())
    monkeypatch.setattr(detect_widget, "segmentation_fits_in_memory", lambda shape: False)
    movie = simulate_movie((32, 64, 64), n_events=6, seed=3).movie
    viewer = make_napari_viewer()
    viewer.add_layer(Layer.create(*layers.movie_layer(movie, name="movie")))
    detect = _dock(viewer, "Detect events")
    detect.weights_choice.setCurrentText("bundled")
    detect.device_choice.setCurrentText("cpu")
    detect.run()
    _wait(qtbot, detect.task)
    assert detect.task.error is None, detect.task.status.text()

    labels, probability = viewer.layers["movie segmentation"], viewer.layers["movie event probability"]
    assert not isinstance(labels.data, np.ndarray) and not isinstance(probability.data, np.ndarray)   # lazy
    (path,) = scratch.rglob("*.h5")
    expected = edf.detect(movie, edf.load_model("bundled", device="cpu"), min_size=None, min_score=None)
    np.testing.assert_array_equal(np.asarray(labels.data[:]), expected.labels)
    np.testing.assert_array_equal(np.asarray(probability.data[:]), expected.scores[:, 2])
    columns = ["t", "y", "x", "cluster_size", "score"]
    pd.testing.assert_frame_equal(detect.events[columns], expected.events[columns].reset_index(drop=True),
                                  check_dtype=False)
    assert len(detect.events) > 0
    # saved from napari (File > Save Selected Layers): copied block by block from the file
    saved = write_segmentation_layer(tmp_path / "saved.h5", labels.data, {})
    np.testing.assert_array_equal(read_segmentation(saved[0])[0], expected.labels)

    viewer.layers.remove(labels)
    assert path.exists()                                               # the probability layer still reads it
    viewer.layers.remove(probability)
    assert not path.exists()
    detect_widget.SCRATCH.remove()
    assert list(scratch.iterdir()) == []


def test_detect_says_what_is_missing(make_napari_viewer):
    viewer = make_napari_viewer()
    detect = _dock(viewer, "Detect events")
    detect.run()
    assert "Open a movie" in detect.task.status.text() and not detect.task.running
    viewer.add_image(np.zeros((4, 8, 8)), name="movie")
    detect.weights_choice.setCurrentText("file…")
    detect.run()
    assert "weights" in detect.task.status.text() and not detect.task.running


def test_detect_accepts_a_model_folder(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    detect = _dock(viewer, "Detect events")
    from exodeepfinder.gui.widgets.detect import WEIGHTS_CHOICES

    (choice,) = [text for text, value in WEIGHTS_CHOICES.items() if value == "folder"]
    detect.weights_choice.setCurrentText(choice)
    assert detect.model_folder.isVisibleTo(detect) and not detect.weights_file.isVisibleTo(detect)
    with pytest.raises(ValueError, match="choose a model folder"):
        detect.weights()
    detect.model_folder.set_path(tmp_path)
    with pytest.raises(ValueError, match="no model_card.json"):
        detect.weights()
    (tmp_path / "model_card.json").write_text("{}")
    assert detect.weights() == tmp_path            # passed as is to load_model


def test_evaluate_colours_matched_false_and_missed_events(make_napari_viewer):
    viewer = make_napari_viewer()
    reference = make_events([10, 20, 30], [10, 20, 30], [10, 20, 30])
    detected = make_events([11, 20, 40], [10, 22, 5], [10, 20, 5], score=[0.9, 0.8, 0.3])
    viewer.add_layer(Layer.create(*layers.events_layer(reference, name="expert_annotation")))
    viewer.add_layer(Layer.create(*layers.events_layer(detected, name="events")))
    evaluate = _dock(viewer, "Evaluate")
    assert evaluate.detected_choice.layer().name == "events"
    assert evaluate.reference_choice.layer().name == "expert_annotation"
    summary = evaluate.evaluate()
    assert (summary["tp"], summary["fp"], summary["fn"]) == (2, 1, 1)
    assert summary["f1"] == pytest.approx(2 / 3)
    assert list(viewer.layers["events"].features["match"]) == ["matched", "matched", "false"]
    assert list(viewer.layers["expert_annotation"].features["match"]) == ["matched", "matched", "missed"]
    red, lime, orange = (1, 0, 0, 1), (0, 1, 0, 1), (1, 165 / 255, 0, 1)
    np.testing.assert_allclose(viewer.layers["events"].border_color, [lime, lime, red])
    np.testing.assert_allclose(viewer.layers["expert_annotation"].border_color, [lime, lime, orange], atol=1e-3)
    assert "F1 66.7 %" in evaluate.result.text()


def test_training_set_from_expert_events_to_dataset_folders(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    training = _dock(viewer, "Training set")
    for index in range(2):
        for layer in list(viewer.layers):
            viewer.layers.remove(layer)
        simulation = simulate_movie((30, 64, 64), n_events=3, n_spots=8, seed=20 + index)
        folder = tmp_path / "movies" / f"cell{index}"
        viewer.add_layer(Layer.create(*layers.movie_layer(simulation.movie, name="movie")))
        expert = simulation.events[["t", "y", "x", "class_label"]]
        viewer.add_layer(Layer.create(*layers.events_layer(expert, name="expert_annotation")))

        target = training.make_target()
        np.testing.assert_array_equal(target.data, events_to_labels(expert, simulation.movie.shape))
        training.detect_spots()
        _wait(qtbot, training.task)
        spots = viewer.layers["detector_segmentation"]
        assert spots.data.shape == simulation.movie.shape and spots.data.any()

        assert training.detector_choice.layer() is spots
        assert training.expert_labels_choice.layer() is target
        merged_labels, merged_events = training.merge()
        assert (merged_events["class_label"] == 2).sum() == 3
        assert (merged_events["class_label"] == 1).sum() > 0
        assert isinstance(viewer.layers["merged_annotation"], Points)

        training.movie_folder.set_path(folder)
        files = training.save(folder)
        saved_labels, _ = read_segmentation(files["segmentation"])
        np.testing.assert_array_equal(saved_labels, merged_labels)
        assert len(read_events(files["annotation"])) == len(merged_events)
        assert files["movie"].is_file()
        assert training.save(folder) is None and "already exists" in training.task.status.text()

    training.dataset_input.set_path(tmp_path / "movies")
    training.dataset_output.set_path(tmp_path / "dataset")
    training.split.setValue(50)
    training.make_dataset()
    _wait(qtbot, training.task)
    names = sorted(p.name for p in (tmp_path / "dataset").rglob("*.*"))
    assert len(names) == 6 and sum(name.endswith("_target.h5") for name in names) == 2
    assert {p.name for p in (tmp_path / "dataset").iterdir()} == {"train", "valid"}
    assert "1 training and 1 validation" in training.task.status.text()


def test_new_annotation_layer_and_its_defaults(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((5, 20, 20), np.uint16), name="movie")
    review = _dock(viewer, "Review and annotate")
    layer = review.new_annotation_layer()
    viewer.cursor.position = (2, 5, 6)
    viewer.dims.set_current_step(0, 2)
    review.add_event_at_cursor()
    events = layers.events_from_points(layer.data, layer.features)
    pd.testing.assert_frame_equal(events, make_events([2], [5], [6], review=pd.Series(["added"], dtype=object)))
