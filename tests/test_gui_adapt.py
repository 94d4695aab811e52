"""The Adapt the model widget, docked in napari and driven as a user does (issue 27)."""

import json
import os
from pathlib import Path

import pytest

from _gui import register_plugin, skip_without_gui  # noqa: E402

skip_without_gui("napari", "qtpy.QtWidgets")

from qtpy.QtCore import Qt  # noqa: E402

from exodeepfinder.io.events import write_events  # noqa: E402
from exodeepfinder.io.h5 import write_h5  # noqa: E402
from exodeepfinder.model.folder import MODEL_CARD  # noqa: E402
from exodeepfinder.simulation import simulate_movie  # noqa: E402

PLUGIN = "exodeepfinder-torch"
#: Where to keep a screenshot of the widget (to look at it), if set.
ENV_SCREENSHOT = "EXODEEPFINDER_ADAPT_SCREENSHOT"


@pytest.fixture(scope="module", autouse=True)
def plugin():
    return register_plugin()


@pytest.fixture
def reviewed(tmp_path):
    """Two movie folders, each with a complete expert annotation (the simulation's true events)."""
    batch = tmp_path / "reviewed"
    for seed in (11, 12):
        sim = simulate_movie((60, 96, 96), seed=seed, n_events=6, n_flashes=12, n_flickers=8, n_arriving_leaving=8,
                             n_moving=4)
        folder = batch / f"cell{seed}"
        folder.mkdir(parents=True)
        write_h5(folder / "movie.h5", sim.movie)
        write_events(sim.events, folder / "expert_annotation.xml")
    return batch


def _dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Adapt the model")
    return widget


@pytest.mark.slow
def test_adapt_widget_writes_a_model_folder_and_shows_held_out_figures(make_napari_viewer, qtbot, reviewed, tmp_path):
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    widget.reviewed.set_path(reviewed)
    widget.corrections.setText("expert_annotation.xml")
    widget.base.edit.setText("bundled")
    widget.max_minutes.setValue(0)
    widget.output.set_path(tmp_path / "my_model")
    qtbot.mouseClick(widget.run_button, Qt.MouseButton.LeftButton)
    assert widget.task.running and not widget.run_button.isEnabled()
    qtbot.waitUntil(lambda: not widget.task.running, timeout=300_000)
    assert widget.task.error is None, widget.task.status.text()
    card = json.loads((tmp_path / "my_model" / MODEL_CARD).read_text())
    assert [m["name"] for m in card["movies"]] == ["cell11", "cell12"]
    text = widget.log.toPlainText()
    assert "held-out corrections (leave one movie out)" in text and "base model" in text
    assert "cell11: detecting with the base model" in text
    assert f"Model folder written: {tmp_path / 'my_model'}" in text and widget.run_button.isEnabled()
    screenshot = os.environ.get(ENV_SCREENSHOT)
    if screenshot:
        import matplotlib.pyplot as plt

        viewer.open_sample(PLUGIN, "simulated_movie")
        widget.setMinimumWidth(600)  # the held-out table unwrapped
        viewer.window.resize(1500, 900)
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        plt.imsave(screenshot, viewer.screenshot(canvas_only=False, flash=False))


def test_adapt_widget_can_be_cancelled_and_says_what_is_missing(make_napari_viewer, qtbot, reviewed, tmp_path):
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    qtbot.mouseClick(widget.run_button, Qt.MouseButton.LeftButton)
    assert not widget.task.running and "choose the folder" in widget.task.status.text()

    widget.reviewed.set_path(reviewed)
    widget.corrections.setText("expert_annotation.xml")
    widget.max_minutes.setValue(0)
    widget.output.set_path(tmp_path / "my_model")
    qtbot.mouseClick(widget.run_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(widget.task.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not widget.task.running, timeout=300_000)
    assert widget.task.status.text() == "Cancelled"
    assert not (tmp_path / "my_model").exists()

    widget.corrections.setText("missing.csv")
    qtbot.mouseClick(widget.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not widget.task.running, timeout=60_000)
    assert "missing.csv: corrections file not found" in widget.task.status.text()


def test_detect_widget_runs_a_model_folder(make_napari_viewer, qtbot, tmp_path):
    from napari.layers import Layer

    from exodeepfinder.events.classify import fit_classifier
    from exodeepfinder.events.features import FEATURE_COLUMNS
    from exodeepfinder.gui import layers
    from exodeepfinder.model.folder import write_model_folder
    from exodeepfinder.model.weights import BUNDLED_WEIGHTS
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    events = pd.DataFrame({name: rng.normal(0, 1, 20) for name in FEATURE_COLUMNS}).assign(
        t=5.0, y=5.0, x=5.0, peak_frame=5.0, peak_snr=np.r_[np.full(10, 30.0), np.full(10, 3.0)])
    model = write_model_folder(tmp_path / "my_model", BUNDLED_WEIGHTS, {},
                               fit_classifier(events, np.r_[np.ones(10, bool), np.zeros(10, bool)]))
    viewer = make_napari_viewer()
    viewer.add_layer(Layer.create(*layers.movie_layer(simulate_movie((40, 64, 64), n_events=4, seed=3).movie,
                                                      name="movie")))
    _, detect = viewer.window.add_plugin_dock_widget(PLUGIN, "Detect events")
    from exodeepfinder.gui.widgets.detect import WEIGHTS_CHOICES

    detect.weights_choice.setCurrentText(next(text for text, value in WEIGHTS_CHOICES.items() if value == "folder"))
    assert detect.model_folder.isVisibleTo(detect)
    detect.model_folder.set_path(model)
    detect.device_choice.setCurrentText("cpu")
    detect.run()
    qtbot.waitUntil(lambda: not detect.task.running, timeout=300_000)
    assert detect.task.error is None, detect.task.status.text()
    assert detect._load_model(model, "cpu").classifier is not None  # the folder, loaded with its classifier
    assert "confidence" in detect.events.columns
