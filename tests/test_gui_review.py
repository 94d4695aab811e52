"""Review and annotate widget, driven as a user does: add, delete, move, browse, save and reopen events."""

import numpy as np
import pandas as pd
import pytest

from _gui import register_plugin, skip_without_gui  # noqa: E402

skip_without_gui("napari", "qtpy.QtWidgets")

from napari.layers import Points  # noqa: E402

from exodeepfinder.events.measure import measure_events  # noqa: E402
from exodeepfinder.gui import layers  # noqa: E402
from exodeepfinder.events.measure import event_trace  # noqa: E402
from exodeepfinder.io.events import read_events  # noqa: E402
from exodeepfinder.simulation import simulate_movie  # noqa: E402


@pytest.fixture(scope="module")
def plugin():
    return register_plugin()


@pytest.fixture(scope="module")
def simulation():
    return simulate_movie((40, 64, 64), n_events=4, n_spots=6, seed=11)


@pytest.fixture
def review(make_napari_viewer, plugin, simulation):
    viewer, _, widget = _docked_review(make_napari_viewer, plugin, simulation)
    return viewer, widget


def _docked_review(make_napari_viewer, plugin, simulation):
    viewer = make_napari_viewer()
    from napari.layers import Layer

    viewer.add_layer(Layer.create(*layers.movie_layer(simulation.movie, name="movie")))
    viewer.add_layer(Layer.create(*layers.events_layer(simulation.events[["t", "y", "x", "class_label"]],
                                                       name="events")))
    dock, widget = viewer.window.add_plugin_dock_widget(plugin, "Review and annotate")
    return viewer, dock, widget


def _move_mouse(viewer, t, y, x):
    viewer.dims.set_current_step(0, t)
    viewer.cursor.position = (t, y, x)


def test_add_delete_save_and_reopen(review, tmp_path, qtbot):
    viewer, widget = review
    events_layer = viewer.layers["events"]
    assert widget.events_layer() is events_layer and widget.movie_choice.layer().name == "movie"
    n = len(events_layer.data)

    _move_mouse(viewer, 12, 30.4, 21.6)
    widget.add_event_at_cursor()
    assert len(events_layer.data) == n + 1
    np.testing.assert_allclose(events_layer.data[-1], [12, 30.4, 21.6])
    assert events_layer.features["class_label"].iloc[-1] == 1
    assert widget.selected_event()[0] == n

    widget.go_to_event(0)                               # select the first true event and delete it
    removed = np.array(events_layer.data[0])
    widget.delete_selected()
    assert len(events_layer.data) == n
    assert not any(np.allclose(row, removed) for row in events_layer.data)

    for suffix in (".csv", ".xml"):
        written = widget.save(tmp_path / f"expert_annotation{suffix}")
        (reopened,) = viewer.open(written, plugin="exodeepfinder")
        assert isinstance(reopened, Points)
        np.testing.assert_allclose(reopened.data, events_layer.data, atol=1e-3)
        saved = read_events(written)
        assert (saved["class_label"] == 1).all() and len(saved) == n


def test_move_and_browse_events_in_time_order(review):
    viewer, widget = review
    events_layer = viewer.layers["events"]
    times = np.sort(events_layer.data[:, 0])
    visited = []
    viewer.dims.set_current_step(0, 0)
    events_layer.selected_data = set()
    for _ in range(len(times)):
        widget.next_event()
        index, position = widget.selected_event()
        visited.append(position[0])
        assert viewer.dims.current_step[0] == int(round(position[0]))
        assert np.allclose(widget.cross, position[1:])
    assert visited == list(times)
    widget.next_event()                                 # stays on the last one
    assert widget.selected_event()[1][0] == times[-1]
    widget.previous_event()
    assert widget.selected_event()[1][0] == times[-2]

    index, _ = widget.selected_event()
    _move_mouse(viewer, 7, 10.0, 50.0)
    widget.move_selected_to_cursor()
    np.testing.assert_allclose(events_layer.data[index], [7, 10, 50])
    assert len(events_layer.data) == len(times)


