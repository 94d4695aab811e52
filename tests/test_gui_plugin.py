"""The napari plugin's reader, writers and sample data, through a napari viewer as a user opens files."""

import h5py
import numpy as np
import pandas as pd
import pytest

from _gui import register_plugin, skip_without_gui  # noqa: E402

skip_without_gui("napari", "qtpy.QtWidgets")

from napari.layers import Image, Labels, Points  # noqa: E402

from exodeepfinder.gui import layers  # noqa: E402
from exodeepfinder.gui._reader import get_reader  # noqa: E402
from exodeepfinder.io.events import make_events, read_events, write_events  # noqa: E402
from exodeepfinder.io.h5 import write_h5  # noqa: E402
from exodeepfinder.io.segmentation import read_segmentation, write_segmentation  # noqa: E402
from exodeepfinder.simulation import simulate_movie  # noqa: E402


@pytest.fixture(scope="module")
def plugin():
    return register_plugin()


@pytest.fixture(scope="module")
def simulation():
    return simulate_movie((20, 40, 48), n_events=3, n_spots=5, seed=4)


@pytest.fixture
def movie_files(tmp_path, simulation):
    import tifffile

    h5 = write_h5(tmp_path / "cell1" / "movie.h5", simulation.movie)
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, simulation.movie)
    frames = tmp_path / "cell2" / "tiff"
    frames.mkdir(parents=True)
    for index, frame in enumerate(simulation.movie, start=1):
        tifffile.imwrite(frames / f"frame_{index:04d}.tif", frame)
    return {"h5": h5, "stack": stack, "frames": frames}


def test_manifest_is_valid_and_names_every_contribution(plugin):
    from npe2 import PluginManager

    manifest = PluginManager.instance().get_manifest(plugin)
    contributions = manifest.contributions
    assert {w.display_name for w in contributions.widgets} == {
        "Detect events", "Review and annotate", "Training set", "Train", "Evaluate", "Analyse", "Adapt the model"}
    assert {tuple(w.layer_types) for w in contributions.writers} == {("points",), ("labels",)}
    assert [s.key for s in contributions.sample_data] == ["simulated_movie"]
    for command in contributions.commands:  # every python_name can be imported
        assert callable(_resolve(command.python_name))


def _resolve(python_name):
    import importlib

    module, attribute = python_name.split(":")
    return getattr(importlib.import_module(module), attribute)


@pytest.mark.parametrize("kind", ["h5", "stack", "frames"])
def test_movies_open_as_image_layers_t_y_x(make_napari_viewer, plugin, movie_files, simulation, kind):
    viewer = make_napari_viewer()
    (layer,) = viewer.open(movie_files[kind], plugin=plugin)
    assert isinstance(layer, Image)
    assert layer.data.shape == simulation.movie.shape       # t, y, x: never transposed
    np.testing.assert_array_equal(np.asarray(layer.data[7]), simulation.movie[7])
    assert layer.metadata["path"] == str(movie_files[kind])
    if kind in ("h5", "frames"):
        assert not isinstance(layer.data, np.ndarray)      # lazy: frames are read when shown
    if kind == "h5":
        assert layer.name == "cell1 movie"


def test_segmentation_opens_as_labels_and_event_probability(make_napari_viewer, plugin, tmp_path, simulation):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, simulation.movie.shape).astype(np.int8)
    scores = rng.random((labels.shape[0], 3) + labels.shape[1:]).astype(np.float16)
    with_scores = write_segmentation(labels, tmp_path / "movie_segmentation.h5", scores=scores)
    without_scores = write_segmentation(labels, tmp_path / "expert_segmentation.h5")
    viewer = make_napari_viewer()

    label_layer, probability = viewer.open(with_scores, plugin=plugin)
    assert isinstance(label_layer, Labels) and isinstance(probability, Image)
    np.testing.assert_array_equal(label_layer.data, labels)
    assert probability.data.shape == labels.shape
    np.testing.assert_array_equal(np.asarray(probability.data[5]), scores[5, 2])
    (only_labels,) = viewer.open(without_scores, plugin=plugin)
    assert isinstance(only_labels, Labels)


