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

PLUGIN = "exodeepfinder"
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
        viewer.window.resize(1400, 900)
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
