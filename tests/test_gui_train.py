"""Train widget: a few training steps on a tiny simulated dataset, the live plot, cancel and resume."""

import pytest

from _gui import register_plugin, skip_without_gui  # noqa: E402

skip_without_gui("napari", "qtpy.QtWidgets")

import exodeepfinder as edf  # noqa: E402
from exodeepfinder.io.events import write_events  # noqa: E402
from exodeepfinder.io.h5 import write_h5  # noqa: E402
from exodeepfinder.io.segmentation import write_segmentation  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def plugin():
    return register_plugin()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two simulated movies laid out as a training dataset (their truth as the expert's events)."""
    folder = tmp_path_factory.mktemp("train_gui")
    for index in range(2):
        simulation = edf.simulate((24, 48, 48), n_events=4, n_spots=6, seed=40 + index)
        cell = folder / "movies" / f"cell{index}"
        write_h5(cell / "movie.h5", simulation.movie)
        expert = edf.events_to_labels(simulation.events, simulation.movie.shape)
        labels, objects = edf.merge_detector_expert(edf.detect_spots(simulation.movie), simulation.events, expert)
        write_segmentation(labels, cell / "merged_segmentation.h5")
        write_events(objects, cell / "merged_annotation.xml")
    edf.structure_training_dataset(folder / "movies", folder / "dataset", split=50, seed=0)
    return folder / "dataset"


def _train_widget(viewer, dataset, output, epochs):
    _, widget = viewer.window.add_plugin_dock_widget("exodeepfinder-torch", "Train")
    widget.dataset.set_path(dataset)
    widget.output.set_path(output)
    for name, value in (("patch_sizes", "16"), ("batch_sizes", "4"), ("random_shifts", "4"), ("n_epochs", str(epochs)),
                        ("n_steps", "2")):
        widget.stage_fields[name].setText(value)
    widget.device_choice.setCurrentText("cpu")
    return widget


@pytest.mark.slow
def test_training_draws_each_epoch_and_writes_the_weights(make_napari_viewer, qtbot, dataset, tmp_path):
    viewer = make_napari_viewer()
    widget = _train_widget(viewer, dataset, tmp_path / "run", epochs=2)
    assert widget.options()["patch_sizes"] == [16] and "max_minutes" not in widget.options()
    epochs_seen = []
    widget._relay.epoch.connect(lambda history: epochs_seen.append(len(history)))
    widget.train()
    qtbot.waitUntil(lambda: not widget.task.running, timeout=600_000)
    assert widget.task.error is None, widget.task.status.text()
    assert epochs_seen == [1, 2]                                     # the plot followed every epoch
    losses, validation = widget.axes.get_lines()[:2]
    assert list(losses.get_xdata()) == [1, 2] and len(validation.get_ydata()) == 2
    assert (tmp_path / "run" / "net_weights_FINAL.h5").is_file()
    assert widget.log.toPlainText().strip()


@pytest.mark.slow
def test_training_can_be_cancelled_and_resumed(make_napari_viewer, qtbot, dataset, tmp_path):
    viewer = make_napari_viewer()
    widget = _train_widget(viewer, dataset, tmp_path / "run", epochs=3)
    widget.train()
    qtbot.waitUntil(lambda: bool(widget.history) or not widget.task.running, timeout=600_000)
    widget.task.cancel()
    qtbot.waitUntil(lambda: not widget.task.running, timeout=600_000)
    assert widget.task.status.text() == "Cancelled"
    done = len(widget.history)
    assert 1 <= done < 3 and not (tmp_path / "run" / "net_weights_FINAL.h5").exists()

    widget.resume_button.click()
    qtbot.waitUntil(lambda: not widget.task.running, timeout=600_000)
    assert widget.task.error is None, widget.task.status.text()
    assert [record.epoch for record in widget.history] == [1, 2, 3]      # each epoch once
    assert (tmp_path / "run" / "net_weights_FINAL.h5").is_file()


def test_training_options_are_checked_before_starting(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("exodeepfinder-torch", "Train")
    widget.train()
    assert "dataset" in widget.task.status.text() and not widget.task.running
    widget.dataset.set_path("somewhere")
    widget.output.set_path("elsewhere")
    widget.stage_fields["patch_sizes"].setText("16 x")
    widget.train()
    assert "patch_sizes" in widget.task.status.text() and not widget.task.running