def test_a_segmentation_too_large_for_memory_opens_lazily(make_napari_viewer, plugin, tmp_path, monkeypatch):
    import exodeepfinder.inference.memory

    labels = np.random.default_rng(1).integers(0, 3, (20, 16, 24)).astype(np.int8)
    path = write_segmentation(labels, tmp_path / "long_segmentation.h5")
    monkeypatch.setattr(exodeepfinder.inference.memory, "in_memory_limit", lambda *args: labels.size - 1)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path, plugin=plugin)
    assert isinstance(layer, Labels) and not isinstance(layer.data, np.ndarray)     # read as shown
    np.testing.assert_array_equal(np.asarray(layer.data[7]), labels[7])
    viewer.layers.remove(layer)
    layer.data.file.close()


def test_events_open_as_points_with_features(make_napari_viewer, plugin, tmp_path):
    events = make_events([3, 10.5], [20, 30], [12, 40], score=[0.9, 0.4], cluster_size=[25, 11],
                         peak_dff=[1.5, 0.7])
    viewer = make_napari_viewer()
    for path in (write_events(events, tmp_path / "events.csv"), write_events(events, tmp_path / "events.xml")):
        (layer,) = viewer.open(path, plugin=plugin)
        assert isinstance(layer, Points)
        np.testing.assert_allclose(layer.data, events[["t", "y", "x"]].to_numpy())
        columns = {"class_label", "score", "cluster_size"} | ({"peak_dff"} if path.suffix == ".csv" else set())
        assert columns <= set(layer.features.columns)
        np.testing.assert_allclose(layer.features["score"], [0.9, 0.4])


def test_reader_leaves_foreign_files_to_other_readers(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle["images"] = np.zeros((4, 5, 6))
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    (tmp_path / "page.xml").write_text("<html><body/></html>")
    single = tmp_path / "one.tif"
    import tifffile

    tifffile.imwrite(single, np.zeros((8, 8), np.uint16))
    (tmp_path / "empty").mkdir()
    for path in ("other.h5", "table.csv", "page.xml", "one.tif", "empty", "missing.h5"):
        assert get_reader(str(tmp_path / path)) is None, path


def test_writers_round_trip_points_and_labels(make_napari_viewer, plugin, tmp_path):
    events = make_events([3, 10], [20, 30], [12, 40], score=[0.9, 0.4], cluster_size=[25, 11])
    viewer = make_napari_viewer()
    points = viewer.add_layer(_layer(layers.events_layer(events, name="events")))
    for name in ("saved.csv", "saved.xml"):
        written = points.save(str(tmp_path / name), plugin=plugin)
        assert written == [str(tmp_path / name)]
        back = read_events(tmp_path / name)
        pd.testing.assert_frame_equal(back[["t", "y", "x", "class_label", "score", "cluster_size"]],
                                      events[["t", "y", "x", "class_label", "score", "cluster_size"]],
                                      check_dtype=False)
    labels = np.zeros((6, 10, 12), np.int8)
    labels[2, 3:5, 4:6] = 2
    labels[4, 7, 8] = 1
    label_layer = viewer.add_labels(labels, name="segmentation")
    label_layer.save(str(tmp_path / "labels.h5"), plugin=plugin)
    saved, scores = read_segmentation(tmp_path / "labels.h5")
    assert saved.dtype == np.int8 and scores is None
    np.testing.assert_array_equal(saved, labels)


def test_sample_is_a_movie_with_its_true_events(make_napari_viewer, plugin):
    viewer = make_napari_viewer()
    added = viewer.open_sample(plugin, "simulated_movie")
    movie, truth = added
    assert isinstance(movie, Image) and isinstance(truth, Points)
    assert movie.data.ndim == 3 and len(truth.data) == 8
    assert (truth.features["class_label"] == 1).all()


def test_events_points_round_trip_without_napari():
    events = make_events([1, 2], [3, 4], [5, 6], score=[0.5, np.nan], measure_note=["ok", "fit failed"])
    data, attributes, kind = layers.events_layer(events)
    assert kind == "points" and data.shape == (2, 3)
    back = layers.events_from_points(data, attributes["features"])
    pd.testing.assert_frame_equal(back, events)
    assert attributes["feature_defaults"]["class_label"] == 1
    assert np.isnan(attributes["feature_defaults"]["score"])


def _layer(layer_data):
    from napari.layers import Layer

    return Layer.create(*layer_data)


def test_the_installed_entry_point_gives_napari_a_valid_manifest():
    # what a user's napari does: read the manifest that the installed distribution's entry point names
    # (its name must be the distribution's, exodeepfinder-torch, or napari refuses the plugin)
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution("exodeepfinder-torch")
    assert manifest.name == "exodeepfinder-torch"
    assert {w.display_name for w in manifest.contributions.widgets} >= {"Detect events", "Adapt the model"}