def test_keys_are_bound_in_the_viewer(review):
    from napari.utils.key_bindings import coerce_keybinding

    viewer, widget = review
    n = len(viewer.layers["events"].data)
    _move_mouse(viewer, 3, 20, 20)
    viewer.keymap[coerce_keybinding("E")](viewer)
    assert len(viewer.layers["events"].data) == n + 1
    for key in ("M", "N", "B"):
        assert coerce_keybinding(key) in viewer.keymap


def test_side_views_follow_the_cross_and_the_frame(review, simulation, qtbot):
    viewer, widget = review
    widget.follow_mouse.setChecked(True)
    _move_mouse(viewer, 20, 33, 17)
    assert widget.cross == (33, 17)
    row, column = viewer.layers["side views planes"].data
    assert np.allclose(row[:, 0], 33) and np.allclose(column[:, 1], 17)
    widget.draw_side_views()
    tx_image = widget.axes_tx.images[0].get_array()
    ty_image = widget.axes_ty.images[0].get_array()
    t0 = int(widget.axes_tx.get_ylim()[1] + 0.5)
    np.testing.assert_array_equal(tx_image, simulation.movie[t0:t0 + len(tx_image), 33, :])
    np.testing.assert_array_equal(ty_image, simulation.movie[t0:t0 + len(ty_image), :, 17])
    frame_line = [line for line in widget.axes_tx.lines if line.get_linestyle() == "--"][0]
    assert frame_line.get_ydata()[0] == 20

    class Click:  # what matplotlib passes on a click in the t-x view at frame 25, x = 40
        inaxes, xdata, ydata = widget.axes_tx, 40.2, 25.3

    widget._on_side_view_click(Click)
    assert viewer.dims.current_step[0] == 25
    assert widget.cross == (33, 40.2) and not widget.follow_mouse.isChecked()


def test_trace_of_the_selected_event_peaks_at_its_measured_dff(review, simulation):
    viewer, widget = review
    widget.go_to_event(1)
    widget.draw_side_views()
    frames, dff = widget.trace
    _, (t, y, x) = widget.selected_event()
    measured = measure_events(simulation.movie, pd.DataFrame({"t": [t], "y": [y], "x": [x]}))
    assert np.nanmax(dff[np.abs(frames - t) <= 3]) == pytest.approx(measured["peak_dff"].iloc[0])
    assert measured["peak_dff"].iloc[0] > 0.15                 # a real event: a clear rise
    assert abs(np.nanmedian(dff[frames < t - 3])) < 0.2         # flat before it


def test_event_trace_reads_only_a_box():
    movie = np.ones((30, 40, 40)) * 100
    movie[10:, 20, 20] += 50
    frames, dff = event_trace(movie, 10, 20, 20, before=5, after=5)
    assert list(frames) == list(range(5, 16))
    assert dff[frames == 9][0] == 0 and dff[frames == 10][0] > 0


def test_a_deleted_review_widget_leaves_the_viewer_working(make_napari_viewer, plugin, simulation, qtbot):
    from napari.utils.key_bindings import coerce_keybinding
    from qtpy.QtCore import QCoreApplication, QEvent

    viewer, dock, widget = _docked_review(make_napari_viewer, plugin, simulation)
    destroyed = []
    widget.destroyed.connect(lambda *_: destroyed.append(True))
    viewer.window.remove_dock_widget(dock)
    widget.deleteLater()                      # what Qt does to a dock widget closed for good
    del widget, dock
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qtbot.waitUntil(lambda: bool(destroyed), timeout=5000)
    assert coerce_keybinding("E") not in viewer.keymap
    with qtbot.captureExceptions() as exceptions:
        viewer.cursor.position = (3, 10, 10)
        viewer.dims.set_current_step(0, 4)
        viewer.add_points(np.array([[1.0, 2.0, 3.0]]), name="more events")
        viewer.layers["events"].data = viewer.layers["events"].data[:1]
        qtbot.wait(100)
    assert not exceptions
